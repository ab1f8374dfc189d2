"""Round-based preemptive policies: Tiresias-style least attained service and a
Gavel-style heterogeneity-aware variant.

Every ``round_s`` seconds (Gavel's default round is 360 s) the policy ranks every job,
running or waiting, and fills the pools in rank order: a running job keeps its pool if
the jobs ranked above it left room there, a waiting job takes the fastest pool with room
(for it: measured speeds where its class was profiled). Running jobs left out are
preempted (they lose the work since their last checkpoint and pay a restart); between
rounds, waiting jobs only start into idle accelerators, in rank order.

- ``las`` (Tiresias, Gu et al. NSDI'19, discretised 2D-LAS): rank by the queue of
  attained service, accelerator-seconds received so far, with queue thresholds
  ``thresholds_h`` (accelerator-hours), then by arrival within a queue. New and short
  jobs go first; long ones sink but keep running when there is room.
- ``gavel`` (after Gavel's ``max_min_fairness_perf``, Narayanan et al. OSDI'20): rank by
  the *effective* service received, in reference-accelerator-seconds of progress per
  accelerator requested, relative to time in the system, lowest first: the max-min fair
  order over normalised throughput, with each job placed on the accelerator type it runs
  fastest on (measured per job type where profiled). Gavel solves an LP for time
  fractions each round; this is a greedy rendering of the same objective, and it does not
  yet trade a job onto a slower type where its relative advantage is larger.

Both rank by service counted in whole milliseconds (:func:`service_ms`), never by the
last bits of a float: the simulator and the control plane must rank alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.policy.view import Decisions, Preempt, Start, View

SERVICE_RESOLUTION_S = 1e-3
"""The policies count service (accelerator-seconds attained, reference-seconds of work
done) in steps of this many seconds. Equal service in exact arithmetic can differ in a
float's last bits, and differently on the two clocks: the control plane's counts from
1970 (a float step of 2.4e-7 s), the simulator's from the trace's first submission. Whole
rounds land a job exactly on a ``las`` threshold (one accelerator for ten 360 s rounds is
one accelerator-hour: 3600.0 live, 3599.9999999999995 simulated), and two jobs preempted
together have done equal work under ``gavel``; the bits decided which job went first, and
each side decided otherwise. A millisecond is the resolution at which the two clocks'
decisions are compared (``tests/test_one_brain_property.py``)."""


def service_ms(service_s: float) -> int:
    """``service_s`` in whole :data:`SERVICE_RESOLUTION_S` steps (the nearest)."""
    return round(service_s / SERVICE_RESOLUTION_S)


@dataclass(frozen=True)
class LasParams:
    round_s: float = 360.0
    thresholds_h: tuple[float, ...] = (1.0, 10.0)

    def __post_init__(self) -> None:
        if not self.round_s > 0:
            raise ValueError("round_s must be > 0")
        if any(b <= a for a, b in zip(self.thresholds_h, self.thresholds_h[1:], strict=False)):
            raise ValueError("thresholds_h must be increasing")


@dataclass(frozen=True)
class GavelParams:
    round_s: float = 360.0

    def __post_init__(self) -> None:
        if not self.round_s > 0:
            raise ValueError("round_s must be > 0")


def attained_now_s(view: View, job: int, running: set[int]) -> float:
    """Accelerator-seconds received so far, counting the current run."""
    extra = (view.now_s - view.started_s(job)) * view.gpus(job) if job in running else 0.0
    return view.attained_s(job) + extra


class _RoundBased:
    """Shared machinery: rank everything each round, keep or preempt, fill by rank."""

    name = "rounds"
    round_s = 360.0

    def __init__(self) -> None:
        self._next_round_s = -math.inf

    def rank_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        raise NotImplementedError  # pragma: no cover - each policy defines its order

    def pool_for(self, view: View, job: int, free: list[int]) -> int | None:
        """The fastest pool with room for ``job`` (ties: lower index)."""
        gpus = view.gpus(job)
        allowed = view.allowed(job)
        best, best_speed = None, -1.0
        for pool in range(len(free)) if allowed is None else sorted(allowed):
            if free[pool] >= gpus:
                speed = view.speed(job, pool)
                if speed > best_speed:
                    best, best_speed = pool, speed
        return best

    def schedule(self, view: View) -> Decisions:
        now = view.now_s
        running = set(view.running())
        pending = list(view.pending)
        if not pending:
            return Decisions()
        if now >= self._next_round_s:
            self._next_round_s = now + self.round_s
            return self._round(view, running, pending)
        return self._fill(view, running, pending, list(view.free), self._next_round_s)

    def _fill(
        self,
        view: View,
        running: set[int],
        pending: list[int],
        free: list[int],
        wake: float,
    ) -> Decisions:
        order = sorted(pending, key=lambda j: self.rank_key(view, j, running))
        starts: list[Start] = []
        for job in order:
            if max(free) < view.gpus(job):
                continue
            pool = self.pool_for(view, job, free)
            if pool is not None:
                free[pool] -= view.gpus(job)
                starts.append(Start(job, pool))
        still_waiting = len(order) > len(starts)
        return Decisions(tuple(starts), wake_at_s=wake if still_waiting else None)

    def _round(self, view: View, running: set[int], pending: list[int]) -> Decisions:
        """Fill the pools in rank order, running and waiting jobs alike; running jobs that
        lose their place are preempted, waiting jobs that win one start. A pool's room is
        what is in service: idle plus held by running jobs (accelerators down for an
        outage or a failed node are not capacity this round)."""
        room = list(view.free)
        for job in running:
            room[view.pool_of(job)] += view.gpus(job)
        everyone = sorted([*running, *pending], key=lambda j: self.rank_key(view, j, running))
        keep: set[int] = set()
        starts: list[Start] = []
        for job in everyone:
            gpus = view.gpus(job)
            if job in running:
                pool = view.pool_of(job)
                if room[pool] >= gpus:
                    room[pool] -= gpus
                    keep.add(job)
                continue
            if max(room) < gpus:
                continue
            chosen = self.pool_for(view, job, room)
            if chosen is not None:
                room[chosen] -= gpus
                starts.append(Start(job, chosen))
        preempts = tuple(Preempt(job) for job in sorted(running - keep))
        still_waiting = len(pending) > len(starts)
        return Decisions(tuple(starts), preempts, wake_at_s=self._next_round_s if still_waiting else None)


class Las(_RoundBased):
    name = "las"

    def __init__(self, params: LasParams | None = None) -> None:
        super().__init__()
        self.params = params or LasParams()
        self.round_s = self.params.round_s
        self._thresholds_ms = [service_ms(h * 3600.0) for h in self.params.thresholds_h]

    def rank_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        attained = service_ms(attained_now_s(view, job, running))
        level = sum(1 for t in self._thresholds_ms if attained >= t)
        return (float(level), view.submit_s(job), float(job))


class Gavel(_RoundBased):
    name = "gavel"

    def __init__(self, params: GavelParams | None = None) -> None:
        super().__init__()
        self.params = params or GavelParams()
        self.round_s = self.params.round_s
        self._total_work: dict[int, float] = {}
        """Each job's work as first seen (every job is first seen waiting, before any run)."""

    def rank_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        """Effective progress (reference-seconds of work done) per second in the system."""
        in_system = max(1.0, view.now_s - view.submit_s(job))
        done_work = service_ms(self._work_done(view, job, running)) * SERVICE_RESOLUTION_S
        return (done_work / in_system, view.submit_s(job), float(job))

    def _work_done(self, view: View, job: int, running: set[int]) -> float:
        total = self._total_work.get(job)
        if total is None:
            total = self._total_work[job] = view.remaining_work_s(job)
        remaining = view.remaining_work_s(job)
        if job in running:
            remaining -= (view.now_s - view.started_s(job)) * view.speed(job, view.pool_of(job))
        return max(0.0, total - remaining)
