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

FEW = 64
"""Up to this many profiles known, a cycle keeps all of them placed (a handful in a trace);
with more (a live queue of diverse jobs), only those among the jobs it looks at."""
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
        """the idle counts of the last placement (its epoch: ``epoch``)"""
        self.changed: list[int] | None = None
        """the pools whose idle counts changed at the last epoch (None: all)"""
        self.epoch = 0
        self.done: list[int] = []
        """the epoch each profile was placed at (-1: never)"""

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
            self.done.extend([-1] * grow)
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
    profile = pending.profile[order]
    if len(profiles.rankings) <= FEW:  # every profile known, and their tops: supersets of those in the queue
        present = [pr for pr, ranking in enumerate(profiles.rankings) if ranking is not None]
        tops, largest = profiles.tops, profiles.largest
    else:
        present = np.unique(profile).tolist()
        tops = {int(t) for t in profiles.table[present, TOP].tolist() if t >= 0}
        largest = max(profiles.gpus[pr] for pr in present)
    profiles.place(policy, free, room, present)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # infinite waits, as the scalar rule's
        return _scan(policy, view, profiles, pending, order, profile, free, room, present, tops, largest)


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
        profiles.took(policy, free, room, pool, present)  # only the profiles that chose ``pool`` may move
        terms = profiles.table[profile]
        i += stop + 1
    return Decisions(tuple(starts), waits=tuple(waits))
