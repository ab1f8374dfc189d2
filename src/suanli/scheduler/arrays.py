"""Array mirrors of the scheduler's state, kept across cycles, for policies that decide
over the whole queue at once (:class:`~suanli.policy.Suanli` under congestion).

- :class:`JobArrays`: per-job facts (accelerators, submission, deadline, work left, and a
  *profile*: jobs of one profile have equal accelerators, speeds, allowed pools, figures
  and objective) as NumPy arrays by job id, written where
  :class:`~suanli.scheduler.ClusterState` writes its lists;
- :class:`ReleaseCurve`: one pool's running jobs' expected ends, sorted, and the
  accelerators released by each, updated on every start and stop, with the cumulative
  releases computed once per change (not once per cycle).

The state hands out :class:`~suanli.policy.view.PendingTable` views of the waiting
jobs built from these (a gather, no per-job Python), cached until the queue changes.
"""

from __future__ import annotations

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

    def append(self, gpus: int, submit_s: float, deadline_s: float | None, remaining_s: float, profile: int) -> None:
        job = self.size
        if job == len(self.gpus):
            grow = max(16, job)
            self.gpus = np.concatenate([self.gpus, np.zeros(grow, dtype=np.int64)])
            self.submit_s = np.concatenate([self.submit_s, np.zeros(grow)])
            self.deadline_s = np.concatenate([self.deadline_s, np.full(grow, np.nan)])
            self.remaining_s = np.concatenate([self.remaining_s, np.zeros(grow)])
            self.profile = np.concatenate([self.profile, np.zeros(grow, dtype=np.int64)])
        self.gpus[job] = gpus
        self.submit_s[job] = submit_s
        self.set_deadline(job, deadline_s)
        self.remaining_s[job] = remaining_s
        self.profile[job] = profile
        self.size = job + 1

    def set_deadline(self, job: int, deadline_s: float | None) -> None:
        self.deadline_s[job] = np.nan if deadline_s is None else deadline_s

    def copy(self) -> JobArrays:
        copy = JobArrays.__new__(JobArrays)
        copy.gpus, copy.submit_s, copy.deadline_s = self.gpus, self.submit_s, self.deadline_s  # shared: rows
        copy.profile, copy.size, copy.profiles = self.profile, self.size, self.profiles  # change only in add_job
        copy.remaining_s = self.remaining_s.copy()
        return copy

    def table(self, ids: np.ndarray) -> PendingTable:
        return PendingTable(
            ids, self.gpus[ids], self.submit_s[ids], self.deadline_s[ids], self.remaining_s[ids], self.profile[ids]
        )


class ReleaseCurve:
    """A pool's running jobs by expected end: ``ends`` ascending, then ``inf`` (the end
    of a release that never comes), and ``counts`` (the accelerators each releases), in the
    order of the state's ``(end, gpus, job)`` list."""

    __slots__ = ("_cumulative", "counts", "ends")

    def __init__(self) -> None:
        self.ends = np.array([np.inf])
        self.counts = np.empty(0, dtype=np.int64)
        self._cumulative: np.ndarray | None = None

    def insert(self, index: int, end_s: float, count: int) -> None:
        ends, counts = self.ends, self.counts  # np.insert's own checks cost ~10x this
        self.ends = np.concatenate((ends[:index], (end_s,), ends[index:]))
        self.counts = np.concatenate((counts[:index], (count,), counts[index:]))
        self._cumulative = None

    def delete(self, index: int) -> None:
        ends, counts = self.ends, self.counts
        self.ends = np.concatenate((ends[:index], ends[index + 1 :]))  # the inf stays last
        self.counts = np.concatenate((counts[:index], counts[index + 1 :]))
        self._cumulative = None

    def cumulative(self) -> np.ndarray:
        """Accelerators released by each end, cumulated (computed once per change)."""
        if self._cumulative is None:
            self._cumulative = np.cumsum(self.counts)
        return self._cumulative
