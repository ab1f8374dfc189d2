"""The planner: enumerate site x accelerator x count x start, reject with reasons, rank.

Recipe (each step a function below):

1. window: starts are hourly from ``max(now, earliest_start)`` rounded up to the hour,
   at most :data:`MAX_STARTS` of them and none past the deadline (relative times in the
   spec are measured from ``now``). Intensity is periodic per day and prices do not vary
   in time, so a start more than 24 h into the window can only finish later for the same
   cost and carbon as one 24 h earlier. A deadline at or before ``max(now,
   earliest_start)`` refuses the whole job, once (``DEADLINE_PASSED``).
2. speed: :func:`suanli.model.performance` once per accelerator type x count (speed does
   not depend on site or start); memory, precision and SLO rejections come from here.
3. sites: region and residency per site, export rules per type, inventory per
   site x type x count.
4. starts: for each surviving site x type x count, data transfer (size / bandwidth from
   where the data is), finish, carbon (vectorised over starts), cost; deadline, budget
   and carbon cap per start. The transfer is blamed (``DATA_TRANSFER_TOO_SLOW``) only
   when the option would meet the deadline without it. Starts that are worse than an earlier start of the same
   option in carbon are dropped (they finish later at the same cost).
5. rank: the Pareto front over (finish, cost, carbon), then sort by the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from suanli.catalog import Accelerator, Catalog, Site, ThroughputTable
from suanli.clock import iso
from suanli.errors import NoFeasiblePlacement
from suanli.model import Code, Infeasible, Performance, Rejection, curve_for, footprint, resolve_shape
from suanli.model.performance import performance
from suanli.placement import rules
from suanli.placement.options import Option, Plan
from suanli.placement.pareto import pareto_mask
from suanli.units import SECONDS_PER_HOUR, transfer_time_h
from suanli.workload import JobSpec

MAX_STARTS = 24
"""Hourly starts tried per option (see step 1 of the module docstring)."""
SAME_CARBON = 1e-9
"""A later start must emit less by more than this fraction to be offered: below it the
difference is floating-point rounding (a flat grid profile gives every start the same
carbon), not a cleaner hour."""


def earliest_start_s(job: JobSpec, now_s: float) -> float:
    """The job's earliest start: ``max(now, earliest_start)`` (not yet on the hour)."""
    earliest = job.constraints.earliest_start_s(now_s)
    return now_s if earliest is None else max(now_s, earliest)


def window_starts(job: JobSpec, now_s: float, max_starts: int = MAX_STARTS) -> np.ndarray:
    """Step 1: hourly start times (UTC epoch seconds) in the job's window."""
    first = math.ceil(earliest_start_s(job, now_s) / SECONDS_PER_HOUR) * SECONDS_PER_HOUR
    starts = first + SECONDS_PER_HOUR * np.arange(max_starts, dtype=np.float64)
    deadline = job.constraints.deadline_s(now_s)
    if deadline is not None:
        within = starts[starts < deadline]
        starts = within if within.size else starts[:1]
    return starts


def deadline_passed(job: JobSpec, now_s: float) -> Rejection | None:
    """Step 1's refusal: the deadline is at or before the job's earliest start, so no
    option can meet it (one reason for the whole job, not one per option)."""
    deadline = job.constraints.deadline_s(now_s)
    earliest = earliest_start_s(job, now_s)
    if deadline is None or deadline > earliest:
        return None
    since = "now" if earliest == now_s else "its earliest_start"
    return Rejection(
        Code.DEADLINE_PASSED,
        f"the deadline {iso(deadline)} is not after the job's earliest start, {iso(earliest)} ({since}):"
        " move it later, or write it relative to now (deadline: +7d)",
    )


def candidate_types(job: JobSpec, catalog: Catalog) -> list[tuple[Accelerator, bool]]:
    """(type, named) pairs: named types as given, or every catalogue type for ``any``."""
    named = [a for a in job.resources.accelerators if a != "any"]
    if "any" in job.resources.accelerators:
        extra = [a for a in sorted(catalog.accelerators) if a not in named]
        return [(catalog.accelerator(a), True) for a in named] + [(catalog.accelerator(a), False) for a in extra]
    return [(catalog.accelerator(a), True) for a in named]


def plan(
    job: JobSpec,
    catalog: Catalog,
    now_s: float,
    profiles: ThroughputTable | None = None,
    raise_if_empty: bool = False,
) -> Plan:
    """Every feasible option for ``job``, ranked by its objective, with every rejection."""
    starts = window_starts(job, now_s)
    passed = deadline_passed(job, now_s)
    if passed is not None:
        if raise_if_empty:
            raise NoFeasiblePlacement(job.name, [passed])
        return Plan(job.name, job.objective, float(starts[0]), (), (passed,))
    deadline_s = job.constraints.deadline_s(now_s)
    shape = resolve_shape(job, catalog)
    counts = job.resources.counts()
    rejected: list[Rejection] = []
    speeds: dict[tuple[str, int], Performance] = {}
    types = candidate_types(job, catalog)
    allowed_types: list[tuple[Accelerator, bool]] = []
    for accel, named in types:
        refusal = rules.export_rule(job, accel)
        if refusal is not None:
            if named or any(accel.id in s.inventory for s in catalog.sites.values()):
                rejected.append(refusal)
            continue
        if not named and not any(accel.id in s.inventory for s in catalog.sites.values()):
            continue  # no site has it: not an option
        allowed_types.append((accel, named))
        for count in counts:
            try:
                speeds[(accel.id, count)] = performance(job, shape, accel, count, profiles)
            except Infeasible as exc:
                rejected.append(exc.rejection.at(accelerator=accel.id, count=count))
    options: list[Option] = []
    for site in catalog.sites.values():
        refusal = rules.site_rule(job, site)
        if refusal is not None:
            rejected.append(refusal)
            continue
        transfer_h = _transfer_h(job, catalog, site)
        batch: list[tuple[Accelerator, int, Performance, float]] = []
        for accel, named in allowed_types:
            for count in counts:
                refusal = rules.inventory_rule(site, accel, count, named)
                if refusal is not None:
                    rejected.append(refusal)
                    continue
                if site.inventory.get(accel.id, 0) == 0:
                    continue
                perf = speeds.get((accel.id, count))
                if perf is None:
                    continue  # rejected above, for every site
                facility_kw = footprint.power(accel, count, perf.power_load, site.pue).facility_kw
                batch.append((accel, count, perf, facility_kw))
        if not batch:
            continue
        # carbon of every option at this site for every start, in one vectorised call
        compute_starts = starts + transfer_h * SECONDS_PER_HOUR
        hours = np.asarray([perf.duration_h for _, _, perf, _ in batch])
        kw = np.asarray([facility_kw for _, _, _, facility_kw in batch])
        grams = curve_for(catalog, site.id).integral(compute_starts[None, :], hours[:, None])
        carbon_rows = (grams * kw[:, None] / 1000.0).tolist()
        start_list = starts.tolist()
        for (accel, count, perf, facility_kw), carbons in zip(batch, carbon_rows, strict=True):
            found, refusal = _options_over_starts(
                job, site, accel, count, perf, facility_kw, start_list, carbons, transfer_h, deadline_s
            )
            options.extend(found)
            if refusal is not None:
                rejected.append(refusal)
    ranked = rank(options, job.objective, float(starts[0]))
    result = Plan(job.name, job.objective, float(starts[0]), tuple(ranked), tuple(rejected))
    if raise_if_empty and not ranked:
        raise NoFeasiblePlacement(job.name, rejected)
    return result


def _transfer_h(job: JobSpec, catalog: Catalog, site: Site) -> float:
    data = job.constraints.data
    if data is None or data.site == site.id or data.size_gb <= 0:
        return 0.0
    return transfer_time_h(data.size_gb, catalog.path(data.site, site.id).bandwidth_gbps)


def _options_over_starts(
    job: JobSpec,
    site: Site,
    accel: Accelerator,
    count: int,
    perf: Performance,
    facility_kw: float,
    starts: list[float],
    carbons: list[float],
    transfer_h: float,
    deadline: float | None,
) -> tuple[list[Option], Rejection | None]:
    """Step 4 for one site x type x count, given its carbon at each start and the job's
    deadline (epoch seconds, after the window's start: see :func:`deadline_passed`)."""
    hours = perf.duration_h
    energy_kwh = facility_kw * hours
    accel_hours = hours * count
    price = footprint.cost(site, accel, accel_hours, energy_kwh).total_usd
    shift_s = transfer_h * SECONDS_PER_HOUR
    run_s = hours * SECONDS_PER_HOUR
    finishes = [start + shift_s + run_s for start in starts]
    ok = [True] * len(starts)
    refusal: Rejection | None = None
    c = job.constraints
    if deadline is not None:
        ok = [finish <= deadline for finish in finishes]
        if not any(ok):
            earliest = min(finishes)
            late_h = (earliest - deadline) / SECONDS_PER_HOUR
            miss = late_h * SECONDS_PER_HOUR / max(SECONDS_PER_HOUR, deadline - starts[0])
            if shift_s > 0 and starts[0] + run_s <= deadline:
                # the data's journey, not the compute, is what misses
                refusal = Rejection(
                    Code.DATA_TRANSFER_TOO_SLOW,
                    f"moving {c.data.size_gb if c.data else 0:,.0f} GB to {site.id} takes {transfer_h:,.1f} h,"
                    f" so it finishes {late_h:,.1f} h after the deadline (in time with the data already there)",
                    site=site.id,
                    accelerator=accel.id,
                    count=count,
                    miss=miss,
                )
            else:
                moving = f" (including {transfer_h:,.1f} h moving the data)" if shift_s > 0 else ""
                refusal = Rejection(
                    Code.DEADLINE_MISSED,
                    f"finishes {iso(earliest)} at the earliest{moving}, {late_h:,.1f} h after the deadline",
                    site=site.id,
                    accelerator=accel.id,
                    count=count,
                    miss=miss,
                )
    if refusal is None and c.max_cost_usd is not None and price > c.max_cost_usd:
        refusal = Rejection(
            Code.OVER_BUDGET,
            f"costs ${price:,.0f}, over the ${c.max_cost_usd:,.0f} budget",
            site=site.id,
            accelerator=accel.id,
            count=count,
            miss=price / max(c.max_cost_usd, 1e-9) - 1,
        )
    if refusal is None and c.max_carbon_kg is not None:
        cap = c.max_carbon_kg
        under = [fine and carbon <= cap for fine, carbon in zip(ok, carbons, strict=True)]
        if not any(under):
            feasible = [carbon for fine, carbon in zip(ok, carbons, strict=True) if fine] or carbons
            best = min(feasible)
            refusal = Rejection(
                Code.OVER_CARBON_CAP,
                f"emits {best:,.0f} kgCO2 at best, over the {cap:,.0f} kg cap",
                site=site.id,
                accelerator=accel.id,
                count=count,
                miss=best / max(cap, 1e-9) - 1,
            )
        ok = under
    if refusal is not None:
        return [], refusal
    options: list[Option] = []
    best_carbon = math.inf
    for start, fine, carbon in zip(starts, ok, carbons, strict=True):
        if not fine or carbon >= best_carbon * (1.0 - SAME_CARBON):
            continue  # an earlier start emits no more, finishes sooner, costs the same
        best_carbon = carbon
        options.append(
            Option(
                site=site.id,
                accelerator=accel.id,
                count=count,
                start_s=start,
                transfer_h=transfer_h,
                duration_h=hours,
                accelerator_hours=accel_hours,
                energy_kwh=energy_kwh,
                carbon_kg=carbon,
                cost_usd=price,
            )
        )
    return options, None


def rank(options: Iterable[Option], objective: str, window_start_s: float) -> list[Option]:
    """Step 5: mark the Pareto front, sort by the objective, and keep the front plus the
    best start of every site x accelerator x count (other starts are dominated).

    - ``time``: finish, then cost, then carbon;
    - ``cost``: cost, then finish, then carbon;
    - ``carbon``: carbon, then finish, then cost;
    - ``balanced``: the mean of each objective divided by its best value among the
      options (elapsed hours from the window's start for time), then finish.
    """
    items = list(options)
    if not items:
        return []
    mask = pareto_mask([o.finish_s for o in items], [o.cost_usd for o in items], [o.carbon_kg for o in items])
    marked = [_with_pareto(o, m) for o, m in zip(items, mask, strict=True)]
    marked.sort(key=objective_key(objective, marked, window_start_s))
    seen: set[tuple[str, str, int]] = set()
    kept: list[Option] = []
    for option in marked:
        group = (option.site, option.accelerator, option.count)
        if option.pareto or group not in seen:
            kept.append(option)
        seen.add(group)
    return kept


def objective_key(
    objective: str, options: Sequence[Option], window_start_s: float
) -> Callable[[Option], tuple[float, ...]]:
    """The sort key of an objective (see :func:`rank`); ``balanced`` normalises by ``options``."""
    if objective == "cost":
        return lambda o: (o.cost_usd, o.finish_s, o.carbon_kg)
    if objective == "carbon":
        return lambda o: (o.carbon_kg, o.finish_s, o.cost_usd)
    if objective == "balanced":
        best_h = max(1e-9, min(_elapsed_h(o, window_start_s) for o in options))
        best_cost = max(1e-9, min(o.cost_usd for o in options))
        best_carbon = max(1e-9, min(o.carbon_kg for o in options))
        return lambda o: (
            (_elapsed_h(o, window_start_s) / best_h + o.cost_usd / best_cost + o.carbon_kg / best_carbon) / 3,
            o.finish_s,
        )
    return lambda o: (o.finish_s, o.cost_usd, o.carbon_kg)


def _elapsed_h(option: Option, window_start_s: float) -> float:
    return (option.finish_s - window_start_s) / SECONDS_PER_HOUR


def _with_pareto(option: Option, pareto: bool) -> Option:
    if option.pareto == pareto:
        return option
    return Option(**{**option.__dict__, "pareto": pareto})
