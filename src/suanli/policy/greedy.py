"""Arrival-order policies that differ only in which pool they prefer.

- ``fifo``: strict first-in first-out; the head of the queue waits until it fits and
  nothing behind it starts first (head-of-line blocking, as a plain Slurm FIFO queue).
  Pools are tried in the network's order: heterogeneity-agnostic, like Gavel's FIFO.
- ``cheapest``: what SkyPilot's optimiser does for each job: the pool with the lowest
  cost per unit of work (price per accelerator-hour / speed) among those with room now;
  a job that fits nowhere waits without blocking the jobs behind it.
"""

from __future__ import annotations

from suanli.policy.base import first_fit
from suanli.policy.view import Decisions, Start, View


class Fifo:
    name = "fifo"

    def schedule(self, view: View) -> Decisions:
        free = list(view.free)
        order = range(len(free))
        starts: list[Start] = []
        for job in view.pending:
            gpus = view.gpus(job)
            pool = first_fit(free, gpus, order, view.allowed(job))
            if pool is None:
                break
            free[pool] -= gpus
            starts.append(Start(job, pool))
        return Decisions(tuple(starts))


class Cheapest:
    name = "cheapest"

    def __init__(self) -> None:
        self._order: list[int] | None = None

    def schedule(self, view: View) -> Decisions:
        pools = view.pools
        if self._order is None or len(self._order) != len(pools):
            self._order = sorted(
                range(len(pools)), key=lambda p: (pools.usd_per_accel_h[p] / pools.speed[p], -pools.speed[p], p)
            )
        free = list(view.free)
        most_free = max(free, default=0)
        starts: list[Start] = []
        for job in view.pending:
            if most_free == 0:
                break
            gpus = view.gpus(job)
            if gpus > most_free:
                continue
            pool = first_fit(free, gpus, self._order, view.allowed(job))
            if pool is None:
                continue
            free[pool] -= gpus
            most_free = max(free)
            starts.append(Start(job, pool))
        return Decisions(tuple(starts))
