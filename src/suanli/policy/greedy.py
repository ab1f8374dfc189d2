"""Arrival-order policies that differ only in which pool they prefer.

- ``fifo``: strict first-in first-out; the head of the queue waits until it fits and
  nothing behind it starts first (head-of-line blocking, as a plain Slurm FIFO queue).
  Heterogeneity-agnostic: the job goes to a pool chosen at random among those with room
  (seeded), as Gavel's ``FIFOPolicy`` in its base mode does; ``pick: first`` takes the
  first in the network's order instead.
- ``cheapest``: what SkyPilot's optimiser does for each job: the pool with the lowest
  cost per unit of work (price per accelerator-hour / speed) among those with room now;
  a job that fits nowhere waits without blocking the jobs behind it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from suanli.policy.base import PoolRanking, first_fit, ranked_greedy
from suanli.policy.fair_share import fair_pending
from suanli.policy.view import Decisions, Start, View


def cost_per_work(view: View, job: int, pool: int) -> float:
    """USD per reference-second of the job's work on ``pool``."""
    return view.pools.usd_per_accel_h[pool] / view.speed(job, pool)


@dataclass(frozen=True)
class FifoParams:
    pick: Literal["random", "first"] = "random"
    seed: int = 0
    fair_share: bool = False
    """Take the queue merged across tenants by weighted max-min fair share in capacity-hours
    (:func:`suanli.policy.fair_share.fair_pending`) instead of in arrival order."""
    fair_share_half_life_h: float = 0.0
    """With ``fair_share``: each hour of a tenant's service counts half as much every this many
    hours since (Slurm's ``PriorityDecayHalfLife``, 168 h by default there); 0 = never decays."""

    def __post_init__(self) -> None:
        if self.pick not in ("random", "first"):
            raise ValueError(f"pick must be 'random' or 'first', got {self.pick!r}")
        if not self.fair_share_half_life_h >= 0:
            raise ValueError("fair_share_half_life_h must be >= 0 (0: no decay)")


class Fifo:
    name = "fifo"

    def __init__(self, params: FifoParams | None = None) -> None:
        self.params = params or FifoParams()
        self._rng = random.Random(self.params.seed)

    def schedule(self, view: View) -> Decisions:
        free = list(view.free)
        order = range(len(free))
        starts: list[Start] = []
        params = self.params
        for job in fair_pending(view, params.fair_share_half_life_h) if params.fair_share else view.pending:
            gpus = view.gpus(job)
            allowed = view.allowed(job)
            if self.params.pick == "first":
                pool = first_fit(free, gpus, order, allowed)
            else:
                room = [p for p in order if free[p] >= gpus and (allowed is None or p in allowed)]
                pool = self._rng.choice(room) if room else None
            if pool is None:
                break
            free[pool] -= gpus
            starts.append(Start(job, pool))
        return Decisions(tuple(starts))


class Cheapest:
    name = "cheapest"

    def __init__(self) -> None:
        self._ranking = PoolRanking(cost_per_work, hourly=False)

    def schedule(self, view: View) -> Decisions:
        return ranked_greedy(view, self._ranking)
