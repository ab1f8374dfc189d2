"""What a simulation measures, and the summary it reports.

Per job: completion time (JCT = finish - submit), queueing delay (first start -
submit), finish-time fairness (JCT / the job's runtime on its fastest allowed pool with
no queueing, after Themis, Mahajan et al. NSDI'20), deadline met or missed. Per site:
energy, carbon, cost. Per pool: busy accelerator-seconds, hence utilisation, over two
windows:

- the **busy window**, from the trace's first arrival to its last (the span where load
  arrives, the same for every policy compared; when every job arrives at once, up to the
  last finish): ``window_utilisation``, by site and by type. A straggler running alone
  long after the last arrival does not dilute it.
- the **makespan**, from the first arrival to the last finish: ``utilisation``, by site
  and ``utilisation_by_type``. One long job finishing late can halve it.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suanli.model.footprint import CarbonCurve
from suanli.policy import PoolTable
from suanli.scheduler import JobTable
from suanli.sim.fairness import tenant_metrics


@dataclass
class Recorder:
    """Accumulates a simulation's measurements as it runs."""

    pools: PoolTable
    n_jobs: int
    epoch_s: float = 0.0
    first_start_s: list[float] = field(init=False)
    finish_s: list[float] = field(init=False)
    busy_accel_s: list[float] = field(init=False)
    site_energy_kwh: list[float] = field(init=False)
    site_carbon_kg: list[float] = field(init=False)
    site_cost_usd: list[float] = field(init=False)
    carbon_by_hour_kg: list[float] = field(init=False)
    """Carbon by local hour of the day at the emitting site (24 bins)."""
    queue_samples: list[tuple[float, int, int]] = field(default_factory=list)
    """(time s, jobs waiting, jobs running), sampled through the run."""
    run_pool: array[int] = field(default_factory=lambda: array("i"))
    run_gpus: array[int] = field(default_factory=lambda: array("i"))
    run_start_s: array[float] = field(default_factory=lambda: array("d"))
    run_end_s: array[float] = field(default_factory=lambda: array("d"))
    run_job: array[int] = field(default_factory=lambda: array("i"))
    """Every run segment (pool, accelerators, start, end, job), for utilisation over a
    window and the tenants' capacity-hours."""
    preemptions: int = 0
    failures: int = 0
    cycles: int = 0
    cycle_s: float = 0.0

    def __post_init__(self) -> None:
        nan = float("nan")
        self.first_start_s = [nan] * self.n_jobs
        self.finish_s = [nan] * self.n_jobs
        self.busy_accel_s = [0.0] * len(self.pools)
        n_sites = len(self.pools.site_names)
        self.site_energy_kwh = [0.0] * n_sites
        self.site_carbon_kg = [0.0] * n_sites
        self.site_cost_usd = [0.0] * n_sites
        self.carbon_by_hour_kg = [0.0] * 24
        starts = self.pools.series_start_s or (None,) * n_sites
        self.carbon = [
            CarbonCurve(self.pools.intensity_g_per_kwh[s], self.pools.utc_offset_h[s], starts[s])
            for s in range(n_sites)
        ]

    def started(self, job: int, now_s: float) -> None:
        if self.first_start_s[job] != self.first_start_s[job]:  # NaN: first start
            self.first_start_s[job] = now_s

    def ran(self, pool: int, gpus: int, start_s: float, end_s: float, job: int = -1) -> None:
        """A run of ``job`` on ``gpus`` accelerators of ``pool`` from ``start_s`` to ``end_s`` (sim time)."""
        seconds = end_s - start_s
        if seconds <= 0:
            return
        pools = self.pools
        site = pools.site[pool]
        accel_s = seconds * gpus
        self.busy_accel_s[pool] += accel_s
        self.run_pool.append(pool)
        self.run_gpus.append(gpus)
        self.run_start_s.append(start_s)
        self.run_end_s.append(end_s)
        self.run_job.append(job)
        kw = pools.kw_per_accel[pool] * gpus
        self.site_energy_kwh[site] += kw * seconds / 3600.0
        curve = self.carbon[site]
        grams = curve.grams_for(self.epoch_s + start_s, seconds / 3600.0)
        self.site_carbon_kg[site] += kw * grams / 1000.0
        if curve.series_start_s is None:
            hours = curve.hours_of_day(self.epoch_s + start_s, self.epoch_s + end_s)
            by_hour = self.carbon_by_hour_kg
            values = curve.values
            for h in range(24):
                if hours[h]:
                    by_hour[h] += kw * hours[h] * values[h] / 1000.0
        else:
            self._by_hour_walk(curve, kw, self.epoch_s + start_s, self.epoch_s + end_s)
        self.site_cost_usd[site] += pools.usd_per_accel_h[pool] * accel_s / 3600.0

    def _by_hour_walk(self, curve: CarbonCurve, kw: float, start_s: float, end_s: float) -> None:
        """Carbon by local hour of day for a measured series: hour by hour through the run."""
        t = start_s
        while t < end_s:
            step = min(end_s, (math.floor(t / 3600.0) + 1.0) * 3600.0) - t
            local_hour = int((t / 3600.0 + curve.utc_offset_h) % 24)
            self.carbon_by_hour_kg[local_hour] += kw * curve.value_at(t) * step / 3600.0 / 1000.0
            t += step

    def finished(self, job: int, now_s: float) -> None:
        self.finish_s[job] = now_s


def busy_window_s(submit_s: np.ndarray, finish_s: np.ndarray) -> tuple[float, float]:
    """The busy window: first to last arrival; when they coincide, first arrival to last
    finish (the makespan); (0, 0) for an empty trace."""
    if not submit_s.size:
        return 0.0, 0.0
    start, end = float(submit_s.min()), float(submit_s.max())
    if end <= start:
        finished = finish_s[~np.isnan(finish_s)]
        end = float(finished.max()) if finished.size else start
    return start, end


def busy_in_window_accel_s(recorder: Recorder, start_s: float, end_s: float) -> np.ndarray:
    """Per pool, the accelerator-seconds of its runs that fall inside [start_s, end_s]."""
    begin = np.maximum(np.frombuffer(recorder.run_start_s, dtype=np.float64), start_s)
    finish = np.minimum(np.frombuffer(recorder.run_end_s, dtype=np.float64), end_s)
    overlap = np.clip(finish - begin, 0.0, None) * np.frombuffer(recorder.run_gpus, dtype=np.intc)
    pools = np.frombuffer(recorder.run_pool, dtype=np.intc)
    return np.bincount(pools, weights=overlap, minlength=len(recorder.pools)).astype(np.float64)


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def summarise(
    recorder: Recorder,
    submit_s: np.ndarray,
    fastest_runtime_s: np.ndarray,
    deadline_s: np.ndarray,
    rejected: int,
    wall_s: float,
    jobs: JobTable | None = None,
) -> dict[str, Any]:
    """The metrics of one policy's run (the ``policies.NAME`` object of ``--json``); with
    the run's ``jobs``, its ``tenants`` (:func:`suanli.sim.fairness.tenant_metrics`)."""
    finish = np.asarray(recorder.finish_s)
    start = np.asarray(recorder.first_start_s)
    done = ~np.isnan(finish)
    jct_h = (finish[done] - submit_s[done]) / 3600.0
    queue_h = (start[done] - submit_s[done]) / 3600.0
    makespan_s = float(finish[done].max() - submit_s.min()) if done.any() else 0.0
    pools = recorder.pools
    capacity_s = [c * makespan_s for c in pools.capacity]
    window = busy_window_s(submit_s, finish)
    window_s = window[1] - window[0]
    window_busy = busy_in_window_accel_s(recorder, *window)
    window_capacity_s = [c * window_s for c in pools.capacity]
    window_total = sum(window_capacity_s)
    by_site: dict[str, dict[str, float]] = {}
    for s, name in enumerate(pools.site_names):
        busy = sum(recorder.busy_accel_s[p] for p in range(len(pools)) if pools.site[p] == s)
        cap = sum(capacity_s[p] for p in range(len(pools)) if pools.site[p] == s)
        in_window = sum(float(window_busy[p]) for p in range(len(pools)) if pools.site[p] == s)
        window_cap = sum(window_capacity_s[p] for p in range(len(pools)) if pools.site[p] == s)
        by_site[name] = {
            "utilisation": busy / cap if cap else 0.0,
            "window_utilisation": in_window / window_cap if window_cap else 0.0,
            "energy_kwh": recorder.site_energy_kwh[s],
            "carbon_kg": recorder.site_carbon_kg[s],
            "cost_usd": recorder.site_cost_usd[s],
        }
    by_type: dict[str, float] = {}
    for t, name in enumerate(pools.type_names):
        busy = sum(recorder.busy_accel_s[p] for p in range(len(pools)) if pools.type[p] == t)
        cap = sum(capacity_s[p] for p in range(len(pools)) if pools.type[p] == t)
        by_type[name] = busy / cap if cap else 0.0
    window_by_type: dict[str, float] = {}
    for t, name in enumerate(pools.type_names):
        in_window = sum(float(window_busy[p]) for p in range(len(pools)) if pools.type[p] == t)
        window_cap = sum(window_capacity_s[p] for p in range(len(pools)) if pools.type[p] == t)
        window_by_type[name] = in_window / window_cap if window_cap else 0.0
    ftf = (finish[done] - submit_s[done]) / np.maximum(fastest_runtime_s[done], 1e-9)
    has_deadline = ~np.isnan(deadline_s)
    misses = int(np.sum(has_deadline & (~done | (finish > deadline_s))))
    total_busy = sum(recorder.busy_accel_s)
    total_capacity = sum(capacity_s)
    lost = int(len(submit_s) - done.sum() - rejected)
    tenants: dict[str, Any] = {}
    if jobs is not None:
        tenants = {"tenants": tenant_metrics(recorder, jobs, submit_s, fastest_runtime_s)}
    return {
        "jobs": len(submit_s),
        "completed": int(done.sum()),
        "rejected": rejected,
        "lost": lost,
        "avg_jct_h": float(jct_h.mean()) if jct_h.size else float("nan"),
        "median_jct_h": _percentile(jct_h, 50),
        "p95_jct_h": _percentile(jct_h, 95),
        "p99_jct_h": _percentile(jct_h, 99),
        "avg_queue_h": float(queue_h.mean()) if queue_h.size else float("nan"),
        "median_queue_h": _percentile(queue_h, 50),
        "p95_queue_h": _percentile(queue_h, 95),
        "p99_queue_h": _percentile(queue_h, 99),
        "makespan_h": makespan_s / 3600.0,
        "utilisation": total_busy / total_capacity if total_capacity else 0.0,
        "utilisation_by_type": by_type,
        "window_h": [window[0] / 3600.0, window[1] / 3600.0],
        "window_utilisation": float(window_busy.sum()) / window_total if window_total > 0 else 0.0,
        "window_utilisation_by_type": window_by_type,
        "energy_kwh": sum(recorder.site_energy_kwh),
        "carbon_kg": sum(recorder.site_carbon_kg),
        "cost_usd": sum(recorder.site_cost_usd),
        "by_site": by_site,
        "finish_time_fairness": {
            "mean": float(ftf.mean()) if ftf.size else float("nan"),
            "p99": _percentile(ftf, 99),
            "max": float(ftf.max()) if ftf.size else float("nan"),
        },
        "deadline_jobs": int(has_deadline.sum()),
        "deadline_misses": misses,
        "preemptions": recorder.preemptions,
        "failures": recorder.failures,
        "cycles": recorder.cycles,
        "wall_s": wall_s,
        "jobs_per_s": len(submit_s) / wall_s if wall_s > 0 else float("nan"),
        **tenants,
    }
