"""EASY backfill (Lifka 1995; Slurm's ``sched/backfill``).

Jobs start in arrival order while they fit. When the head of the queue does not fit, it
gets a reservation: the earliest time some allowed pool will have room for it, from the
expected ends of the jobs running there. Later jobs may start now ("backfill") if they
fit and do not delay that reservation: they run in another pool, or end before the
reservation, or use only accelerators the head will not need. Runtime estimates are the
trace's own durations (perfect estimates; real users over-estimate).

Pools are tried fastest first *for each job*: by the job's own throughput on each pool
(:meth:`View.speed`, measured per job class where profiled, the throughput every other
policy ranks by), ties by pool index. Slurm's backfill likewise considers every partition
a job may use rather than the first in the configuration; taking pools in network order
instead filled Gavel's K80s before its V100s and ended behind ``fifo``.

``depth``: how many queued jobs one cycle examines for backfill (Slurm's
``bf_max_job_test``, default 500 there).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.policy.base import PoolRanking
from suanli.policy.fair_share import fair_pending
from suanli.policy.view import Decisions, Start, View


@dataclass(frozen=True)
class BackfillParams:
    depth: int = 256
    fair_share: bool = False
    """Take the queue merged across tenants by weighted max-min fair share in capacity-hours
    (:func:`suanli.policy.fair_share.fair_pending`) instead of in arrival order; the head
    (of the least-served tenant) holds the reservation."""
    fair_share_half_life_h: float = 0.0
    """With ``fair_share``: each hour of a tenant's service counts half as much every this many
    hours since (Slurm's ``PriorityDecayHalfLife``, 168 h by default there); 0 = never decays."""

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError("depth must be at least 1")
        if not self.fair_share_half_life_h >= 0:
            raise ValueError("fair_share_half_life_h must be >= 0 (0: no decay)")


def reservation(view: View, job: int, free: list[int], started: list[tuple[int, float, int]]) -> tuple[float, int, int]:
    """(time, pool, spare accelerators at that time) of the earliest start of ``job``.

    ``started``: (pool, end time, accelerators) of jobs started earlier in this cycle.
    """
    gpus = view.gpus(job)
    allowed = view.allowed(job)
    best: tuple[float, int, int] = (float("inf"), -1, 0)
    for pool in range(len(free)) if allowed is None else sorted(allowed):
        if view.pools.capacity[pool] < gpus:
            continue
        releases = sorted(
            [*((e, g) for e, g, _ in view.running_releases(pool)), *((e, g) for p, e, g in started if p == pool)]
        )
        available = free[pool]
        when = view.now_s
        for end_s, count in releases:
            if available >= gpus:
                break
            available += count
            when = end_s
        if available >= gpus and when < best[0]:
            best = (when, pool, available - gpus)
    return best


class Backfill:
    name = "backfill"

    def __init__(self, params: BackfillParams | None = None) -> None:
        self.params = params or BackfillParams()
        self._fastest = PoolRanking(_slowness, hourly=False)
        """Each job's allowed pools that can hold its gang, fastest for it first."""

    def schedule(self, view: View) -> Decisions:
        free = list(view.free)
        starts: list[Start] = []
        started: list[tuple[int, float, int]] = []
        params = self.params
        pending = fair_pending(view, params.fair_share_half_life_h) if params.fair_share else view.pending
        head_index = None
        for index, job in enumerate(pending):
            gpus = view.gpus(job)
            pool = next((p for p in self._fastest.rank(view, job) if free[p] >= gpus), None)
            if pool is None:
                head_index = index
                break
            free[pool] -= gpus
            starts.append(Start(job, pool))
            started.append((pool, view.now_s + view.runtime_s(job, pool), gpus))
        if head_index is None:
            return Decisions(tuple(starts))
        shadow_s, shadow_pool, spare = reservation(view, pending[head_index], free, started)
        examined = 0
        for job in pending[head_index + 1 :]:
            if examined >= self.params.depth or max(free) == 0:
                break
            examined += 1
            gpus = view.gpus(job)
            for pool in self._fastest.rank(view, job):
                if free[pool] < gpus:
                    continue
                ends_in_time = view.now_s + view.runtime_s(job, pool) <= shadow_s
                if pool != shadow_pool or ends_in_time or gpus <= spare:
                    if pool == shadow_pool and not ends_in_time:
                        spare -= gpus
                    free[pool] -= gpus
                    starts.append(Start(job, pool))
                    break
        return Decisions(tuple(starts))


def _slowness(view: View, job: int, pool: int) -> float:
    """A score to minimise: minus the job's throughput on ``pool``."""
    return -view.speed(job, pool)
