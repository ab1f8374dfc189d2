"""The one snapshot builder: what both feeders (the simulator's ``sim/workload.py`` and the
control plane's ``service/control/feeder.py``) use to turn their jobs into the scheduler's
:class:`~suanli.scheduler.state.JobTable` rows, which the policy reads through its
:class:`~suanli.policy.View` (DESIGN.md, "The scheduler object").

A job's row names two shared rows of the table: a *speed row* (the job's speed on every
pool relative to the reference, with the planner's cost and carbon on each pool where it
priced them) and an *allowed set* (the pools it may use). Jobs with equal speeds and
figures share a speed row, so a policy's rankings cached per :meth:`View.speed_key` are
computed once per kind of job; jobs with equal pools share an allowed set.

The pools are one per site x accelerator type (:func:`pool_table`): the simulator's
network (``sim/network.py``) and the control plane's live sites (``live_pools``) both.

The control plane's jobs arrive as the planner's options, one runtime per pool
(:meth:`JobRows.from_runtimes`); a trace's jobs as reference work with measured per-type
speeds where the trace names profiled job classes (:meth:`JobRows.speed_row` with the
measured row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from suanli.catalog import Catalog, Site
from suanli.errors import InputError
from suanli.model.efficiency import relative_speed
from suanli.model.footprint import hourly_cost_rate
from suanli.model.performance import POWER_LOAD
from suanli.policy import PoolTable
from suanli.scheduler.state import ClusterState, JobTable
from suanli.units import W_PER_KW

MISSING_SPEED = 1e-9
"""Speed of a job on a pool none of its options name (it is not allowed there anyway)."""

Figures = tuple[tuple[float, float], ...]
"""(cost USD, carbon kg) of the whole job on each pool."""


class JobRows:
    """The shared rows of one :class:`JobTable`, each distinct one added once.

    Start empty (:meth:`empty_state`, the control plane) or build the table whole
    (:meth:`table`, the simulator); a fresh builder goes with a fresh table."""

    def __init__(self) -> None:
        self.class_speed: list[list[float]] = []
        self.class_figures: list[list[tuple[float, float]] | None] = []
        self.allowed_sets: list[frozenset[int] | None] = [None]
        """Set 0 is every pool."""
        self._speed_row: dict[tuple[tuple[float, ...], Figures | None], int] = {}
        self._allowed_set: dict[frozenset[int] | None, int] = {None: 0}

    def speed_row(self, speeds: Sequence[float], figures: Sequence[tuple[float, float]] | None = None) -> int:
        """The row of ``speeds`` (one per pool) and ``figures`` (one per pool, or None:
        derive them from the pools' rates), added if new."""
        frozen = tuple(figures) if figures is not None else None
        key = (tuple(speeds), frozen)
        row = self._speed_row.get(key)
        if row is None:
            row = self._speed_row[key] = len(self.class_speed)
            self.class_speed.append(list(speeds))
            if frozen is not None:
                self.class_figures.extend([None] * (row - len(self.class_figures)))
                self.class_figures.append(list(frozen))
        return row

    def allowed_set(self, pools: frozenset[int] | None) -> int:
        """The set ``pools`` (None: every pool), added if new."""
        index = self._allowed_set.get(pools)
        if index is None:
            index = self._allowed_set[pools] = len(self.allowed_sets)
            self.allowed_sets.append(pools)
        return index

    def from_runtimes(
        self,
        pool_count: int,
        runtime_s: Mapping[int, float],
        priced: Mapping[int, tuple[float, float]] | None = None,
    ) -> tuple[float, int, int]:
        """A job given as its runtime on each pool it may use (the planner's options):
        ``(work_s, speed row, allowed set)``. Its work is its runtime on its fastest pool,
        each pool's speed that work over its runtime there (:data:`MISSING_SPEED` where it
        has none), so ``work / speed`` gives back the planner's durations. ``priced`` (the
        planner's cost and carbon per pool) become the row's figures when they cover the
        same pools. A job with no runtime at all has work 1 s and may use no pool."""
        work_s = min(runtime_s.values()) if runtime_s else 1.0
        speeds = [work_s / runtime_s[p] if p in runtime_s else MISSING_SPEED for p in range(pool_count)]
        figures = None
        if priced is not None and priced.keys() == runtime_s.keys():
            figures = [priced.get(p, (0.0, 0.0)) for p in range(pool_count)]
        return work_s, self.speed_row(speeds, figures), self.allowed_set(frozenset(runtime_s))

    def empty_state(self, pools: PoolTable) -> ClusterState:
        """A state over ``pools`` with no jobs yet, whose table shares this builder's rows
        (jobs join with :meth:`ClusterState.add_job`, naming rows built here)."""
        table = JobTable([], [], [], [], [], self.class_speed, [], self.allowed_sets, [], self.class_figures)
        return ClusterState(pools, table)

    def table(
        self,
        submit_s: list[float],
        work_s: list[float],
        gpus: list[int],
        deadline_s: list[float | None],
        speed_class: list[int],
        allowed_class: list[int],
        objective: list[str | None] | None = None,
        tenant: list[int] | None = None,
        tenant_names: Sequence[str] = ("default",),
        tenant_weights: Sequence[float] | None = None,
    ) -> JobTable:
        """The whole table of a known set of jobs (a trace), over this builder's rows.
        ``tenant``: each job's index into ``tenant_names`` (None: all ``default``);
        ``tenant_weights``: one per name, each > 0 (None: all 1)."""
        weights = [1.0] * len(tenant_names) if tenant_weights is None else list(tenant_weights)
        if len(weights) != len(tenant_names) or not all(w > 0 for w in weights):
            raise InputError(
                f"tenant weights must be one per tenant ({len(tenant_names)}) and > 0, got {weights}. "
                "To fix: give each tenant a positive weight (a missing one weighs 1)"
            )
        return JobTable(
            submit_s=submit_s,
            work_s=work_s,
            gpus=gpus,
            deadline_s=deadline_s,
            speed_class=speed_class,
            class_speed=self.class_speed,
            allowed_class=allowed_class,
            allowed_sets=self.allowed_sets,
            objective=objective if objective is not None else [],
            class_figures=self.class_figures,
            tenant=tenant if tenant is not None and any(tenant) else [],
            tenant_names=list(tenant_names),
            tenant_weights=weights,
        )


def pool_table(catalog: Catalog, sites: tuple[Site, ...], reference: str, capacity_scale: float = 1.0) -> PoolTable:
    """One pool per site x accelerator type in the sites' inventories.

    kW per busy accelerator = (TDP x training load + host power) x PUE; USD per
    accelerator-hour = the rental price, or for ownership sites amortised capital
    (capex / (years x 8,760 h x utilisation)) plus that energy at the site's price.
    """
    ref = catalog.accelerator(reference)
    names, site_of, type_of, capacity, speed, usd, kw = [], [], [], [], [], [], []
    type_names: list[str] = []
    for index, site in enumerate(sites):
        for accel_id in sorted(site.inventory):
            count = int(site.inventory[accel_id] * capacity_scale)
            if count <= 0:
                continue
            accel = catalog.accelerator(accel_id)
            if accel_id not in type_names:
                type_names.append(accel_id)
            power_kw = (accel.tdp_w * POWER_LOAD["Training"] + accel.host_power_w) / W_PER_KW * site.pue
            per_accel_h, per_kwh = hourly_cost_rate(site, accel)
            price = per_accel_h + power_kw * per_kwh
            names.append(f"{site.id}/{accel_id}")
            site_of.append(index)
            type_of.append(type_names.index(accel_id))
            capacity.append(count)
            speed.append(relative_speed(accel, ref))
            usd.append(price)
            kw.append(power_kw)
    if not names:
        raise InputError("the network has no accelerators")
    return PoolTable(
        names=tuple(names),
        site=tuple(site_of),
        type=tuple(type_of),
        capacity=tuple(capacity),
        speed=tuple(speed),
        usd_per_accel_h=tuple(usd),
        kw_per_accel=tuple(kw),
        site_names=tuple(s.id for s in sites),
        type_names=tuple(type_names),
        intensity_g_per_kwh=tuple(catalog_intensity(catalog, s) for s in sites),
        utc_offset_h=tuple(s.utc_offset_h for s in sites),
        zone=tuple(s.zone for s in sites),
    )


def with_capacity_values(catalog: Catalog, pools: PoolTable) -> PoolTable:
    """``pools`` with each pool's capacity value (:mod:`suanli.capacity`: H800-equivalent
    hours per accelerator-hour of its type), which fair share and the per-tenant metrics
    count in. Builds the catalogue's capacity table on first use (~20 ms, then cached)."""
    from suanli.capacity import capacity_table  # the estimator's pass over every type: only when asked

    table = capacity_table(catalog)
    values = tuple(table.per_accelerator_hour(pools.type_names[t]) for t in pools.type)
    return replace(pools, capacity_value=values)


def catalog_intensity(catalog: Catalog, site: Site) -> tuple[float, ...]:
    region = catalog.grid_region(site.grid_region)
    average = region.intensity_g_per_kwh[max(region.intensity_g_per_kwh)]
    return tuple(average * m for m in catalog.hour_profile(region.profile).multipliers)
