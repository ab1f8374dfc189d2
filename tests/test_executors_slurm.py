"""The Slurm executor: the batch script (run with bash, no Slurm needed), then real jobs on a
one-node Slurm cluster started in a temp dir (munged, slurmctld, slurmd), skipped with the
reason where slurm-wlm is not installed or its daemons cannot start.

On Debian/Ubuntu, ``apt-get install slurm-wlm`` brings the daemons, the client commands
and munge; the fixture needs root (slurmd runs jobs as their submitting user).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suanli.agents.executors import EngineUnavailable, ExecutorError, Launch, LaunchRefused, Poll, SlurmExecutor
from suanli.agents.executors.slurm import EXIT_CODE_NAME, SCRIPT_NAME, batch_script
from suanli.errors import InputError
from tests.slurm_cluster import SlurmUnavailable, one_node_slurm

PY = sys.executable
HOSTILE = ["$(touch pwned)", "'; touch pwned; echo '", "a\nb", "`touch pwned`", '"; touch pwned; "', "*", "\\"]
JOB_TIMEOUT_S = 60.0


def launch_of(workdir: Path, *command: str, env: dict[str, str] | None = None, **extra: Any) -> Launch:
    workdir.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {"job_id": "job-1", "attempt": 2, "accelerator": "h800", "count": 4, **extra}
    return Launch(command=tuple(command), env=env or {}, workdir=workdir, **fields)


# -- the batch script, without Slurm -----------------------------------------------------


def run_with_bash(launch: Launch) -> subprocess.CompletedProcess[str]:
    """Run the script's body as Slurm would run it (``#SBATCH`` lines are comments to bash)."""
    script = launch.workdir / SCRIPT_NAME
    script.write_text(batch_script(launch), encoding="utf-8")
    return subprocess.run(
        ["/bin/bash", str(script)], cwd=launch.workdir, capture_output=True, text=True, timeout=60, check=False
    )


def test_hostile_arguments_and_env_values_reach_the_program_verbatim(tmp_path: Path) -> None:
    code = "import json, os, sys; json.dump({'argv': sys.argv[1:], 'v': os.environ['V']}, open('seen.json', 'w'))"
    hostile_value = "$(touch pwned); `touch pwned`\n'; touch pwned; '\"$HOME\""
    launch = launch_of(tmp_path, PY, "-c", code, *HOSTILE, env={"V": hostile_value})
    done = run_with_bash(launch)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "seen.json").read_text()) == {"argv": HOSTILE, "v": hostile_value}
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / EXIT_CODE_NAME).read_text() == "0\n"


def test_the_script_records_the_exit_status_the_command_ended_with(tmp_path: Path) -> None:
    done = run_with_bash(launch_of(tmp_path, PY, "-c", "import sys; sys.exit(7)"))
    assert done.returncode == 7
    assert (tmp_path / EXIT_CODE_NAME).read_text() == "7\n"


def test_the_script_asks_slurm_for_what_the_launch_needs(tmp_path: Path) -> None:
    launch = launch_of(tmp_path, "train", "--fast", env={"LR": "0.1"})
    script = batch_script(launch, agent_env={"PATH": "/usr/bin:/bin", "SECRET": "x"})
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --job-name=suanli-job-1-a2" in lines
    assert f"#SBATCH --output={tmp_path}/suanli-job.log" in lines
    assert f"#SBATCH --chdir={tmp_path}" in lines
    assert "#SBATCH --export=NONE" in lines
    assert "export LR=0.1" in lines
    assert "export PATH=/usr/bin:/bin" in lines, "PATH comes from the agent so that programs resolve"
    assert "SECRET" not in script, "nothing else of the agent's environment"
    assert "train --fast" in lines
    assert not any(line.startswith("#SBATCH --gres") for line in lines), "no GRES unless the cluster has them"
    assert "#SBATCH --gres=gpu:4" in batch_script(launch, gpu_gres=True)
    assert "#SBATCH --partition=gpu" in batch_script(launch, partition="gpu")


def test_a_path_set_by_the_job_is_kept(tmp_path: Path) -> None:
    script = batch_script(launch_of(tmp_path, "x", env={"PATH": "/opt/bin"}), agent_env={"PATH": "/usr/bin"})
    assert "export PATH=/opt/bin" in script.splitlines()
    assert "/usr/bin" not in script


def test_a_job_id_cannot_add_sbatch_directives(tmp_path: Path) -> None:
    script = batch_script(launch_of(tmp_path, "x", job_id="j\n#SBATCH --uid=0"))
    assert [line for line in script.splitlines() if line.startswith("#SBATCH --uid")] == []


@pytest.mark.parametrize("workdir", ["with space", "per%jcent", "quo'te", "new\nline"])
def test_a_workdir_that_cannot_go_on_an_sbatch_line_is_refused(tmp_path: Path, workdir: str) -> None:
    with pytest.raises(LaunchRefused, match="To fix:"):
        batch_script(launch_of(tmp_path / workdir, "x"))


def test_an_invalid_variable_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExecutorError, match="not a valid environment variable name"):
        batch_script(launch_of(tmp_path, "x", env={"A=B; touch pwned; X": "1"}))


def test_missing_slurm_commands_are_an_error_saying_how_to_fix_it(tmp_path: Path) -> None:
    executor = SlurmExecutor(bin_dir=tmp_path / "no-slurm-here")
    with pytest.raises(ExecutorError, match=r"sbatch' was not found. To fix: install the Slurm client"):
        executor.start(launch_of(tmp_path / "w", "true"))


def test_the_script_asks_for_the_account_and_the_gres_the_template_names(tmp_path: Path) -> None:
    launch = launch_of(tmp_path, "train", accelerator="ascend-910b", count=8)
    lines = batch_script(launch, gres_template="npu:{accelerator}:{count}", account="proj-7").splitlines()
    assert "#SBATCH --gres=npu:ascend-910b:8" in lines
    assert "#SBATCH --account=proj-7" in lines
    assert "#SBATCH --gres=gpu:8" in batch_script(launch, gpu_gres=True).splitlines(), "gpu_gres is gpu:{count}"


@pytest.mark.parametrize(
    ("template", "wrong"),
    [("gpu:{cnt}", "is invalid"), ("gpu:{count} --uid=0", "cannot go on an #SBATCH line"), ("gpu:{0}", "is invalid")],
    ids=["an unknown field", "a space that would add a directive", "a positional field"],
)
def test_a_gres_template_that_cannot_make_a_gres_is_refused_when_the_executor_is_made(
    template: str, wrong: str
) -> None:
    with pytest.raises(InputError, match=wrong):
        SlurmExecutor(gres_template=template)


# -- the engine check, against stand-in Slurm commands --------------------------------------------


def fake_slurm(
    bin_dir: Path, *, partitions: str = "debug*|up|1\n", gres: str = "(null)\n", sinfo_fails: str | None = None
) -> Path:
    """sbatch, squeue, sacct and scancel that do nothing, and an ``sinfo`` that answers
    ``-o %P|%a|%D`` with ``partitions`` and ``-o %G`` with ``gres`` (or fails, as it does
    when slurmctld is down)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("sbatch", "squeue", "sacct", "scancel"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    if sinfo_fails is not None:
        body = f"echo '{sinfo_fails}' >&2\nexit 1\n"
    else:
        body = f"case \"$*\" in\n  *%G*) printf '{gres}' ;;\n  *) printf '{partitions}' ;;\nesac\n"
    (bin_dir / "sinfo").write_text("#!/bin/sh\n" + body)
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return bin_dir


def test_the_check_finds_the_default_partition_and_says_what_it_found(tmp_path: Path) -> None:
    executor = SlurmExecutor(bin_dir=fake_slurm(tmp_path / "bin", partitions="debug*|up|2\nbig|up|4\n"))
    assert executor.check(tmp_path / "work") == "Slurm answers: partition debug (up, 2 nodes)"
    big = SlurmExecutor(bin_dir=tmp_path / "bin", partition="big", account="proj-7")
    assert big.check(tmp_path / "work") == "Slurm answers: partition big (up, 4 nodes), account proj-7"


def test_the_check_refuses_a_host_without_the_slurm_commands(tmp_path: Path) -> None:
    empty = tmp_path / "no-slurm-here"
    empty.mkdir()
    with pytest.raises(EngineUnavailable, match=r"needs 'sbatch', which is not in .*no-slurm-here. To fix: install"):
        SlurmExecutor(bin_dir=empty).check(tmp_path / "work")
    bin_dir = fake_slurm(tmp_path / "bin")
    (bin_dir / "sacct").unlink()
    with pytest.raises(EngineUnavailable, match="needs 'sacct'"):
        SlurmExecutor(bin_dir=bin_dir).check(tmp_path / "work")


def test_the_check_refuses_a_cluster_whose_controller_does_not_answer(tmp_path: Path) -> None:
    down = "slurm_load_partitions: Unable to contact slurm controller (connect failure)"
    executor = SlurmExecutor(bin_dir=fake_slurm(tmp_path / "bin", sinfo_fails=down))
    unreachable = r"sinfo failed \(slurm_load_partitions: Unable to contact.*scontrol ping"
    with pytest.raises(EngineUnavailable, match=unreachable):
        executor.check(tmp_path / "work")


def test_the_check_refuses_a_partition_the_cluster_lacks_listing_those_it_has(tmp_path: Path) -> None:
    bin_dir = fake_slurm(tmp_path / "bin", partitions="debug*|up|1\nbig|up|4\n")
    with pytest.raises(EngineUnavailable, match=r"no partition 'gpu' \(partitions: big, debug \(default\)\)"):
        SlurmExecutor(bin_dir=bin_dir, partition="gpu").check(tmp_path / "work")
    no_default = fake_slurm(tmp_path / "bin2", partitions="big|up|4\n")
    with pytest.raises(EngineUnavailable, match=r"no default partition \(partitions: big\). To fix: pass --partition"):
        SlurmExecutor(bin_dir=no_default).check(tmp_path / "work")


def test_the_check_refuses_a_gres_no_node_of_the_partition_has(tmp_path: Path) -> None:
    bin_dir = fake_slurm(tmp_path / "bin", gres="(null)\n")
    with pytest.raises(EngineUnavailable, match=r"no node of Slurm partition 'debug' has GRES 'gpu'"):
        SlurmExecutor(bin_dir=bin_dir, gpu_gres=True).check(tmp_path / "work")
    with_gpus = fake_slurm(tmp_path / "bin2", gres="gpu:h100:8(S:0,1),npu:4\n(null)\n")
    found = SlurmExecutor(bin_dir=with_gpus, gres_template="npu:{count}").check(tmp_path / "work")
    assert found == "Slurm answers: partition debug (up, 1 node), GRES npu:{count}"


def test_the_check_refuses_a_work_dir_no_sbatch_line_can_hold(tmp_path: Path) -> None:
    executor = SlurmExecutor(bin_dir=fake_slurm(tmp_path / "bin"))
    with pytest.raises(EngineUnavailable, match="cannot go on an #SBATCH line"):
        executor.check(tmp_path / "my work")


# -- a real one-node Slurm cluster -------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm_conf() -> Iterator[Path]:
    """A running one-node Slurm cluster (:func:`tests.slurm_cluster.one_node_slurm`); yields
    its slurm.conf, or skips saying why there is none."""
    with contextlib.ExitStack() as stack:
        try:
            conf = stack.enter_context(one_node_slurm())
        except SlurmUnavailable as exc:
            pytest.skip(str(exc))
        yield conf


@pytest.fixture
def executor(slurm_conf: Path) -> SlurmExecutor:
    return SlurmExecutor(conf=slurm_conf, grace_s=20.0)


def wait_until_done(executor: SlurmExecutor, handle: str) -> Poll:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        poll = executor.poll(handle)
        if poll.state != "RUNNING":
            return poll
        time.sleep(0.2)
    raise AssertionError(f"Slurm job {handle} still running after {JOB_TIMEOUT_S} s")


def slurm_workdir() -> Path:
    """A workdir slurmd (root) can reach: not under pytest's 0700 tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="suanli-slurm-job-", dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.mark.slow
def test_a_slurm_job_runs_in_its_workdir_with_its_env_and_ships_its_logs(executor: SlurmExecutor) -> None:
    workdir = slurm_workdir()
    code = (
        "import json, os, sys; print('hello from slurm', flush=True); "
        "json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'lr': os.environ.get('LR'),"
        " 'job': os.environ.get('SLURM_JOB_ID')}, open('seen.json', 'w'))"
    )
    handle = executor.start(launch_of(workdir, PY, "-c", code, *HOSTILE, env={"LR": "$(touch pwned)"}))
    assert handle.isdigit()
    assert wait_until_done(executor, handle) == Poll("SUCCEEDED", exit_code=0)
    seen = json.loads((workdir / "seen.json").read_text())
    assert seen == {"argv": HOSTILE, "cwd": str(workdir), "lr": "$(touch pwned)", "job": handle}
    assert not (workdir / "pwned").exists()
    text, offset = executor.read_logs(handle, 0)
    assert "hello from slurm" in text
    assert executor.read_logs(handle, offset) == ("", offset)
    shutil.rmtree(workdir)


@pytest.mark.slow
def test_a_failing_slurm_job_is_failed_with_its_exit_code(executor: SlurmExecutor) -> None:
    workdir = slurm_workdir()
    handle = executor.start(launch_of(workdir, PY, "-c", "import sys; sys.exit(3)"))
    assert wait_until_done(executor, handle) == Poll("FAILED", exit_code=3, message="exited with code 3")
    shutil.rmtree(workdir)


@pytest.mark.slow
def test_stopping_a_slurm_job_cancels_it(executor: SlurmExecutor) -> None:
    workdir = slurm_workdir()
    code = "import time; print('started', flush=True); time.sleep(120)"
    handle = executor.start(launch_of(workdir, PY, "-c", code))
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while "started" not in executor.read_logs(handle, 0)[0]:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    executor.stop(handle)
    poll = executor.poll(handle)
    assert poll.state == "FAILED"
    assert poll.exit_code == 143
    assert poll.message == "Slurm job ended CANCELLED (killed by signal SIGTERM (15))"
    shutil.rmtree(workdir)


@pytest.mark.slow
def test_the_check_passes_on_the_real_cluster_and_refuses_a_partition_or_gres_it_lacks(slurm_conf: Path) -> None:
    work = slurm_workdir()
    assert SlurmExecutor(conf=slurm_conf).check(work) == "Slurm answers: partition debug (up, 1 node)"
    with pytest.raises(EngineUnavailable, match=r"no partition 'gpu' \(partitions: debug \(default\)\)"):
        SlurmExecutor(conf=slurm_conf, partition="gpu").check(work)
    with pytest.raises(EngineUnavailable, match="has GRES 'gpu'"):
        SlurmExecutor(conf=slurm_conf, gpu_gres=True).check(work)
    shutil.rmtree(work)


@pytest.mark.slow
def test_gpu_gres_on_a_cluster_without_them_is_refused_at_submission(slurm_conf: Path) -> None:
    workdir = slurm_workdir()
    executor = SlurmExecutor(conf=slurm_conf, gpu_gres=True)
    with pytest.raises(ExecutorError, match=r"(?i)sbatch refused.*gres"):
        executor.start(launch_of(workdir, "true"))
    shutil.rmtree(workdir)


@pytest.mark.skipif(os.geteuid() != 0, reason="submitting as another user needs root, as the agent does")
def test_as_root_the_jobs_are_submitted_as_the_slurm_user_who_owns_their_directories() -> None:
    root = Path(tempfile.mkdtemp(prefix="suanli-slurm-user-", dir="/var/lib"))
    try:
        root.chmod(0o755)
        bin_dir = fake_slurm(root / "bin")
        (bin_dir / "sbatch").write_text('#!/bin/sh\nid -u > "$(dirname "$2")/sbatch-uid"\necho 42\n')
        executor = SlurmExecutor(bin_dir=bin_dir, user="nobody")
        executor.check(root / "work")
        workdir = root / "work" / "j1" / "1"
        checkpoints = root / "work" / "j1" / "checkpoints"
        workdir.mkdir(parents=True)
        checkpoints.mkdir()
        env = {"SUANLI_CHECKPOINT_DIR": str(checkpoints), "SUANLI_TOKEN": "sl_never"}
        assert executor.start(Launch("j1", 1, ("true",), env, workdir, "h800", 1)) == "42"
        nobody = pwd.getpwnam("nobody").pw_uid
        assert (workdir / "sbatch-uid").read_text().strip() == str(nobody)
        assert all(path.stat().st_uid == nobody for path in (workdir, checkpoints))
        assert (root / "work" / "j1").stat().st_uid == 0, "the job directory above them stays root's"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_slurm_user_must_exist_and_not_be_root(tmp_path: Path) -> None:
    bin_dir = fake_slurm(tmp_path / "bin")
    with pytest.raises(EngineUnavailable, match="no such user on this host"):
        SlurmExecutor(bin_dir=bin_dir, user="suanli-no-such-user").check(tmp_path / "work")
    with pytest.raises(EngineUnavailable, match="is root; jobs never run as root"):
        SlurmExecutor(bin_dir=bin_dir, user="root").check(tmp_path / "work")
