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

from suanli.model.reasons import ReasonCode
from suanli.policy.base import PoolRanking, ranked_greedy
from suanli.policy.view import Decisions, PoolTable, View, Wait


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


def cleanest_ahead(pools: PoolTable, pool: int, now_s: float, hours: float) -> tuple[float, int]:
    """(lowest hourly intensity at ``pool``'s site from now through ``hours`` ahead, how many
    whole hours ahead it first comes)."""
    steps = min(24, math.floor(hours)) + 1
    values = [pools.intensity_at(pool, now_s + 3600.0 * k) for k in range(steps)]
    best = min(values)
    return best, values.index(best)


class CarbonAware:
    name = "carbon"

    def __init__(self, params: CarbonParams | None = None) -> None:
        self.params = params or CarbonParams()
        self._ranking = PoolRanking(carbon_per_work, hourly=True)
        self._ahead: dict[tuple[int, float, int], tuple[float, int]] = {}
        self._pools_seen: PoolTable | None = None

    def _cleanest_ahead(self, pools: PoolTable, pool: int, now_s: float, hours: float) -> tuple[float, int]:
        key = (pool, now_s // 3600.0, min(24, math.floor(hours)))
        found = self._ahead.get(key)
        if found is None:
            if len(self._ahead) > 100_000:
                self._ahead.clear()
            found = self._ahead[key] = cleanest_ahead(pools, pool, now_s, hours)
        return found

    def schedule(self, view: View) -> Decisions:
        if view.pools is not self._pools_seen:  # a new pool table: pool-keyed hours are stale
            self._ahead.clear()
            self._pools_seen = view.pools
        return ranked_greedy(view, self._ranking, self._hold)

    def _hold(self, view: View, job: int, pool: int) -> tuple[float, Wait] | None:
        """Hold the job for a cleaner hour ahead within its slack (None: start it now); the
        reason names the hour it waits for (whole hours from now on the view's clock)."""
        pools = view.pools
        now = view.now_s
        slack = self.params.max_delay_h * 3600.0 - (now - view.submit_s(job))
        deadline = view.deadline_s(job)
        if deadline is not None:
            slack = min(slack, deadline - now - view.runtime_s(job, pool))
        if slack < 3600.0:
            return None
        best_ahead, hours_ahead = self._cleanest_ahead(pools, pool, now, slack / 3600.0)
        intensity = pools.intensity_at(pool, now)
        if intensity > best_ahead * (1.0 + self.params.tolerance):
            this_hour_s = math.floor(now / 3600.0) * 3600.0
            site = pools.site_names[pools.site[pool]]
            reason = Wait(
                job,
                ReasonCode.HELD_FOR_CLEANER_HOUR,
                f"held for a cleaner hour at {site}: its grid emits {intensity:,.0f} gCO2/kWh now and "
                f"{best_ahead:,.0f} in {hours_ahead} h, within the job's {slack / 3600.0:,.1f} h of slack",
                until_s=this_hour_s + 3600.0 * hours_ahead,
                pool=pool,
            )
            return this_hour_s + 3600.0, reason
        return None
