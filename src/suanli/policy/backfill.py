"""EASY backfill (Lifka 1995; Slurm's ``sched/backfill``).

Jobs start in arrival order while they fit. When the head of the queue does not fit, it
gets a reservation: the earliest time some allowed pool will have room for it, from the
expected ends of the jobs running there. Later jobs may start now ("backfill") if they
fit and do not delay that reservation: they run in another pool, or end before the
reservation, or use only accelerators the head will not need. Runtime estimates are the
trace's own durations (perfect estimates; real users over-estimate).

``depth``: how many queued jobs one cycle examines for backfill (Slurm's
``bf_max_job_test``, default 500 there).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.policy.base import first_fit
from suanli.policy.view import Decisions, Start, View


@dataclass(frozen=True)
class BackfillParams:
    depth: int = 256

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError("depth must be at least 1")


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

    def schedule(self, view: View) -> Decisions:
        free = list(view.free)
        order = range(len(free))
        starts: list[Start] = []
        started: list[tuple[int, float, int]] = []
        pending = view.pending
        head_index = None
        for index, job in enumerate(pending):
            gpus = view.gpus(job)
            pool = first_fit(free, gpus, order, view.allowed(job))
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
            allowed = view.allowed(job)
            for pool in order:
                if free[pool] < gpus or (allowed is not None and pool not in allowed):
                    continue
                ends_in_time = view.now_s + view.runtime_s(job, pool) <= shadow_s
                if pool != shadow_pool or ends_in_time or gpus <= spare:
                    if pool == shadow_pool and not ends_in_time:
                        spare -= gpus
                    free[pool] -= gpus
                    starts.append(Start(job, pool))
                    break
        return Decisions(tuple(starts))
