"""Lower bounds that every policy is read against.

- **Carbon**: each job alone, with no capacity limit, on the pool that emits least per
  unit of its work, at that site's lowest hourly intensity all the way through:
  ``min over pools of kW x gpus x runtime x min-hour intensity``. No schedule can emit
  less: capacity only removes choices, and no hour is cleaner than the cleanest.
- **Mean JCT**: each job alone on its fastest allowed pool with no queueing. Queueing and
  slower pools only add time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.sim.engine import SimInput, fastest_runtime_s


@dataclass(frozen=True)
class Bounds:
    carbon_kg: float
    avg_jct_h: float
    method: str


def simple_bounds(data: SimInput) -> Bounds:
    pools, jobs = data.pools, data.jobs
    n = len(jobs.submit_s)
    fastest = fastest_runtime_s(data)
    jct_bound_h = float(fastest.mean() / 3600.0) if n else float("nan")
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
        candidates = [p for p in (range(len(pools)) if allowed is None else allowed) if pools.capacity[p] > 0]
        per_work = min(
            (pools.kw_per_accel[p] * min_intensity[pools.site[p]] / speeds[p] for p in candidates),
            default=np.inf,
        )
        best[mask] = per_work
    carbon_kg = float(np.sum(best * work * gpus) / 3600.0 / 1000.0)
    return Bounds(carbon_kg=carbon_kg, avg_jct_h=jct_bound_h, method="per-job, capacity-free")
