"""Lower bounds that every policy is read against.

- **Carbon**: each job alone, with no capacity limit, on the pool that emits least per
  unit of its work, at that site's lowest hourly intensity all the way through:
  ``min over pools of kW x gpus x runtime x min-hour intensity``. No schedule can emit
  less: capacity only removes choices, and no hour is cleaner than the cleanest.
  :func:`carbon_lp_bound` tightens it with pool capacities over a makespan.
- **Mean JCT**: each job alone on its fastest allowed pool with no queueing. Queueing and
  slower pools only add time. :func:`jct_lp_bound` tightens it with pool capacities: a
  time-indexed LP relaxation in which jobs compete for accelerators.

Jobs no pool can hold are rejected, not run: every bound leaves them out, as the
policies' figures do. :func:`lower_bounds` takes the larger of each pair of valid bounds
and says which one binds.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec

import numpy as np

from suanli.sim.bounds_common import quiet_highs as _quiet_highs
from suanli.sim.engine import SimInput, fastest_runtime_s, largest_allowed
from suanli.sim.jct_lp import JctLpBound, JctLpOptions, jct_lp_bound


@dataclass(frozen=True)
class Bounds:
    carbon_kg: float
    avg_jct_h: float
    method: str


def simple_bounds(data: SimInput) -> Bounds:
    pools, jobs = data.pools, data.jobs
    n = len(jobs.submit_s)
    fastest = fastest_runtime_s(data)
    largest = largest_allowed(pools, jobs)
    runnable = np.asarray([jobs.gpus[j] <= largest[jobs.allowed_class[j]] for j in range(n)], dtype=bool)
    jct_bound_h = float(fastest[runnable].mean() / 3600.0) if runnable.any() else float("nan")
    work = np.asarray(jobs.work_s)
    gpus = np.asarray(jobs.gpus, dtype=np.float64)
    best = np.full(n, np.inf)
    allowed_class = np.asarray(jobs.allowed_class)
    speed_class = np.asarray(jobs.speed_class)
    # Minimum intensity over a day bounds the integral from below: kW x runtime x min hourly
    # intensity. It is exact for a flat profile and never above the true minimum.
    min_intensity = [min(pools.intensity_g_per_kwh[s]) for s in range(len(pools.site_names))]
    for a, k in set(zip(allowed_class.tolist(), speed_class.tolist(), strict=True)):
        mask = (allowed_class == a) & (speed_class == k)
        allowed = jobs.allowed_sets[a]
        speeds = pools.speed if k < 0 else jobs.class_speed[k]
        for size in set(np.asarray(jobs.gpus)[mask].tolist()):
            candidates = [p for p in (range(len(pools)) if allowed is None else allowed) if pools.capacity[p] >= size]
            per_work = min(
                (pools.kw_per_accel[p] * min_intensity[pools.site[p]] / speeds[p] for p in candidates),
                default=0.0,  # no pool can hold it: rejected, emits nothing
            )
            best[mask & (gpus == size)] = per_work
    carbon_kg = float(np.sum(best * work * gpus) / 3600.0 / 1000.0)
    return Bounds(carbon_kg=carbon_kg, avg_jct_h=jct_bound_h, method="per-job, capacity-free")


def carbon_lp_bound(data: SimInput, horizon_s: float) -> float | None:
    """A tighter carbon bound: an LP relaxation with pool capacities, solved with HiGHS.

    Jobs are grouped by (allowed pools, speed profile, accelerators). Variables
    ``x[g, p]`` >= 0: reference accelerator-seconds of group g's work done in pool p.

        minimise   sum x[g, p] / speed[g, p] x kW[p] x min-hour intensity[p] / 3.6e6
        subject to sum_p x[g, p] = W_g                         (all work is done)
                   sum_g x[g, p] / speed[g, p] <= capacity[p] x horizon   (pool time)

    Any schedule that finishes within ``horizon_s`` satisfies both constraints (work may
    move between pools freely and time-of-day is relaxed to the cleanest hour), so the
    optimum bounds its carbon from below. Pass the longest makespan among the runs
    compared. Returns None when HiGHS (``highspy``, extra ``lp``) is not installed or the
    LP is infeasible.
    """
    try:
        import highspy
    except ImportError:
        return None
    pools, jobs = data.pools, data.jobs
    min_intensity = [min(pools.intensity_g_per_kwh[s]) for s in range(len(pools.site_names))]
    groups: dict[tuple[int, int, int], float] = {}
    for j in range(len(jobs.submit_s)):
        key = (jobs.allowed_class[j], jobs.speed_class[j], jobs.gpus[j])
        groups[key] = groups.get(key, 0.0) + jobs.work_s[j] * jobs.gpus[j]
    h = _quiet_highs(highspy)
    pool_use: dict[int, list[tuple[object, float]]] = {p: [] for p in range(len(pools))}
    objective = []
    for (allowed_class, speed_class, gpus), work in groups.items():
        allowed = jobs.allowed_sets[allowed_class]
        speeds = pools.speed if speed_class < 0 else jobs.class_speed[speed_class]
        candidates = [p for p in (range(len(pools)) if allowed is None else allowed) if pools.capacity[p] >= gpus]
        if not candidates:
            continue
        variables = []
        for p in candidates:
            x = h.addVariable(lb=0.0)
            variables.append(x)
            per_work = 1.0 / speeds[p]
            pool_use[p].append((x, per_work))
            objective.append(x * (per_work * pools.kw_per_accel[p] * min_intensity[pools.site[p]] / 3.6e6))
        h.addConstr(sum(variables[1:], variables[0]) == work)
    for p, terms in pool_use.items():
        if terms:
            expr = sum((x * w for x, w in terms[1:]), terms[0][0] * terms[0][1])  # type: ignore[operator]
            h.addConstr(expr <= pools.capacity[p] * horizon_s)
    if not objective:
        return 0.0
    h.minimize(sum(objective[1:], objective[0]))
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(h.getInfo().objective_function_value)


def lower_bounds(
    data: SimInput, makespan_s: float, complete: bool = True, jct_options: JctLpOptions | None = None
) -> Bounds:
    """The tightest bounds this module has: for each figure, the larger of its
    capacity-free and its LP bound (both valid, so their maximum is too); ``method`` names
    the one that binds for each, and why an LP was not used when it was not.

    ``makespan_s``: the longest makespan among the runs compared (for the carbon LP).
    ``complete``: whether every run compared finished every job; a run cut short
    (``until``) averages JCT over the jobs it finished, which the capacity LP (a bound on
    the mean over all jobs) does not bound, so it is then left out.
    """
    simple = simple_bounds(data)
    carbon_kg, carbon_how = simple.carbon_kg, "per job, capacity-free"
    if makespan_s > 0:
        tighter = carbon_lp_bound(data, makespan_s)
        if tighter is None:
            why = (
                "the LP is infeasible"
                if find_spec("highspy")
                else "highspy is not installed (To fix: pip install 'suanli[lp]')"
            )
            carbon_how += f" (LP not solved: {why})"
        elif tighter > carbon_kg:
            carbon_kg, carbon_how = tighter, "LP relaxation with pool capacities over the longest makespan (HiGHS)"
    avg_jct_h, jct_how = simple.avg_jct_h, "per job, capacity-free"
    if not complete:
        jct_how += " (capacity LP not used: runs cut short average over finished jobs only)"
    else:
        jct = jct_lp_bound(data, jct_options)
        if jct.avg_jct_h is None:
            jct_how += f" (capacity LP not used: {jct.detail})"
        elif jct.avg_jct_h > avg_jct_h:
            avg_jct_h, jct_how = jct.avg_jct_h, f"time-indexed LP with pool capacities ({jct.detail})"
        else:
            jct_how += f" (capacity LP no tighter: {jct.detail})"
    return Bounds(carbon_kg=carbon_kg, avg_jct_h=avg_jct_h, method=f"carbon: {carbon_how}; JCT: {jct_how}")


__all__ = ["Bounds", "JctLpBound", "JctLpOptions", "carbon_lp_bound", "jct_lp_bound", "lower_bounds", "simple_bounds"]
