"""The site agent's loop, independent of HTTP: poll local jobs, report, heartbeat, start, stop.

Before it registers, the agent checks its engine (:meth:`Executor.check`: Slurm's
commands and partition, the Ray dashboard) and refuses to start when it cannot take jobs
(:class:`~suanli.agents.executors.EngineUnavailable`). It registers under an ``agent_id``
(host, process, a random tag): the server refuses a second agent for a site whose agent
still holds its lease (:class:`SiteHeld`) unless it registers with ``force``, and then
refuses the first one's heartbeats (:class:`AgentReplaced`: it stops its jobs and exits).

One :meth:`AgentRunner.step` is::

    1. poll every local job; report RUNNING once, new log text, a new checkpoint, and
       the end (SUCCEEDED or FAILED with the exit code); forget jobs that ended
    2. heartbeat: the running jobs with their fencing tokens and checkpoints
    3. stop and forget the jobs the server cancels
    4. start the assignments, each job's spec fetched once per lease (heartbeats list
       leases without specs). A start the engine refuses or fails (an ``ExecutorError``,
       an ``OSError`` making the job's directories) is reported as ``EXECUTOR_FAULT``:
       the server requeues the job and degrades the site. A job that cannot run as
       written (an invalid ``run:`` section, ``LaunchRefused``) is reported FAILED.
       What a start hands the executor is :mod:`suanli.agents.launch`'s.

Every report carries the job's fencing token; a ``409`` (:class:`LeaseLost`) means the
job is no longer this site's (it was preempted and placed again), so the agent stops it
and forgets it: two copies never keep writing the same checkpoints. The server is
reached through a :class:`ServerLink` (the HTTP SDK implements it; tests use a fake).

Self-fencing (:mod:`suanli.agents.fencing`): once the server says its site timeout ``T``
(``site_timeout_s`` in the register and heartbeat answers), an agent whose last
acknowledged heartbeat was sent ``F = T - 2h`` ago stops every job (SIGTERM, SIGKILL after
a grace clamped to fit before ``T``) and reports nothing more for them; a timer thread
does it while the loop is stuck in a call, and a watchdog process while the agent is frozen.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from suanli.agents.executors import Executor, ExecutorError, LaunchRefused, LocalExecutor, Poll
from suanli.agents.fencing import DEFAULT_GRACE_S, SelfFence, Tracked
from suanli.agents.launch import newest_checkpoint, prepare_launch
from suanli.clock import Clock, WallClock
from suanli.errors import SuanliError
from suanli.schemas.v1 import (
    MAX_LOG_CHUNK,
    AgentHeartbeat,
    AgentRegister,
    AgentReport,
    Assignment,
    HeartbeatOut,
    RunningJob,
)

log = logging.getLogger(__name__)

ExecutorName = Literal["local", "ray", "slurm"]
MAX_MESSAGE_CHARS = 4000
"""``AgentReport.message`` limit (see ``suanli.schemas.v1``)."""
MAX_LOG_CHARS = 100_000_000
"""Characters of one attempt's output kept by default (about 100 MB of text); the rest is
dropped and counted (``suanli agent --max-log-chars``)."""
LOG_REPORTS_PER_STEP = 8
"""Full log pieces a step sends while a job runs (the rest follows next step)."""
LOG_READS_PER_STEP = 16
"""Executor reads (up to 4 MB each) a step makes of one running job's output."""
FIRST_RETRY_S = 0.25
"""Wait before the first retry of a failed step (then doubling, see :func:`retry_delay_s`)."""


def retry_delay_s(failures: int, heartbeat_interval_s: float, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``failures`` failed steps in a row: ``FIRST_RETRY_S x
    2^(failures - 1)``, never more than one heartbeat interval, times a jitter factor
    drawn uniformly in [0.5, 1) (``draw`` gives [0, 1)).

    Why so short: the server declares a site lost after ``missed_heartbeats`` intervals
    of silence, counted from the leader's own start when a server restarts (see
    :mod:`suanli.service.control.live`), so an agent that backs off longer than an
    interval turns a short server restart into requeued jobs. Capping at one interval
    keeps the agent's reconnection within that grace however long the outage lasted;
    the jitter keeps a network of agents from reconnecting to a restarted server in
    one burst (the "full jitter" family of AWS's exponential backoff note, halved so a
    retry is never immediate)."""
    if failures < 1:
        raise ValueError("failures counts failed steps: at least 1")
    base_s = min(heartbeat_interval_s, FIRST_RETRY_S * 2.0 ** min(failures - 1, 30))
    return base_s * (0.5 + 0.5 * draw())


class LeaseLost(SuanliError):
    """The server refused a report (HTTP 409): the fencing token is no longer the job's
    current one at this site. The agent must stop the job and forget it."""


class SiteHeld(SuanliError):
    """The server refused the registration (HTTP 409 ``SITE_HELD``): another agent runs
    the site and its lease has not expired. The message names it and when the lease
    expires; ``--force`` replaces it."""

    exit_code = 2


class AgentReplaced(SuanliError):
    """The server refused a heartbeat (HTTP 409 ``AGENT_REPLACED``): another agent has
    registered for the site since (with ``force``, or after this one's lease expired). This
    agent must stop its jobs (their leases are the new agent's) and exit."""


def default_agent_id() -> str:
    """``host:pid:tag``: names this agent process in the server's refusals and the audit
    log; the random tag tells apart containers that share a host name and a pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class ServerLink(Protocol):
    """What the agent needs from the server (the HTTP SDK implements it)."""

    def register(self, body: AgentRegister) -> dict[str, Any]:
        """Announce the site; the answer holds at least ``heartbeat_interval_s``. Raises
        :class:`SiteHeld` when another agent holds the site's lease."""
        ...

    def heartbeat(self, body: AgentHeartbeat) -> HeartbeatOut:
        """Raises :class:`AgentReplaced` when another agent has taken the site over."""
        ...

    def assignment(self, job_id: str, fencing_token: int) -> Assignment:
        """The lease's assignment with the job's spec (heartbeats carry none). Raises
        :class:`LeaseLost` on 409: the lease is no longer this site's."""
        ...

    def report(self, job_id: str, body: AgentReport) -> None:
        """Report a state change, checkpoint or logs. Raises :class:`LeaseLost` on 409."""
        ...


@dataclass
class LocalJob:
    """A job this agent runs: what it has reported so far, and where it lives."""

    id: str
    attempt: int
    fencing_token: int
    handle: str
    checkpoint_dir: Path
    running_reported: bool = False
    log_offset: int = 0
    """Characters of this attempt's log the server has (acknowledged reports)."""
    read_offset: int = 0
    """Where the next read of the executor's output starts (characters)."""
    buffer: str = ""
    """Output read and not yet acknowledged (at most one read plus one piece)."""
    dropped_chars: int = 0
    """Output past the attempt's cap, read and not kept."""
    checkpoint: str | None = None
    started_s: float = 0.0
    walltime_s: float | None = None
    """``run.walltime_h`` in seconds: the attempt is stopped once it has run this long."""
    timed_out: str | None = None
    """Why the agent stopped it (its walltime), once it has: reported as its end."""


class AgentRunner:
    """One site's agent: runs the server's assignments on ``executor``.

    ``work_root``: jobs run in ``work_root/<job>/<attempt>/``, or in ``run.workdir``
    (relative to that directory unless absolute). ``run.checkpoint_dir`` is relative to
    the workdir unless absolute; without one, ``work_root/<job>/checkpoints`` is shared
    by the job's attempts at this site. ``clock`` (default the wall clock) and ``sleep``
    are injectable; ``sleep`` defaults to waiting on the stop event so :meth:`run_forever`
    ends promptly. Stopping a job blocks for up to the executor's grace period.
    ``agent_id`` names this agent to the server (default :func:`default_agent_id`);
    ``force``: register even while another agent holds the site's lease, replacing it.
    ``fence``: self-fence when the server's figures allow (see the module docstring), with a
    kill grace of at most ``fence_grace_s``; ``watchdog``: with a watchdog process whose
    lease file lives in ``work_root/.suanli-fence/``.
    """

    def __init__(
        self,
        link: ServerLink,
        site: str,
        executor: Executor,
        executor_name: ExecutorName,
        inventory: Mapping[str, int],
        work_root: Path,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], object] | None = None,
        heartbeat_interval_s: float = 5.0,
        background_stops: bool = False,
        agent_id: str | None = None,
        force: bool = False,
        engine_check: str | None = None,
        max_log_chars: int = MAX_LOG_CHARS,
        fence: bool = True,
        fence_grace_s: float = DEFAULT_GRACE_S,
        watchdog: bool = True,
    ) -> None:
        self.link, self.site, self.executor, self.executor_name = link, site, executor, executor_name
        self.inventory = dict(inventory)
        self.work_root = work_root.absolute()
        self.clock, self.sleep = clock or WallClock(), sleep
        self.max_log_chars = max_log_chars
        self.heartbeat_interval_s = heartbeat_interval_s
        self.jobs: dict[str, LocalJob] = {}
        self.background_stops = background_stops
        """Stop cancelled jobs in a thread of their own, so a job that ignores SIGTERM
        (the executor waits its grace period) never delays the heartbeats: a site that
        misses two is declared lost and every job on it is requeued."""
        self._stopping: list[threading.Thread] = []
        self.registered = False
        self.agent_id = agent_id or default_agent_id()
        self.force = force
        self.engine = engine_check
        """What the engine check found (one line), once :meth:`check_engine` ran (or the
        caller ran ``executor.check`` itself and passed ``engine_check``)."""
        self.fence = SelfFence(
            self.work_root / ".suanli-fence", self._stop_fenced, wanted_grace_s=fence_grace_s, watchdog=watchdog
        )
        self.fencing = fence

    def check_engine(self) -> str:
        """The executor's check of its engine (raises ``EngineUnavailable``); once."""
        if self.engine is None:
            self.engine = self.executor.check(self.work_root)
            log.info("engine check passed: %s", self.engine)
        return self.engine

    def register(self) -> None:
        """Check the engine, then announce the site (see the module docstring)."""
        self.check_engine()
        body = AgentRegister(
            site=self.site,
            executor=self.executor_name,
            inventory=self.inventory,
            heartbeat_interval_s=self.heartbeat_interval_s,
            agent_id=self.agent_id,
            force=self.force,
        )
        sent_s = self.fence.sent()
        answer = self.link.register(body)
        self.registered = True
        self.heartbeat_interval_s = float(answer.get("heartbeat_interval_s", self.heartbeat_interval_s))
        log.info(
            "registered site %s (%s), heartbeat every %.1f s", self.site, self.executor_name, self.heartbeat_interval_s
        )
        if self.fencing:
            self.fence.arm(answer.get("site_timeout_s"), self.heartbeat_interval_s)
            self.fence.renewed(sent_s)

    def step(self) -> None:
        """One iteration (see the module docstring). Link errors other than
        :class:`LeaseLost` propagate; nothing reported is marked sent before it was."""
        for job in list(self.jobs.values()):
            self._update(job)
        running = [
            RunningJob(id=j.id, fencing_token=j.fencing_token, checkpoint=j.checkpoint) for j in self.jobs.values()
        ]
        sent_s = self.fence.sent()
        answer = self.link.heartbeat(AgentHeartbeat(site=self.site, running=running, agent_id=self.agent_id))
        self.heartbeat_interval_s = answer.heartbeat_interval_s
        if self.fencing:
            if answer.site_timeout_s is not None:
                self.fence.arm(answer.site_timeout_s, self.heartbeat_interval_s)
            self.fence.renewed(sent_s)
        for job_id in answer.cancel:
            cancelled = self.jobs.get(job_id)
            if cancelled is not None:
                log.info("job %s: cancelled by the server, stopping it", job_id)
                self._stop_and_forget(cancelled)
        for assignment in answer.assignments:
            self._start(assignment)

    def run_forever(self, stop_event: threading.Event, stop_jobs_on_exit: bool = True) -> None:
        """Register (unless done), then :meth:`step` every heartbeat interval until ``stop_event``
        is set. Errors are logged and retried after :func:`retry_delay_s` (short, jittered,
        at most one heartbeat interval): a server restart must not outlast the agent's patience.
        On exit the local jobs are stopped unless ``stop_jobs_on_exit`` is False: the server
        requeues them once the heartbeats stop, and a copy left running here would compete
        with the new attempt for its checkpoints. :class:`AgentReplaced` (another agent took
        the site over) stops the jobs and is raised: the new agent runs them now."""
        sleep = self.sleep or stop_event.wait
        failures = 0
        while not stop_event.is_set():
            started_s = self.clock.now_s()
            try:
                if not self.registered:
                    self.register()
                self.step()
                failures = 0
                delay_s = self.heartbeat_interval_s - (self.clock.now_s() - started_s)
            except AgentReplaced as exc:
                log.error("%s; stopping this agent's jobs and exiting", exc)
                for job in list(self.jobs.values()):
                    self._stop_and_forget(job, wait=True)
                for thread in self._stopping:
                    thread.join()
                self.fence.close()
                raise
            except Exception as exc:
                failures += 1
                delay_s = retry_delay_s(failures, self.heartbeat_interval_s)
                log.warning("agent step failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, delay_s)
            if delay_s > 0 and not stop_event.is_set():
                sleep(delay_s)
        if stop_jobs_on_exit:
            for job in list(self.jobs.values()):
                self._stop_and_forget(job, wait=True)
        for thread in self._stopping:
            thread.join()
        self.fence.close()

    # -- one job ---------------------------------------------------------------------

    def _update(self, job: LocalJob) -> None:
        try:
            poll = self.executor.poll(job.handle)
        except ExecutorError as exc:
            log.warning("job %s: poll failed: %s", job.id, exc)
            return
        self.fence.check()  # after the poll: a job the watchdog killed is fenced by now
        if self.fence.fenced(job.handle):
            log.warning("job %s: fenced (the lease lapsed); forgetting it without a report", job.id)
            self._stop_and_forget(job)
            return
        ended = poll.state != "RUNNING"
        if ended and job.timed_out is not None:
            poll = Poll("FAILED", exit_code=poll.exit_code, message=job.timed_out)
        elif not ended:
            self._enforce_walltime(job)
        checkpoint = newest_checkpoint(job.checkpoint_dir)
        try:
            self._ship(job, poll if ended else None, checkpoint)
        except LeaseLost:
            log.warning("job %s: the server no longer gives this site its lease; stopping it", job.id)
            self._stop_and_forget(job)
            return
        if ended:
            log.info("job %s: %s (exit code %s)", job.id, poll.state, poll.exit_code)
            self._forget(job)

    def _enforce_walltime(self, job: LocalJob) -> None:
        """Stop an attempt past its walltime (in the background when stops are: the loop
        keeps heartbeating); it is reported FAILED with the reason when it has ended."""
        if job.walltime_s is None or job.timed_out is not None:
            return
        ran_s = self.clock.now_s() - job.started_s
        if ran_s <= job.walltime_s:
            return
        job.timed_out = (
            f"stopped by the agent: this attempt ran {ran_s / 3600:.2f} h, past its walltime of "
            f"{job.walltime_s / 3600:.2f} h (run.walltime_h). To fix: give it a longer walltime_h, or checkpoint "
            "and resume"
        )
        log.warning("job %s: past its walltime (%.0f s); stopping it", job.id, job.walltime_s)
        self._stop(job, forget=False)

    def _ship(self, job: LocalJob, end: Poll | None, checkpoint: str | None) -> None:
        """Report RUNNING (once), new logs, a changed checkpoint and ``end``.

        Logs go in pieces of at most :data:`MAX_LOG_CHUNK` characters, each with the
        attempt's offset (the server drops what a retried report repeats): at most
        :data:`LOG_REPORTS_PER_STEP` full pieces a step while the job runs, all of it once
        it has ended. The agent holds at most one executor read (4 MB) plus one piece of
        text, however much the job writes: past ``max_log_chars`` of an attempt the rest is
        read and dropped, counted, and named in a last line when the job ends."""
        if not job.running_reported:
            self._report(job.id, job.fencing_token, state="RUNNING")
            job.running_reported = True
        draining = end is not None
        full_pieces = 0
        while self._fill(job, draining) and len(job.buffer) >= MAX_LOG_CHUNK:
            piece = job.buffer[:MAX_LOG_CHUNK]
            self._report(job.id, job.fencing_token, logs=piece, log_offset=job.log_offset)
            job.buffer, job.log_offset = job.buffer[MAX_LOG_CHUNK:], job.log_offset + len(piece)
            full_pieces += 1
            if not draining and full_pieces >= LOG_REPORTS_PER_STEP:
                break
        last = job.buffer
        if draining and job.dropped_chars:
            marker = (
                f"\n[suanli: this attempt's log was cut at {self.max_log_chars:,} characters; "
                f"{job.dropped_chars:,} more were not kept]\n"
            )
            if len(last) + len(marker) > MAX_LOG_CHUNK:
                self._report(job.id, job.fencing_token, logs=last, log_offset=job.log_offset)
                job.buffer, job.log_offset, last = "", job.log_offset + len(last), ""
            last += marker
        new_checkpoint = checkpoint if checkpoint != job.checkpoint else None
        if end is None and not last and new_checkpoint is None:
            return
        fields: dict[str, Any] = {"logs": last or None, "checkpoint": new_checkpoint}
        if last:
            fields["log_offset"] = job.log_offset
        if end is not None:
            fields.update(state=end.state, exit_code=_exit_code(end.exit_code), message=_message(end.message))
        self._report(job.id, job.fencing_token, **fields)
        job.buffer, job.log_offset = "", job.log_offset + len(last)
        job.checkpoint = checkpoint if new_checkpoint is not None else job.checkpoint

    def _fill(self, job: LocalJob, draining: bool) -> bool:
        """Read the job's output into ``job.buffer`` until it holds a full piece or the
        output is exhausted (while running: at most :data:`LOG_READS_PER_STEP` reads);
        past the attempt's cap what is read is dropped and counted. True when the buffer
        holds anything to ship."""
        reads = 0
        while len(job.buffer) < MAX_LOG_CHUNK and (draining or reads < LOG_READS_PER_STEP):
            reads += 1
            try:
                text, job.read_offset = self.executor.read_logs(job.handle, job.read_offset)
            except ExecutorError as exc:
                log.warning("job %s: reading logs failed: %s", job.id, exc)
                break
            if not text:
                break
            room = max(0, self.max_log_chars - job.log_offset - len(job.buffer))
            job.buffer += text[:room]
            job.dropped_chars += max(0, len(text) - room)
        return bool(job.buffer)

    def _report(self, job_id: str, fencing_token: int, **fields: Any) -> None:
        self.link.report(job_id, AgentReport(site=self.site, fencing_token=fencing_token, **fields))

    def _stop_and_forget(self, job: LocalJob, wait: bool = False) -> None:
        if self.background_stops and not wait:
            self.jobs.pop(job.id, None)  # no longer reported as running from now on
        self._stop(job, forget=True, wait=wait)

    def _stop(self, job: LocalJob, forget: bool, wait: bool = False) -> None:
        """Stop the job through the executor (it blocks up to its grace), in a thread of its
        own when stops run in the background, then forget it if asked."""
        if self.background_stops and not wait:
            thread = threading.Thread(target=self._stop_now, args=(job, forget), name=f"stop-{job.id}", daemon=True)
            thread.start()
            self._stopping = [t for t in self._stopping if t.is_alive()] + [thread]
            return
        self._stop_now(job, forget)

    def _stop_now(self, job: LocalJob, forget: bool = True) -> None:
        try:
            self.executor.stop(job.handle)
        except ExecutorError as exc:
            log.warning("job %s: stop failed: %s", job.id, exc)
        if forget:
            self._forget(job)

    def _forget(self, job: LocalJob) -> None:
        self.jobs.pop(job.id, None)
        self.fence.untrack(job.handle)
        release = getattr(self.executor, "release", None)
        if callable(release):
            release(job.handle)

    # -- starting --------------------------------------------------------------------

    def _start(self, assignment: Assignment) -> None:
        known = self.jobs.get(assignment.id)
        if known is not None:
            if known.fencing_token == assignment.fencing_token:
                return  # delivered twice
            self._stop_and_forget(known)  # the server placed it here again: its new lease wins
        if assignment.spec is None:
            try:
                assignment = self.link.assignment(assignment.id, assignment.fencing_token)
            except LeaseLost:
                log.info("job %s: the lease ended before it started; not starting it", assignment.id)
                return
            except Exception as exc:  # the next heartbeat lists the lease again: fetched then
                log.warning("job %s: could not fetch its spec yet: %s", assignment.id, exc)
                return
        try:
            launch, checkpoint_dir, walltime_s = prepare_launch(assignment, self.work_root, self.site)
            handle = self.executor.start(launch)
        except (LaunchRefused, ValueError) as exc:  # the job cannot run as written: it fails
            log.warning("job %s: cannot run as written: %s", assignment.id, exc)
            self._report_start_failure(assignment, "FAILED", str(exc))
            return
        except (ExecutorError, OSError) as exc:  # the engine's fault: the job goes back to the queue
            log.error("job %s: the %s engine could not start it: %s", assignment.id, self.executor_name, exc)
            self._report_start_failure(assignment, "EXECUTOR_FAULT", f"{self.executor_name} executor: {exc}")
            return
        job = LocalJob(assignment.id, assignment.attempt, assignment.fencing_token, handle, checkpoint_dir)
        job.started_s, job.walltime_s = self.clock.now_s(), walltime_s
        self.jobs[job.id] = job
        self.fence.track(job.id, handle, self._process_group(handle))
        log.info("job %s: attempt %d started on %s", job.id, job.attempt, self.executor_name)
        try:
            self._report(job.id, job.fencing_token, state="RUNNING")
            job.running_reported = True
        except LeaseLost:
            self._stop_and_forget(job)
        except Exception as exc:  # reported with the next step instead; the other assignments still start
            log.warning("job %s: could not report RUNNING yet: %s", job.id, exc)

    def _process_group(self, handle: str) -> int | None:
        """The job's process group, for the watchdog: the local executor's handle is
        ``<pid>-<sequence>`` and the job leads a session of its own; None elsewhere."""
        if not isinstance(self.executor, LocalExecutor):
            return None
        pid, _, _ = handle.partition("-")
        return int(pid) if pid.isdigit() else None

    def _stop_fenced(self, fenced: Tracked) -> None:
        """The fence's stop for a job without a process group here (Ray, Slurm)."""
        try:
            self.executor.stop(fenced.handle)
        except ExecutorError as exc:
            log.warning("job %s: stop failed: %s", fenced.job_id, exc)

    def _report_start_failure(self, assignment: Assignment, state: str, message: str) -> None:
        try:
            self._report(assignment.id, assignment.fencing_token, state=state, message=_message(message))
        except LeaseLost:
            pass
        except Exception as exc:  # the heartbeat sends the assignment again; the start is retried then
            log.warning("job %s: could not report the %s: %s", assignment.id, state, exc)


def _exit_code(code: int | None) -> int | None:
    return None if code is None else max(-255, min(255, code))


def _message(text: str | None) -> str | None:
    return None if text is None else text[:MAX_MESSAGE_CHARS]
