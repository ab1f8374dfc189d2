"""Self-fencing: an agent that cannot renew its lease stops its jobs before the server can
place them elsewhere (docs/control-plane.md, *Self-fencing agents*).

Notation (seconds): ``h`` the heartbeat interval; ``T = missed_heartbeats x h`` the server's
site timeout (it declares the site lost, and requeues its jobs, after ``T`` of silence);
``F = T - 2h`` the agent's fence deadline, counted from the moment it *sent* its last
acknowledged heartbeat (the server heard it later, so its own count starts later still);
``g`` the kill grace (SIGTERM, then SIGKILL ``g`` later); ``m = p + s`` the margin, the
watchdog's polling period ``p`` plus the skew allowance ``s``. Safety needs::

    F + g + m <= T        (every job is dead before the server can place it again)

and liveness (a server restart of ``outage`` seconds restarts nothing) needs::

    F > h + outage + start-up + h

so ``g = min(wanted grace, T - F - m) = min(wanted, 2h - m)``. With the defaults (h = 5,
k = 8): T = 40, F = 30, p = 0.25, s = 2, g = 7.75 s; a 10 s restart needs F > ~22 s.

:class:`Fence` is the agent's side: it is renewed on each acknowledged heartbeat, keeps the
process groups of the agent's jobs, and writes both to a *lease file* that the watchdog
(:mod:`suanli.agents.watchdog`, a process of its own) reads, so the jobs are fenced even
while the agent itself is frozen (SIGSTOP) or stuck in a call to an unreachable server.
:func:`kill_groups` is the kill both use. Times here are ``time.monotonic()`` (one clock
for every process of a host, never stepped by NTP), injectable for tests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAX_POLL_S = 0.25
"""The watchdog reads the lease file at least this often (``p``; a quarter of the
interval when that is shorter)."""
SKEW_FRACTION = 0.05
"""The skew allowance ``s`` as a share of ``T``: covers the server replicas' wall clocks
disagreeing (NTP keeps them within milliseconds), the agent's monotonic clock running at
another rate than the server's (NTP slews at most 500 ppm, 0.05 %), and a loaded host
scheduling the watchdog late. 5 % of 40 s is 2 s, far above all three."""
MIN_SKEW_S = 0.1
"""The skew allowance's floor, for the short timeouts of tests."""
DEFAULT_GRACE_S = 10.0
"""The kill grace the agent asks for (the local executor's own ``grace_s``), before the
clamp to ``T - F - m``."""
GONE = ("Z", "X")
"""``/proc/<pid>/stat`` states of a process that has ended (a zombie waits to be reaped)."""


@dataclass(frozen=True)
class FenceTiming:
    """The agent's fencing figures for a server's site timeout (see the module docstring)."""

    heartbeat_interval_s: float
    site_timeout_s: float
    fence_after_s: float
    grace_s: float
    poll_s: float
    skew_s: float

    @property
    def margin_s(self) -> float:
        return self.poll_s + self.skew_s

    @property
    def kill_by_s(self) -> float:
        """When every job is dead, after the last acknowledged heartbeat was sent: ``F + g``."""
        return self.fence_after_s + self.grace_s

    def describe(self) -> str:
        return (
            f"jobs are stopped {self.fence_after_s:.1f} s after the last acknowledged heartbeat "
            f"(SIGTERM, SIGKILL {self.grace_s:.2f} s later: all dead by {self.kill_by_s:.1f} s, "
            f"{self.margin_s:.2f} s before the server's site timeout of {self.site_timeout_s:.1f} s)"
        )


def plan_fence(site_timeout_s: float, heartbeat_interval_s: float, wanted_grace_s: float) -> FenceTiming | str:
    """The fence for a server whose site timeout is ``site_timeout_s`` (``T``) at heartbeats
    every ``heartbeat_interval_s`` (``h``), the kill grace clamped to ``T - F - m``; or, when
    no fence fits, a sentence saying why and how to fix it."""
    h, t = heartbeat_interval_s, site_timeout_s
    poll_s = min(MAX_POLL_S, h / 4)
    skew_s = max(MIN_SKEW_S, SKEW_FRACTION * t)
    fence_after_s = t - 2 * h
    fix = (
        f"To fix: run the server with a longer site timeout, e.g. `suanli serve --missed-heartbeats 8` "
        f"(T = {8 * h:.1f} s at {h:g} s heartbeats)"
    )
    if fence_after_s <= h:
        return (
            f"the server's site timeout T = {t:.1f} s ({t / h:g} heartbeat intervals of {h:g} s) leaves no fence "
            f"deadline: F = T - 2h = {fence_after_s:.1f} s must exceed one interval, or ordinary heartbeats would "
            f"trip it. {fix}"
        )
    room_s = t - fence_after_s - poll_s - skew_s
    if room_s <= 0:
        return (
            f"the server's site timeout T = {t:.1f} s leaves no time to kill jobs between the fence deadline "
            f"F = {fence_after_s:.1f} s and T (margin {poll_s + skew_s:.2f} s). {fix}"
        )
    return FenceTiming(h, t, fence_after_s, max(0.0, min(wanted_grace_s, room_s)), poll_s, skew_s)


@dataclass(frozen=True)
class Tracked:
    """A job the fence covers: its id, the executor's handle, its process group (None when
    the executor runs it elsewhere: Ray, Slurm)."""

    job_id: str
    handle: str
    pgid: int | None


class Fence:
    """The agent's lease: armed by :meth:`configure`, renewed by :meth:`renew` with the
    moment each acknowledged heartbeat was *sent*; :meth:`due` trips it once ``F`` has
    passed since (then every job it covers is *fenced*: to be killed, and never reported
    again under that lease). Thread-safe: the agent's loop, its fence timer
    (:meth:`run_timer`) and the lease file's writer share it.

    ``lease_path``: where the watchdog reads the lease (JSON, replaced atomically), or None.
    """

    def __init__(self, lease_path: Path | None = None, monotonic_s: Callable[[], float] = time.monotonic) -> None:
        self.lease_path = lease_path
        self.now_s = monotonic_s
        self.timing: FenceTiming | None = None
        self._cond = threading.Condition()
        self._renewed_s: float | None = None
        self._tripped = False
        self._closed = False
        self._jobs: dict[str, Tracked] = {}
        self._fenced: set[str] = set()

    def configure(self, timing: FenceTiming | None) -> None:
        with self._cond:
            self.timing = timing
            self._write()
            self._cond.notify_all()

    @property
    def armed(self) -> bool:
        return self.timing is not None and not self._closed

    def deadline_s(self) -> float | None:
        """When the lease lapses (monotonic seconds), or None when not armed or not yet renewed."""
        if self.timing is None or self._renewed_s is None:
            return None
        return self._renewed_s + self.timing.fence_after_s

    def renew(self, sent_s: float) -> list[Tracked]:
        """An acknowledged heartbeat (or registration) sent at ``sent_s``. Returns the jobs
        to fence when the lease had lapsed before the answer came: the watchdog may have
        killed them already, so they must not be reported as if they had ended on their own.

        The lapse is checked after the new lease is written: a watchdog that read the old
        one at or past its deadline (and so may be killing) read it before this write."""
        with self._cond:
            lapses_s = self.deadline_s()
            if self._renewed_s is None or sent_s > self._renewed_s:
                self._renewed_s = sent_s
                self._tripped = False
            self._write()
            victims = self._fence_all() if lapses_s is not None and self.now_s() >= lapses_s else []
            self._cond.notify_all()
            return victims

    def due(self) -> list[Tracked]:
        """Trip the fence if its deadline has passed; the jobs newly fenced (else none)."""
        with self._cond:
            deadline = self.deadline_s()
            if self._tripped or self._closed or deadline is None or self.now_s() < deadline:
                return []
            self._tripped = True
            return self._fence_all()

    def _fence_all(self) -> list[Tracked]:
        victims = [job for handle, job in self._jobs.items() if handle not in self._fenced]
        self._fenced.update(job.handle for job in victims)
        if victims:
            self._write()
        return victims

    def fenced(self, handle: str) -> bool:
        with self._cond:
            return handle in self._fenced

    def track(self, job: Tracked) -> bool:
        """Cover a job the agent started; True when the lease has lapsed already (kill it)."""
        with self._cond:
            self._jobs[job.handle] = job
            if self._tripped:
                self._fenced.add(job.handle)
            self._write()
            return job.handle in self._fenced

    def untrack(self, handle: str) -> None:
        with self._cond:
            if self._jobs.pop(handle, None) is not None:
                self._fenced.discard(handle)
                self._write()

    def run_timer(self, on_due: Callable[[list[Tracked]], None]) -> None:
        """Wait for deadlines and call ``on_due`` with the jobs fenced, until :meth:`close`:
        the agent's loop may be stuck in a call to an unreachable server meanwhile."""
        while True:
            with self._cond:
                if self._closed:
                    return
                deadline = self.deadline_s()
                wait_s = None if deadline is None or self._tripped else max(0.0, deadline - self.now_s())
                self._cond.wait(timeout=wait_s)
            victims = self.due()
            if victims:
                on_due(victims)

    def close(self) -> None:
        """Stop the timer and remove the lease file (the agent is exiting)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            if self.lease_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.lease_path.unlink()

    def _write(self) -> None:
        """The lease file: what the watchdog needs to fence without the agent."""
        if self.lease_path is None or self._closed:
            return
        timing = self.timing
        lease = {
            "agent_pid": os.getpid(),
            "renewed_s": self._renewed_s,
            "fence_after_s": timing.fence_after_s if timing else None,
            "grace_s": timing.grace_s if timing else 0.0,
            "poll_s": timing.poll_s if timing else MAX_POLL_S,
            "groups": {
                job.job_id: job.pgid
                for handle, job in self._jobs.items()
                if job.pgid is not None and handle not in self._fenced
            },
        }
        temporary = self.lease_path.with_name(f".{self.lease_path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(lease, handle)
        os.replace(temporary, self.lease_path)


class SelfFence:
    """What the agent runner holds: a :class:`Fence`, its timer thread and the watchdog.

    :meth:`arm` plans the fence from the server's figures (:func:`plan_fence`; a warning
    when none fits, and the agent then runs unfenced); from then on the agent calls
    :meth:`renewed` after each acknowledged heartbeat, :meth:`check` before it reports,
    :meth:`track` and :meth:`untrack` as jobs start and end, and :meth:`close` on exit.
    Jobs with a process group are killed with :func:`kill_groups`; the others (Ray, Slurm)
    with ``stop_elsewhere`` (the executor's own stop), each in a thread of its own.

    ``lease_dir``: where the lease file goes (None: no file, no watchdog); ``watchdog``:
    start the watchdog process (Linux only: it relies on ``PR_SET_PDEATHSIG``).
    """

    def __init__(
        self,
        lease_dir: Path | None,
        stop_elsewhere: Callable[[Tracked], None],
        *,
        wanted_grace_s: float = DEFAULT_GRACE_S,
        watchdog: bool = True,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease_dir, self.stop_elsewhere = lease_dir, stop_elsewhere
        self.wanted_grace_s, self.want_watchdog = wanted_grace_s, watchdog
        self.fence = Fence(None, monotonic_s)
        self.now_s = monotonic_s
        self.watchdog: subprocess.Popen[bytes] | None = None
        self._timer: threading.Thread | None = None
        self._refused: str | None = None

    def arm(self, site_timeout_s: float | None, heartbeat_interval_s: float) -> None:
        """Plan (or re-plan, when the server's figures change) the fence and start its timer
        and watchdog once. ``site_timeout_s`` None: a server that does not say (older ones)."""
        if site_timeout_s is None:
            planned: FenceTiming | str = (
                "the server does not say its site timeout (a release before self-fencing). To fix: upgrade the server"
            )
        else:
            planned = plan_fence(site_timeout_s, heartbeat_interval_s, self.wanted_grace_s)
        if isinstance(planned, str):
            if planned != self._refused:
                log.warning("self-fencing is OFF: %s", planned)
                self._refused = planned
            self.fence.configure(None)
            return
        if planned == self.fence.timing:
            return
        self._refused = None
        if planned.grace_s < self.wanted_grace_s:
            log.info(
                "self-fencing: the kill grace is %.2f s, not %.1f s, to fit the server's site timeout",
                planned.grace_s,
                self.wanted_grace_s,
            )
        log.info("self-fencing on: %s", planned.describe())
        if self.fence.lease_path is None and self.lease_dir is not None:
            self.fence.lease_path = self._lease_path(self.lease_dir)
        self.fence.configure(planned)
        if self._timer is None:
            self._timer = threading.Thread(
                target=self.fence.run_timer, args=(self.kill,), name="self-fence", daemon=True
            )
            self._timer.start()
        if self.watchdog is None and self.want_watchdog and self.fence.lease_path is not None:
            self._start_watchdog(self.fence.lease_path)

    def _lease_path(self, lease_dir: Path) -> Path | None:
        try:
            lease_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("self-fencing: no lease file, so no watchdog (cannot create %s: %s)", lease_dir, exc)
            return None
        return lease_dir / f"agent-{os.getpid()}.lease.json"

    def _start_watchdog(self, lease_path: Path) -> None:
        if not sys.platform.startswith("linux"):
            log.warning("self-fencing: no watchdog on %s (it needs Linux's PR_SET_PDEATHSIG)", sys.platform)
            return
        from suanli.agents.watchdog import start_watchdog

        try:
            self.watchdog = start_watchdog(lease_path)
        except OSError as exc:
            log.warning("self-fencing: the watchdog did not start (%s); a frozen agent cannot fence its jobs", exc)
            return
        log.info("self-fencing: watchdog %d reads %s", self.watchdog.pid, lease_path)

    def sent(self) -> float:
        """The moment a heartbeat is sent (pass it to :meth:`renewed` once it is answered)."""
        return self.now_s()

    def renewed(self, sent_s: float) -> None:
        victims = self.fence.renew(sent_s)
        if victims:
            self.kill(victims, late=True)

    def check(self) -> None:
        """Fence now if the deadline has passed (the timer may not have run yet: an agent
        just thawed from SIGSTOP must not report jobs its watchdog killed)."""
        victims = self.fence.due()
        if victims:
            self.kill(victims)

    def fenced(self, handle: str) -> bool:
        return self.fence.fenced(handle)

    def track(self, job_id: str, handle: str, pgid: int | None) -> None:
        job = Tracked(job_id, handle, pgid)
        if self.fence.track(job):
            self.kill([job])

    def untrack(self, handle: str) -> None:
        self.fence.untrack(handle)

    def kill(self, victims: list[Tracked], late: bool = False) -> None:
        """Stop ``victims`` (fenced): their process groups here, the others through the executor."""
        timing = self.fence.timing
        grace_s = timing.grace_s if timing else 0.0
        log.error(
            "self-fencing: %s; stopping %d job(s) (%s) before the server can place them elsewhere, "
            "and reporting nothing more for them",
            "the heartbeat's answer came after the fence deadline"
            if late
            else f"no heartbeat acknowledged for {timing.fence_after_s if timing else 0:.1f} s",
            len(victims),
            ", ".join(job.job_id for job in victims),
        )
        for job in victims:
            if job.pgid is None:
                threading.Thread(
                    target=self.stop_elsewhere, args=(job,), name=f"fence-{job.job_id}", daemon=True
                ).start()
        kill_groups([job.pgid for job in victims if job.pgid is not None], grace_s)

    def close(self) -> None:
        self.fence.close()
        if self.watchdog is not None:
            with contextlib.suppress(ProcessLookupError):
                self.watchdog.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watchdog.wait(timeout=5)


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies do not: their parent, the
    agent, may be frozen and unable to reap them)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # not Linux: ask the kernel (a zombie counts)
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for name in entries:
        if not name.isdigit():
            continue
        fields = _stat(int(name))
        if fields is not None and fields[0] not in GONE and int(fields[2]) == pgid:
            return True
    return False


def foreign_group(pgid: int, parent_pid: int) -> bool:
    """Whether ``pgid`` now names someone else's process group: its leader runs, leads its
    group and is not a child of ``parent_pid`` (the job's pid was reused). A group whose
    leader is gone is still the job's: its number cannot be reused while a member lives."""
    fields = _stat(pgid)
    return fields is not None and int(fields[2]) == pgid and int(fields[1]) != parent_pid


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command's name: state, ppid, pgrp, ..."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def kill_groups(
    pgids: Iterable[int],
    grace_s: float,
    *,
    now_s: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> list[int]:
    """SIGTERM every group (the job's checkpoint signal), wait up to ``grace_s`` for them to
    end, SIGKILL what is left. Returns the groups that needed SIGKILL."""
    groups = list(dict.fromkeys(pgids))
    for pgid in groups:
        _signal(pgid, signal.SIGTERM)
    deadline_s = now_s() + grace_s
    alive = [pgid for pgid in groups if group_alive(pgid)]
    while alive and now_s() < deadline_s:
        sleep(min(0.05, max(0.0, deadline_s - now_s())))
        alive = [pgid for pgid in alive if group_alive(pgid)]
    for pgid in alive:
        _signal(pgid, signal.SIGKILL)
    return alive


def _signal(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(pgid, sig)
