"""Phase 6's reason for a waiting job the policy gave no reason for: behind higher-priority
work, or waiting for capacity (Slurm's ``Priority`` and ``Resources``).

A waiting job without the policy's or admission's own reason is *behind higher-priority
work* (:attr:`ReasonCode.BEHIND_HIGHER_PRIORITY`) when other jobs are served before it on
pools it may use: jobs the policy started this cycle on such a pool, and jobs ahead of it
in the queue (arrival order, preempted jobs in their arrival place) whose pools overlap
its own and that have no reason of their own either (a job held for a cleaner hour or over
its quota is not ahead of anyone). The first of those jobs waits for capacity
(``WAITING_FOR_CAPACITY``, the feeder's default: no entry here). Near the head of the line
(at most :data:`NEAR` jobs ahead) the sentence counts the jobs ahead and names the first
three; deeper, every job has the same sentence (:func:`deep_sentence`).

Cost: one pass over the queue, times the number of distinct allowed sets (a handful); the
jobs started on a set's pools are counted once per set. Counts only grow, so once a set and
every set that shares a pool with it have more than :data:`NEAR` jobs ahead, its later jobs
only take the deep sentence (most of a long queue: 10,000 waiting jobs in the bench's live
cycle, ``bench/bench_control.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from suanli.model.reasons import ReasonCode
from suanli.policy import Wait
from suanli.scheduler.state import ClusterState, Running

NAMED = 3
"""Jobs ahead that a reason names (the rest are counted)."""
NEAR = 10
"""A job with at most this many jobs ahead is near the head of the line: its sentence counts
them (see :func:`deep_sentence`)."""


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
    started_for: dict[int, tuple[int, list[int]]] = {}
    """allowed set -> how many jobs started this cycle on its pools, and the first NAMED"""
    overlapping: dict[int, list[int]] = {}
    """allowed set -> the allowed sets that share a pool with it"""
    queued: dict[int, list[int]] = {}
    """allowed set -> the first NAMED waiting jobs of that set met so far (in the order
    the sets were first met)"""
    ahead: dict[int, int] = {}
    """allowed set -> how many waiting jobs met so far want a pool it may use"""
    version = 0
    """bumped when a list in ``queued`` grows: the names of jobs ahead may change"""
    named_for: dict[int, tuple[int, int, str]] = {}
    """allowed set -> (version, how many named, the names) as last written"""
    deep = deep_sentence(policy)
    code = ReasonCode.BEHIND_HIGHER_PRIORITY
    is_deep = [False] * len(sets)
    """allowed set -> more than NEAR jobs ahead of each of its later jobs (counts only grow)"""
    deep_version = settled_version = 0
    """bumped when a set turns deep; the version ``settled`` was computed at"""
    settled = [False] * len(sets)
    """allowed set -> deep, met, and every set that shares a pool with it deep too: its jobs
    only take the deep sentence (nothing they add is read)"""
    reasons: dict[int, Wait] = {}
    for job in state.pending:
        if job in waits:
            continue
        mine = allowed_class[job]
        if settled_version != deep_version:
            settled_version = deep_version
            for klass, others in overlapping.items():
                settled[klass] = is_deep[klass] and all(is_deep[k] for k in others)
        if settled[mine]:
            reasons[job] = Wait(job, code, deep)
            continue
        found = started_for.get(mine)
        if found is None:
            pools = sets[mine]
            found = started_for[mine] = _started_on(in_pool, every_pool if pools is None else pools)
            overlapping[mine] = [k for k in range(len(sets)) if overlap(k, mine)]
        total = found[0] + ahead.get(mine, 0)
        if total > NEAR:
            reasons[job] = Wait(job, code, deep)
            if not is_deep[mine]:
                is_deep[mine] = True
                deep_version += 1
        elif total:
            named = named_for.get(mine)
            if named is None or named[0] != version:
                names = found[1][:]
                for klass, first in queued.items():
                    if len(names) >= NAMED:
                        break
                    if overlap(klass, mine):
                        names.extend(first[: NAMED - len(names)])
                named = named_for[mine] = (version, len(names), ", ".join(label(j) for j in names))
            reasons[job] = Wait(job, ReasonCode.BEHIND_HIGHER_PRIORITY, _sentence(total, named[1], named[2], policy))
        for klass in overlapping[mine]:
            count = ahead[klass] = ahead.get(klass, 0) + 1
            if count > NEAR and not is_deep[klass]:
                is_deep[klass] = True
                deep_version += 1
        first = queued.setdefault(mine, [])
        if len(first) < NAMED:
            first.append(job)
            version += 1
    return reasons


def _started_on(in_pool: Mapping[int, list[int]], pools: Iterable[int]) -> tuple[int, list[int]]:
    """How many jobs were started on ``pools`` this cycle, and the first :data:`NAMED` of them."""
    total = 0
    names: list[int] = []
    for pool in pools:
        members = in_pool.get(pool)
        if members:
            total += len(members)
            names.extend(members[: NAMED - len(names)])
    return total, names


def deep_sentence(policy: str) -> str:
    """The one sentence of every job with more than :data:`NEAR` jobs ahead: a count that
    deep in a queue is stale at the next start, and a sentence per job meant a write per
    job whenever it moved (``suanli explain`` gives the live queue position instead, as
    ``squeue`` shows Slurm's ``Priority`` reason without a count)."""
    return f"more than {NEAR} jobs ahead of it want pools it may use; policy {policy} serves them first"


def _sentence(total: int, named_count: int, named: str, policy: str) -> str:
    more = f" and {total - named_count} more" if total > named_count else ""
    jobs = "job" if total == 1 else "jobs"
    return f"{total} {jobs} ahead of it want pools it may use ({named}{more}); policy {policy} serves them first"
