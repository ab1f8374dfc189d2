"""suanli's own policy: co-optimise completion time, cost and carbon.

Order: shortest remaining work first (accelerators x remaining reference-seconds), with
aging so no job starves: ``priority = work / (1 + waited / aging_s)``; jobs whose
deadline is at risk (``deadline - now < 2 x fastest runtime``) go first, earliest
deadline first. Shortest-first minimises mean completion time on one machine (Smith's
rule); aging bounds the wait of large jobs.

Placement: each job takes, among pools with room, the one minimising

    w_time x runtime / best_runtime + w_cost x cost / best_cost + w_carbon x carbon / best_carbon

where ``best_*`` is the best value over every pool the job may use (busy or not), so
each term is >= 1 and the weights say how much a 1 % worse time trades for a 1 % worse
cost or carbon. When the best-scoring pool is busy, the job compares starting now on the
best pool with room against waiting for the best one: the time term of waiting counts
the wait until enough accelerators are released there (from the running jobs' expected
ends); it waits only when that still scores better. Pools more than ``max_slowdown`` x
slower than the fastest are never used. Jobs that do not fit are skipped, not blocking
(non-blocking list scheduling). ``depth`` bounds the jobs examined per cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.policy.view import Decisions, PoolTable, Start, View


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


def pool_scores(pools: PoolTable, now_s: float, params: SuanliParams) -> tuple[list[float], list[float], list[float]]:
    """Per-pool (seconds, USD, gCO2) per unit of reference work per accelerator."""
    time = [1.0 / s for s in pools.speed]
    cost = [pools.usd_per_accel_h[p] * time[p] for p in range(len(pools))]
    carbon = [pools.kw_per_accel[p] * pools.intensity_at(p, now_s) * time[p] for p in range(len(pools))]
    return time, cost, carbon


class Suanli:
    name = "suanli"

    def __init__(self, params: SuanliParams | None = None) -> None:
        self.params = params or SuanliParams()
        self._order_cache: dict[tuple[frozenset[int] | None, int], tuple[list[int], float]] = {}
        self._cache_hour = -1.0
        self._scores: tuple[list[float], list[float], list[float]] = ([], [], [])
        self._bests: dict[tuple[frozenset[int] | None, int], tuple[float, float, float]] = {}
        self._releases: dict[int, list[tuple[float, int]]] = {}

    def _preferences(self, view: View, allowed: frozenset[int] | None, gpus: int) -> tuple[list[int], float]:
        """Pools able to hold ``gpus`` by score, best first, and the fastest per-work time
        among them (pools too small for the job never set the bar)."""
        hour = view.now_s // 3600.0
        if hour != self._cache_hour:
            self._order_cache.clear()
            self._bests.clear()
            self._cache_hour = hour
        cached = self._order_cache.get((allowed, gpus))
        if cached is not None:
            return cached
        pools = view.pools
        time, cost, carbon = pool_scores(pools, view.now_s, self.params)
        candidates = [
            p for p in (range(len(pools)) if allowed is None else sorted(allowed)) if pools.capacity[p] >= gpus
        ]
        if not candidates:
            self._order_cache[(allowed, gpus)] = ([], float("inf"))
            return [], float("inf")
        best_t = min(time[p] for p in candidates)
        best_c = max(1e-12, min(cost[p] for p in candidates))
        best_k = max(1e-12, min(carbon[p] for p in candidates))
        p_ = self.params

        def score(p: int) -> tuple[float, int]:
            return (p_.w_time * time[p] / best_t + p_.w_cost * cost[p] / best_c + p_.w_carbon * carbon[p] / best_k, p)

        ranked = [p for p in sorted(candidates, key=score) if time[p] <= best_t * p_.max_slowdown]
        result = (ranked, best_t)
        self._order_cache[(allowed, gpus)] = result
        self._scores = (time, cost, carbon)
        self._bests[(allowed, gpus)] = (best_t, best_c, best_k)
        return result

    def _score(self, pool: int, allowed: frozenset[int] | None, gpus: int, wait_s: float, work_s: float) -> float:
        """The job's score on ``pool`` if it starts after ``wait_s`` seconds."""
        time, cost, carbon = self._scores
        best_t, best_c, best_k = self._bests[(allowed, gpus)]
        p_ = self.params
        run_t = time[pool] + wait_s / max(work_s, 1e-9)
        return p_.w_time * run_t / best_t + p_.w_cost * cost[pool] / best_c + p_.w_carbon * carbon[pool] / best_k

    def _release_time(self, view: View, pool: int, gpus: int, free: list[int]) -> float:
        """When ``pool`` will have ``gpus`` idle, from its running jobs' expected ends."""
        releases = self._releases.get(pool)
        if releases is None:
            releases = self._releases[pool] = list(view.running_releases(pool))
        available = free[pool]
        for end_s, count in releases:
            available += count
            if available >= gpus:
                return end_s
        return float("inf")

    def schedule(self, view: View) -> Decisions:
        now = view.now_s
        params = self.params
        free = list(view.free)
        most_free = max(free, default=0)
        if most_free == 0:
            return Decisions()
        self._releases = {}
        pending = view.pending
        if len(pending) > 1:
            pending = sorted(pending, key=lambda j: self._priority(view, j, now))
        starts: list[Start] = []
        examined = 0
        for job in pending:
            if most_free == 0 or examined >= params.depth:
                break
            examined += 1
            gpus = view.gpus(job)
            if gpus > most_free:
                continue
            allowed = view.allowed(job)
            order, _ = self._preferences(view, allowed, gpus)
            pool = next((p for p in order if free[p] >= gpus), None)
            if pool is None:
                continue
            top = order[0]
            if pool != top:
                work = view.remaining_work_s(job)
                wait = self._release_time(view, top, gpus, free) - now
                if self._score(top, allowed, gpus, wait, work) < self._score(pool, allowed, gpus, 0.0, work):
                    continue  # waiting for the best pool scores better than starting now
            free[pool] -= gpus
            most_free = max(free)
            starts.append(Start(job, pool))
        return Decisions(tuple(starts))

    def _priority(self, view: View, job: int, now: float) -> tuple[int, float]:
        deadline = view.deadline_s(job)
        if deadline is not None:
            _, best_t = self._preferences(view, view.allowed(job), view.gpus(job))
            fastest = view.remaining_work_s(job) * best_t
            if deadline - now < 2 * fastest:
                return (0, deadline)
        waited = now - view.submit_s(job)
        work = view.gpus(job) * view.remaining_work_s(job)
        return (1, work / (1.0 + waited / self.params.aging_s))
