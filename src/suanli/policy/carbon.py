"""Carbon-aware placement: spatial and temporal shifting within each job's slack.

Spatial: each job goes to the pool with the least carbon per unit of work now,
``kW per accelerator x intensity(site, now) / speed``, among pools with room.
Temporal: a job that has waited less than ``max_delay_h`` is held back while the
intensity of its best pool is more than ``tolerance`` above the lowest intensity that
pool's site will see before the job's slack runs out (the next ``max_delay_h`` hours of
the hour-of-day profile), as in "Let's Wait Awhile" (Wiesner et al., Middleware'21).
A job with a deadline never waits past ``deadline - runtime``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.policy.base import PoolRanking, ranked_greedy
from suanli.policy.view import Decisions, PoolTable, View


@dataclass(frozen=True)
class CarbonParams:
    max_delay_h: float = 6.0
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.max_delay_h < 0:
            raise ValueError("max_delay_h must be >= 0")
        if self.tolerance < 0:
            raise ValueError("tolerance must be >= 0")


def carbon_per_work(view: View, job: int, pool: int) -> float:
    """gCO2 per reference-second of the job's work on ``pool`` at the current hour."""
    pools = view.pools
    return pools.kw_per_accel[pool] * pools.intensity_at(pool, view.now_s) / view.speed(job, pool)


def lowest_ahead(pools: PoolTable, pool: int, now_s: float, hours: float) -> float:
    """Lowest hourly intensity at ``pool``'s site from now through ``hours`` ahead."""
    steps = min(24, math.floor(hours)) + 1
    return min(pools.intensity_at(pool, now_s + 3600.0 * k) for k in range(steps))


class CarbonAware:
    name = "carbon"

    def __init__(self, params: CarbonParams | None = None) -> None:
        self.params = params or CarbonParams()
        self._ranking = PoolRanking(carbon_per_work, hourly=True)
        self._ahead: dict[tuple[int, float, int], float] = {}
        self._pools_seen: PoolTable | None = None

    def _lowest_ahead(self, pools: PoolTable, pool: int, now_s: float, hours: float) -> float:
        key = (pool, now_s // 3600.0, min(24, math.floor(hours)))
        found = self._ahead.get(key)
        if found is None:
            if len(self._ahead) > 100_000:
                self._ahead.clear()
            found = self._ahead[key] = lowest_ahead(pools, pool, now_s, hours)
        return found

    def schedule(self, view: View) -> Decisions:
        if view.pools is not self._pools_seen:  # a new pool table: pool-keyed hours are stale
            self._ahead.clear()
            self._pools_seen = view.pools
        return ranked_greedy(view, self._ranking, self._hold)

    def _hold(self, view: View, job: int, pool: int) -> float | None:
        """Hold the job for a cleaner hour ahead within its slack (None: start it now)."""
        pools = view.pools
        now = view.now_s
        slack = self.params.max_delay_h * 3600.0 - (now - view.submit_s(job))
        deadline = view.deadline_s(job)
        if deadline is not None:
            slack = min(slack, deadline - now - view.runtime_s(job, pool))
        if slack < 3600.0:
            return None
        best_ahead = self._lowest_ahead(pools, pool, now, slack / 3600.0)
        if pools.intensity_at(pool, now) > best_ahead * (1.0 + self.params.tolerance):
            return (math.floor(now / 3600.0) + 1) * 3600.0
        return None
