"""ETAs for the live network: the leader's scheduler forecast forward, stored on each job.

After a scheduling cycle, when a forecast is due (every ``eta_interval_s``, sooner when the
queue changed but never twice within ``MIN_GAP_S``), :meth:`EtaEngine.take` forks the live
scheduler in the scheduling thread (a copy of lists: milliseconds for 10,000 jobs) and a
worker thread runs :func:`suanli.sim.forecast.forecast` on the copy twice, as estimated
and with every duration :data:`~suanli.sim.forecast.STRETCH` times longer, within
``eta_budget_s`` of wall time each, then writes each job's ETA in one transaction. The
cycle never waits for a forecast: a new one is not taken while the last still runs.

Each ETA is ``{"start", "finish", "start_p90", "finish_p90", "computed_at", "method"}``
(ISO 8601 UTC; a running job's start is its actual one), and once the job has started
``start_forecast``: the start its last forecast while it waited predicted, kept on every
later ETA (carried from the stored one when this replica did not see it wait). How well
they predicted is measured when jobs start: :attr:`EtaEngine.observe` gets (actual -
predicted) start seconds, and the history's ETA-accuracy chart reads ``start_forecast``.

Jobs held for their ``depends_on`` (Slurm's ``afterok``) are not in the scheduler's queue,
so the forecast does not run them; :func:`chain_etas` gives them an ETA afterwards, an
approximation: in submission order, each starts at the first time from its dependencies'
predicted finish (the latest of them; one already SUCCEEDED counts as done) at which one
of its options' pools stays free for its duration after the forecast's jobs and the held
jobs chained before it (:meth:`~suanli.sim.forecast.Timeline.earliest_start`), the option
that finishes first; the late side the same over the late forecast with durations
``STRETCH`` times longer. So a -> b -> c chains, and two jobs after one dependency do not
share a slot; what the post-pass does not model: the policy's order (a job the policy would
rank before queued ones still waits behind them) and preemption. A held job gets no ETA
(``None`` is written, clearing an older one) when a dependency ended FAILED or CANCELLED or
is gone (it can never start: ``DEPENDENCY_NEVER_SATISFIED``), has no ETA itself, or none
of its options is on a live pool.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from suanli.clock import from_iso, iso
from suanli.scheduler import Scheduler
from suanli.sim.forecast import STRETCH, Forecast, Snapshot, Timeline, forecast, fork
from suanli.store import jobs as job_rows
from suanli.store.jobs import WAITING

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
        self._start_forecast: dict[str, str | None] = {}
        """started job id -> what its last forecast while it waited said (ISO), None where
        no forecast saw it wait; kept while it runs, so the store is read once per job"""
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
        with self._lock:
            for job in state.running():
                predicted = self._predicted.pop(ids[job], None) if job < len(ids) else None
                if predicted is not None:
                    self._start_forecast[ids[job]] = iso(predicted)
                    if self.observe is not None:
                        self.observe(state.started_s(job) - predicted)
        estimated, late = fork(scheduler, now_s), fork(scheduler, now_s, STRETCH)
        return Taken(estimated, late, list(ids), self.policy, tuple(state.pending))

    def start(self, taken: Taken) -> Future[None]:
        """Run the forecast of ``taken`` in the worker thread."""
        self._future = self._pool.submit(self._run, taken)
        return self._future

    def run_now(self, taken: Taken) -> dict[str, dict[str, Any]]:
        """Forecast and write, in this thread (tests, and the worker); returns the ETAs
        written (a held job without one has None written, and is left out here)."""
        t0 = self.clock()
        estimated = forecast(taken.estimated, self.budget_s, self.clock)
        late = forecast(taken.late, self.budget_s, self.clock)
        etas: dict[str, dict[str, Any] | None] = dict(etas_of(taken, estimated, late))
        timelines = (Timeline.of(taken.estimated, estimated), Timeline.of(taken.late, late))
        with self.store.engine.connect() as conn:
            held = held_dependents(conn, set(etas))
        timelines = chain_etas(held, etas, timelines, f"{METHOD}:{taken.policy}", iso(taken.estimated.now_s))
        self.timeline = timelines[0]
        if self.on_timeline is not None:
            self.on_timeline(self.timeline)
        waiting = set(taken.waiting)
        started = [taken.ids[job] for job in estimated.predictions if job not in waiting and job < len(taken.ids)]
        self._keep_start_forecasts(etas, started)
        with self.store.begin() as conn:
            job_rows.set_etas(conn, etas)
        with self._lock:
            self._predicted = {
                taken.ids[job]: p.start_s
                for job, p in estimated.predictions.items()
                if job in waiting and job < len(taken.ids)
            }
        self.last_s = self.clock() - t0
        if self.on_done is not None:
            self.on_done(self.last_s)
        return {job_id: eta for job_id, eta in etas.items() if eta is not None}

    def _keep_start_forecasts(self, etas: dict[str, dict[str, Any] | None], started: Sequence[str]) -> None:
        """Give each started job's ETA its ``start_forecast``: the one this engine saw
        before it started, else the one its stored ETA carries (another replica's), read
        once per job; none for a job no forecast saw waiting. Jobs no longer started are
        forgotten."""
        with self._lock:
            self._start_forecast = {
                job_id: self._start_forecast[job_id] for job_id in started if job_id in self._start_forecast
            }
            known = dict(self._start_forecast)
        missing = [job_id for job_id in started if job_id not in known]
        if missing:
            with self.store.engine.connect() as conn:
                stored = job_rows.stored_etas(conn, missing)
            for job_id in missing:
                eta = stored.get(job_id)
                known[job_id] = eta.get("start_forecast") if isinstance(eta, dict) else None
            with self._lock:
                self._start_forecast.update((job_id, known[job_id]) for job_id in missing)
        for job_id in started:
            eta = etas.get(job_id)
            if eta is not None and known[job_id]:
                eta["start_forecast"] = known[job_id]

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


@dataclass(frozen=True)
class Held:
    """A waiting job the forecast did not run (held for its dependencies), as
    :func:`chain_etas` needs it."""

    id: str
    depends_on: tuple[str, ...]
    runtimes: tuple[tuple[str, int, float], ...]
    """``(pool, count, duration_s)`` of each of its options at its count (pool: ``site/type``)."""
    dependencies: Mapping[str, str]
    """dependency id -> its state now (absent: the job is gone)."""


def held_dependents(conn: Connection, forecast_ids: set[str]) -> list[Held]:
    """The waiting jobs the forecast did not place because a dependency has not succeeded,
    in submission order, with their options and their dependencies' states."""
    rows = [r for r in job_rows.queue_rows(conn, WAITING) if r.get("depends_on") and r["id"] not in forecast_ids]
    if not rows:
        return []
    stored = job_rows.raw_specs_and_options(conn, [r["id"] for r in rows])
    named = job_rows.names_and_states(conn, sorted({d for r in rows for d in r["depends_on"]}))
    states = {d: state for d, (_, state) in named.items()}
    out: list[Held] = []
    for row in rows:
        if all(states.get(d) == "SUCCEEDED" for d in row["depends_on"]):
            continue  # not held for a dependency: the forecast's (or another hold's) to answer
        options = json.loads(stored[row["id"]][1]) if row["id"] in stored else []
        runtimes = tuple(
            (f"{o['site']}/{o['accelerator']}", int(o["count"]), max(float(o["duration_h"]) * 3600.0, 1e-6))
            for o in options or []
            if int(o["count"]) == int(row["count"])
        )
        deps = tuple(row["depends_on"])
        out.append(Held(row["id"], deps, runtimes, {d: states[d] for d in deps if d in states}))
    return out


def chain_etas(
    held: Sequence[Held],
    etas: dict[str, dict[str, Any] | None],
    timelines: tuple[Timeline, Timeline],
    method: str,
    computed_at: str,
) -> tuple[Timeline, Timeline]:
    """Add to ``etas`` (in place) the ETA of each job of ``held`` (see the module docstring),
    and return the two timelines with their runs added (quotes then see them as busy)."""
    estimated, late = timelines
    for job in held:
        after = _not_before(job, etas)
        if after is None:
            etas[job.id] = None
            continue
        soon = _first_fit(estimated, job.runtimes, after[0], 1.0)
        slow = _first_fit(late, job.runtimes, after[1], STRETCH)
        if soon is None:
            etas[job.id] = None
            continue
        estimated = _with_run(estimated, *soon)
        if slow is not None:
            late = _with_run(late, *slow)
        etas[job.id] = {
            "start": iso(soon[1]),
            "finish": iso(soon[2]),
            "start_p90": iso(max(slow[1], soon[1])) if slow else None,
            "finish_p90": iso(max(slow[2], soon[2])) if slow else None,
            "computed_at": computed_at,
            "method": method,
        }
    return estimated, late


def _not_before(job: Held, etas: Mapping[str, dict[str, Any] | None]) -> tuple[float, float] | None:
    """The latest predicted finish of ``job``'s dependencies (estimated, late side); None
    when one can never succeed or has no ETA."""
    soon = slow = -float("inf")
    for dependency in job.depends_on:
        state = job.dependencies.get(dependency, "GONE")
        if state == "SUCCEEDED":
            continue
        if state in ("FAILED", "CANCELLED", "GONE"):
            return None
        eta = etas.get(dependency)
        if eta is None:
            return None
        finish = from_iso(eta["finish"])
        soon = max(soon, finish)
        slow = max(slow, from_iso(eta["finish_p90"]) if eta.get("finish_p90") else finish)
    return soon, slow


def _first_fit(
    timeline: Timeline, runtimes: Sequence[tuple[str, int, float]], not_before_s: float, stretch: float
) -> tuple[str, float, float, int] | None:
    """``(pool, start, finish, count)`` of the option that finishes first from
    ``not_before_s`` on ``timeline``; None when no option's pool is in it."""
    best: tuple[str, float, float, int] | None = None
    for pool, count, duration_s in runtimes:
        start = timeline.earliest_start(pool, count, duration_s * stretch, not_before_s)
        if start is not None and (best is None or start + duration_s * stretch < best[2]):
            best = (pool, start, start + duration_s * stretch, count)
    return best


def _with_run(timeline: Timeline, pool: str, start_s: float, finish_s: float, count: int) -> Timeline:
    index = timeline.names.index(pool)
    runs = list(timeline.runs)
    runs[index] = tuple(sorted((*runs[index], (start_s, finish_s, count))))
    return replace(timeline, runs=tuple(runs))
