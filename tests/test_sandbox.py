"""The local executor's sandbox, driven directly (no server): each job runs as an
unprivileged user in its own PID and mount namespaces, sees only its own directory, gets a
clean environment, and takes everything it started with it when it ends or is stopped.

Needs root (to switch users and make namespaces, as the agent does) and util-linux's
``unshare``; skipped otherwise. The jobs run Debian's ``/usr/bin/python3``: this venv's
interpreter may live under ``/root``, which no unprivileged user can enter (that refusal
has a test of its own).
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from suanli.agents.executors import local as local_executor
from suanli.agents.executors.base import EngineUnavailable, Launch
from suanli.agents.executors.local import LocalExecutor
from suanli.agents.sandbox import CPU_PERIOD_US, MINIMAL_PATH, PIDS_PER_JOB, Cgroups, SandboxConfig, tenant_user_name

SYSTEM_PY = "/usr/bin/python3"
UIDS = (231_000, 231_099)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or not Path(SYSTEM_PY).exists(),
    reason="the sandbox needs root, util-linux's unshare and /usr/bin/python3",
)


@pytest.fixture
def root() -> Iterator[Path]:
    """A directory outside /tmp (whose privacy inside the sandbox would hide everything
    under it and prove nothing about the sandbox's own covers)."""
    path = Path(tempfile.mkdtemp(prefix="suanli-sandbox-", dir="/var/lib"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def executor(root: Path, **config: object) -> LocalExecutor:
    ex = LocalExecutor(grace_s=1.0, sandbox=SandboxConfig(**config))  # type: ignore[arg-type]
    ex.check(root / "work")
    return ex


def launch(root: Path, job: str, script: str, tenant: str | None = None, **env: str) -> Launch:
    job_dir = root / "work" / job
    workdir = job_dir / "1"
    checkpoints = job_dir / "checkpoints"
    workdir.mkdir(parents=True)
    checkpoints.mkdir()
    labels = {"suanli_site": "qingyang", **({"suanli_tenant": tenant} if tenant else {})}
    return Launch(
        job,
        1,
        (SYSTEM_PY, "-c", script),
        {"SUANLI_JOB_ID": job, "SUANLI_CHECKPOINT_DIR": str(checkpoints), **env},
        workdir,
        "h800",
        1,
        labels=labels,
    )


def run_to_end(ex: LocalExecutor, handle: str, timeout_s: float = 60.0) -> tuple[str, int | None, str]:
    deadline = time.monotonic() + timeout_s
    while (poll := ex.poll(handle)).state == "RUNNING":
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.05)
    return poll.state, poll.exit_code, ex.read_logs(handle, 0)[0]


def test_a_job_runs_as_the_unprivileged_user_with_a_clean_environment_and_its_own_processes(root: Path) -> None:
    ex = executor(root)
    script = (
        "import os, json; print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(), "
        "'env': sorted(os.environ), 'path': os.environ['PATH'], 'cwd': os.getcwd(), "
        "'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), 'umask': os.umask(0)}))"
    )
    job = launch(root, "j1", script, MY_VAR="1")
    os.environ["SUANLI_TOKEN_LEAK_PROBE"] = "agent-secret"  # the agent's environment: never the job's
    try:
        state, code, text = run_to_end(ex, ex.start(job))
    finally:
        del os.environ["SUANLI_TOKEN_LEAK_PROBE"]
    assert (state, code) == ("SUCCEEDED", 0), text
    import json

    seen = json.loads(text.splitlines()[-1])
    user = pwd.getpwnam("suanli-job")
    assert (seen["uid"], seen["gid"], seen["groups"]) == (user.pw_uid, user.pw_gid, [])
    assert seen["uid"] != 0
    assert set(seen["env"]) - {"LC_CTYPE"} == {
        "HOME", "LOGNAME", "MY_VAR", "PATH", "SUANLI_CHECKPOINT_DIR", "SUANLI_JOB_ID", "TMPDIR", "USER",
    }  # fmt: skip
    assert seen["path"] == MINIMAL_PATH
    assert seen["cwd"] == str(job.workdir)
    assert seen["pids"] == [1, 2], "only its init and itself in its PID namespace"
    assert seen["umask"] == 0o077
    stat = job.workdir.stat()
    assert (stat.st_uid, stat.st_mode & 0o777) == (user.pw_uid, 0o700)
    assert (job.workdir.parent.stat().st_uid, job.workdir.parent.stat().st_mode & 0o777) == (0, 0o711)


def test_a_job_runs_when_the_agent_made_its_directories_under_umask_077(root: Path) -> None:
    """README's by-hand network sets ``umask 077`` before it starts the agent (so token files
    are private): the job's directory is then root's 0700, and its user must still get
    through it to its own attempt directory."""
    before = os.umask(0o077)
    try:
        ex = executor(root)
        job = launch(root, "j1", "import os; print('in', os.getcwd())")
        assert job.workdir.parent.stat().st_mode & 0o777 == 0o700
        state, code, text = run_to_end(ex, ex.start(job))
    finally:
        os.umask(before)
    assert (state, code) == ("SUCCEEDED", 0), text
    assert f"in {job.workdir}" in text


def test_a_job_cannot_see_the_work_root_the_token_file_or_hidden_paths(root: Path) -> None:
    secret = root / "agent.token"
    secret.write_text("sl_agent_secret\n")
    secret.chmod(0o644)  # readable by all on the host: only the sandbox's cover stops the job
    data = root / "server-data"
    data.mkdir(mode=0o755)
    (data / "admin.token").write_text("sl_admin_secret\n")
    (data / "admin.token").chmod(0o644)
    ex = executor(root, hide=(secret, data))
    other = launch(root, "other", "print('x')")
    (other.workdir / "private.txt").write_text("another job's data\n")
    (other.workdir / "private.txt").chmod(0o644)
    probes = [str(secret), str(data / "admin.token"), str(other.workdir / "private.txt")]
    script = (
        "import os, sys\n"
        f"for path in {probes!r}:\n"
        "    try:\n"
        "        print('READ', path, open(path).read().strip())\n"
        "    except OSError as exc:\n"
        "        print('refused', path, type(exc).__name__)\n"
        f"print('work', sorted(os.listdir({str(root / 'work')!r})))\n"
        f"print('data', os.listdir({str(data)!r}))\n"
    )
    state, code, text = run_to_end(ex, ex.start(launch(root, "j1", script)))
    assert (state, code) == ("SUCCEEDED", 0), text
    assert "sl_agent_secret" not in text and "sl_admin_secret" not in text and "another job" not in text, text
    assert f"READ {secret} \n" in text, "the token file reads as /dev/null, which covers it"
    assert text.count("refused") == 2
    assert "work ['j1']" in text, "only its own job directory under the work root"
    assert "data []" in text


def test_the_agent_reads_the_log_it_opened_even_if_the_job_swaps_it_for_a_link(root: Path) -> None:
    secret = root / "root-only.secret"
    secret.write_text("ROOT ONLY\n")
    secret.chmod(0o600)
    ex = executor(root)
    script = (
        "import os\n"
        "print('before the swap', flush=True)\n"
        "os.unlink('suanli-job.log')\n"
        f"os.symlink({str(secret)!r}, 'suanli-job.log')\n"
        "print('after the swap', flush=True)\n"
    )
    state, code, text = run_to_end(ex, ex.start(launch(root, "j1", script)))
    assert (state, code) == ("SUCCEEDED", 0), text
    assert "ROOT ONLY" not in text
    assert "before the swap" in text and "after the swap" in text


def daemon_script(beat: str) -> str:
    """Double-forks a daemon in a session of its own that appends to ``beat`` every 0.05 s;
    after its third beat the job's main process exits (or sleeps, with an argument)."""
    return (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        while True:\n"
        f"            open({beat!r}, 'a').write(f'{{time.time()}}\\n'); time.sleep(0.05)\n"
        "    os._exit(0)\n"
        f"while not os.path.exists({beat!r}) or len(open({beat!r}).read().splitlines()) < 3: time.sleep(0.01)\n"
        "if len(sys.argv) > 1: time.sleep(600)\n"
    )


def beats(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("ending", ["success", "stop"])
def test_a_double_forked_daemon_ends_with_its_job(root: Path, ending: str) -> None:
    ex = executor(root)
    job = launch(root, "j1", daemon_script("beat.txt"))
    if ending == "stop":
        job = Launch(**{**job.__dict__, "command": (*job.command, "sleep")})
    handle = ex.start(job)
    beat = job.workdir / "beat.txt"
    deadline = time.monotonic() + 30
    while beats(beat) < 3:
        assert time.monotonic() < deadline, ex.read_logs(handle, 0)[0]
        time.sleep(0.05)
    if ending == "stop":
        ex.stop(handle)
    state, _, text = run_to_end(ex, handle)
    assert state == ("SUCCEEDED" if ending == "success" else "FAILED"), text
    settled = beats(beat)
    time.sleep(0.5)
    assert beats(beat) == settled, "the daemon outlived its job"


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace(root: Path) -> None:
    ex = executor(root)
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: print('ignoring SIGTERM', flush=True))\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    handle = ex.start(launch(root, "j1", script))
    deadline = time.monotonic() + 30
    while "up" not in ex.read_logs(handle, 0)[0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ex.stop(handle)  # SIGTERM, 1 s of grace, SIGKILL
    state, code, text = run_to_end(ex, handle, timeout_s=5)
    assert state == "FAILED" and code == 128 + 9, (code, text)
    assert "ignoring SIGTERM" in text, "SIGTERM reached it first (its checkpoint signal)"


def test_tenants_get_their_own_users_from_the_range(root: Path) -> None:
    ex = executor(root, tenant_uids=UIDS)
    script = "import os; print('uid', os.getuid())"
    uids = {}
    for job, tenant in (("a1", "t_alpha"), ("b1", "t_beta"), ("a2", "t_alpha")):
        state, _, text = run_to_end(ex, ex.start(launch(root, job, script, tenant=tenant)))
        assert state == "SUCCEEDED", text
        uids[job] = int(text.split()[-1])
    assert uids["a1"] == uids["a2"] != uids["b1"]
    assert all(UIDS[0] <= uid <= UIDS[1] for uid in uids.values())
    assert pwd.getpwnam(tenant_user_name("t_alpha")).pw_uid == uids["a1"]


def test_a_program_the_job_user_cannot_reach_fails_the_job_with_the_reason(root: Path) -> None:
    hidden = root / "private-bin"
    hidden.mkdir(mode=0o700)
    program = hidden / "tool"
    shutil.copy(shutil.which("true") or "/bin/true", program)
    ex = executor(root)
    job = launch(root, "j1", "")
    job = Launch(**{**job.__dict__, "command": (str(program),)})
    state, code, text = run_to_end(ex, ex.start(job))
    assert (state, code) == ("FAILED", 126)
    assert "cannot run" in text and "as the job's user" in text, text


def test_a_work_root_no_user_can_reach_is_refused_at_check(root: Path) -> None:
    closed = root / "closed"
    closed.mkdir(mode=0o700)
    ex = LocalExecutor(sandbox=SandboxConfig())
    with pytest.raises(EngineUnavailable, match=r"mode 700 and lets no other user through"):
        ex.check(closed / "work")


def test_a_job_user_that_is_root_is_refused(root: Path) -> None:
    ex = LocalExecutor(sandbox=SandboxConfig(user="root"))
    with pytest.raises(EngineUnavailable, match="jobs never run as root"):
        ex.check(root / "work")


def test_the_data_dir_is_made_private(root: Path) -> None:
    from suanli.store import open_store

    data = root / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    open_store(data).engine.dispose()
    assert data.stat().st_mode & 0o777 == 0o700


def test_a_job_over_its_disk_cap_is_stopped_and_fails_saying_so(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_executor, "DISK_CHECK_INTERVAL_S", 0.0)
    ex = LocalExecutor(grace_s=1.0, sandbox=SandboxConfig(), disk_cap_bytes=8 * 2**20)
    ex.check(root / "work")
    script = (
        "import os, time\n"
        "with open('big.bin', 'wb') as f:\n"
        "    for _ in range(32):\n"
        "        f.write(os.urandom(2**20)); f.flush(); os.fsync(f.fileno())\n"
        "print('wrote 32 MiB', flush=True)\n"
        "time.sleep(600)\n"
    )
    state, _, _ = run_to_end(ex, handle := ex.start(launch(root, "j1", script)))
    assert state == "FAILED"
    message = ex.poll(handle).message or ""
    assert "over the site's cap of 0.01 GiB" in message and "--job-disk-cap" in message, message


def test_the_disk_usage_counts_blocks_and_follows_no_link(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.bin").write_bytes(b"x" * 2**20)
    big = tmp_path.parent / f"{tmp_path.name}-outside.bin"
    big.write_bytes(b"y" * 4 * 2**20)
    try:
        (tmp_path / "a" / "link").symlink_to(big)
        used = local_executor.disk_usage_bytes(tmp_path)
        assert 2**20 <= used < 2 * 2**20
    finally:
        big.unlink()


def test_the_cgroup_gets_the_jobs_share_of_memory_cpus_and_pids(tmp_path: Path) -> None:
    config = SandboxConfig(memory_per_accelerator_bytes=2 * 2**30, cpus_per_accelerator=1.5)
    groups = Cgroups(tmp_path, frozenset({"memory", "cpu", "pids"}))
    path = groups.create("j1-1", 4, config)
    assert path == tmp_path / "j1-1"
    assert (path / "memory.max").read_text() == f"{8 * 2**30}\n"
    assert (path / "cpu.max").read_text() == f"{6 * CPU_PERIOD_US} {CPU_PERIOD_US}\n"
    assert (path / "pids.max").read_text() == f"{PIDS_PER_JOB}\n"
    only_pids = Cgroups(tmp_path, frozenset({"pids"})).create("j2-1", 4, config)
    assert only_pids is not None and sorted(p.name for p in only_pids.iterdir()) == ["pids.max"]
    assert "not enforced: memory, cpu" in Cgroups(tmp_path, frozenset({"pids"})).describe()


AGENT = """
import sys, time
from pathlib import Path
from suanli.agents.executors.base import Launch
from suanli.agents.executors.local import LocalExecutor
from suanli.agents.sandbox import SandboxConfig
root, beat = Path(sys.argv[1]), sys.argv[2]
ex = LocalExecutor(sandbox=SandboxConfig())
ex.check(root / "work")
workdir = root / "work" / "j1" / "1"
workdir.mkdir(parents=True)
script = (
    "import os, time\\n"
    "if os.fork() == 0:\\n"
    "    os.setsid()\\n"
    "    while True:\\n"
    f"        open({beat!r}, 'a').write('b\\\\n'); time.sleep(0.05)\\n"
    "time.sleep(600)\\n"
)
ex.start(Launch("j1", 1, ("/bin/sh", "-c", f"exec /usr/bin/python3 -c \\"$0\\"", script), {}, workdir, "h800", 1))
print("started", flush=True)
time.sleep(600)
"""


def test_a_killed_agent_takes_its_sandboxed_jobs_and_their_daemons_with_it(root: Path) -> None:
    import subprocess
    import sys

    beat = root / "work" / "j1" / "1" / "beat"
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(root), str(beat)], stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None and agent.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        while beats(beat) < 3:
            assert time.monotonic() < deadline, "the daemon never beat"
            time.sleep(0.05)
    finally:
        agent.kill()  # SIGKILL: no handler, no cleanup of its own
        agent.wait()
        agent.stdout.close()
    time.sleep(0.3)
    assert settled_beats(beat), "the daemon outlived its agent"


def settled_beats(path: Path) -> bool:
    before = beats(path)
    time.sleep(0.5)
    return beats(path) == before


def test_shared_storage_under_tmp_stays_visible_when_the_agent_names_it(root: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "jobs").mkdir(parents=True)
    shared.chmod(0o777)
    (shared / "jobs" / "code.txt").write_text("the job's code\n")
    elsewhere = tmp_path / "not-shared.txt"
    elsewhere.write_text("host tmp\n")
    elsewhere.chmod(0o644)
    ex = executor(root, share=(shared,))
    script = (
        f"print(open({str(shared / 'jobs' / 'code.txt')!r}).read().strip())\n"
        f"open({str(shared / 'result.txt')!r}, 'w').write('done')\n"
        "import os\n"
        f"print('host tmp visible:', os.path.exists({str(elsewhere)!r}))\n"
    )
    state, code, text = run_to_end(ex, ex.start(launch(root, "j1", script)))
    assert (state, code) == ("SUCCEEDED", 0), text
    assert "the job's code" in text and "host tmp visible: False" in text
    assert (shared / "result.txt").read_text() == "done"


def test_a_checkpoint_dir_the_agent_makes_in_shared_storage_under_umask_077_is_reachable(
    root: Path, tmp_path: Path
) -> None:
    """README's train.yaml keeps its checkpoints in ``${SHARED}/checkpoints/demo-train``: the
    agent makes ``checkpoints/`` too, and under ``umask 077`` that was root's 0700, so the
    job could not reach the directory it had been handed."""
    from suanli.agents.launch import PASS_THROUGH_MODE, prepare_launch
    from suanli.schemas.v1 import Assignment

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    checkpoints = shared / "checkpoints" / "demo-train"
    script = f"open({str(checkpoints / 'step-1')!r}, 'w').write('1'); print('checkpointed')"
    run = {"command": [SYSTEM_PY, "-c", script], "checkpoint_dir": str(checkpoints)}
    assignment = Assignment(
        id="j1", fencing_token=1, attempt=1, accelerator="h800", count=1, spec={"run": run}, resume_from=None
    )
    before = os.umask(0o077)
    try:
        ex = executor(root, share=(shared,))
        job, _, _ = prepare_launch(assignment, root / "work", "qingyang")
        state, code, text = run_to_end(ex, ex.start(job))
    finally:
        os.umask(before)
    assert (state, code) == ("SUCCEEDED", 0), text
    assert (checkpoints / "step-1").read_text() == "1"
    made_above = (shared / "checkpoints").stat()
    assert (made_above.st_uid, made_above.st_mode & 0o777) == (0, PASS_THROUGH_MODE), "let through, not handed over"
    assert (root / "work" / "j1").stat().st_mode & 0o777 == PASS_THROUGH_MODE
