"""suanli's own policy: co-optimise completion time, cost and carbon.

Order: shortest remaining work first (accelerators x remaining reference-seconds), with
aging so no job starves: ``priority = work / (1 + waited / aging_s)``; jobs whose
deadline is at risk (``deadline - now < 2 x fastest runtime``) go first, earliest
deadline first. Shortest-first minimises mean completion time on one machine (Smith's
rule); aging bounds the wait of large jobs.

Placement: each job takes, among pools with room, the one minimising

    w_time x runtime / best_runtime + w_cost x cost / best_cost + w_carbon x carbon / best_carbon

where ``best_*`` is the best value over every pool the job may use and that is large
enough for it (busy or not), so each term is >= 1 and the weights say how much a 1 %
worse time trades for a 1 % worse cost or carbon. Runtimes use the job's own speed on
each pool (measured for profiled job classes). When the best-scoring pool is busy, the
job compares starting now on the best pool with room against waiting for the best one,
whose time term then counts the wait until enough accelerators are released there (from
the running jobs' expected ends); it waits only when that still scores better. Pools
more than ``max_slowdown`` x slower than the fastest are never used. Jobs that do not
fit are skipped, not blocking (non-blocking list scheduling); ``depth`` bounds the jobs
examined per cycle.

The weights are the job's own where its spec states an objective (:data:`OBJECTIVE_WEIGHTS`;
trace jobs have none and take the policy's ``w_*``), with equal scores broken in the
order the planner ranks that objective (``time``: finish, cost, carbon; ``cost``: cost,
finish, carbon; ``carbon``: carbon, finish, cost), so on an idle network a job starts
where ``suanli plan`` puts it. Cost and carbon are the planner's own figures for the job
where the view has them (control-plane jobs), else the pools' rates x the runtime.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress

from suanli.model.reasons import ReasonCode
from suanli.policy.view import Decisions, PoolTable, Start, View, Wait

OBJECTIVE_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "time": (1.0, 0.0, 0.0),
    "cost": (0.0, 1.0, 0.0),
    "carbon": (0.0, 0.0, 1.0),
    "balanced": (1.0, 1.0, 1.0),
}
"""(w_time, w_cost, w_carbon) for a job's stated objective; ``balanced`` weighs the three
normalised terms equally, as the planner's ``balanced`` ranking does."""
TIE_ORDER: dict[str, tuple[int, int, int]] = {
    "time": (0, 1, 2),
    "cost": (1, 0, 2),
    "carbon": (2, 0, 1),
    "balanced": (0, 1, 2),
}
"""Which of (time, cost, carbon) breaks equal scores first, second and third."""


@dataclass(frozen=True)
class SuanliParams:
    w_time: float = 1.0
    w_cost: float = 0.5
    w_carbon: float = 0.5
    aging_s: float = 6 * 3600.0
    max_slowdown: float = 8.0
    depth: int = 512

    def __post_init__(self) -> None:
        if min(self.w_time, self.w_cost, self.w_carbon) < 0 or self.w_time + self.w_cost + self.w_carbon == 0:
            raise ValueError("weights must be >= 0 and not all 0")
        if self.aging_s <= 0 or self.max_slowdown < 1 or self.depth < 1:
            raise ValueError("aging_s must be > 0, max_slowdown >= 1, depth >= 1")


@dataclass(frozen=True)
class _Ranking:
    """Pools a group of alike jobs may use, best score first, with the per-work figures."""

    order: list[int]
    position: dict[int, int]
    """pool -> its place in ``order``"""
    time: dict[int, float]
    """seconds per reference-second of work, by pool"""
    cost: dict[int, float]
    carbon: dict[int, float]
    best: tuple[float, float, float]
    weights: tuple[float, float, float]


class Suanli:
    name = "suanli"

    def __init__(self, params: SuanliParams | None = None) -> None:
        self.params = params or SuanliParams()
        self._cache: dict[tuple[int, frozenset[int] | None, int, str | None], _Ranking] = {}
        self._cache_hour = -1.0
        self._pools: PoolTable | None = None
        self._releases: dict[int, tuple[int, list[float], list[int]]] = {}
        """pool -> (version, end times, cumulative accelerators released by each)"""

    def _ranking(self, view: View, job: int) -> _Ranking:
        hour = view.now_s // 3600.0
        if hour != self._cache_hour:
            self._cache.clear()
            self._cache_hour = hour
        allowed = view.allowed(job)
        gpus = view.gpus(job)
        objective = view.objective(job)
        key = (view.speed_key(job), allowed, gpus, objective)
        found = self._cache.get(key)
        if found is not None:
            return found
        pools = view.pools
        candidates = [
            p for p in (range(len(pools)) if allowed is None else sorted(allowed)) if pools.capacity[p] >= gpus
        ]
        time = {p: 1.0 / view.speed(job, p) for p in candidates}
        figures = view.figures(job)
        if figures is not None:
            cost = {p: figures[p][0] for p in candidates}
            carbon = {p: figures[p][1] for p in candidates}
        else:
            cost = {p: pools.usd_per_accel_h[p] * time[p] for p in candidates}
            carbon = {p: pools.kw_per_accel[p] * pools.intensity_at(p, view.now_s) * time[p] for p in candidates}
        p_ = self.params
        weights = OBJECTIVE_WEIGHTS.get(objective or "", (p_.w_time, p_.w_cost, p_.w_carbon))
        if not candidates:
            ranking = _Ranking([], {}, {}, {}, {}, (1.0, 1.0, 1.0), weights)
        else:
            best = (
                min(time.values()),
                max(1e-12, min(cost.values())),
                max(1e-12, min(carbon.values())),
            )
            ranking = _Ranking([], {}, time, cost, carbon, best, weights)
            usable = [p for p in candidates if time[p] <= best[0] * self.params.max_slowdown]
            ties = TIE_ORDER.get(objective or "")
            if ties is None:
                ranking.order.extend(sorted(usable, key=lambda p: (self._score(ranking, p, 0.0), p)))
            else:
                terms = (time, cost, carbon)
                ranking.order.extend(
                    sorted(usable, key=lambda p: (self._score(ranking, p, 0.0), *(terms[t][p] for t in ties), p))
                )
            ranking.position.update({p: i for i, p in enumerate(ranking.order)})
        self._cache[key] = ranking
        return ranking

    def _score(self, ranking: _Ranking, pool: int, wait_per_work: float) -> float:
        """Score on ``pool`` when the job starts after ``wait_per_work`` seconds of wait per
        reference-second of its work."""
        w_time, w_cost, w_carbon = ranking.weights
        best_t, best_c, best_k = ranking.best
        return (
            w_time * (ranking.time[pool] + wait_per_work) / best_t
            + w_cost * ranking.cost[pool] / best_c
            + w_carbon * ranking.carbon[pool] / best_k
        )

    def _release_time(self, view: View, pool: int, gpus: int, free: list[int]) -> float:
        """When ``pool`` will have ``gpus`` idle, from its running jobs' expected ends
        (cumulative releases per pool computed once a cycle, then a bisection)."""
        version = view.pool_version(pool)
        found = self._releases.get(pool)
        if found is None or found[0] != version:
            ends: list[float] = []
            cumulative: list[int] = []
            total = 0
            for end_s, count, _ in view.running_releases(pool):
                total += count
                ends.append(end_s)
                cumulative.append(total)
            found = self._releases[pool] = (version, ends, cumulative)
        _, ends, cumulative = found
        index = bisect_left(cumulative, gpus - free[pool])
        return ends[index] if index < len(ends) else float("inf")

    def schedule(self, view: View) -> Decisions:
        """Steps: order the queue; for each job, the best-ranked pool with room (looking
        only at pools with idle accelerators, few when the network is busy); wait for a
        busier, better pool only when that scores better, counting the accelerators that
        earlier waiting jobs of this cycle have already claimed there."""
        now = view.now_s
        if view.pools is not self._pools:  # a new pool table: pool-indexed caches are stale
            self._pools = view.pools
            self._cache.clear()
            self._releases.clear()
        free = list(view.free)
        room = set(compress(range(len(free)), free))  # pools with idle accelerators
        if not room:
            return Decisions()
        claimed: dict[int, int] = {}
        pending = view.pending
        if len(pending) > 1:
            pending = sorted(pending, key=self._priority_key(view, now))
        starts: list[Start] = []
        waits: list[Wait] = []
        examined = 0
        most_free = max(free)  # the pools outside ``room`` have none
        nowhere: set[tuple[int, int]] = set()  # (ranking id, gpus) that found no pool this cycle
        found: dict[tuple[int, int], int] = {}  # (ranking id, gpus) -> best pool with room, until a start
        for job in pending:
            if not room or examined >= self.params.depth:
                break
            examined += 1
            gpus = view.gpus(job)
            if gpus > most_free:
                continue
            ranking = self._ranking(view, job)
            group = (id(ranking), gpus)
            if group in nowhere:
                continue  # free only shrinks within a cycle: still no pool
            pool = found.get(group, -1)
            if pool < 0:
                position = ranking.position
                best_place = len(position)
                for p in room:
                    place = position.get(p, best_place)
                    if place < best_place and free[p] >= gpus:
                        best_place, pool = place, p
                if pool < 0:
                    nowhere.add(group)
                    continue
                found[group] = pool
            top = ranking.order[0]
            if pool != top:
                needed = gpus + claimed.get(top, 0)
                wait = self._release_time(view, top, needed, free) - now
                work = max(view.remaining_work_s(job), 1e-9)
                if self._score(ranking, top, wait / work) < self._score(ranking, pool, 0.0):
                    claimed[top] = needed
                    waits.append(self._waiting(view, job, top, pool, now + wait))
                    continue  # waiting for the best pool scores better than starting now
            free[pool] -= gpus
            found.clear()
            if free[pool] == 0:
                room.discard(pool)
            if free[pool] + gpus == most_free:
                most_free = max((free[p] for p in room), default=0)
            starts.append(Start(job, pool))
        return Decisions(tuple(starts), waits=tuple(waits))

    @staticmethod
    def _waiting(view: View, job: int, best: int, instead: int, free_at_s: float) -> Wait:
        names = view.pools.names
        wait_h = (free_at_s - view.now_s) / 3600.0
        return Wait(
            job,
            ReasonCode.WAITING_FOR_FASTER_POOL,
            f"waiting {wait_h:,.2f} h for {names[best]}, which scores better even after the wait "
            f"than starting now on {names[instead]}",
            until_s=free_at_s,
            pool=best,
        )

    def _priority_key(self, view: View, now: float) -> Callable[[int], tuple[int, float]]:
        """A job's place in the queue at ``now``, lowest first: a job whose deadline is at
        risk (less than twice its fastest run left) by deadline, then the rest by work x
        accelerators, aged (divided by 1 + waited / ``aging_s``). One closure per cycle over
        the view's bound methods: a congested forecast sorts ~3,000 jobs per cycle."""
        deadline_s, submit_s, gpus, remaining_s = view.deadline_s, view.submit_s, view.gpus, view.remaining_work_s
        ranking = self._ranking
        aging_s = self.params.aging_s

        def key(job: int) -> tuple[int, float]:
            deadline = deadline_s(job)
            if deadline is not None:
                fastest = remaining_s(job) * ranking(view, job).best[0]
                if deadline - now < 2 * fastest:
                    return (0, deadline)
            work = gpus(job) * remaining_s(job)
            return (1, work / (1.0 + (now - submit_s(job)) / aging_s))

        return key
