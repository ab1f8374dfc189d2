"""The placement rule of :class:`~suanli.policy.Suanli` job by job, for short queues.

The same rule as :func:`suanli.policy.suanli_scan.scan` (whose docstring states it), one
waiting job at a time: in queue order each job takes its best-ranked pool with room, or
waits for its top pool when that scores better even after the wait. A cycle of a short
queue (the Philly replay: one or two jobs wait in most of its 75,000 cycles) costs a few
Python steps this way, where the array pass pays a few dozen NumPy calls of ~1-5 us each
whatever the queue's length; the array pass wins beyond a few jobs (:data:`SCALAR_QUEUE`).
``tests/test_suanli_scan.py`` checks at every cycle of seeded runs that the two decide
alike, to the last bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suanli.policy.view import Decisions, Start, View, Wait

if TYPE_CHECKING:
    from suanli.policy.suanli_policy import Suanli

SCALAR_QUEUE = 4
"""Up to this many waiting jobs a cycle decides job by job. Measured with
``bench/bench_sim.py --skip-1m --skip-congested-1m --repeats 3``, alternating: 0 (the array
pass always) 12,941 and 11,722 jobs/s on the Philly replay, 4 gives 25,713 and 28,901; on
the congested national run 5,165/5,170 against 5,204/3,945 (noise). 32 cost the
congested run 15-25 %, 128 made it 10x slower (a Python step per waiting job)."""


def schedule(policy: Suanli, view: View, free: list[int]) -> Decisions:
    """The cycle's starts and waits for ``view``'s queue (``free``: its idle counts)."""
    now = view.now_s
    room = {p for p, f in enumerate(free) if f}
    claimed: dict[int, int] = {}
    pending = view.pending
    if len(pending) > 1:
        pending = sorted(pending, key=lambda job: _priority(policy, view, job, now))
    starts: list[Start] = []
    waits: list[Wait] = []
    explains = view.explains
    most_free = max(free)
    nowhere: set[tuple[int, int]] = set()
    found: dict[tuple[int, int], int] = {}
    for job in pending[: policy.params.depth]:
        if not room:
            break
        gpus = view.gpus(job)
        if gpus > most_free:
            continue
        ranking = policy._ranking(view, job)
        group = (id(ranking), gpus)
        if group in nowhere:
            continue
        pool = found.get(group, -1)
        if pool < 0:
            position = ranking.position
            best_place = len(position)
            for p in room:
                place = position.get(p, best_place)
                if place < best_place and free[p] >= gpus:
                    best_place, pool = place, p
            if pool < 0:
                nowhere.add(group)
                continue
            found[group] = pool
        top = ranking.order[0]
        if pool != top:
            needed = gpus + claimed.get(top, 0)
            wait = _release_time(view, top, needed, free) - now
            work = max(view.remaining_work_s(job), 1e-9)
            if policy._score(ranking, top, wait / work) < policy._score(ranking, pool, 0.0):
                claimed[top] = needed
                if explains:
                    waits.append(policy._waiting(view, job, top, pool, now + wait))
                continue
        free[pool] -= gpus
        found.clear()
        if free[pool] == 0:
            room.discard(pool)
        if free[pool] + gpus == most_free:
            most_free = max((free[p] for p in room), default=0)
        starts.append(Start(job, pool))
    return Decisions(tuple(starts), waits=tuple(waits))


def _release_time(view: View, pool: int, gpus: int, free: list[int]) -> float:
    """When ``pool``'s running jobs' expected ends have released ``gpus`` accelerators
    beyond its ``free`` ones (``inf``: never, by what runs there now): the pool's release
    curve, as the array pass reads it."""
    ends, cumulative = view.release_curve(pool)
    return float(ends[cumulative.searchsorted(gpus - free[pool])])


def _priority(policy: Suanli, view: View, job: int, now: float) -> tuple[int, float]:
    """The queue key of :meth:`Suanli._order`, for one job."""
    deadline = view.deadline_s(job)
    if deadline is not None:
        fastest = view.remaining_work_s(job) * policy._ranking(view, job).best[0]
        if deadline - now < 2 * fastest:
            return (0, deadline)
    work = view.gpus(job) * view.remaining_work_s(job)
    return (1, work / (1.0 + (now - view.submit_s(job)) / policy.params.aging_s))
