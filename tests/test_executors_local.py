"""The local executor and the executor registry: real subprocesses, real signals, real log files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from suanli.agents.executors import (
    EngineUnavailable,
    ExecutorError,
    ExecutorRegistry,
    Launch,
    LaunchRefused,
    LocalExecutor,
    Poll,
    RayExecutor,
    SlurmExecutor,
    register_builtins,
)
from suanli.agents.executors.local import LOG_NAME, LogTail
from suanli.errors import InputError, UnknownNameError

PY = sys.executable


def launch_of(workdir: Path, *command: str, env: dict[str, str] | None = None, job_id: str = "job-1") -> Launch:
    workdir.mkdir(parents=True, exist_ok=True)
    return Launch(
        job_id=job_id,
        attempt=1,
        command=tuple(command),
        env=env or {},
        workdir=workdir,
        accelerator="cpu",
        count=1,
    )


def python(code: str) -> tuple[str, str, str]:
    return (PY, "-c", textwrap.dedent(code))


def wait_until_done(executor: LocalExecutor, handle: str, timeout_s: float = 30.0) -> Poll:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        poll = executor.poll(handle)
        if poll.state != "RUNNING":
            return poll
        time.sleep(0.02)
    raise AssertionError(f"job {handle} still running after {timeout_s} s")


def wait_for_file(path: Path, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written within {timeout_s} s")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent that never reaps it is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    made = LocalExecutor(grace_s=2.0)
    yield made
    made.close()


def test_a_job_runs_in_its_workdir_with_only_its_env_and_path(
    executor: LocalExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SECRET", "must-not-leak")
    code = """
        import json, os, sys
        print("to stdout"); print("to stderr", file=sys.stderr)
        json.dump({"cwd": os.getcwd(), "env": dict(os.environ)}, open("seen.json", "w"))
    """
    handle = executor.start(launch_of(tmp_path / "w", *python(code), env={"GREETING": "ni hao"}))
    assert wait_until_done(executor, handle) == Poll("SUCCEEDED", exit_code=0)
    seen = json.loads((tmp_path / "w" / "seen.json").read_text())
    assert seen["cwd"] == str(tmp_path / "w")
    assert seen["env"]["GREETING"] == "ni hao"
    assert seen["env"]["PATH"] == os.environ["PATH"]
    assert "AGENT_SECRET" not in seen["env"]
    text, offset = executor.read_logs(handle, 0)
    assert "to stdout" in text
    assert "to stderr" in text
    assert offset == len(text)
    assert (tmp_path / "w" / LOG_NAME).read_text() == text


def test_a_job_that_sets_path_keeps_its_own(executor: LocalExecutor, tmp_path: Path) -> None:
    code = "import os; open('path.txt', 'w').write(os.environ['PATH'])"
    handle = executor.start(launch_of(tmp_path, *python(code), env={"PATH": "/opt/only/bin"}))
    assert wait_until_done(executor, handle).state == "SUCCEEDED"
    assert (tmp_path / "path.txt").read_text() == "/opt/only/bin"


@pytest.mark.parametrize(
    ("code", "exit_code", "message"),
    [
        ("import sys; sys.exit(3)", 3, "exited with code 3"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137, "killed by signal SIGKILL (9)"),
    ],
    ids=["a-nonzero-exit-names-the-code", "a-signal-names-the-signal"],
)
def test_a_failing_job_is_failed_with_its_exit_status(
    executor: LocalExecutor, tmp_path: Path, code: str, exit_code: int, message: str
) -> None:
    handle = executor.start(launch_of(tmp_path, *python(code)))
    assert wait_until_done(executor, handle) == Poll("FAILED", exit_code=exit_code, message=message)


def test_arguments_reach_the_program_verbatim_never_through_a_shell(executor: LocalExecutor, tmp_path: Path) -> None:
    hostile = ["$(touch pwned)", "'; touch pwned; echo '", "a\nb", "`touch pwned`", "*", "&&", "|"]
    code = "import json, sys; json.dump(sys.argv[1:], open('argv.json', 'w'))"
    handle = executor.start(launch_of(tmp_path, *python(code), *hostile))
    assert wait_until_done(executor, handle).state == "SUCCEEDED"
    assert json.loads((tmp_path / "argv.json").read_text()) == hostile
    assert not (tmp_path / "pwned").exists()


def test_a_program_that_does_not_exist_is_the_jobs_error_naming_it(executor: LocalExecutor, tmp_path: Path) -> None:
    with pytest.raises(LaunchRefused, match=r"'no-such-program-suanli'.*To fix:"):
        executor.start(launch_of(tmp_path, "no-such-program-suanli", "--help"))


def test_a_file_that_is_not_executable_is_the_jobs_error_saying_so(executor: LocalExecutor, tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(LaunchRefused, match=r"not executable.*To fix:"):
        executor.start(launch_of(tmp_path, str(script)))


def test_the_check_makes_the_work_root_and_refuses_one_it_cannot_make(executor: LocalExecutor, tmp_path: Path) -> None:
    assert executor.check(tmp_path / "work" / "site-a").startswith("local processes on ")
    assert (tmp_path / "work" / "site-a").is_dir()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(EngineUnavailable, match=r"cannot create the work dir .*a-file/work.*To fix: pass a --work-dir"):
        executor.check(tmp_path / "a-file" / "work")


def test_stop_lets_a_job_end_gracefully_on_sigterm(executor: LocalExecutor, tmp_path: Path) -> None:
    code = """
        import signal, sys, time
        def bye(*_):
            open("graceful", "w").write("yes"); sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        open("ready", "w").write("1")
        time.sleep(60)
    """
    handle = executor.start(launch_of(tmp_path, *python(code)))
    wait_for_file(tmp_path / "ready")
    started = time.monotonic()
    executor.stop(handle)
    assert time.monotonic() - started < 2.0, "a job that ends on SIGTERM is not waited on for the grace period"
    assert (tmp_path / "graceful").read_text() == "yes"
    assert executor.poll(handle) == Poll("SUCCEEDED", exit_code=0)


def test_stop_kills_a_job_and_its_children_that_ignore_sigterm(tmp_path: Path) -> None:
    executor = LocalExecutor(grace_s=0.5)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    code = f"""
        import os, signal, subprocess, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([{PY!r}, "-c", {stubborn!r}])
        open("pids", "w").write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(60)
    """
    handle = executor.start(launch_of(tmp_path, *python(code)))
    parent, child = (int(p) for p in wait_for_file(tmp_path / "pids").split())
    started = time.monotonic()
    executor.stop(handle)
    assert 0.4 < time.monotonic() - started < 5.0
    assert executor.poll(handle) == Poll("FAILED", exit_code=137, message="killed by signal SIGKILL (9)")
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)  # the grandchild is not ours to reap: init does it
    assert not alive(child), "the whole process group is killed, not only the main process"
    assert not alive(parent)


def test_stopping_a_finished_job_does_nothing(executor: LocalExecutor, tmp_path: Path) -> None:
    handle = executor.start(launch_of(tmp_path, *python("pass")))
    wait_until_done(executor, handle)
    executor.stop(handle)
    assert executor.poll(handle).state == "SUCCEEDED"


def test_logs_are_read_by_character_offset_as_they_grow(executor: LocalExecutor, tmp_path: Path) -> None:
    code = """
        import sys, time
        for i in range(5):
            print(f"line {i} 算力", flush=True)
            time.sleep(0.05)
    """
    handle = executor.start(launch_of(tmp_path, *python(code)))
    pieces, offset = [], 0
    while True:
        done = executor.poll(handle).state != "RUNNING"
        text, offset = executor.read_logs(handle, offset)
        pieces.append(text)
        if done and not text:
            break
        time.sleep(0.01)
    whole = "".join(pieces)
    assert whole == "".join(f"line {i} 算力\n" for i in range(5))
    assert offset == len(whole)
    assert executor.read_logs(handle, 7) == (whole[7:], len(whole)), "any offset can be read again"
    assert executor.read_logs(handle, len(whole)) == ("", len(whole))


def test_invalid_utf8_is_replaced_and_split_characters_are_joined(tmp_path: Path) -> None:
    path = tmp_path / "log"
    tail = LogTail(path)
    assert tail.read(0) == ("", 0), "a log not yet written is empty"
    wide = "算".encode()
    path.write_bytes(b"ok \xff " + wide[:1])
    assert tail.read(0) == ("ok \ufffd ", 5), "half a character waits for the rest"
    with path.open("ab") as handle:
        handle.write(wide[1:] + b"!")
    assert tail.read(5) == ("算!", 7)
    with path.open("ab") as handle:
        handle.write(wide[:2])
    assert tail.read(7, final=True) == ("\ufffd", 8), "at the end a broken character is replaced"
    assert tail.read(3, final=True) == ("\ufffd 算!\ufffd", 8), "an earlier offset re-reads the file"


def test_many_jobs_run_at_once_from_many_threads(executor: LocalExecutor, tmp_path: Path) -> None:
    def run(index: int) -> tuple[int, Poll, str]:
        code = f"import sys, time; time.sleep(0.2); print('job {index}'); sys.exit({index % 3})"
        handle = executor.start(launch_of(tmp_path / str(index), *python(code), job_id=f"job-{index}"))
        poll = wait_until_done(executor, handle)
        return index, poll, executor.read_logs(handle, 0)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(24)))
    for index, poll, text in results:
        assert poll.exit_code == index % 3
        assert poll.state == ("SUCCEEDED" if index % 3 == 0 else "FAILED")
        assert text == f"job {index}\n"


def test_a_released_job_is_forgotten(executor: LocalExecutor, tmp_path: Path) -> None:
    handle = executor.start(launch_of(tmp_path, *python("pass")))
    wait_until_done(executor, handle)
    executor.release(handle)
    with pytest.raises(ExecutorError, match="no local job"):
        executor.poll(handle)


def test_a_missing_workdir_is_an_engine_error(executor: LocalExecutor, tmp_path: Path) -> None:
    launch = launch_of(tmp_path, *python("pass"))
    with pytest.raises(ExecutorError, match="does not exist") as refused:
        executor.start(Launch(**{**launch.__dict__, "workdir": tmp_path / "missing"}))
    assert not isinstance(refused.value, LaunchRefused), "the agent makes the workdir: its fault, not the job's"


# -- the registry -----------------------------------------------------------------------------


@pytest.fixture
def registry() -> ExecutorRegistry:
    return register_builtins()


def test_the_builtins_are_registered_with_descriptions(registry: ExecutorRegistry) -> None:
    assert registry.names() == ("local", "ray", "slurm")
    assert all(entry.description for entry in registry.entries())
    assert [entry.factory for entry in registry.entries()] == [LocalExecutor, RayExecutor, SlurmExecutor]


def test_create_builds_an_executor_with_its_typed_options(registry: ExecutorRegistry) -> None:
    made = registry.create("local", grace_s=1.5)
    assert isinstance(made, LocalExecutor)
    assert made.grace_s == 1.5
    slurm = registry.create("slurm", gpu_gres=True, partition="gpu")
    assert isinstance(slurm, SlurmExecutor)
    assert slurm.gpu_gres
    assert slurm.gres_template == "gpu:{count}"
    slurm = registry.create("slurm", gres_template="npu:{count}", account="proj-7")
    assert isinstance(slurm, SlurmExecutor)
    assert (slurm.gres_template, slurm.account, slurm.partition) == ("npu:{count}", "proj-7", None)


def test_an_unknown_executor_lists_the_valid_ones(registry: ExecutorRegistry) -> None:
    with pytest.raises(UnknownNameError, match=r"unknown executor 'k8s'; valid: local, ray, slurm"):
        registry.create("k8s")


def test_an_unknown_option_lists_the_valid_ones(registry: ExecutorRegistry) -> None:
    with pytest.raises(InputError, match=r"no option\(s\) grace; valid: disk_cap_bytes, grace_s, sandbox"):
        registry.create("local", grace=3)


def test_a_name_cannot_be_registered_twice(registry: ExecutorRegistry) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register("local", LocalExecutor, "again")


def test_the_executors_import_without_ray() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"  # makes `import ray` fail, as when it is not installed
        "import suanli.agents.executors as e\n"
        "assert e.RayExecutor and e.SlurmExecutor\n"
        "try:\n    e.RayExecutor('http://127.0.0.1:1')\nexcept e.ExecutorError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "needs Ray. To fix: pip install" in done.stdout
