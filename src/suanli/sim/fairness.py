"""Per-tenant outcomes of a simulation: mean JCT, capacity-hours used, and finish-time
fairness across tenants (the ``tenants`` object of a policy's metrics).

- **Capacity-hours** (``capacity_h``): each run's accelerator-hours times its pool's
  capacity value (:mod:`suanli.capacity`: H800-equivalent hours on a catalogue network, an
  H800-hour is not an L20-hour; a pool table without values counts reference-accelerator
  hours), summed by the run's tenant; ``share`` is that over every tenant's.
- **Finish-time fairness** (Themis, Mahajan et al. NSDI'20): ``rho[t] = mean JCT of t's
  jobs as run / mean JCT of t's jobs alone on its share of the network``. A tenant's share is
  ``f[t] = weight[t] / sum of the weights`` of the tenants with jobs (Themis's 1/N, with
  weights); ``rho < 1``: sharing did better for it than its own slice would, ``> 1``: worse.
- ``max_rho`` and ``jain_rho`` (Jain's index, ``(sum rho)^2 / (n sum rho^2)``: 1 when every
  tenant's rho is equal, 1/n when one tenant has all the unfairness) across tenants.

The isolated JCT is an estimate, neither a bound nor a simulation: tenant ``t``'s jobs are
served in arrival order by a fluid server of ``f[t] x C`` reference accelerators (``C``:
the network's accelerators x their speeds), each needing ``s[j] = accelerators x work``
(reference accelerator-seconds)::

    c[j] = max(c[j-1], submit[j]) + s[j] / (f[t] x C)
    isolated JCT[j] = max(c[j] - submit[j], runtime of j alone on its fastest pool)

so a tenant's slice is work-conserving and divisible (no gang that does not fit, no type
constraint, no measured class speeds: those make the true isolated time longer, and rho
lower). Simulating each tenant on a ``f[t]`` scaled network would cost a run per tenant and
cannot split a pool smaller than a gang.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from suanli.scheduler import JobTable

if TYPE_CHECKING:
    from suanli.sim.metrics import Recorder


def isolated_jct_s(submit_s: np.ndarray, size_s: np.ndarray, fastest_s: np.ndarray, rate: float) -> np.ndarray:
    """Each job's JCT alone on a fluid server of ``rate`` (jobs in arrival order; ``size_s``
    in the server's units x seconds): the module docstring's recursion, in closed form
    ``c[j] = S[j] + max over i <= j of (submit[i] - S[i-1])`` with ``S`` the cumulative sizes."""
    if not submit_s.size or rate <= 0:
        return np.full(submit_s.size, np.inf)  # no capacity: never done
    service = size_s / rate
    cumulative = np.cumsum(service)
    finish = cumulative + np.maximum.accumulate(submit_s - (cumulative - service))
    jct: np.ndarray = np.maximum(finish - submit_s, fastest_s)
    return jct


def tenant_metrics(
    recorder: Recorder, jobs: JobTable, submit_s: np.ndarray, fastest_runtime_s: np.ndarray
) -> dict[str, Any]:
    """The ``tenants`` object: per tenant (by name, those with jobs) its jobs, weight,
    ``avg_jct_h``, ``isolated_jct_h``, ``rho``, ``capacity_h`` and ``share``; then
    ``max_rho`` and ``jain_rho`` (see the module docstring)."""
    n = len(submit_s)
    names = jobs.tenant_names
    tenant = np.asarray(jobs.tenant, dtype=np.int64) if jobs.tenant else np.zeros(n, dtype=np.int64)
    count = max(len(names), int(tenant.max()) + 1 if n else 0)
    weights = np.ones(count)
    weights[: len(jobs.tenant_weights)] = jobs.tenant_weights[:count]
    pools = recorder.pools
    values = np.asarray(pools.capacity_value or pools.speed, dtype=np.float64)
    run_job = np.frombuffer(recorder.run_job, dtype=np.intc)
    run_pool = np.frombuffer(recorder.run_pool, dtype=np.intc)
    hours = (np.frombuffer(recorder.run_end_s) - np.frombuffer(recorder.run_start_s)) / 3600.0
    used = hours * np.frombuffer(recorder.run_gpus, dtype=np.intc) * values[run_pool]
    capacity_h = np.bincount(tenant[run_job], weights=used, minlength=count) if run_job.size else np.zeros(count)
    finish = np.asarray(recorder.finish_s, dtype=np.float64)
    done = ~np.isnan(finish)
    present = np.bincount(tenant, minlength=count) > 0
    total_weight = float(weights[present].sum())
    rate = float(np.dot(pools.capacity, pools.speed))
    size = np.asarray(jobs.gpus, dtype=np.float64) * np.asarray(jobs.work_s, dtype=np.float64)
    total_h = float(capacity_h.sum())
    out: dict[str, dict[str, Any]] = {}
    rhos = []
    for t in np.flatnonzero(present).tolist():
        mine = tenant == t
        share = weights[t] / total_weight
        isolated = isolated_jct_s(submit_s[mine], size[mine], fastest_runtime_s[mine], share * rate)
        finished = done[mine]
        jct = finish[mine][finished] - submit_s[mine][finished]
        alone = isolated[finished]
        avg_h = float(jct.mean()) / 3600.0 if jct.size else float("nan")
        alone_h = float(alone.mean()) / 3600.0 if alone.size else float("nan")
        rho = avg_h / alone_h if alone_h > 0 else float("nan")
        if not np.isnan(rho):
            rhos.append(rho)
        name = names[t] if t < len(names) else f"tenant-{t}"
        out[name] = {
            "jobs": int(mine.sum()),
            "completed": int(finished.sum()),
            "weight": float(weights[t]),
            "avg_jct_h": avg_h,
            "isolated_jct_h": alone_h,
            "rho": rho,
            "capacity_h": float(capacity_h[t]),
            "share": float(capacity_h[t]) / total_h if total_h > 0 else 0.0,
        }
    values_rho = np.asarray(rhos)
    jain = float(values_rho.sum() ** 2 / (len(values_rho) * (values_rho**2).sum())) if values_rho.size else float("nan")
    return {
        "by_tenant": out,
        "max_rho": float(values_rho.max()) if values_rho.size else float("nan"),
        "jain_rho": jain,
        "capacity_unit": "H800-equivalent hours" if pools.capacity_value else "reference-accelerator hours",
    }
