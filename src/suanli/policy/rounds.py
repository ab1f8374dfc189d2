"""Round-based preemptive policies: Tiresias-style least attained service and a
Gavel-style heterogeneity-aware variant.

Every ``round_s`` seconds (Gavel's default round is 360 s) the policy ranks every job,
running or waiting, and fills the pools in rank order: a running job keeps its pool if
the jobs ranked above it left room there, a waiting job takes the pool where it would
finish soonest (earliest finish time; measured speeds where its class was profiled),
waiting for a busier faster pool when that finishes sooner. Running jobs left out are
preempted (they checkpoint and pay ``restart_s`` of reference work to resume); between
rounds, waiting jobs only start into idle accelerators, in rank order.

Preemption has a price, so rounds do not time-slice jobs into thrashing at heavy load:

- a lease: a (re)started job runs ``restart_s / (speed x max_restart_share)`` seconds
  before it may be preempted (restarts cost at most that share of its run), and a job
  that finishes within one lease is never preempted;
- a margin: a running job ranks by :meth:`_RoundBased.incumbent_key`, so only a job
  clearly ahead displaces it (``las``: a job of a higher-priority queue; ``gavel``: a
  progress rate below the running job's / ``(1 + margin)``).

A round that preempts asks to be woken for the next round while anything waits, the jobs
it preempted included.

- ``las`` (Tiresias, Gu et al. NSDI'19, discretised 2D-LAS): rank by the queue of
  attained service, accelerator-seconds received so far, with queue thresholds
  ``thresholds_h`` (accelerator-hours), then by arrival within a queue. New and short
  jobs go first; long ones sink but keep running when there is room. A job that has
  waited since its last run longer than ``starve_factor`` x that run goes back to the top
  queue (Tiresias's STARVELIMIT), so a sunk job does not starve behind newcomers.
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


DEFAULT_RESTART_S = 60.0
"""The simulator's default restart cost (``suanli simulate --restart``, reference-seconds
of work to reload a checkpoint; ``service/simulation.py: DEFAULT_RESTART_S``)."""


def _check_price(round_s: float, restart_s: float, max_restart_share: float) -> None:
    if not round_s > 0:
        raise ValueError("round_s must be > 0")
    if not restart_s >= 0:
        raise ValueError("restart_s must be >= 0")
    if not 0 < max_restart_share <= 1:
        raise ValueError("max_restart_share must be in (0, 1]")


@dataclass(frozen=True)
class LasParams:
    round_s: float = 360.0
    thresholds_h: tuple[float, ...] = (1.0, 10.0)
    restart_s: float = DEFAULT_RESTART_S
    max_restart_share: float = 0.05
    starve_factor: float | None = 1.0
    """A job waiting longer than ``starve_factor`` x its last run goes back to the top
    queue (Tiresias's STARVELIMIT); None turns the promotion off."""

    def __post_init__(self) -> None:
        _check_price(self.round_s, self.restart_s, self.max_restart_share)
        if self.starve_factor is not None and not self.starve_factor > 0:
            raise ValueError("starve_factor must be > 0 (or None: no promotion)")
        if any(b <= a for a, b in zip(self.thresholds_h, self.thresholds_h[1:], strict=False)):
            raise ValueError("thresholds_h must be increasing")


@dataclass(frozen=True)
class GavelParams:
    round_s: float = 360.0
    restart_s: float = DEFAULT_RESTART_S
    max_restart_share: float = 0.05
    margin: float = 1.0

    def __post_init__(self) -> None:
        _check_price(self.round_s, self.restart_s, self.max_restart_share)
        if not self.margin >= 0:
            raise ValueError("margin must be >= 0")


def attained_now_s(view: View, job: int, running: set[int]) -> float:
    """Accelerator-seconds received so far, counting the current run."""
    extra = (view.now_s - view.started_s(job)) * view.gpus(job) if job in running else 0.0
    return view.attained_s(job) + extra


def free_at_s(view: View, pool: int, gpus: int, free: int) -> float:
    """When ``pool`` will have ``gpus`` idle accelerators, from ``free`` idle now and the
    expected ends of the jobs running there (inf if never)."""
    if free >= gpus:
        return view.now_s
    for end_s, count, _ in view.running_releases(pool):
        free += count
        if free >= gpus:
            return end_s
    return math.inf


class _RoundBased:
    """Shared machinery: rank everything each round, keep or preempt at a price, place
    each job where it finishes soonest."""

    name = "rounds"
    round_s = 360.0
    restart_s = DEFAULT_RESTART_S
    max_restart_share = 0.05

    def __init__(self) -> None:
        self._next_round_s = -math.inf
        self._candidates: dict[tuple[int, frozenset[int] | None, int], list[tuple[int, float]]] = {}
        """(speed key, allowed set, accelerators) -> the pools such a job can run on, with
        its speed there, fastest first (ties: lower index); see :meth:`pool_for`"""
        self._candidates_of: object = None
        """the pool table ``_candidates`` was made for"""

    def rank_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        """A job's place in the order, lowest first, as a waiting job."""
        raise NotImplementedError  # pragma: no cover - each policy defines its order

    def incumbent_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        """A running job's place: its rank with the policy's margin, so a waiting job
        displaces it only when clearly ahead (hysteresis)."""
        return self.rank_key(view, job, running)

    def lease_s(self, view: View, job: int) -> float:
        """How long a (re)started job runs before it may be preempted: long enough that
        its restart, ``restart_s`` of reference work at its speed there, is at most
        ``max_restart_share`` of the run."""
        speed = view.speed(job, view.pool_of(job))
        return self.restart_s / (speed * self.max_restart_share) if speed > 0 else math.inf

    def pool_for(self, view: View, job: int, free: list[int], promised: list[int]) -> tuple[int | None, bool]:
        """(pool, whether it has room now) where ``job`` would finish soonest (earliest
        finish time): starting now on a pool with room in ``free``, or later on a faster
        busy one once its running jobs' expected ends free enough accelerators beyond
        ``promised`` (those that jobs ahead in this cycle wait for). Ties: the faster
        pool, then the lower index. (None, False) when no pool can run it.

        The pools are tried fastest first, and the search stops at the first pool that
        could not finish sooner even if it started now (finish >= now + work / speed),
        as no slower one can either."""
        gpus = view.gpus(job)
        now_s = view.now_s
        work_s = view.remaining_work_s(job)
        best, best_key = None, (math.inf, 0.0, 0)
        for pool, speed in self._candidates_for(view, job, gpus):
            soonest_s = now_s + work_s / speed
            if best_key[0] <= soonest_s:
                break
            if free[pool] >= gpus:
                start_s = now_s
            else:
                start_s = free_at_s(view, pool, gpus + promised[pool], min(free[pool], view.free[pool]))
            key = (start_s + work_s / speed, -speed, pool)
            if key < best_key:
                best, best_key = pool, key
        return best, best is not None and free[best] >= gpus

    def _candidates_for(self, view: View, job: int, gpus: int) -> list[tuple[int, float]]:
        """The pools ``job`` can run on (capacity for ``gpus``, a positive speed) with its
        speed there, fastest first, ties by index: one list per speed key, allowed set and
        size, made again when the pool table changes."""
        if view.pools is not self._candidates_of:
            self._candidates.clear()
            self._candidates_of = view.pools
        allowed = view.allowed(job)
        key = (view.speed_key(job), allowed, gpus)
        found = self._candidates.get(key)
        if found is None:
            capacity = view.pools.capacity
            pools = range(len(view.pools)) if allowed is None else sorted(allowed)
            fitting = [(p, view.speed(job, p)) for p in pools if capacity[p] >= gpus]
            found = sorted(((p, v) for p, v in fitting if v > 0), key=lambda pv: (-pv[1], pv[0]))
            self._candidates[key] = found
        return found

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
        promised = [0] * len(free)
        for job in order:
            gpus = view.gpus(job)
            if max(free) < gpus:
                continue
            pool, now = self.pool_for(view, job, free, promised)
            if pool is None:
                continue
            if now:
                free[pool] -= gpus
                starts.append(Start(job, pool))
            else:
                promised[pool] += gpus
        still_waiting = len(order) > len(starts)
        return Decisions(tuple(starts), wake_at_s=wake if still_waiting else None)

    def _protected(self, view: View, running: set[int]) -> set[int]:
        """Running jobs no round may preempt: those within their lease, and those that
        will finish within one lease anyway (preempting them saves less than it costs)."""
        now = view.now_s
        ends = {job: end_s for pool in range(len(view.pools)) for end_s, _, job in view.running_releases(pool)}
        kept = set()
        for job in running:
            lease = self.lease_s(view, job)
            if now - view.started_s(job) < lease or ends.get(job, math.inf) - now <= lease:
                kept.add(job)
        return kept

    def _round(self, view: View, running: set[int], pending: list[int]) -> Decisions:
        """Fill the pools in rank order, running and waiting jobs alike; running jobs that
        lose their place are preempted, waiting jobs that win one start. Running jobs
        rank by :meth:`incumbent_key` and those :meth:`_protected` keep their place
        first. A pool's room is what is in service: idle plus held by running jobs
        (accelerators down for an outage or a failed node are not capacity this round)."""
        room = list(view.free)
        for job in running:
            room[view.pool_of(job)] += view.gpus(job)
        protected = self._protected(view, running)
        for job in protected:
            room[view.pool_of(job)] -= view.gpus(job)

        def key(job: int) -> tuple[float, ...]:
            if job in running:
                return self.incumbent_key(view, job, running)
            return self.rank_key(view, job, running)

        everyone = sorted([*(running - protected), *pending], key=key)
        keep: set[int] = set(protected)
        starts: list[Start] = []
        promised = [0] * len(room)
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
            chosen, now = self.pool_for(view, job, room, promised)
            if chosen is None:
                continue
            if now:
                room[chosen] -= gpus
                starts.append(Start(job, chosen))
            else:
                promised[chosen] += gpus
        preempts = tuple(Preempt(job) for job in sorted(running - keep))
        still_waiting = len(pending) + len(preempts) > len(starts)  # the preempted wait too
        return Decisions(tuple(starts), preempts, wake_at_s=self._next_round_s if still_waiting else None)


class Las(_RoundBased):
    name = "las"

    def __init__(self, params: LasParams | None = None) -> None:
        super().__init__()
        self.params = params or LasParams()
        self.round_s = self.params.round_s
        self.restart_s = self.params.restart_s
        self.max_restart_share = self.params.max_restart_share
        self._thresholds_ms = [service_ms(h * 3600.0) for h in self.params.thresholds_h]
        self._runs: dict[int, tuple[float, float]] = {}
        """Running jobs as last seen: (when the run began, attained service before it)."""
        self._stopped: dict[int, tuple[float, float]] = {}
        """Stopped jobs waiting again: (when the last run ended, its length in seconds)."""
        self._base_ms: dict[int, int] = {}
        """Attained service at a job's last promotion: its queue counts service since."""

    def schedule(self, view: View) -> Decisions:
        self.promote_starving(view)
        return super().schedule(view)

    def promote_starving(self, view: View) -> None:
        """Tiresias's starvation rule (Gu et al. NSDI'19, section 4.2): a job that has
        waited since its last run longer than ``starve_factor`` x that run's length goes
        back to the top queue (its queue counts attained service from then on), so the
        bottom queue's jobs do not wait behind every newcomer for ever. A run's length
        comes from the attained service it added (exact for every way a run ends)."""
        factor = self.params.starve_factor
        if factor is None:
            return
        now = view.now_s
        running = view.running()
        runs, stopped = self._runs, self._stopped
        for job in running:
            seen = runs.get(job)
            if seen is None or seen[0] != view.started_s(job):
                runs[job] = (view.started_s(job), view.attained_s(job))
        if len(runs) > len(running):
            still = set(running)
            waiting = set(view.pending)
            for job in [j for j in runs if j not in still]:
                started_s, before = runs.pop(job)
                if job in waiting:  # stopped, not finished
                    ran_s = (view.attained_s(job) - before) / view.gpus(job)
                    stopped[job] = (started_s + ran_s, ran_s)
        for job in [j for j, (end_s, ran_s) in stopped.items() if now - end_s >= factor * ran_s]:
            del stopped[job]
            self._base_ms[job] = service_ms(view.attained_s(job))

    def level(self, view: View, job: int, running: set[int]) -> int:
        """The job's queue: how many thresholds its attained service (since its last
        promotion) has reached."""
        attained = service_ms(attained_now_s(view, job, running)) - self._base_ms.get(job, 0)
        return sum(1 for t in self._thresholds_ms if attained >= t)

    def rank_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        return (float(self.level(view, job, running)), 1.0, view.submit_s(job), float(job))

    def incumbent_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        """Tiresias's discretisation is the margin: a running job goes ahead of every
        waiting job of its own queue, so only a job of a higher-priority queue (less
        attained service by a whole threshold) displaces it."""
        return (float(self.level(view, job, running)), 0.0, view.submit_s(job), float(job))


class Gavel(_RoundBased):
    name = "gavel"

    def __init__(self, params: GavelParams | None = None) -> None:
        super().__init__()
        self.params = params or GavelParams()
        self.round_s = self.params.round_s
        self.restart_s = self.params.restart_s
        self.max_restart_share = self.params.max_restart_share
        self._total_work: dict[int, float] = {}
        """Each job's work as first seen (every job is first seen waiting, before any run)."""

    def rank_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        """Effective progress (reference-seconds of work done) per second in the system."""
        in_system = max(1.0, view.now_s - view.submit_s(job))
        done_work = service_ms(self._work_done(view, job, running)) * SERVICE_RESOLUTION_S
        return (done_work / in_system, view.submit_s(job), float(job))

    def incumbent_key(self, view: View, job: int, running: set[int]) -> tuple[float, ...]:
        """A running job's progress rate counts ``1 + margin`` times smaller: a waiting job
        displaces it only when that much further behind."""
        rate, submit_s, index = self.rank_key(view, job, running)
        return (rate / (1.0 + self.params.margin), submit_s, index)

    def _work_done(self, view: View, job: int, running: set[int]) -> float:
        total = self._total_work.get(job)
        if total is None:
            total = self._total_work[job] = view.remaining_work_s(job)
        remaining = view.remaining_work_s(job)
        if job in running:
            remaining -= (view.now_s - view.started_s(job)) * view.speed(job, view.pool_of(job))
        return max(0.0, total - remaining)
