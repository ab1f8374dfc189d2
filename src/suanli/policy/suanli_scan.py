"""The placement pass of :class:`~suanli.policy.Suanli`, over the ordered queue as arrays.

In queue order, each job (up to ``depth`` of them) is

- *skipped* when no pool it may use has room for it (more accelerators than any pool
  has idle, or none of its ranking's pools has enough);
- *started* on its best-ranked pool with room ``P`` when that is its best pool ``top``;
- else it compares starting now on ``P`` with waiting for ``top``: the wait lasts until
  ``top``'s running jobs' expected ends release its accelerators plus those that earlier
  waiting jobs of this cycle claimed there (``claimed[top]``); it waits when
  ``score(top, wait / work) < score(P, 0)`` and claims its accelerators on ``top``, else
  it starts on ``P``.

Between two starts the idle accelerators do not change, so each job's ``P`` and ``top``
are those of its *profile* (jobs alike in accelerators, speeds, allowed pools and
objective), and the claims are a running sum over the jobs that compare. The pass finds
the first job that starts with a few array operations over the rest of the queue (each
job's wait from a bisection of ``top``'s cumulative releases at its claim), starts it,
and goes on from the next job: a cycle costs a few dozen array operations per start,
not a Python step per waiting job. The floating-point operations are the scalar rule's,
in its order, so the decisions are the same to the last bit.
"""

from __future__ import annotations

import struct
from itertools import compress
from typing import TYPE_CHECKING

import numpy as np

from suanli.policy.view import Decisions, PendingTable, Start, View, Wait

if TYPE_CHECKING:
    from suanli.policy.suanli_policy import Suanli, _Ranking

FEW = 64
"""Up to this many profiles known, a cycle keeps all of them placed (a handful in a trace);
with more (a live queue of diverse jobs), only those among the jobs it looks at."""
POOL, TOP, SCORE, W_TIME, TIME, BEST_TIME, COST, CARBON, LIMIT = range(9)
"""Columns of :class:`Profiles`' table: the best pool with room now (-1: none), the top
pool, the score of starting now on the first, the terms of the score on the top pool
(its time, cost and carbon terms, each as the scalar rule computes it), and the wait per
work below which the top pool scores better (:func:`wait_limit`)."""


class Profiles:
    """Per profile of the view's jobs: its ranking, accelerators and a row of score terms
    on its top pool (``table``, by :data:`POOL` ... :data:`CARBON`); kept across cycles
    until the rankings change (a new hour, a new pool table, another view). Each
    profile's best pool with room is kept too, and looked at again only where the idle
    accelerators of a pool changed (``seen``: the idle counts it was computed for)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.rankings: list[_Ranking | None] = []
        self.gpus: list[int] = []
        self.table = np.zeros((0, 9))
        self.known = np.zeros(0, dtype=bool)
        self.tops: set[int] = set()
        self.largest = 0
        self.seen: list[int] = []
        """the idle counts of the last placement (its epoch: ``epoch``)"""
        self.changed: list[int] | None = None
        """the pools whose idle counts changed at the last epoch (None: all)"""
        self.epoch = 0
        self.done: list[int] = []
        """the epoch each profile was placed at (-1: never)"""
        self.present: list[int] = []
        """the profiles known, ascending"""
        self.limits: dict[tuple[int, int], float] = {}
        """(profile, pool with room) -> its :data:`LIMIT`"""

    def learn(self, policy: Suanli, view: View, pending: PendingTable) -> None:
        """Rank the profiles of ``pending`` not seen yet."""
        profile = pending.profile
        size = int(profile.max()) + 1
        if size > len(self.rankings):
            grow = size - len(self.rankings)
            self.rankings.extend([None] * grow)
            self.gpus.extend([0] * grow)
            self.table = np.concatenate([self.table, np.zeros((grow, 9))])
            self.known = np.concatenate([self.known, np.zeros(grow, dtype=bool)])
            self.done.extend([-1] * grow)
        elif len(self.present) == len(self.rankings) or self.known[profile].all():
            return  # every profile known, or every one of this queue's
        new, first = np.unique(profile[~self.known[profile]], return_index=True)
        rows = np.flatnonzero(~self.known[profile])[first]
        for pr, row in zip(new.tolist(), rows.tolist(), strict=True):
            ranking = policy._ranking(view, int(pending.ids[row]))
            self.rankings[pr] = ranking
            self.gpus[pr] = gpus = int(pending.gpus[row])
            self.known[pr] = True
            self.present.append(pr)
            self.largest = max(self.largest, gpus)
            terms = self.table[pr]
            terms[POOL], terms[TOP], terms[BEST_TIME] = -1.0, -1.0, ranking.best[0]
            if ranking.order:
                top = ranking.order[0]
                self.tops.add(top)
                w_time, w_cost, w_carbon = ranking.weights
                best_t, best_c, best_k = ranking.best
                terms[TOP] = top
                terms[W_TIME], terms[TIME], terms[BEST_TIME] = w_time, ranking.time[top], best_t
                terms[COST] = w_cost * ranking.cost[top] / best_c
                terms[CARBON] = w_carbon * ranking.carbon[top] / best_k
        self.present.sort()

    def place(self, policy: Suanli, free: list[int], room: set[int], present: list[int]) -> None:
        """Bring the best pool with room (and the score there) of each profile in
        ``present`` up to ``free``."""
        seen = self.seen
        if free != seen:
            self.changed = None if len(seen) != len(free) else np.flatnonzero(np.array(free) != seen).tolist()
            self.epoch += 1
            self.seen = list(free)
        self._update(policy, free, room, present)

    def took(self, policy: Suanli, free: list[int], room: set[int], pool: int, present: list[int]) -> None:
        """A start took accelerators on ``pool`` (``free`` is after it)."""
        self.changed, self.epoch, self.seen = [pool], self.epoch + 1, list(free)
        self._update(policy, free, room, present)

    def _update(self, policy: Suanli, free: list[int], room: set[int], present: list[int]) -> None:
        """A profile placed at the previous idle counts (``done``) is looked at again only
        where they changed; one placed earlier, or never, is placed afresh."""
        table, done, epoch, changed = self.table, self.done, self.epoch, self.changed
        for pr in present:
            if done[pr] == epoch:
                continue
            ranking = self.rankings[pr]
            assert ranking is not None
            gpus = self.gpus[pr]
            if done[pr] == epoch - 1 and changed is not None:
                need = max(gpus, 1)
                pool = int(table[pr, POOL])
                position = ranking.position
                here = position.get(pool, len(position)) if pool >= 0 else len(position)
                for p in changed:
                    if p == pool and free[p] < need:
                        break  # its pool has no room for it now
                    if p != pool and free[p] >= need and position.get(p, here) < here:
                        break  # a better pool has room now
                else:
                    done[pr] = epoch
                    continue
            done[pr] = epoch
            pool = _best_with_room(ranking, gpus, free, room) if ranking.order else -1
            table[pr, POOL] = pool
            if pool >= 0:
                table[pr, SCORE] = score = policy._score(ranking, pool, 0.0)
                limit = self.limits.get((pr, pool))
                if limit is None:
                    row = table[pr].tolist()
                    limit = self.limits[pr, pool] = wait_limit(
                        row[W_TIME], row[TIME], row[BEST_TIME], row[COST], row[CARBON], score
                    )
                table[pr, LIMIT] = limit


_BITS = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")
_UNSIGNED = struct.Struct("<Q")
_SIGN = 1 << 63


def _key(x: float) -> int:
    """``x``'s place among the doubles, as an integer (+0 and -0 share 0)."""
    bits = int(_BITS.unpack(_DOUBLE.pack(x))[0])
    return bits if bits >= 0 else -(bits & (_SIGN - 1))


def _double(key: int) -> float:
    bits = key if key >= 0 else (-key) | _SIGN
    return float(_DOUBLE.unpack(_UNSIGNED.pack(bits))[0])


def wait_limit(w_time: float, time: float, best_time: float, cost: float, carbon: float, score: float) -> float:
    """The least wait per work ``r`` at which the top pool no longer scores better than
    ``score``: ``w_time * (time + r) / best_time + cost + carbon < score`` holds exactly
    when ``r < wait_limit(...)``, in floating point, for every ``r`` but NaN and -inf.
    Each operation rounds monotonically (``w_time >= 0``, ``best_time > 0``), so the
    rounded left side never falls as ``r`` grows, and the bound is found by bisection over
    the doubles (64 steps, once per profile and pool): the pass then compares ``r`` once
    instead of recomputing the score per job, with the same decisions to the bit."""

    def waits(r: float) -> bool:
        return w_time * (time + r) / best_time + cost + carbon < score

    low, high = _key(-1.7976931348623157e308), _key(float("inf"))
    if not waits(_double(low)):
        return float("-inf")
    while high - low > 1:  # waits at low, not at high (r = inf scores inf or NaN)
        middle = (low + high) // 2
        if waits(_double(middle)):
            low = middle
        else:
            high = middle
    return _double(high)


def _best_with_room(ranking: _Ranking, gpus: int, free: list[int], room: set[int]) -> int:
    """The best-ranked pool of ``ranking`` with ``gpus`` idle, or -1."""
    order = ranking.order
    if gpus >= 1 and len(order) <= 2 * len(room):
        for p in order:
            if free[p] >= gpus:
                return p
        return -1
    position = ranking.position
    best_place, pool = len(position), -1
    for p in room:
        place = position.get(p, best_place)
        if place < best_place and free[p] >= gpus:
            best_place, pool = place, p
    return pool


def scan(
    policy: Suanli, view: View, profiles: Profiles, pending: PendingTable, order: np.ndarray, free: list[int]
) -> Decisions:
    """Starts (and, where ``view.explains``, the reasons of the jobs that wait for a
    better pool) for the jobs ``pending[order]``, in that order (see the module docstring)."""
    room = set(compress(range(len(free)), free))
    profile = pending.profile[order]
    if len(profiles.rankings) <= FEW:  # every profile known, and their tops: supersets of those in the queue
        present = profiles.present
        tops, largest = profiles.tops, profiles.largest
    else:
        present = np.unique(profile).tolist()
        tops = {int(t) for t in profiles.table[present, TOP].tolist() if t >= 0}
        largest = max(profiles.gpus[pr] for pr in present)
    profiles.place(policy, free, room, present)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # infinite waits, as the scalar rule's
        if len(tops) == 1 and len(profiles.rankings) <= FEW:  # one pool every job would rather have (a trace)
            (top,) = tops
            return _scan_one_top(policy, view, profiles, pending, order, profile, free, room, present, top, largest)
        return _scan(policy, view, profiles, pending, order, profile, free, room, present, tops, largest)


def _scan_one_top(
    policy: Suanli,
    view: View,
    profiles: Profiles,
    pending: PendingTable,
    order: np.ndarray,
    profile: np.ndarray,
    free: list[int],
    room: set[int],
    present: list[int],
    top: int,
    largest: int,
) -> Decisions:
    """:func:`_scan` where every job's top pool is ``top``, over the handful of profiles:
    a job's event (it starts) is one comparison of its wait per work with its profile's
    bound (-inf: its best pool with room is ``top``; its :data:`LIMIT`: it compares; NaN:
    it has nowhere to go), so the queue-long work is a gather, a cumulative sum, a
    bisection and two arithmetic operations per start."""
    now = view.now_s
    most_free = max(free)
    table, sizes = profiles.table, np.asarray(profiles.gpus)
    work = np.maximum(pending.remaining_s[order], 1e-9)
    ends, cumulative = view.release_curve(top)
    claimed = 0
    starts: list[Start] = []
    waits: list[Wait] = []
    i, n = 0, len(order)
    while i < n and room:
        pool_p = table[:, POOL]
        usable_p = pool_p >= 0
        if largest > most_free:
            usable_p &= sizes <= most_free
        at_top_p = usable_p & (pool_p == top)
        compare_p = usable_p ^ at_top_p
        bound_p = np.where(at_top_p, -np.inf, np.where(compare_p, table[:, LIMIT], np.nan))
        rest = profile[i:]
        summed = (sizes * compare_p)[rest].cumsum()
        wait = ends[cumulative.searchsorted(summed + (claimed - free[top]))] - now
        event = wait / work[i:] >= bound_p[rest]
        stop = int(event.argmax())
        if not event[stop]:
            stop = n - i
        if view.explains:  # the jobs that compare before the event all wait
            for k in np.flatnonzero(compare_p[rest[:stop]]).tolist():
                job, pr = int(pending.ids[order[i + k]]), int(rest[k])
                waits.append(policy._waiting(view, job, top, int(table[pr, POOL]), now + float(wait[k])))
        if stop:
            claimed += int(summed[stop - 1])
        if stop == n - i:
            break
        pr = int(rest[stop])
        job, g, pool = int(pending.ids[order[i + stop]]), profiles.gpus[pr], int(table[pr, POOL])
        free[pool] -= g
        if free[pool] == 0:
            room.discard(pool)
        if free[pool] + g == most_free:
            most_free = max((free[p] for p in room), default=0)
        starts.append(Start(job, pool))
        profiles.took(policy, free, room, pool, present)
        i += stop + 1
    return Decisions(tuple(starts), waits=tuple(waits))


def _scan(
    policy: Suanli,
    view: View,
    profiles: Profiles,
    pending: PendingTable,
    order: np.ndarray,
    profile: np.ndarray,
    free: list[int],
    room: set[int],
    present: list[int],
    tops: set[int],
    largest: int,
) -> Decisions:
    now = view.now_s
    most_free = max(free)
    gpus = pending.gpus[order]
    work = np.maximum(pending.remaining_s[order], 1e-9)
    terms = profiles.table[profile]
    claimed = dict.fromkeys(tops, 0)
    curves = {top: view.release_curve(top) for top in tops}
    single = next(iter(tops)) if len(tops) == 1 else -1
    starts: list[Start] = []
    waits: list[Wait] = []
    i, n = 0, len(order)
    while i < n and room:
        rows = terms[i:]
        pool_s = rows[:, POOL]
        g_s = gpus[i:]
        usable = pool_s >= 0
        if largest > most_free:
            usable &= g_s <= most_free
        if single >= 0:
            at_top = usable & (pool_s == single)
            compare = usable ^ at_top
            ends, cumulative = curves[single]
            summed = (g_s * compare).cumsum()
            wait = ends[cumulative.searchsorted(summed + (claimed[single] - free[single]))] - now
            sums = {single: summed}
        else:
            top_s = rows[:, TOP]
            at_top = usable & (pool_s == top_s)
            compare = usable ^ at_top
            wait = np.zeros(len(g_s))
            sums = {}
            for top in tops:
                mine = compare & (top_s == top)
                ends, cumulative = curves[top]
                summed = sums[top] = (g_s * mine).cumsum()
                index = cumulative.searchsorted(summed + (claimed[top] - free[top]))
                wait = np.where(mine, ends[index] - now, wait)
        waiting = wait / work[i:] < rows[:, LIMIT]  # the scalar rule's score comparison (wait_limit)
        event = at_top | (compare > waiting)
        stop = int(event.argmax())
        if not event[stop]:
            stop = len(g_s)
        if view.explains:
            for k in np.flatnonzero((compare & waiting)[:stop]).tolist():
                job, row = int(pending.ids[order[i + k]]), terms[i + k]
                waits.append(policy._waiting(view, job, int(row[TOP]), int(row[POOL]), now + float(wait[k])))
        if stop:
            for top, summed in sums.items():
                claimed[top] += int(summed[stop - 1])
        if stop == len(g_s):
            break
        job, g, pool = int(pending.ids[order[i + stop]]), int(g_s[stop]), int(pool_s[stop])
        free[pool] -= g
        if free[pool] == 0:
            room.discard(pool)
        if free[pool] + g == most_free:
            most_free = max((free[p] for p in room), default=0)
        starts.append(Start(job, pool))
        profiles.took(policy, free, room, pool, present)  # only the profiles that chose ``pool`` may move
        terms = profiles.table[profile]
        i += stop + 1
    return Decisions(tuple(starts), waits=tuple(waits))
