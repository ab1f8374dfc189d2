"""Use-cases for planning one job: load what it needs, call the core, return values.

The CLI and (later) the API call these; they never print.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from suanli.catalog import Catalog, ThroughputTable, canonical_id, load_catalog, load_profiles
from suanli.clock import Clock, WallClock, to_seconds
from suanli.config import Settings
from suanli.errors import InputError, NoFeasiblePlacement
from suanli.model import Estimate, Infeasible, estimate
from suanli.placement import Plan, plan
from suanli.workload import JobSpec, load_spec


@dataclass(frozen=True)
class Context:
    catalog: Catalog
    profiles: ThroughputTable | None
    clock: Clock


def context(
    catalog_dir: str | Path | None = None,
    profiles: str | Path | None = None,
    clock: Clock | None = None,
) -> Context:
    """The catalogue (packaged + overrides from ``catalog_dir`` or ``$SUANLI_CATALOG``),
    an optional measured throughput table, and the clock."""
    settings = Settings.from_env(catalog_dir)
    catalog = load_catalog(settings.catalog_dir)
    table = load_profiles(profiles, catalog) if profiles is not None else None
    return Context(catalog=catalog, profiles=table, clock=clock or WallClock())


def read_spec(ctx: Context, path: str | Path) -> JobSpec:
    return load_spec(path, ctx.catalog)


def default_site(ctx: Context, job: JobSpec, accelerator: str) -> str:
    """The site holding the most of ``accelerator`` among those the job's regions allow
    (ties by id); when none holds it, the first allowed site that could price it (an
    ownership site, or a rental site with a price for it)."""
    sites = [
        s
        for s in sorted(ctx.catalog.sites.values(), key=lambda s: s.id)
        if not job.constraints.regions or any(ctx.catalog.site_matches(s, r) for r in job.constraints.regions)
    ] or sorted(ctx.catalog.sites.values(), key=lambda s: s.id)
    best = max(sites, key=lambda s: s.inventory.get(accelerator, 0))
    if best.inventory.get(accelerator, 0) > 0:
        return best.id
    for site in sites:
        if site.pricing.model == "ownership" or accelerator in site.pricing.accelerator_usd_per_h:
            return site.id
    raise InputError(f"no site holds or prices {accelerator}; pass --site (see `suanli catalog sites`)")


def estimate_job(
    ctx: Context,
    job: JobSpec,
    accelerator: str,
    count: int,
    site: str | None = None,
    start: datetime | None = None,
) -> Estimate:
    """Estimate ``job`` on one option; raises :class:`NoFeasiblePlacement` with the reason.
    ``accelerator`` and ``site`` are matched to catalogue ids as a spec's names are (``H800``)."""
    accel = ctx.catalog.accelerator(canonical_id(accelerator, ctx.catalog.accelerators) or accelerator)
    if count < 1:
        raise InputError(f"--count must be at least 1, got {count}")
    where = site if site is not None else default_site(ctx, job, accel.id)
    where = canonical_id(where, ctx.catalog.sites) or where
    ctx.catalog.site(where)
    now_s = ctx.clock.now_s()
    earliest_s = job.constraints.earliest_start_s(now_s)  # a relative one from now
    if start is not None:
        start_s = to_seconds(start)
    elif earliest_s is not None:
        start_s = earliest_s
    else:
        start_s = now_s
    try:
        return estimate(job, ctx.catalog, accel.id, count, where, start_s, ctx.profiles)
    except Infeasible as exc:
        raise NoFeasiblePlacement(job.name, [exc.rejection.at(site=where, accelerator=accel.id, count=count)]) from None


def estimate_notes(ctx: Context, job: JobSpec, est: Estimate) -> list[str]:
    """Caveats a person should see beside an estimate (it is hypothetical where the site
    lacks the accelerators, or where the job's own constraints would refuse it)."""
    notes = []
    have = ctx.catalog.site(est.site).inventory.get(est.accelerator, 0)
    if have < est.count:
        notes.append(
            f"{est.site} holds {have} {est.accelerator}; this estimate assumes {est.count} "
            f"(run `suanli plan` for feasible placements)"
        )
    c = job.constraints
    if c.max_cost_usd is not None and est.cost_usd > c.max_cost_usd:
        notes.append(f"cost ${est.cost_usd:,.0f} is over the spec's budget of ${c.max_cost_usd:,.0f}")
    if c.max_carbon_kg is not None and est.carbon_kg > c.max_carbon_kg:
        notes.append(f"carbon {est.carbon_kg:,.0f} kg is over the spec's cap of {c.max_carbon_kg:,.0f} kg")
    deadline_s = c.deadline_s(ctx.clock.now_s())
    if deadline_s is not None and est.finish_s > deadline_s:
        notes.append("finishes after the spec's deadline")
    return notes


def plan_job(ctx: Context, job: JobSpec, now: datetime | None = None) -> Plan:
    """Plan ``job`` from ``now`` (default: the clock); the spec's relative times
    (``earliest_start: now``, ``deadline: +7d``) are measured from it."""
    now_s = to_seconds(now) if now is not None else ctx.clock.now_s()
    return plan(job, ctx.catalog, now_s, ctx.profiles)
