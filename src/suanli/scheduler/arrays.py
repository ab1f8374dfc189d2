"""Array mirrors of the scheduler's state, kept across cycles, for policies that decide
over the whole queue at once (:class:`~suanli.policy.Suanli` under congestion).

- :class:`JobArrays`: per-job facts (accelerators, submission, deadline, work left, and a
  *profile*: jobs of one profile have equal accelerators, speeds, allowed pools, figures
  and objective) as NumPy arrays by job id, written where
  :class:`~suanli.scheduler.ClusterState` writes its lists;
- :class:`ReleaseCurve`: one pool's running jobs' expected ends, sorted, and the
  accelerators released by each, cumulated: made when a policy first reads it, its changes
  applied at the next read (a policy that never reads one pays nothing).

The state hands out :class:`~suanli.policy.view.PendingTable` views of the waiting
jobs built from these (a gather, no per-job Python), cached until the queue changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from suanli.policy.view import PendingTable


class JobArrays:
    """Per-job facts as arrays (capacity doubles as jobs are added)."""

    def __init__(self, gpus: list[int], submit_s: list[float], deadline_s: list[float | None]) -> None:
        n = len(gpus)
        self.gpus = np.asarray(gpus, dtype=np.int64).reshape(n)
        self.submit_s = np.asarray(submit_s, dtype=np.float64).reshape(n)
        self.deadline_s = np.asarray([np.nan if d is None else d for d in deadline_s], dtype=np.float64).reshape(n)
        self.remaining_s = np.zeros(n, dtype=np.float64)
        self.profile = np.zeros(n, dtype=np.int64)
        self.size = n
        self.profiles: dict[tuple[int, int, int, str | None], int] = {}

    def profile_of(self, speed_class: int, allowed_class: int, gpus: int, objective: str | None) -> int:
        key = (speed_class, allowed_class, gpus, objective)
        found = self.profiles.get(key)
        if found is None:
            found = self.profiles[key] = len(self.profiles)
        return found

    def extend(
        self,
        gpus: list[int],
        submit_s: list[float],
        deadline_s: list[float | None],
        remaining_s: list[float],
        profile: list[int],
    ) -> None:
        """Append jobs (one entry per job in each list), growing the arrays at least twofold
        when they are full: a job at a time costs O(1) amortised, a batch one gather."""
        first, n = self.size, len(gpus)
        if first + n > len(self.gpus):
            grow = max(16, first, n)
            self.gpus = np.concatenate([self.gpus, np.zeros(grow, dtype=np.int64)])
            self.submit_s = np.concatenate([self.submit_s, np.zeros(grow)])
            self.deadline_s = np.concatenate([self.deadline_s, np.full(grow, np.nan)])
            self.remaining_s = np.concatenate([self.remaining_s, np.zeros(grow)])
            self.profile = np.concatenate([self.profile, np.zeros(grow, dtype=np.int64)])
        end = first + n
        self.gpus[first:end] = gpus
        self.submit_s[first:end] = submit_s
        self.deadline_s[first:end] = [np.nan if d is None else d for d in deadline_s]
        self.remaining_s[first:end] = remaining_s
        self.profile[first:end] = profile
        self.size = end

    def set_deadline(self, job: int, deadline_s: float | None) -> None:
        self.deadline_s[job] = np.nan if deadline_s is None else deadline_s

    def copy(self) -> JobArrays:
        copy = JobArrays.__new__(JobArrays)
        copy.gpus, copy.submit_s, copy.deadline_s = self.gpus, self.submit_s, self.deadline_s  # shared: rows
        copy.profile, copy.size, copy.profiles = self.profile, self.size, self.profiles  # change only in add_jobs
        copy.remaining_s = self.remaining_s.copy()
        return copy

    def table(self, ids: np.ndarray) -> PendingTable:
        return PendingTable(
            ids, self.gpus[ids], self.submit_s[ids], self.deadline_s[ids], self.remaining_s[ids], self.profile[ids]
        )


CURVE_LOG = 8
"""Changes a pool's release curve holds back for its next read; past that it is dropped
and made again, whole, when next read (a pool no policy reads costs nothing)."""


class ReleaseCurve:
    """A pool's running jobs by expected end: ``ends`` ascending, then ``inf`` (the end of
    a release that never comes), and ``counts`` (the accelerators each releases), in the
    order of the state's ``(end, gpus, job)`` list.

    Made when first read (:meth:`of`); the starts and stops since are logged
    (:meth:`log`) and applied at the next read (:meth:`settle`). Under congestion a policy
    reads most pools' curves every cycle, and applying a change (~4 us) beats making a curve
    of hundreds of runs again; on the Philly replay pools change far more often than they
    are read, and a curve with more than :data:`CURVE_LOG` changes waiting is dropped."""

    __slots__ = ("_cumulative", "counts", "ends", "ops")

    def __init__(self) -> None:
        self.ends = np.array([np.inf])
        self.counts = np.empty(0, dtype=np.int64)
        self.ops: list[tuple[int, float, int]] = []
        """Changes not applied yet: (index, end, accelerators) inserts, (index, nan, 0) deletes"""
        self._cumulative: np.ndarray | None = None

    @classmethod
    def of(cls, releases: Sequence[tuple[float, int, int]]) -> ReleaseCurve:
        """The curve of a pool's ``(end, accelerators, job)`` releases, sorted as the state
        keeps them."""
        curve = cls()
        if releases:
            ends = (*(r[0] for r in releases), np.inf)
            curve.ends = np.fromiter(ends, dtype=np.float64, count=len(ends))
            curve.counts = np.fromiter((r[1] for r in releases), dtype=np.int64, count=len(releases))
        return curve

    def log(self, index: int, end_s: float, count: int) -> bool:
        """Hold back an insert at ``index`` (``count`` > 0) or a delete (``count`` = 0);
        False when too many are held (drop the curve)."""
        self.ops.append((index, end_s, count))
        return len(self.ops) <= CURVE_LOG

    def settle(self) -> None:
        """Apply the held-back changes, in order."""
        ends, counts = self.ends, self.counts  # np.insert's own checks cost ~10x this
        for index, end_s, count in self.ops:
            if count:
                ends = np.concatenate((ends[:index], (end_s,), ends[index:]))
                counts = np.concatenate((counts[:index], (count,), counts[index:]))
            else:
                ends = np.concatenate((ends[:index], ends[index + 1 :]))  # the inf stays last
                counts = np.concatenate((counts[:index], counts[index + 1 :]))
        self.ends, self.counts = ends, counts
        self.ops.clear()
        self._cumulative = None

    def cumulative(self) -> np.ndarray:
        """Accelerators released by each end, cumulated (computed once per change)."""
        if self._cumulative is None:
            self._cumulative = np.cumsum(self.counts)
        return self._cumulative
