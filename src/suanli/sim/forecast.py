"""Forecasts: the live scheduler run forward from its own state, to say when each queued job
will start and each job will finish (the ETAs of ``suanli jobs`` and ``GET /v1/jobs``).

Method. :func:`fork` copies the leader's :class:`~suanli.scheduler.ClusterState` (the queue,
the running jobs with their expected ends from the estimator, the pools) and its policy
(with whatever the policy remembers: rounds, attained service), so the forecast makes the
decisions the live plane will make. :func:`forecast` then runs that copy as the simulator
does, with no new arrivals: a cycle now, then at every expected finish and every wake-up a
policy asks for, until every job has finished, or nothing more can start, or the wall-time
budget is spent. A job's predicted start is the start of its first run in the forecast; its
predicted finish, the end of its last run (a job the policy preempts and restarts finishes
later: the forecast runs to the end so that a preemption after a job's start still moves
its finish). Running jobs' expected ends are the live plane's (the estimator's duration, moved
when a job runs past it).

Limits (also in docs/control-plane.md): jobs submitted later are not foreseen (a policy
that ranks a later job first delays the forecast ones); quotas are not applied in the
forecast (a job held by its tenant's concurrency limit is predicted to start when capacity
frees up); sites that go down are not foreseen. The spread is a second forecast with every
duration ``STRETCH`` times longer: the estimator's error on modern training runs is up to
1.3-1.8x (the estimator issue's measurements), so this is a late-side bound, labelled
``p90`` on the wire for readers used to that name, not a fitted percentile.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Callable
from dataclasses import dataclass

from suanli.policy import Policy
from suanli.scheduler import ClusterState, Scheduler

FINISH, WAKE = 0, 2
"""Event kinds, ordered as the engine orders them at one instant."""
STRETCH = 1.5
"""Durations in the late-side forecast, as a multiple of the estimator's."""


@dataclass(frozen=True)
class Snapshot:
    """What a forecast starts from: a copy of the live state and policy at ``now_s``."""

    state: ClusterState
    policy: Policy
    restart_s: float
    now_s: float


@dataclass(frozen=True)
class Prediction:
    start_s: float
    finish_s: float
    pool: int
    """The pool of its last run."""
    gpus: int


@dataclass(frozen=True)
class Forecast:
    predictions: dict[int, Prediction]
    """Scheduler job id -> its predicted start and finish (jobs the forecast could not place
    within its budget are absent)."""
    cycles: int
    complete: bool
    """Every job got a prediction (False: the budget ran out, or some job cannot start)."""


def fork(scheduler: Scheduler, now_s: float, stretch: float = 1.0) -> Snapshot:
    """Copy ``scheduler``'s state and policy (fast: shared job and pool tables); the live
    scheduler goes on unchanged."""
    state = scheduler.state
    memo = {id(state.pools): state.pools, id(state.jobs): state.jobs}
    policy = copy.deepcopy(scheduler.policy, memo)
    forked = state.fork(stretch)
    forked.now_s = now_s
    return Snapshot(forked, policy, scheduler.restart_s * stretch, now_s)


def forecast(snapshot: Snapshot, budget_s: float, clock: Callable[[], float]) -> Forecast:
    """Run the snapshot forward (see the module docstring); ``clock()`` is wall seconds,
    for the budget only (the forecast's own time is the state's)."""
    state = snapshot.state
    scheduler = Scheduler(snapshot.policy, state, snapshot.restart_s, explain=False)  # a forecast reads no reasons
    deadline = clock() + budget_s
    predictions: dict[int, Prediction] = {}
    first_start: dict[int, float] = {}
    heap: list[tuple[float, int, int, int]] = []  # (time, FINISH | WAKE, job, run), as the engine's
    for job in state.running():
        run = state.run_of(job)
        first_start[job] = run.start_s
        predictions[job] = Prediction(run.start_s, run.end_s, run.pool, state.gpus(job))
        heapq.heappush(heap, (run.end_s, FINISH, job, run.run))
    waiting = set(state.pending)
    now = snapshot.now_s
    wake_pending: float | None = None
    changed = True
    cycles = 0
    # The engine's rules (suanli.sim.engine.simulate), so that a forecast is the simulation:
    # a cycle runs only when something changed (a run ended, a wake-up fired) and jobs wait;
    # a policy's wake-up is queued only when earlier than the one already queued, and every
    # queued wake-up fires; finishes come before wake-ups at one instant.
    while True:
        if changed and state.count_pending():
            result = scheduler.cycle(now)
            cycles += 1
            for job, run in result.started:
                start = first_start.setdefault(job, now)
                predictions[job] = Prediction(start, run.end_s, run.pool, state.gpus(job))
                waiting.discard(job)
                heapq.heappush(heap, (run.end_s, FINISH, job, run.run))
            wake = result.wake_at_s
            if wake is not None and wake > now and (wake_pending is None or wake < wake_pending):
                wake_pending = wake
                heapq.heappush(heap, (wake, WAKE, -1, 0))
        if not heap or clock() > deadline:
            break
        now = heap[0][0]
        state.now_s = now
        changed = False
        while heap and heap[0][0] <= now:
            _, kind, job, run_id = heapq.heappop(heap)
            if kind == WAKE:
                wake_pending = None
                changed = True
            elif state.finish(job, run_id) is not None:
                changed = True
    return Forecast(predictions, cycles, not waiting and not state.count_pending())


@dataclass(frozen=True)
class Timeline:
    """Each pool's use over time in a forecast: ``(start, finish, accelerators)`` of the runs
    on it (a job preempted and restarted is counted from its first start to its last run's
    end on its last pool: the conservative side for a newcomer), for quotes."""

    names: tuple[str, ...]
    capacity: tuple[int, ...]
    runs: tuple[tuple[tuple[float, float, int], ...], ...]
    now_s: float

    @classmethod
    def of(cls, snapshot: Snapshot, done: Forecast) -> Timeline:
        pools = snapshot.state.pools
        runs: list[list[tuple[float, float, int]]] = [[] for _ in range(len(pools))]
        for p in done.predictions.values():
            runs[p.pool].append((p.start_s, p.finish_s, p.gpus))
        return cls(pools.names, tuple(pools.capacity), tuple(tuple(sorted(r)) for r in runs), snapshot.now_s)

    def earliest_start(self, pool: str, count: int, duration_s: float, not_before_s: float) -> float | None:
        """The first time from ``not_before_s`` at which ``count`` accelerators of ``pool``
        stay free for ``duration_s`` after the forecast's jobs (a hole between them counts,
        as Slurm's ``--test-only`` reservations do); None when the pool is not in the
        forecast or is smaller than ``count``."""
        if pool not in self.names:
            return None
        index = self.names.index(pool)
        capacity, runs = self.capacity[index], self.runs[index]
        if count > capacity:
            return None
        start = max(not_before_s, self.now_s)
        candidates = sorted({start, *(f for _, f, _ in runs if f > start)})
        for t in candidates:
            end = t + duration_s
            edges = sorted({t, *(s for s, _, _ in runs if t < s < end)})
            if all(capacity - sum(g for s, f, g in runs if s <= edge < f) >= count for edge in edges):
                return t
        return None
