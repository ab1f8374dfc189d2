"""Synthetic traces for the demo and for scale tests.

- Arrivals: a Poisson process of ``rate_per_h`` jobs per hour (exponential gaps).
- Durations (on the reference accelerator): log-normal with the median and mean of the
  Philly trace as processed by Sia (median 1,144 s, mean 13,136 s), so
  mu = ln(median) and sigma = sqrt(2 ln(mean / median)) = 2.21: heavy-tailed, as every
  published GPU-cluster trace is (Jeon et al. ATC'19; Hu et al. SC'21).
- Accelerators per job: powers of two 1..``max_gpus`` with P(2^k) proportional to q^k,
  q chosen so the mean matches ``mean_gpus``; the default 4.0 is Helios Saturn's
  average GPUs per GPU job (``traces/summaries/helios_cluster_summary.csv``), with
  median 1 as in every Helios cluster.
- Tenants: ``tenants`` equally likely.
- Deadlines: a ``deadline_fraction`` of jobs get ``submit + slack x duration``.

Same seed, same trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from suanli.errors import InputError
from suanli.traces.trace import Trace, build

PHILLY_MEDIAN_S = 1144.0
PHILLY_MEAN_S = 13136.0
HELIOS_SATURN_MEAN_GPUS = 4.01


@dataclass(frozen=True)
class SyntheticParams:
    jobs: int = 5000
    rate_per_h: float = 200.0
    median_s: float = PHILLY_MEDIAN_S
    mean_s: float = PHILLY_MEAN_S
    mean_gpus: float = HELIOS_SATURN_MEAN_GPUS
    max_gpus: int = 128
    tenants: int = 10
    deadline_fraction: float = 0.0
    slack: float = 3.0
    reference: str = "a100-80g"

    def check(self) -> None:
        if self.jobs < 1 or self.rate_per_h <= 0 or self.tenants < 1:
            raise InputError("synthetic trace: jobs >= 1, rate_per_h > 0 and tenants >= 1 are required")
        if not 0 < self.median_s < self.mean_s:
            raise InputError("synthetic trace: need 0 < median_s < mean_s (a right-skewed duration)")
        if not 1 <= self.mean_gpus < self.max_gpus:
            raise InputError("synthetic trace: need 1 <= mean_gpus < max_gpus")
        if not 0 <= self.deadline_fraction <= 1 or self.slack < 1:
            raise InputError("synthetic trace: deadline_fraction in [0, 1] and slack >= 1 are required")


def gpu_mix(mean_gpus: float, max_gpus: int) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, probabilities) over powers of two with P(2^k) ~ q^k and the given mean."""
    sizes = 2 ** np.arange(int(math.log2(max_gpus)) + 1)

    def mean_for(q: float) -> float:
        weights = q ** np.arange(len(sizes))
        return float((weights * sizes).sum() / weights.sum())

    low, high = 1e-9, 1.0
    for _ in range(100):  # bisection: mean_for is increasing in q
        mid = (low + high) / 2
        if mean_for(mid) < mean_gpus:
            low = mid
        else:
            high = mid
    weights = low ** np.arange(len(sizes))
    return sizes, weights / weights.sum()


def synthetic(params: SyntheticParams | None = None, seed: int = 0) -> Trace:
    p = params or SyntheticParams()
    p.check()
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(3600.0 / p.rate_per_h, size=p.jobs)
    submit = np.cumsum(gaps) - gaps[0]
    mu = math.log(p.median_s)
    sigma = math.sqrt(2 * math.log(p.mean_s / p.median_s))
    work = np.maximum(1.0, rng.lognormal(mu, sigma, size=p.jobs))
    sizes, probs = gpu_mix(p.mean_gpus, p.max_gpus)
    gpus = rng.choice(sizes, size=p.jobs, p=probs)
    tenant = rng.integers(0, p.tenants, size=p.jobs)
    notes = [f"synthetic: seed {seed}, {p.jobs} jobs at {p.rate_per_h:g}/h"]
    trace = build(
        "synthetic",
        p.reference,
        submit,
        work,
        gpus,
        tenant=tenant,
        tenants=tuple(f"tenant-{i}" for i in range(p.tenants)),
        epoch_s=1735689600.0,  # 2025-01-01T00:00:00Z
        source="synthetic",
        notes=tuple(notes),
    )
    if p.deadline_fraction > 0:
        has = rng.random(p.jobs) < p.deadline_fraction
        deadline = np.where(has, trace.submit_s + p.slack * trace.work_s, np.nan)
        return trace.with_deadlines(deadline)
    return trace
