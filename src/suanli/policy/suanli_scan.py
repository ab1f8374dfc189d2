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

from itertools import compress
from typing import TYPE_CHECKING

import numpy as np

from suanli.policy.view import Decisions, PendingTable, Start, View, Wait

if TYPE_CHECKING:
    from suanli.policy.suanli_policy import Suanli, _Ranking

POOL, TOP, SCORE, W_TIME, TIME, BEST_TIME, COST, CARBON = range(8)
"""Columns of :class:`Profiles`' table: the best pool with room now (-1: none), the top
pool, the score of starting now on the first, and the terms of the score on the top pool
(its time, cost and carbon terms, each as the scalar rule computes it)."""


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
        self.table = np.zeros((0, 8))
        self.known = np.zeros(0, dtype=bool)
        self.tops: set[int] = set()
        self.largest = 0
        self.seen: list[int] = []

    def learn(self, policy: Suanli, view: View, pending: PendingTable) -> None:
        """Rank the profiles of ``pending`` not seen yet."""
        profile = pending.profile
        size = int(profile.max()) + 1
        if size > len(self.rankings):
            grow = size - len(self.rankings)
            self.rankings.extend([None] * grow)
            self.gpus.extend([0] * grow)
            self.table = np.concatenate([self.table, np.zeros((grow, 8))])
            self.known = np.concatenate([self.known, np.zeros(grow, dtype=bool)])
        elif self.known[profile].all():
            return
        new, first = np.unique(profile[~self.known[profile]], return_index=True)
        rows = np.flatnonzero(~self.known[profile])[first]
        for pr, row in zip(new.tolist(), rows.tolist(), strict=True):
            ranking = policy._ranking(view, int(pending.ids[row]))
            self.rankings[pr] = ranking
            self.gpus[pr] = gpus = int(pending.gpus[row])
            self.known[pr] = True
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
        self.seen = []  # place the new profiles

    def place(self, policy: Suanli, free: list[int], room: set[int]) -> None:
        """Bring each profile's best pool with room (and its score there) up to ``free``."""
        seen = self.seen
        if free == seen:
            return
        changed = None if len(seen) != len(free) else np.flatnonzero(np.array(free) != seen).tolist()
        self._update(policy, free, room, changed)
        self.seen = list(free)

    def took(self, policy: Suanli, free: list[int], room: set[int], pool: int) -> None:
        """A start took accelerators on ``pool`` (``free`` is after it)."""
        self._update(policy, free, room, [pool])
        self.seen = list(free)

    def _update(self, policy: Suanli, free: list[int], room: set[int], changed: list[int] | None) -> None:
        table = self.table
        for pr, ranking in enumerate(self.rankings):
            if ranking is None or not ranking.order:
                continue
            gpus = self.gpus[pr]
            if changed is not None:
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
                    continue
            pool = _best_with_room(ranking, gpus, free, room)
            table[pr, POOL] = pool
            if pool >= 0:
                table[pr, SCORE] = policy._score(ranking, pool, 0.0)


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
    profiles.place(policy, free, room)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # infinite waits, as the scalar rule's
        return _scan(policy, view, profiles, pending, order, free, room)


def _scan(
    policy: Suanli,
    view: View,
    profiles: Profiles,
    pending: PendingTable,
    order: np.ndarray,
    free: list[int],
    room: set[int],
) -> Decisions:
    now = view.now_s
    most_free = max(free)
    gpus = pending.gpus[order]
    work = np.maximum(pending.remaining_s[order], 1e-9)
    profile = pending.profile[order]
    terms = profiles.table[profile]
    tops, largest = profiles.tops, profiles.largest  # of every profile known: a superset
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
        score_top = rows[:, W_TIME] * (rows[:, TIME] + wait / work[i:]) / rows[:, BEST_TIME]
        waiting = (score_top + rows[:, COST] + rows[:, CARBON]) < rows[:, SCORE]
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
        profiles.took(policy, free, room, pool)  # only the profiles that chose ``pool`` may move
        terms = profiles.table[profile]
        i += stop + 1
    return Decisions(tuple(starts), waits=tuple(waits))
