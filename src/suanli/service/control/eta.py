"""ETAs for the live network: the leader's scheduler forecast forward, stored on each job.

After a scheduling cycle, when a forecast is due (every ``eta_interval_s``, sooner when the
queue changed but never twice within ``MIN_GAP_S``), :meth:`EtaEngine.take` forks the live
scheduler in the scheduling thread (a copy of lists: milliseconds for 10,000 jobs) and a
worker thread runs :func:`suanli.sim.forecast.forecast` on the copy twice, as estimated
and with every duration :data:`~suanli.sim.forecast.STRETCH` times longer, within
``eta_budget_s`` of wall time each, then writes each job's ETA in one transaction. The
cycle never waits for a forecast: a new one is not taken while the last still runs.

Each ETA is ``{"start", "finish", "start_p90", "finish_p90", "computed_at", "method"}``
(ISO 8601 UTC; a running job's start is its actual one). How well they predicted is
measured when jobs start: :attr:`EtaEngine.observe` gets (actual - predicted) start seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from suanli.clock import iso
from suanli.scheduler import Scheduler
from suanli.sim.forecast import STRETCH, Forecast, Snapshot, Timeline, forecast, fork
from suanli.store import jobs as job_rows

LOG = logging.getLogger("suanli")
MIN_GAP_S = 2.0
"""Least time between two forecasts, however often the queue changes."""
METHOD = "forecast"


@dataclass(frozen=True)
class Taken:
    """What one forecast works from: the forks, and the scheduler's job ids -> job ids."""

    estimated: Snapshot
    late: Snapshot
    ids: list[str]
    policy: str
    waiting: tuple[int, ...]
    """The jobs waiting when it was taken (the forecast's state moves on)."""


class EtaEngine:
    """Forecasts on the leader (see the module docstring). ``interval_s`` <= 0 disables."""

    def __init__(
        self,
        store: Any,
        interval_s: float,
        budget_s: float,
        policy: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.interval_s, self.budget_s, self.policy = store, interval_s, budget_s, policy
        self.clock = clock
        self.observe: Callable[[float], None] | None = None
        """Called with each started job's (actual - predicted) start, in seconds."""
        self.last_s: float | None = None
        """Wall seconds the last forecast took (both runs and the write)."""
        self.on_done: Callable[[float], None] | None = None
        """Called with each forecast's wall seconds."""
        self.timeline: Timeline | None = None
        """Each pool's use over time in the last forecast (for quotes)."""
        self.on_timeline: Callable[[Timeline], None] | None = None
        self._predicted: dict[str, float] = {}
        """job id -> predicted start of the last forecast, for jobs still waiting then"""
        self._taken_at = -float("inf")
        self._signature: tuple[int, int] = (0, 0)
        self._future: Future[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="suanli-eta")
        self._lock = threading.Lock()

    def due(self, scheduler: Scheduler) -> bool:
        """Whether to forecast now: enabled, the last one finished, and its interval passed
        (or the queue changed and ``MIN_GAP_S`` passed)."""
        if self.interval_s <= 0 or (self._future is not None and not self._future.done()):
            return False
        state = scheduler.state
        signature = (state.count_pending(), state.count_running())
        elapsed = self.clock() - self._taken_at
        return elapsed >= self.interval_s or (signature != self._signature and elapsed >= MIN_GAP_S)

    def take(self, scheduler: Scheduler, ids: list[str], now_s: float) -> Taken:
        """Fork the scheduler (in the scheduling thread, between cycles) and note how the
        last forecast did for the jobs that have started since."""
        state = scheduler.state
        self._taken_at = self.clock()
        self._signature = (state.count_pending(), state.count_running())
        if self.observe is not None:
            with self._lock:
                for job in state.running():
                    predicted = self._predicted.pop(ids[job], None) if job < len(ids) else None
                    if predicted is not None:
                        self.observe(state.started_s(job) - predicted)
        estimated, late = fork(scheduler, now_s), fork(scheduler, now_s, STRETCH)
        return Taken(estimated, late, list(ids), self.policy, tuple(state.pending))

    def start(self, taken: Taken) -> Future[None]:
        """Run the forecast of ``taken`` in the worker thread."""
        self._future = self._pool.submit(self._run, taken)
        return self._future

    def run_now(self, taken: Taken) -> dict[str, dict[str, Any]]:
        """Forecast and write, in this thread (tests, and the worker)."""
        t0 = self.clock()
        estimated = forecast(taken.estimated, self.budget_s, self.clock)
        late = forecast(taken.late, self.budget_s, self.clock)
        etas = etas_of(taken, estimated, late)
        self.timeline = Timeline.of(taken.estimated, estimated)
        if self.on_timeline is not None:
            self.on_timeline(self.timeline)
        with self.store.begin() as conn:
            job_rows.set_etas(conn, etas)
        waiting = set(taken.waiting)
        with self._lock:
            self._predicted = {
                taken.ids[job]: p.start_s
                for job, p in estimated.predictions.items()
                if job in waiting and job < len(taken.ids)
            }
        self.last_s = self.clock() - t0
        if self.on_done is not None:
            self.on_done(self.last_s)
        return etas

    def _run(self, taken: Taken) -> None:
        try:
            self.run_now(taken)
        except Exception as exc:  # a failed forecast must not stop anything else
            LOG.error("ETA forecast failed", exc_info=exc)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def etas_of(taken: Taken, estimated: Forecast, late: Forecast) -> dict[str, dict[str, Any]]:
    """job id -> its ETA, for every job the estimated forecast placed."""
    computed = iso(taken.estimated.now_s)
    out: dict[str, dict[str, Any]] = {}
    for job, p in estimated.predictions.items():
        if job >= len(taken.ids):
            continue
        slow = late.predictions.get(job)
        out[taken.ids[job]] = {
            "start": iso(p.start_s),
            "finish": iso(p.finish_s),
            "start_p90": iso(max(slow.start_s, p.start_s)) if slow else None,
            "finish_p90": iso(max(slow.finish_s, p.finish_s)) if slow else None,
            "computed_at": computed,
            "method": f"{METHOD}:{taken.policy}",
        }
    return out
