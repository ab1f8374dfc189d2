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

With ``fair_share`` (off by default) and more than one tenant waiting, the queue is merged
across tenants by weighted max-min fair share in capacity-hours, this order within each
tenant, and the first job that does not start holds a reservation on its top pool
(:mod:`suanli.policy.fair_share`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from suanli.model.reasons import ReasonCode
from suanli.policy import suanli_scalar
from suanli.policy.fair_share import capacity_per_reference_h, fair_cycle, fair_order
from suanli.policy.suanli_scan import BEST_TIME, Profiles, scan
from suanli.policy.view import Decisions, PendingTable, PoolTable, View, Wait

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
    fair_share: bool = False
    """Order the queue by weighted max-min fair share across tenants in capacity-hours
    (:mod:`suanli.policy.fair_share`), the policy's own order within each tenant; off, the
    tenants are not read."""
    fair_share_half_life_h: float = 0.0
    """With ``fair_share``: each hour of a tenant's service counts half as much every this many
    hours since (Slurm's ``PriorityDecayHalfLife``, 168 h by default there); 0 = never decays."""

    def __post_init__(self) -> None:
        if min(self.w_time, self.w_cost, self.w_carbon) < 0 or self.w_time + self.w_cost + self.w_carbon == 0:
            raise ValueError("weights must be >= 0 and not all 0")
        if self.aging_s <= 0 or self.max_slowdown < 1 or self.depth < 1:
            raise ValueError("aging_s must be > 0, max_slowdown >= 1, depth >= 1")
        if not self.fair_share_half_life_h >= 0:
            raise ValueError("fair_share_half_life_h must be >= 0 (0: no decay)")


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


def _no_view() -> None:
    return None


class Suanli:
    name = "suanli"

    def __init__(self, params: SuanliParams | None = None) -> None:
        self.params = params or SuanliParams()
        self._cache: dict[tuple[int, frozenset[int] | None, int, str | None], _Ranking] = {}
        self._cache_hour = -1.0
        self._pools: PoolTable | None = None
        self._profiles = Profiles()
        """the rankings by the view's job profiles (cleared with ``_cache``)"""
        self._table: tuple[object, np.ndarray, bool] = (None, np.zeros(0), False)
        """(the last pending table, its jobs' accelerators x work left, whether any of them
        has a deadline)"""
        self._reservation: tuple[int, int] | None = None
        """fair share's head and the pool it holds (:mod:`suanli.policy.fair_share`)"""
        self._k: tuple[object, float] = (None, 1.0)
        self._view: Callable[[], object] = _no_view
        """the view the profile rankings are for (a weak reference: a forecast's deep copy
        of this policy must not copy the live state)"""

    def _ranking(self, view: View, job: int) -> _Ranking:
        hour = view.now_s // 3600.0
        if hour != self._cache_hour:
            self._cache.clear()
            self._profiles.clear()
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

    def schedule(self, view: View) -> Decisions:
        """Steps: order the queue (:meth:`_order`; with ``fair_share`` and more than one
        tenant waiting, merged across tenants by :func:`~suanli.policy.fair_share.fair_order`);
        then, in that order, each job takes the best-ranked pool with room, or waits for a
        busier, better pool when that scores better, counting the accelerators that earlier
        waiting jobs of this cycle have already claimed there
        (:func:`suanli.policy.suanli_scan.scan`, over the queue as arrays: a cycle of the
        congested national run looks at ~170 waiting jobs); with fair share, the first job
        that does not start holds a reservation on its top pool
        (:func:`~suanli.policy.fair_share.reserve_head`)."""
        now = view.now_s
        if view.pools is not self._pools:  # a new pool table: pool-indexed caches are stale
            self._pools = view.pools
            self._cache.clear()
            self._profiles.clear()
            self._reservation = None
        if self._view() is not view:  # another state: its profile numbers are its own
            self._view = weakref.ref(view)
            self._profiles.clear()
            self._reservation = None
        free = list(view.free)
        if not any(free):
            return Decisions()
        fair = self.params.fair_share
        if len(view.pending) <= suanli_scalar.SCALAR_QUEUE and not (fair and _tenants_wait(view)):
            return suanli_scalar.schedule(self, view, free)
        table = view.pending_table()
        if not len(table.ids):
            return Decisions()
        tenants = view.tenants_of(table.ids) if fair else None
        fair = tenants is not None and bool(tenants.min() != tenants.max())  # more than one tenant waits
        self._ranking(view, int(table.ids[0]))  # clears the caches on a new hour
        profiles = self._profiles
        profiles.learn(self, view, table)
        order, at_risk = self._order(table, profiles, now)
        if fair:
            k = self._capacity_k(view)
            order = fair_order(view, table, order, at_risk, k, tenants, self.params.fair_share_half_life_h)
            decisions, self._reservation = fair_cycle(self, view, table, profiles, order, free, self._reservation)
            return decisions
        return scan(self, view, profiles, table, order[: self.params.depth], free)

    def _capacity_k(self, view: View) -> float:
        """:func:`~suanli.policy.fair_share.capacity_per_reference_h`, once per pool table."""
        if self._k[0] is not view.pools:
            self._k = (view.pools, capacity_per_reference_h(view))
        return self._k[1]

    def _order(self, table: PendingTable, profiles: Profiles, now: float) -> tuple[np.ndarray, int]:
        """Indices into ``table`` by place in the queue at ``now``, lowest first: a job
        whose deadline is at risk (less than twice its fastest run left) by deadline, then
        the rest by work x accelerators, aged (divided by 1 + waited / ``aging_s``); equal
        keys keep arrival order. Computed over the arrays each cycle (the keys age). With
        the number of jobs at risk (first in the order)."""
        remaining, deadline = table.remaining_s, table.deadline_s
        if table is not self._table[0]:  # a new queue: its jobs' work x accelerators, and any deadline
            self._table = (table, table.gpus * remaining, not np.isnan(deadline).all())
        _, work, deadlines = self._table
        value = work / (1.0 + (now - table.submit_s) / self.params.aging_s)
        if deadlines:
            fastest = remaining * profiles.table[table.profile, BEST_TIME]
            with np.errstate(invalid="ignore"):
                risk = (deadline - now) < 2 * fastest  # False where NaN
            if risk.any():
                return np.lexsort((np.where(risk, deadline, value), ~risk)), int(risk.sum())
        return np.argsort(value, kind="stable"), 0

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


def _tenants_wait(view: View) -> bool:
    """Whether jobs of more than one tenant wait (fair share has nothing to order otherwise)."""
    return len({view.tenant(job) for job in view.pending}) > 1
