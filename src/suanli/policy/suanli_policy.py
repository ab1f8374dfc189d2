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
cost or carbon. A pool whose runtime is more than ``max_slowdown`` x the best is not
used: the job waits for a faster pool instead of crawling on an old one. Jobs that do not
fit are skipped, not blocking (non-blocking list scheduling). ``depth`` bounds the jobs
examined per cycle.
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
    max_slowdown: float = 2.0
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
        self._order_cache: dict[frozenset[int] | None, tuple[list[int], float]] = {}
        self._cache_hour = -1.0

    def _preferences(self, view: View, allowed: frozenset[int] | None) -> tuple[list[int], float]:
        """Pools by score, best first, and the fastest per-work time over ``allowed``."""
        hour = view.now_s // 3600.0
        if hour != self._cache_hour:
            self._order_cache.clear()
            self._cache_hour = hour
        cached = self._order_cache.get(allowed)
        if cached is not None:
            return cached
        pools = view.pools
        time, cost, carbon = pool_scores(pools, view.now_s, self.params)
        candidates = list(range(len(pools))) if allowed is None else sorted(allowed)
        best_t = min(time[p] for p in candidates)
        best_c = max(1e-12, min(cost[p] for p in candidates))
        best_k = max(1e-12, min(carbon[p] for p in candidates))
        p_ = self.params

        def score(p: int) -> tuple[float, int]:
            return (p_.w_time * time[p] / best_t + p_.w_cost * cost[p] / best_c + p_.w_carbon * carbon[p] / best_k, p)

        ranked = [p for p in sorted(candidates, key=score) if time[p] <= best_t * p_.max_slowdown]
        result = (ranked, best_t)
        self._order_cache[allowed] = result
        return result

    def schedule(self, view: View) -> Decisions:
        now = view.now_s
        params = self.params
        free = list(view.free)
        most_free = max(free, default=0)
        if most_free == 0:
            return Decisions()
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
            order, _ = self._preferences(view, view.allowed(job))
            for pool in order:
                if free[pool] >= gpus:
                    free[pool] -= gpus
                    most_free = max(free)
                    starts.append(Start(job, pool))
                    break
        return Decisions(tuple(starts))

    def _priority(self, view: View, job: int, now: float) -> tuple[int, float]:
        deadline = view.deadline_s(job)
        if deadline is not None:
            _, best_t = self._preferences(view, view.allowed(job))
            fastest = view.remaining_work_s(job) * best_t
            if deadline - now < 2 * fastest:
                return (0, deadline)
        waited = now - view.submit_s(job)
        work = view.gpus(job) * view.remaining_work_s(job)
        return (1, work / (1.0 + waited / self.params.aging_s))
