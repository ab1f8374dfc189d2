"""The agent's loop against an in-memory server and the real local executor running Python jobs."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from suanli.agents.executors import EngineUnavailable, ExecutorError, Launch, LocalExecutor
from suanli.agents.launch import newest_checkpoint, resume_point
from suanli.agents.runner import AgentReplaced, AgentRunner, LeaseLost, retry_delay_s
from suanli.schemas.v1 import MAX_LOG_CHUNK, AgentHeartbeat, AgentRegister, AgentReport, Assignment, HeartbeatOut

PY = sys.executable


class FakeLink:
    """The server, in memory: hands out assignments and cancels once, records what the agent says."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.pending: list[Assignment] = []
        self.cancel: list[str] = []
        self.stale: set[str] = set()
        self.failures_left = 0
        self.registered: list[AgentRegister] = []
        self.heartbeats: list[AgentHeartbeat] = []
        self.reports: list[tuple[str, AgentReport]] = []
        self.specs: dict[tuple[str, int], Assignment] = {}
        """Leases whose spec the agent must fetch (``lease`` puts them in ``pending`` without it)."""
        self.fetched: list[tuple[str, int]] = []

    def lease(self, full: Assignment) -> None:
        """Hand ``full`` out as a server does: listed without its spec, fetched on demand."""
        self.specs[(full.id, full.fencing_token)] = full
        self.pending.append(full.model_copy(update={"spec": None}))

    def assignment(self, job_id: str, fencing_token: int) -> Assignment:
        self._maybe_fail()
        self.fetched.append((job_id, fencing_token))
        if job_id in self.stale:
            raise LeaseLost(f"409: job {job_id} is no longer leased here")
        return self.specs[(job_id, fencing_token)]

    def register(self, body: AgentRegister) -> dict[str, Any]:
        self._maybe_fail()
        self.registered.append(body)
        return {"heartbeat_interval_s": self.interval_s}

    def heartbeat(self, body: AgentHeartbeat) -> HeartbeatOut:
        self._maybe_fail()
        self.heartbeats.append(body)
        out = HeartbeatOut(assignments=self.pending, cancel=self.cancel, heartbeat_interval_s=self.interval_s)
        self.pending, self.cancel = [], []
        return out

    def report(self, job_id: str, body: AgentReport) -> None:
        self._maybe_fail()
        if job_id in self.stale:
            raise LeaseLost(f"409: job {job_id} is no longer leased to {body.site}")
        self.reports.append((job_id, body))

    def _maybe_fail(self) -> None:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise ConnectionError("server unreachable")

    def of(self, job_id: str) -> list[AgentReport]:
        return [body for jid, body in self.reports if jid == job_id]

    def states(self, job_id: str) -> list[str]:
        return [r.state for r in self.of(job_id) if r.state is not None]

    def logs(self, job_id: str) -> str:
        return "".join(r.logs or "" for r in self.of(job_id))


def assignment(
    job_id: str, code: str, *, attempt: int = 1, token: int = 1, resume_from: str | None = None, **run: Any
) -> Assignment:
    spec = {"run": {"command": [PY, "-c", textwrap.dedent(code)], **run}}
    return Assignment(
        id=job_id,
        fencing_token=token,
        attempt=attempt,
        accelerator="cpu",
        count=1,
        spec=spec,
        resume_from=resume_from,
    )


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


@pytest.fixture
def runner(link: FakeLink, tmp_path: Path) -> Iterator[AgentRunner]:
    made = AgentRunner(link, "site-a", LocalExecutor(grace_s=2.0), "local", {"cpu": 2}, tmp_path / "work")
    made.register()
    yield made
    for job in list(made.jobs.values()):
        made.executor.stop(job.handle)


def step_until(runner: AgentRunner, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runner.step()
        if done():
            return
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout_s} s")


def wait_for_file(path: Path, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written within {timeout_s} s")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


TRAIN = """
    import json, os, pathlib, time
    ckpt = pathlib.Path(os.environ["SUANLI_CHECKPOINT_DIR"])
    print("epoch 1", flush=True)
    (ckpt / "step-100.pt").write_text("weights")
    time.sleep(0.3)
    print("epoch 2", flush=True)
    keys = ("SUANLI_JOB_ID", "SUANLI_ATTEMPT", "SUANLI_CHECKPOINT_DIR", "SUANLI_RESUME_FROM", "LR")
    seen = {key: os.environ.get(key) for key in keys}
    pathlib.Path("result.json").write_text(json.dumps({"cwd": os.getcwd(), **seen}))
"""


def test_the_agent_registers_its_site_and_takes_the_servers_interval(link: FakeLink, runner: AgentRunner) -> None:
    assert link.registered == [
        AgentRegister(
            site="site-a", executor="local", inventory={"cpu": 2}, heartbeat_interval_s=5.0, agent_id=runner.agent_id
        )
    ]
    assert runner.heartbeat_interval_s == link.interval_s
    host, pid, tag = runner.agent_id.split(":")
    assert (host, int(pid), len(tag)) == (socket.gethostname(), os.getpid(), 4)


def test_a_job_is_reported_running_then_succeeded_with_its_logs_and_checkpoint(
    link: FakeLink, runner: AgentRunner, tmp_path: Path
) -> None:
    link.pending = [assignment("job-1", TRAIN, token=7, checkpoint_dir="ckpt", env={"LR": "0.1"})]
    runner.step()
    assert link.states("job-1") == ["RUNNING"], "RUNNING is reported as soon as the job starts"
    step_until(runner, lambda: any(hb.running for hb in link.heartbeats))
    step_until(runner, lambda: "job-1" not in runner.jobs)

    workdir = tmp_path / "work" / "job-1" / "1"
    checkpoint = workdir / "ckpt" / "step-100.pt"
    assert link.states("job-1") == ["RUNNING", "SUCCEEDED"]
    final = link.of("job-1")[-1]
    assert final.exit_code == 0
    assert all(r.fencing_token == 7 and r.site == "site-a" for r in link.of("job-1"))
    assert link.logs("job-1") == "epoch 1\nepoch 2\n"
    assert [r.checkpoint for r in link.of("job-1") if r.checkpoint] == [str(checkpoint)], "reported once, when new"
    assert json.loads((workdir / "result.json").read_text()) == {
        "cwd": str(workdir),
        "SUANLI_JOB_ID": "job-1",
        "SUANLI_ATTEMPT": "1",
        "SUANLI_CHECKPOINT_DIR": str(workdir / "ckpt"),
        "SUANLI_RESUME_FROM": "",
        "LR": "0.1",
    }
    running = [job for hb in link.heartbeats for job in hb.running]
    assert {(job.id, job.fencing_token) for job in running} == {("job-1", 7)}
    assert link.heartbeats[-1].running == [], "a finished job leaves the heartbeat"


def test_a_failing_job_is_reported_failed_with_its_exit_code(link: FakeLink, runner: AgentRunner) -> None:
    link.pending = [assignment("job-2", "import sys; print('oops', file=sys.stderr); sys.exit(3)")]
    runner.step()
    step_until(runner, lambda: "job-2" not in runner.jobs)
    final = link.of("job-2")[-1]
    assert (final.state, final.exit_code, final.message) == ("FAILED", 3, "exited with code 3")
    assert link.logs("job-2") == "oops\n"


def test_a_job_that_cannot_start_is_reported_failed_with_the_reason(link: FakeLink, runner: AgentRunner) -> None:
    link.pending = [
        Assignment(
            id="job-3",
            fencing_token=2,
            attempt=1,
            accelerator="cpu",
            count=1,
            spec={"run": {"command": ["no-such-trainer", "--epochs", "3"]}},
            resume_from=None,
        ),
        Assignment(id="job-4", fencing_token=2, attempt=1, accelerator="cpu", count=1, spec={}, resume_from=None),
    ]
    runner.step()
    assert runner.jobs == {}
    (missing,) = link.of("job-3")
    assert missing.state == "FAILED"
    assert missing.fencing_token == 2
    assert missing.message is not None
    assert "'no-such-trainer'" in missing.message
    assert "To fix:" in missing.message
    (no_run,) = link.of("job-4")
    assert no_run.state == "FAILED"
    assert "run: section" in (no_run.message or "")


def test_a_cancel_from_the_server_stops_the_process_and_forgets_the_job(
    link: FakeLink, runner: AgentRunner, tmp_path: Path
) -> None:
    link.pending = [assignment("job-5", "import os, time; open('pid', 'w').write(str(os.getpid())); time.sleep(60)")]
    runner.step()
    pid = int(wait_for_file(tmp_path / "work" / "job-5" / "1" / "pid"))
    assert alive(pid)
    link.cancel = ["job-5"]
    runner.step()
    runner.step()
    assert not alive(pid)
    assert runner.jobs == {}
    assert link.heartbeats[-1].running == []
    assert link.states("job-5") == ["RUNNING"], "a cancelled job's end is the server's to record"


def test_with_background_stops_a_job_ignoring_sigterm_does_not_delay_the_heartbeats(
    link: FakeLink, tmp_path: Path
) -> None:
    """The executor waits its grace period before SIGKILL; the agent's loop must not."""
    grace_s = 3.0
    runner = AgentRunner(
        link, "site-a", LocalExecutor(grace_s=grace_s), "local", {"cpu": 2}, tmp_path / "work", background_stops=True
    )
    runner.register()
    code = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "open('pid', 'w').write(str(os.getpid())); time.sleep(60)"
    )
    link.pending = [assignment("job-9", code)]
    runner.step()
    pid = int(wait_for_file(tmp_path / "work" / "job-9" / "1" / "pid"))
    link.cancel = ["job-9"]
    t0 = time.monotonic()
    runner.step()
    runner.step()
    assert time.monotonic() - t0 < grace_s / 2, "the heartbeats waited for the stop"
    assert runner.jobs == {}
    assert link.heartbeats[-1].running == []
    deadline = time.monotonic() + grace_s + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "the job was never killed"


def test_a_stale_lease_stops_the_job_and_forgets_it(link: FakeLink, runner: AgentRunner, tmp_path: Path) -> None:
    code = """
        import os, time
        open("pid", "w").write(str(os.getpid()))
        while True:
            print("tick", flush=True)
            time.sleep(0.05)
    """
    link.pending = [assignment("job-6", code)]
    runner.step()
    pid = int(wait_for_file(tmp_path / "work" / "job-6" / "1" / "pid"))
    link.stale.add("job-6")  # the job was preempted and placed elsewhere: this lease is fenced off
    time.sleep(0.2)
    runner.step()
    assert not alive(pid)
    assert runner.jobs == {}
    assert link.heartbeats[-1].running == []


def test_a_resumed_attempt_sees_where_to_resume_from(link: FakeLink, runner: AgentRunner, tmp_path: Path) -> None:
    previous = tmp_path / "shared" / "step-100.pt"
    link.pending = [assignment("job-7", TRAIN, attempt=2, token=9, resume_from=str(previous))]
    runner.step()
    step_until(runner, lambda: "job-7" not in runner.jobs)
    seen = json.loads((tmp_path / "work" / "job-7" / "2" / "result.json").read_text())
    assert seen["SUANLI_RESUME_FROM"] == str(previous)
    assert seen["SUANLI_ATTEMPT"] == "2"
    assert seen["SUANLI_CHECKPOINT_DIR"] == str(tmp_path / "work" / "job-7" / "checkpoints"), (
        "without run.checkpoint_dir, checkpoints are kept per job, across attempts"
    )
    assert link.states("job-7") == ["RUNNING", "SUCCEEDED"]


def test_a_new_attempt_resumes_from_the_newest_checkpoint_on_storage_not_the_last_reported(
    link: FakeLink, runner: AgentRunner, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-ck"
    shared.mkdir()
    reported = shared / "step-100.pt"
    reported.write_text("weights")
    newer = shared / "step-140.pt"  # written after the last heartbeat of the lost site
    newer.write_text("weights")
    os.utime(reported, (1_000.0, 1_000.0))
    os.utime(newer, (2_000.0, 2_000.0))
    code = "import json, os; open('seen.json', 'w').write(json.dumps(os.environ['SUANLI_RESUME_FROM']))"
    link.pending = [
        assignment("job-12", code, attempt=2, token=3, resume_from=str(reported), checkpoint_dir=str(shared))
    ]
    runner.step()
    step_until(runner, lambda: "job-12" not in runner.jobs)
    assert json.loads((tmp_path / "work" / "job-12" / "2" / "seen.json").read_text()) == str(newer)
    assert [r.checkpoint for _, r in link.reports if r.checkpoint] == [str(newer)], "and the server hears of it"


def test_the_resume_point_prefers_what_exists_and_is_newest(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert resume_point(None, empty) is None
    assert resume_point("s3://bucket/step-9", empty) == "s3://bucket/step-9", "nothing here: keep the server's"
    here = tmp_path / "ck"
    here.mkdir()
    old, new = here / "step-1", here / "step-2"
    old.write_text("1")
    new.write_text("2")
    os.utime(old, (1_000.0, 1_000.0))
    os.utime(new, (2_000.0, 2_000.0))
    assert resume_point(None, here) == str(new)
    assert resume_point(str(old), here) == str(new)
    assert resume_point("s3://bucket/step-9", here) == str(new), "a URL this agent cannot date loses to a file"
    elsewhere = tmp_path / "other" / "step-3"
    elsewhere.parent.mkdir()
    elsewhere.write_text("3")
    os.utime(elsewhere, (3_000.0, 3_000.0))
    assert resume_point(str(elsewhere), here) == str(elsewhere), "a newer file the server knew of wins"


def test_a_lease_listed_without_its_spec_is_fetched_once_and_runs_once(link: FakeLink, runner: AgentRunner) -> None:
    code = "open('starts', 'a').write('x'); import time; time.sleep(0.5)"
    link.lease(assignment("job-13", code, token=2))
    runner.step()
    link.lease(assignment("job-13", code, token=2))  # listed again before the agent reported it
    runner.step()
    step_until(runner, lambda: "job-13" not in runner.jobs)
    assert link.fetched == [("job-13", 2)], "one fetch per lease"
    assert (runner.work_root / "job-13" / "1" / "starts").read_text() == "x"
    assert link.states("job-13") == ["RUNNING", "SUCCEEDED"]


def test_a_lease_whose_spec_cannot_be_fetched_waits_for_the_next_heartbeat_or_is_dropped_when_stale(
    link: FakeLink, runner: AgentRunner
) -> None:
    link.lease(assignment("job-14", "pass"))
    link.failures_left = 1  # the heartbeat gets through, then the fetch fails
    link._maybe_fail = _fail_after_first(link)  # type: ignore[method-assign]
    runner.step()
    assert "job-14" not in runner.jobs and link.of("job-14") == [], "not started, nothing reported"
    link.lease(assignment("job-14", "pass"))
    link.stale.add("job-14")
    runner.step()
    assert "job-14" not in runner.jobs and link.of("job-14") == [], "a stale lease is never started"
    assert link.fetched == [("job-14", 1)]


def _fail_after_first(link: FakeLink) -> Any:
    """A ``_maybe_fail`` that lets one call through, then fails ``failures_left`` calls."""
    calls = {"n": 0}

    def maybe_fail() -> None:
        calls["n"] += 1
        if calls["n"] > 1 and link.failures_left > 0:
            link.failures_left -= 1
            raise ConnectionError("server unreachable")

    return maybe_fail


def test_an_absolute_workdir_is_used_as_is(link: FakeLink, runner: AgentRunner, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    link.pending = [assignment("job-8", TRAIN, workdir=str(elsewhere), checkpoint_dir=str(tmp_path / "ck"))]
    runner.step()
    step_until(runner, lambda: "job-8" not in runner.jobs)
    seen = json.loads((elsewhere / "result.json").read_text())
    assert seen["cwd"] == str(elsewhere)
    assert seen["SUANLI_CHECKPOINT_DIR"] == str(tmp_path / "ck")


def test_an_assignment_delivered_twice_runs_once(link: FakeLink, runner: AgentRunner, tmp_path: Path) -> None:
    code = "open('starts', 'a').write('x'); import time; time.sleep(0.3)"
    link.pending = [assignment("job-9", code, token=4)]
    runner.step()
    link.pending = [assignment("job-9", code, token=4)]
    runner.step()
    step_until(runner, lambda: "job-9" not in runner.jobs)
    assert (tmp_path / "work" / "job-9" / "1" / "starts").read_text() == "x"


def test_a_report_lost_to_the_network_is_sent_again_without_losing_or_repeating_logs(
    link: FakeLink, runner: AgentRunner
) -> None:
    code = "import time; print('first', flush=True); time.sleep(0.3); print('second', flush=True)"
    link.pending = [assignment("job-12", code)]
    runner.step()
    step_until(runner, lambda: link.logs("job-12") == "first\n")
    time.sleep(0.5)  # the job has ended: the next step ships 'second' with SUCCEEDED
    link.failures_left = 1
    with pytest.raises(ConnectionError):
        runner.step()
    assert "job-12" in runner.jobs, "a job whose end was not reported is kept"
    runner.step()
    assert link.logs("job-12") == "first\nsecond\n"
    assert link.states("job-12") == ["RUNNING", "SUCCEEDED"]
    assert runner.jobs == {}


def test_long_logs_are_shipped_in_chunks_under_the_limit(link: FakeLink, runner: AgentRunner) -> None:
    size = 2 * MAX_LOG_CHUNK + 12345
    link.pending = [assignment("job-10", f"import sys; sys.stdout.write('算' * {size})")]
    runner.step()
    step_until(runner, lambda: "job-10" not in runner.jobs)
    chunks = [r.logs for r in link.of("job-10") if r.logs]
    assert all(len(chunk) <= MAX_LOG_CHUNK for chunk in chunks)
    assert len(chunks) >= 3
    assert link.logs("job-10") == "算" * size
    assert link.states("job-10") == ["RUNNING", "SUCCEEDED"]


def test_log_pieces_carry_the_attempts_offset_so_the_server_can_drop_repeats(
    link: FakeLink, runner: AgentRunner
) -> None:
    size = MAX_LOG_CHUNK + 500
    link.pending = [assignment("job-15", f"import sys; sys.stdout.write('x' * {size})")]
    runner.step()
    step_until(runner, lambda: "job-15" not in runner.jobs)
    pieces = [(r.log_offset, len(r.logs)) for r in link.of("job-15") if r.logs]
    assert pieces == [(0, MAX_LOG_CHUNK), (MAX_LOG_CHUNK, 500)]


def test_a_flood_of_output_is_cut_at_the_cap_with_bounded_agent_memory(link: FakeLink, tmp_path: Path) -> None:
    cap, flood = 1_000_000, 100_000_000
    runner = AgentRunner(
        link, "site-a", LocalExecutor(grace_s=2.0), "local", {"cpu": 2}, tmp_path / "work", max_log_chars=cap
    )
    runner.register()
    code = f"import sys\nfor _ in range({flood // 1_000_000}): sys.stdout.write('y' * 1_000_000)"
    link.pending = [assignment("job-16", code)]
    runner.step()
    deadline = time.monotonic() + 60
    while not _ended(runner, "job-16") and time.monotonic() < deadline:  # not stepping: the output piles up
        time.sleep(0.05)
    tracemalloc.start()
    try:
        step_until(runner, lambda: "job-16" not in runner.jobs, timeout_s=60)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    logs = link.logs("job-16")
    kept, marker = logs[:cap], logs[cap:]
    assert kept == "y" * cap
    assert f"{flood - cap:,} more were not kept" in marker and f"cut at {cap:,} characters" in marker
    assert link.states("job-16") == ["RUNNING", "SUCCEEDED"]
    assert peak_bytes < 40_000_000, f"the agent held {peak_bytes / 1e6:.0f} MB reading 100 MB of output"


def _ended(runner: AgentRunner, job_id: str) -> bool:
    return runner.executor.poll(runner.jobs[job_id].handle).state != "RUNNING"


def test_the_newest_checkpoint_is_the_latest_entry_by_mtime_ignoring_hidden_ones(tmp_path: Path) -> None:
    assert newest_checkpoint(tmp_path / "missing") is None
    assert newest_checkpoint(tmp_path) is None
    for age_s, name in [(30, "step-1.pt"), (20, "step-2"), (10, "step-3.pt"), (0, ".step-4.tmp")]:
        entry = tmp_path / name
        if name.endswith(".pt") or name.endswith(".tmp"):
            entry.write_text("w")
        else:
            entry.mkdir()
        stamp = time.time() - age_s
        os.utime(entry, (stamp, stamp))
    assert newest_checkpoint(tmp_path) == str(tmp_path / "step-3.pt")


def test_run_forever_backs_off_while_the_server_is_down_and_stops_its_jobs_on_exit(tmp_path: Path) -> None:
    link = FakeLink(interval_s=1.0)
    link.failures_left = 3  # the server is down for the first three calls (all registrations)
    link.pending = [assignment("job-11", "import os, time; open('pid', 'w').write(str(os.getpid())); time.sleep(60)")]
    stop = threading.Event()
    delays: list[float] = []

    pid_file = tmp_path / "work" / "job-11" / "1" / "pid"

    def sleep(delay_s: float) -> None:
        delays.append(delay_s)
        if len(delays) >= 6 and pid_file.exists() and pid_file.read_text():
            stop.set()
        elif len(delays) > 3:
            time.sleep(0.05)

    runner = AgentRunner(
        link, "site-a", LocalExecutor(grace_s=2.0), "local", {"cpu": 2}, tmp_path / "work", sleep=sleep
    )
    runner.run_forever(stop)
    assert [0.125 <= d < 0.25 for d in delays[:1]] == [True], "the first retry comes within a quarter second"
    assert all(0 < d < 5.0 for d in delays[:3]), "never longer than the heartbeat interval (5 s by default)"
    assert all(0 < d <= 1.0 for d in delays[3:]), "back to the server's interval once it answers"
    assert len(link.registered) == 1
    pid = int(pid_file.read_text())
    assert not alive(pid), "the agent stops its jobs when it exits"
    assert runner.jobs == {}


def test_retries_double_from_a_quarter_second_with_jitter_and_never_exceed_one_interval() -> None:
    low = [retry_delay_s(n, 5.0, draw=lambda: 0.0) for n in range(1, 8)]
    high = [retry_delay_s(n, 5.0, draw=lambda: 0.999999) for n in range(1, 8)]
    assert low == [0.125, 0.25, 0.5, 1.0, 2.0, 2.5, 2.5], "half of min(0.25 x 2^(n-1), interval)"
    assert [round(h, 3) for h in high] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert retry_delay_s(1000, 0.5, draw=lambda: 0.5) == 0.375, "a long outage still retries every interval"
    with pytest.raises(ValueError, match="at least 1"):
        retry_delay_s(0, 5.0)


# -- the engine: checked before registering; its faults are not the job's -----------------------


class RefusingExecutor(LocalExecutor):
    """A local executor whose engine check or starts fail as a broken site's would."""

    def __init__(self, check_error: str | None = None, start_error: str | None = None) -> None:
        super().__init__(grace_s=1.0)
        self.check_error, self.start_error = check_error, start_error
        self.checks = 0

    def check(self, work_root: Path) -> str:
        self.checks += 1
        if self.check_error:
            raise EngineUnavailable(self.check_error)
        return super().check(work_root)

    def start(self, launch: Launch) -> str:
        if self.start_error:
            raise ExecutorError(self.start_error)
        return super().start(launch)


def test_the_agent_checks_its_engine_before_registering_and_does_not_register_when_it_fails(
    link: FakeLink, tmp_path: Path
) -> None:
    broken = RefusingExecutor(check_error="'sinfo' was not found. To fix: install the Slurm client commands")
    runner = AgentRunner(link, "site-a", broken, "slurm", {"cpu": 2}, tmp_path / "work")
    with pytest.raises(EngineUnavailable, match="'sinfo' was not found") as refused:
        runner.register()
    assert refused.value.exit_code == 2
    assert link.registered == [], "a site whose engine cannot run jobs never joins"

    working = RefusingExecutor()
    runner = AgentRunner(link, "site-a", working, "local", {"cpu": 2}, tmp_path / "work")
    runner.register()
    runner.check_engine()
    assert working.checks == 1, "checked once"
    assert runner.engine is not None
    assert runner.engine.startswith("local processes on ")


def test_a_start_the_engine_refuses_is_reported_as_an_executor_fault_not_a_failure(
    link: FakeLink, tmp_path: Path
) -> None:
    engine = RefusingExecutor(start_error="sbatch refused the job: Invalid partition name specified")
    runner = AgentRunner(link, "site-a", engine, "slurm", {"cpu": 2}, tmp_path / "work")
    runner.register()
    link.pending = [assignment("job-20", "print('never runs')", token=3)]
    runner.step()
    (report,) = link.of("job-20")
    assert (report.state, report.fencing_token, report.exit_code) == ("EXECUTOR_FAULT", 3, None)
    assert report.message == "slurm executor: sbatch refused the job: Invalid partition name specified"
    assert runner.jobs == {}


def test_a_work_dir_the_agent_cannot_make_is_an_executor_fault(link: FakeLink, tmp_path: Path) -> None:
    blocker = tmp_path / "work"
    runner = AgentRunner(link, "site-a", LocalExecutor(grace_s=1.0), "local", {"cpu": 2}, blocker)
    runner.register()
    blocker.rmdir()
    blocker.write_text("a file where the work root should be")
    link.pending = [assignment("job-21", "print(1)")]
    runner.step()
    (report,) = link.of("job-21")
    assert report.state == "EXECUTOR_FAULT"
    assert "local executor:" in (report.message or "")


def test_a_replaced_agent_stops_its_jobs_and_leaves_its_loop(link: FakeLink, tmp_path: Path) -> None:
    class ReplacingLink(FakeLink):
        replaced = False

        def heartbeat(self, body: AgentHeartbeat) -> HeartbeatOut:
            if self.replaced:
                raise AgentReplaced(f"site '{body.site}' is now run by agent node-2:77:0a1b")
            return super().heartbeat(body)

    link = ReplacingLink(interval_s=0.05)
    runner = AgentRunner(link, "site-a", LocalExecutor(grace_s=2.0), "local", {"cpu": 2}, tmp_path / "work")
    link.pending = [assignment("job-22", "import os, time; open('pid', 'w').write(str(os.getpid())); time.sleep(60)")]
    pid_file = tmp_path / "work" / "job-22" / "1" / "pid"

    def sleep(delay_s: float) -> None:
        if pid_file.exists() and pid_file.read_text():
            link.replaced = True
        time.sleep(0.02)

    runner.sleep = sleep
    with pytest.raises(AgentReplaced, match="now run by agent node-2"):
        runner.run_forever(threading.Event(), stop_jobs_on_exit=False)
    assert not alive(int(pid_file.read_text())), "its jobs are the new agent's now: this copy stops"
    assert runner.jobs == {}
