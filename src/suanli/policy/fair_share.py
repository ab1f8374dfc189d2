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
jobs behind start as the policy decided. The reservation is kept across cycles until the
head starts or leaves (one at a time): in the cycles after the first the head goes first
and the pass places the others with the reserved pool closed, then the jobs that end by
the shadow time backfill it (:func:`fair_cycle`), rather than proposing starts there that
the reservation drops.

Limits: the service is cumulative from the run's start unless the policy's
``fair_share_half_life_h`` decays it (as Slurm's ``PriorityDecayHalfLife``, 7 days by
default there); the order decides who is offered capacity
first, not who keeps it (no preemption for fairness); jobs the policy puts first because
their deadline is at risk stay first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from suanli.policy.suanli_scan import Profiles, scan
from suanli.policy.view import Decisions, PendingTable, Start, View

if TYPE_CHECKING:
    from suanli.policy.suanli_policy import Suanli


def capacity_per_reference_h(view: View) -> float:
    """Capacity-hours per reference-accelerator hour over the view's pools (1 without values)."""
    pools = view.pools
    if not pools.capacity_value:
        return 1.0
    work = float(np.dot(pools.capacity, pools.speed))
    return float(np.dot(pools.capacity, pools.capacity_value)) / work if work > 0 else 1.0


def fair_order(
    view: View,
    table: PendingTable,
    order: np.ndarray,
    first: int = 0,
    k: float = 1.0,
    tenants: np.ndarray | None = None,
    half_life_h: float = 0.0,
) -> np.ndarray:
    """``order`` (indices into ``table``, the policy's own order) merged across tenants by
    start tag (the module docstring; ``k``: :func:`capacity_per_reference_h`; ``tenants``:
    those of ``table``'s jobs, if known; ``half_life_h``: the service's, 0 for none); its
    ``first`` entries (deadlines at risk) stay first."""
    if len(order) <= first + 1:
        return order
    head, rest = order[:first], order[first:]
    tenants = view.tenants_of(table.ids[rest]) if tenants is None else tenants[rest]
    count = int(tenants.max()) + 1
    service = view.tenant_service_h(half_life_h)
    if len(service) < count:
        service = np.concatenate((service, np.zeros(count - len(service))))
    given = view.tenant_weights
    weights = np.asarray(given if len(given) >= count else [*given, *[1.0] * (count - len(given))], dtype=np.float64)
    size = table.gpus[rest] * table.remaining_s[rest] * (k / 3600.0)
    by_tenant = np.argsort(tenants, kind="stable")  # each tenant's jobs, in the policy's order
    grouped = tenants[by_tenant]
    sizes = size[by_tenant]
    ahead = np.cumsum(sizes) - sizes
    edge = np.empty(len(grouped), dtype=bool)
    edge[0] = True
    np.not_equal(grouped[1:], grouped[:-1], out=edge[1:])
    starts = np.flatnonzero(edge)
    ahead -= np.repeat(ahead[starts], np.diff(np.append(starts, len(grouped))))
    tag = np.empty(len(rest))
    tag[by_tenant] = (service[grouped] + ahead) / weights[grouped]
    merged = rest[np.argsort(tag, kind="stable")]  # equal tags: the policy's order
    return np.concatenate((head, merged)) if first else merged


def fair_cycle(
    policy: Suanli,
    view: View,
    table: PendingTable,
    profiles: Profiles,
    order: np.ndarray,
    free: list[int],
    reservation: tuple[int, int] | None,
) -> tuple[Decisions, tuple[int, int] | None]:
    """One cycle of the policy's placement pass over the fair ``order`` (indices into
    ``table``), with the head's reservation (the module docstring): the decisions, and the
    reservation ``(job, pool)`` to keep (None: none)."""
    depth = policy.params.depth
    if reservation is not None:
        job, pool = reservation
        where = np.flatnonzero(table.ids == job)
        if where.size:
            head = where[0]
            order = np.concatenate(((head,), order[order != head]))[:depth]
            need = view.gpus(job) - free[pool]
            if need <= 0:  # room for it now: it goes first
                decisions = scan(policy, view, profiles, table, order, free)
                return decisions, (None if any(s.job == job for s in decisions.starts) else reservation)
            closed = list(free)
            closed[pool] = 0
            decisions = scan(policy, view, profiles, table, order, closed)
            if any(s.job == job for s in decisions.starts):  # it took another pool
                return decisions, None
            return _backfill(view, table, profiles, order, decisions, pool, need, free[pool]), reservation
    order = order[:depth]
    decisions = scan(policy, view, profiles, table, order, free)
    return reserve_head(view, table, order, decisions, lambda job: _top(policy, view, job))


def _top(policy: Suanli, view: View, job: int) -> int | None:
    """The pool ``job`` scores best on (None: no usable pool)."""
    ranked = policy._ranking(view, job).order
    return ranked[0] if ranked else None


def _backfill(
    view: View,
    table: PendingTable,
    profiles: Profiles,
    order: np.ndarray,
    decisions: Decisions,
    pool: int,
    need: int,
    idle: int,
) -> Decisions:
    """``decisions`` and starts on the reserved ``pool`` (``idle`` accelerators, ``need``
    more for the head) of the jobs of ``order`` after the head that end by its shadow time,
    in order, where the pool is one their ranking uses."""
    ends, cumulative = view.release_curve(pool)
    shadow_s = float(ends[int(np.searchsorted(cumulative, need))])
    rest = order[1:]
    per_work = np.fromiter(
        (r.time[pool] if r is not None and pool in r.position else np.inf for r in profiles.rankings),
        dtype=np.float64,
        count=len(profiles.rankings),
    )
    fits = (table.gpus[rest] <= idle) & (
        table.remaining_s[rest] * per_work[table.profile[rest]] <= shadow_s - view.now_s
    )
    candidates = rest[fits]
    if not candidates.size:
        return decisions
    started = {s.job for s in decisions.starts}
    extra: list[Start] = []
    for job, gpus in zip(table.ids[candidates].tolist(), table.gpus[candidates].tolist(), strict=True):
        if gpus <= idle and job not in started:
            extra.append(Start(job, pool))
            idle -= gpus
            if not idle:
                break
    if not extra:
        return decisions
    return Decisions(decisions.starts + tuple(extra), decisions.preempts, decisions.waits, decisions.wake_at_s)


def fair_pending(view: View, half_life_h: float = 0.0) -> list[int]:
    """``view.pending`` (arrival order) merged across tenants by start tag, for a policy
    that takes the queue as it comes (``fifo`` and ``backfill`` with ``fair_share``: their
    own head-of-line reservation serves the gangs); as it is with one tenant waiting."""
    pending = view.pending
    if len(pending) < 2:
        return list(pending)
    table = view.pending_table()
    tenants = view.tenants_of(table.ids)
    if tenants.min() == tenants.max():
        return list(pending)
    k = capacity_per_reference_h(view)
    order = fair_order(view, table, np.arange(len(table.ids)), 0, k, tenants, half_life_h)
    merged: list[int] = table.ids[order].tolist()
    return merged


def reserve_head(
    view: View, table: PendingTable, order: np.ndarray, decisions: Decisions, top_pool: Callable[[int], int | None]
) -> tuple[Decisions, tuple[int, int] | None]:
    """``decisions`` less the starts that would delay the head's reservation (the module
    docstring), and that reservation: the head is the first job of ``order`` not started,
    ``top_pool(job)`` the pool it is served best on (None: none, no reservation)."""
    starts = decisions.starts
    if not starts:
        return decisions, None
    started = {s.job: s for s in starts}
    ids = table.ids[order].tolist()
    head = next((position for position, job in enumerate(ids) if job not in started), None)
    if head is None:
        return decisions, None
    job = ids[head]
    pool = top_pool(job)
    if pool is None:
        return decisions, None
    ahead = set(ids[:head])
    free = view.free[pool] - sum(view.gpus(s.job) for s in starts if s.pool == pool and s.job in ahead)
    need = view.gpus(job) - free
    if need <= 0:
        return decisions, None
    ends, cumulative = view.release_curve(pool)
    shadow_s = float(ends[int(np.searchsorted(cumulative, need))])
    now = view.now_s
    kept = tuple(s for s in starts if s.pool != pool or s.job in ahead or now + view.runtime_s(s.job, pool) <= shadow_s)
    if len(kept) != len(starts):
        decisions = Decisions(kept, decisions.preempts, decisions.waits, decisions.wake_at_s)
    return decisions, (job, pool)
