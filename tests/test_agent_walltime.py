"""``run.walltime_h`` and ``run.setup`` on the agent: an attempt past its walltime is
stopped (the checkpoint signal first) and reported FAILED saying why; a setup runs before
the command, in the same directory and environment, and a failing one fails the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.agents.launch import with_setup
from suanli.agents.runner import AgentRunner
from suanli.workload import RunSpec
from tests.test_agent_runner import FakeLink, assignment, link, runner, step_until

__all__ = ["link", "runner"]  # the agent runner tests' fixtures, used here by name


STUBBORN_TRAINER = """
    import signal, sys, time
    def on_term(*_):
        print("checkpointing on SIGTERM", flush=True)
        sys.exit(143)
    signal.signal(signal.SIGTERM, on_term)
    print("training", flush=True)
    time.sleep(600)
"""


def test_an_attempt_past_its_walltime_is_stopped_and_fails_saying_so(link: FakeLink, runner: AgentRunner) -> None:
    link.pending = [assignment("job-w", STUBBORN_TRAINER, walltime_h=0.5 / 3600)]  # half a second
    runner.step()
    step_until(runner, lambda: "job-w" not in runner.jobs, timeout_s=30)
    final = link.of("job-w")[-1]
    assert final.state == "FAILED"
    assert final.message is not None and "past its walltime of 0.00 h (run.walltime_h)" in final.message
    assert final.exit_code == 143, "SIGTERM (the checkpoint signal) reached it first"
    assert "checkpointing on SIGTERM" in link.logs("job-w")


def test_a_job_within_its_walltime_is_left_alone(link: FakeLink, runner: AgentRunner) -> None:
    link.pending = [assignment("job-ok", "print('done')", walltime_h=1.0)]
    runner.step()
    step_until(runner, lambda: "job-ok" not in runner.jobs)
    assert link.states("job-ok") == ["RUNNING", "SUCCEEDED"]


def test_setup_runs_first_in_the_jobs_directory_and_environment(
    link: FakeLink, runner: AgentRunner, tmp_path: Path
) -> None:
    code = "import os; print('run sees', open('setup.txt').read().strip(), os.environ['LR'])"
    link.pending = [assignment("job-s", code, setup='echo "prepared $LR" > setup.txt', env={"LR": "0.1"})]
    runner.step()
    step_until(runner, lambda: "job-s" not in runner.jobs)
    assert link.states("job-s") == ["RUNNING", "SUCCEEDED"]
    assert link.logs("job-s") == "run sees prepared 0.1 0.1\n"


def test_a_failing_setup_fails_the_job_without_running_the_command(link: FakeLink, runner: AgentRunner) -> None:
    link.pending = [assignment("job-f", "print('never')", setup=["sh", "-c", "echo no deps >&2; exit 7"])]
    runner.step()
    step_until(runner, lambda: "job-f" not in runner.jobs)
    final = link.of("job-f")[-1]
    assert (final.state, final.exit_code) == ("FAILED", 7)
    assert "never" not in link.logs("job-f") and "no deps" in link.logs("job-f")


def test_the_command_after_setup_keeps_its_arguments_unparsed() -> None:
    argv = with_setup(("pip", "install", "a b"), ("python3", "-c", "print('$HOME; `x`')"))
    assert argv[:2] == ("sh", "-c")
    assert argv[2] == "pip install 'a b'\nexec \"$@\""
    assert argv[3:] == ("suanli-setup", "python3", "-c", "print('$HOME; `x`')")
    assert with_setup(None, ("true",)) == ("true",)


def test_walltime_takes_units_and_refuses_nonsense() -> None:
    assert RunSpec.model_validate({"command": ["true"], "walltime_h": "90m"}).walltime_h == 1.5
    assert RunSpec.model_validate({"command": ["true"], "walltime_h": "2d"}).walltime_h == 48
    with pytest.raises(ValueError, match="walltime_h"):
        RunSpec.model_validate({"command": ["true"], "walltime_h": -1})
