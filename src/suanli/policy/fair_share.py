"""Weighted max-min fair share across tenants, in normalised capacity: the queue order the
``suanli`` policy takes with ``fair_share`` on.

Each tenant ``t`` has a weight ``w[t]`` (``View.tenant_weights``) and an attained service
``A[t]`` in capacity-hours (``View.tenant_service_h``: accelerator-hours x each pool's
capacity value, :mod:`suanli.capacity`'s H800-equivalent hours, runs going counted to now).
The waiting jobs are merged across tenants by a start tag, as start-time fair queuing
(Goyal et al., SIGCOMM'96) does for packets::

    tag[j] = (A[t] + sum of size[i] over t's jobs i ahead of j in the policy's order) / w[t]
    size[i] = accelerators x work left (reference-hours) x k

where ``k`` converts reference-accelerator hours to capacity-hours over the network
(sum of capacity x value / sum of capacity x speed). Jobs go lowest tag first, ties in the
policy's own order; within a tenant the policy's order is kept. This is Slurm's fair-share
factor (usage over shares) and DRF in one dimension (the capacity unit), with each job
charged in advance for the service it will take, so one cycle's starts interleave the
tenants in proportion to their weights instead of serving the least-served tenant alone.
A tenant behind its share gets the capacity freed next until it catches up; a tenant with
nothing waiting does not bank its share (service is counted, not reserved).

An order alone does not serve a gang: capacity frees an accelerator or two at a time, and
the jobs behind an 8-accelerator job that fit take it (non-blocking list scheduling), so
the least-served tenant's large jobs would wait for the others' queues to drain. So the
first job in this order that does not start (the *head*) holds a reservation, as EASY
backfill's head does (Lifka, 1995; Slurm's backfill): on its top pool, a job behind it
starts only when it ends by the head's *shadow time* (when the pool's running jobs'
expected ends, :meth:`View.release_curve`, free the head's accelerators); elsewhere the
jobs behind start as the policy decided.

Limits: the service is cumulative from the run's start (no decay: Slurm halves usage every
``PriorityDecayHalfLife``, 7 days by default); the order decides who is offered capacity
first, not who keeps it (no preemption for fairness); jobs the policy puts first because
their deadline is at risk stay first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from suanli.policy.view import Decisions, PendingTable, View


def capacity_per_reference_h(view: View) -> float:
    """Capacity-hours per reference-accelerator hour over the view's pools (1 without values)."""
    pools = view.pools
    if not pools.capacity_value:
        return 1.0
    work = float(np.dot(pools.capacity, pools.speed))
    return float(np.dot(pools.capacity, pools.capacity_value)) / work if work > 0 else 1.0


def fair_order(view: View, table: PendingTable, order: np.ndarray, first: int = 0) -> np.ndarray:
    """``order`` (indices into ``table``, the policy's own order) merged across tenants by
    start tag (the module docstring); its ``first`` entries (deadlines at risk) stay first."""
    if len(order) <= first + 1:
        return order
    head, rest = order[:first], order[first:]
    tenants = view.tenants_of(table.ids[rest])
    count = int(tenants.max()) + 1
    service = np.zeros(count)
    attained = view.tenant_service_h()[:count]
    service[: len(attained)] = attained
    weights = np.ones(count)
    given = np.asarray(view.tenant_weights[:count], dtype=np.float64)
    weights[: len(given)] = given
    size = table.gpus[rest] * table.remaining_s[rest] * (capacity_per_reference_h(view) / 3600.0)
    by_tenant = np.argsort(tenants, kind="stable")  # each tenant's jobs, in the policy's order
    grouped = tenants[by_tenant]
    sizes = size[by_tenant]
    ahead = np.cumsum(sizes) - sizes
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    ahead -= np.repeat(ahead[starts], np.diff(np.r_[starts, len(grouped)]))
    tag = np.empty(len(rest))
    tag[by_tenant] = (service[grouped] + ahead) / weights[grouped]
    merged = rest[np.argsort(tag, kind="stable")]  # equal tags: the policy's order
    return np.concatenate((head, merged)) if first else merged


def reserve_head(
    view: View, table: PendingTable, order: np.ndarray, decisions: Decisions, top_pool: Callable[[int], int | None]
) -> Decisions:
    """``decisions`` less the starts that would delay the head's reservation (the module
    docstring): the head is the first job of ``order`` not started, ``top_pool(job)`` the
    pool it is served best on (None: none, no reservation)."""
    starts = decisions.starts
    if not starts:
        return decisions
    started = {s.job: s for s in starts}
    ids = table.ids[order].tolist()
    head = next((position for position, job in enumerate(ids) if job not in started), None)
    if head is None:
        return decisions
    job = ids[head]
    pool = top_pool(job)
    if pool is None:
        return decisions
    ahead = set(ids[:head])
    free = view.free[pool] - sum(view.gpus(s.job) for s in starts if s.pool == pool and s.job in ahead)
    need = view.gpus(job) - free
    if need <= 0:
        return decisions
    ends, cumulative = view.release_curve(pool)
    shadow_s = float(ends[int(np.searchsorted(cumulative, need))])
    now = view.now_s
    kept = tuple(s for s in starts if s.pool != pool or s.job in ahead or now + view.runtime_s(s.job, pool) <= shadow_s)
    if len(kept) == len(starts):
        return decisions
    return Decisions(kept, decisions.preempts, decisions.waits, decisions.wake_at_s)
