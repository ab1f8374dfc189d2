"""Phase 6's reason for a waiting job the policy gave no reason for: behind higher-priority
work, or waiting for capacity (Slurm's ``Priority`` and ``Resources``).

A waiting job without the policy's or admission's own reason is *behind higher-priority
work* (:attr:`ReasonCode.BEHIND_HIGHER_PRIORITY`) when other jobs are served before it on
pools it may use: jobs the policy started this cycle on such a pool, and jobs ahead of it
in the queue (arrival order, preempted jobs in their arrival place) whose pools overlap
its own and that have no reason of their own either (a job held for a cleaner hour or over
its quota is not ahead of anyone). The first of those jobs waits for capacity
(``WAITING_FOR_CAPACITY``, the feeder's default: no entry here).

Cost: one pass over the queue, times the number of distinct allowed sets (a handful).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from suanli.model.reasons import ReasonCode
from suanli.policy import Wait
from suanli.scheduler.state import ClusterState, Running

NAMED = 3
"""Jobs ahead that a reason names (the rest are counted)."""
NEAR = 10
"""A job with at most this many jobs ahead is near the head of the line (see :func:`ahead_count`)."""


def behind_higher_priority(
    state: ClusterState,
    waits: Mapping[int, Wait],
    started: Sequence[tuple[int, Running]],
    label: Callable[[int], str],
    policy: str,
) -> dict[int, Wait]:
    """The BEHIND_HIGHER_PRIORITY reason of every waiting job in ``state`` without one in
    ``waits`` that has jobs ahead of it (see the module docstring), by job; ``label``
    names a job in the sentence."""
    jobs = state.jobs
    sets = jobs.allowed_sets
    allowed_class = jobs.allowed_class
    every_pool = range(len(state.pools))
    overlaps: dict[tuple[int, int], bool] = {}

    def overlap(a: int, b: int) -> bool:
        key = (a, b) if a <= b else (b, a)
        found = overlaps.get(key)
        if found is None:
            x, y = sets[a], sets[b]
            found = overlaps[key] = x is None or y is None or not x.isdisjoint(y)
        return found

    in_pool: dict[int, list[int]] = {}
    """pool -> the jobs the policy started there this cycle"""
    for job, run in started:
        in_pool.setdefault(run.pool, []).append(job)
    queued: dict[int, list[int]] = {}
    """allowed set -> the first NAMED waiting jobs of that set met so far"""
    count: dict[int, int] = {}
    """allowed set -> how many waiting jobs of that set were met so far"""
    reasons: dict[int, Wait] = {}
    for job in state.pending:
        if job in waits:
            continue
        mine = allowed_class[job]
        pools = sets[mine]
        names: list[int] = []
        total = 0
        for pool in every_pool if pools is None else pools:
            members = in_pool.get(pool)
            if members:
                total += len(members)
                names.extend(members[: NAMED - len(names)])
        for klass, seen in count.items():
            if overlap(klass, mine):
                total += seen
                names.extend(queued[klass][: NAMED - len(names)])
        if total:
            reasons[job] = Wait(job, ReasonCode.BEHIND_HIGHER_PRIORITY, _sentence(total, names, label, policy))
        count[mine] = count.get(mine, 0) + 1
        first = queued.setdefault(mine, [])
        if len(first) < NAMED:
            first.append(job)
    return reasons


def _sentence(total: int, names: list[int], label: Callable[[int], str], policy: str) -> str:
    named = ", ".join(label(j) for j in names)
    more = f" and {total - len(names)} more" if total > len(names) else ""
    jobs = "job" if total == 1 else "jobs"
    return f"{total} {jobs} ahead of it want pools it may use ({named}{more}); policy {policy} serves them first"


def ahead_count(message: str) -> int | None:
    """How many jobs ahead a BEHIND_HIGHER_PRIORITY sentence of this module counts (None
    for any other sentence). A feeder that stores reasons rewrites a job's sentence when
    that count changed near the head of the line (at most :data:`NEAR` ahead, before or
    after), not for every job that moved up one place deep in a queue of thousands."""
    head, _, _ = message.partition(" ")
    return int(head) if head.isdigit() else None
