"""Faults: site outages from a schedule, node failures at a rate.

- An **outage** takes every accelerator of a site out of service from ``start_h`` for
  ``duration_h`` hours (simulated time). Jobs running there are preempted: they keep the
  work up to their last checkpoint, pay the restart cost, and go back to the queue, where
  the policy may place them at another site.
- **Node failures** arrive as a Poisson process of ``rate_per_1000_per_day`` failures per
  1,000 accelerators per day (Meta reports 419 unexpected interruptions in 54 days on
  16,384 H100s for Llama 3 405B, i.e. about 0.47 per 1,000 GPUs per day: "The Llama 3
  Herd of Models", 2024, sec. 3.3.4). A failure hits a busy accelerator chosen uniformly:
  the job on it is preempted, and one node (``devices_per_node`` accelerators, or fewer
  where the pool has fewer idle) is out for ``repair_h`` hours. Seeded: same seed, same
  failures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.policy import PoolTable


@dataclass(frozen=True)
class Outage:
    site: str
    start_h: float
    duration_h: float

    def __post_init__(self) -> None:
        if self.start_h < 0 or not self.duration_h > 0:
            raise ValueError(f"outage of {self.site}: start_h must be >= 0 and duration_h > 0")


@dataclass(frozen=True)
class Faults:
    outages: tuple[Outage, ...] = ()
    rate_per_1000_per_day: float = 0.0
    repair_h: float = 4.0
    node_size: int = 8
    seed: int = 0

    @property
    def any(self) -> bool:
        return bool(self.outages) or self.rate_per_1000_per_day > 0


FaultEvent = tuple[float, str, int, int]
"""(time s, 'down' | 'up' | 'fail', pool or site index, accelerators)."""


def fault_events(faults: Faults, pools: PoolTable, horizon_s: float) -> list[FaultEvent]:
    """Every outage start and end, and the node-failure times up to ``horizon_s``."""
    events: list[FaultEvent] = []
    for outage in faults.outages:
        site = pools.site_names.index(outage.site)
        start = outage.start_h * 3600.0
        events.append((start, "down", site, 0))
        events.append((start + outage.duration_h * 3600.0, "up", site, 0))
    if faults.rate_per_1000_per_day > 0 and horizon_s > 0:
        rng = np.random.default_rng(faults.seed)
        total = sum(pools.capacity)
        per_s = faults.rate_per_1000_per_day * total / 1000.0 / 86400.0
        count = int(rng.poisson(per_s * horizon_s))
        times = np.sort(rng.uniform(0.0, horizon_s, size=count))
        weights = np.asarray(pools.capacity, dtype=np.float64) / total
        chosen = rng.choice(len(pools), size=count, p=weights)
        events.extend((float(t), "fail", int(p), 0) for t, p in zip(times, chosen, strict=True))
    return sorted(events, key=lambda e: (e[0], e[1] != "up"))
