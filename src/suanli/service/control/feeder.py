"""The control plane's feeder: the store's jobs and sites, translated into the long-lived
scheduler's state, and the scheduler's decisions written back (the scheduler's
:class:`~suanli.scheduler.Ports`). It translates; it never decides.

Every job keeps one scheduler job id for as long as this replica leads (ids are given in
submission order as jobs are first seen), so the policy's memory (rounds, attained
service, work seen) and each job's history carry from cycle to cycle, as in the
simulator. Each snapshot brings the state up to date with the rows:

- a new waiting job is added and queued; a new running one (placed before this replica
  led) is started in its pool at its start time;
- a job the state runs but the store has waiting again (its site was lost, its run
  failed) is returned by ``requeue`` and pays the restart cost;
- a job gone from the rows (finished, failed, cancelled) leaves the state;
- a running job past its estimated end is expected to run on for ``OVERRUN_GRACE_S``;
- jobs over their tenant's accelerator-hour quota wait outside the queue;
- when the live pools change (a site registers, goes down, changes its inventory) the
  state is rebuilt over the new pools with every job's history carried over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from suanli.policy import PoolTable
from suanli.scheduler import ClusterState, JobTable
from suanli.service.control.options import QueuedOptions
from suanli.service.control.plane import ControlPlane

OVERRUN_GRACE_S = 60.0
"""A running job past its estimated end is assumed to need at least this much longer."""
MISSING_SPEED = 1e-9
"""Speed of a job on a pool none of its options name (it is not allowed there anyway)."""


@dataclass
class CycleRows:
    """What one cycle read from the store, for the feeder's later phases."""

    waiting: list[dict[str, Any]]
    active: list[dict[str, Any]]
    options: Mapping[str, QueuedOptions]
    held: set[str] = field(default_factory=set)
    """Jobs over an accelerator-hour quota: kept out of the queue (live.py has the reasons)."""


class LiveFeed:
    """Store rows <-> the scheduler's state (see the module docstring)."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.index: dict[str, int] = {}
        """job id -> scheduler job id"""
        self.ids: list[str] = []
        """scheduler job id -> job id"""
        self.rows: dict[int, dict[str, Any]] = {}
        """scheduler job id -> this cycle's row"""
        self._speed_row: dict[tuple[tuple[float, ...], tuple[tuple[float, float], ...] | None], int] = {}
        self._allowed_set: dict[frozenset[int], int] = {}
        self._lost: list[int] = []
        self._translated: dict[int, tuple[float, int, int]] = {}
        """id(QueuedOptions) -> (work, speed row, allowed set), for this snapshot: jobs with
        the same options (one object) are translated once"""
        self._pool_index: tuple[PoolTable | None, dict[str, int]] = (None, {})
        self._cycle: CycleRows | None = None
        self._pools: PoolTable | None = None

    # -- what the use-case hands over each cycle -----------------------------------------

    def load(self, rows: CycleRows, pools: PoolTable) -> None:
        self._cycle = rows
        self._pools = pools

    def empty_state(self, pools: PoolTable) -> ClusterState:
        self._speed_row.clear()
        self._allowed_set.clear()
        return ClusterState(pools, JobTable([], [], [], [], [], [], [], [None], []))

    # -- ports -------------------------------------------------------------------------

    def snapshot(self, state: ClusterState, now_s: float) -> ClusterState:
        cycle, pools = self._cycle, self._pools
        assert cycle is not None and pools is not None, "load() the cycle's rows first"
        self.rows = {}
        self._lost = []
        self._translated = {}
        if pools != state.pools:
            state = self._rebuild(state, pools, now_s)
        state.now_s = now_s
        seen: set[int] = set()
        for row in cycle.active:
            job = self._job(state, row, cycle.options)
            seen.add(job)
            self.rows[job] = row
            self._sync_active(state, job, row, now_s)
        for row in cycle.waiting:
            job = self._job(state, row, cycle.options)
            seen.add(job)
            self.rows[job] = row
            self._sync_waiting(state, job, row, cycle)
        for job in [*state.pending, *state.running()]:
            if job not in seen:
                self._leave(state, job)
        return state

    def requeue(self, state: ClusterState, now_s: float) -> Sequence[int]:
        return self._lost

    # -- rows -> state -------------------------------------------------------------------

    def _job(self, state: ClusterState, row: dict[str, Any], options: Mapping[str, QueuedOptions]) -> int:
        job = self.index.get(row["id"])
        if job is None:
            queued = options.get(row["id"])
            work_s, speed, allowed = self._speeds(state, queued, row)
            job = state.add_job(
                row["created_at"],
                work_s,
                row["count"],
                speed,
                allowed,
                queued.deadline_s if queued else None,
                queued.objective if queued else None,
            )
            self.index[row["id"]] = job
            self.ids.append(row["id"])
        return job

    def _speeds(self, state: ClusterState, queued: QueuedOptions | None, row: dict[str, Any]) -> tuple[float, int, int]:
        """(work on the job's fastest option in seconds, speed row, allowed set): each
        pool's speed is that work over its runtime there (the estimator's duration)."""
        pools = state.pools
        shared = queued is not None and not row["site"]
        if shared:
            found = self._translated.get(id(queued))
            if found is not None:
                return found
        index = self._index(pools)
        runtime = {index[f"{s}/{a}"]: t for s, a, t in (queued.runtimes if queued else ()) if f"{s}/{a}" in index}
        if not runtime and row["site"] and f"{row['site']}/{row['accelerator']}" in index:
            runtime[index[f"{row['site']}/{row['accelerator']}"]] = 3600.0  # running, options unknown
        work_s = min(runtime.values()) if runtime else 1.0
        speeds = tuple(work_s / runtime[p] if p in runtime else MISSING_SPEED for p in range(len(pools)))
        priced = {index[f"{s}/{a}"]: (c, k) for s, a, c, k in (queued.figures if queued else ()) if f"{s}/{a}" in index}
        figures = (
            tuple(priced.get(p, (0.0, 0.0)) for p in range(len(pools))) if priced.keys() == runtime.keys() else None
        )
        table = state.jobs
        key = (speeds, figures)
        speed = self._speed_row.get(key)
        if speed is None:
            speed = self._speed_row[key] = len(table.class_speed)
            table.class_speed.append(list(speeds))
            table.class_figures.extend([None] * (speed - len(table.class_figures)))
            table.class_figures.append(list(figures) if figures else None)
        allowed_pools = frozenset(runtime)
        allowed = self._allowed_set.get(allowed_pools)
        if allowed is None:
            allowed = self._allowed_set[allowed_pools] = len(table.allowed_sets)
            table.allowed_sets.append(allowed_pools)
        if shared:
            self._translated[id(queued)] = (work_s, speed, allowed)
        return work_s, speed, allowed

    def _index(self, pools: PoolTable) -> dict[str, int]:
        """Pool name -> index, computed once per pool table."""
        if self._pool_index[0] is not pools:
            self._pool_index = (pools, {name: p for p, name in enumerate(pools.names)})
        return self._pool_index[1]

    def _sync_active(self, state: ClusterState, job: int, row: dict[str, Any], now_s: float) -> None:
        pool = self._index(state.pools).get(f"{row['site']}/{row['accelerator']}")
        started_s = row["run_started_at"] or row["placed_at"] or now_s
        if state.is_running(job):
            if pool is not None and state.pool_of(job) == pool:
                if state.run_of(job).end_s <= now_s:  # past its estimate: it runs on a while
                    state.extend(job, now_s + OVERRUN_GRACE_S)
                return
            self._leave(state, job)  # placed elsewhere by another leader
        elif state.is_pending(job):
            state.withdraw(job)
        if pool is None or state.free[pool] < row["count"]:
            return  # its site left the live network or shrank: requeue handles it
        state.now_s = started_s
        state.admit(job)
        state.start(job, pool)
        state.now_s = now_s

    def _sync_waiting(self, state: ClusterState, job: int, row: dict[str, Any], cycle: CycleRows) -> None:
        held = row["id"] in cycle.held
        if state.is_running(job):
            if held:  # the store requeued it and holds it (a withdrawn filing): out of the queue
                state.preempt(job, 0.0, self.cp.settings.restart_s)
                state.withdraw(job)
                return
            self._lost.append(job)  # the store requeued it: the scheduler's requeue phase
            return
        if state.is_pending(job):
            if held:
                state.withdraw(job)
            return
        if not held:
            state.admit(job)

    def _leave(self, state: ClusterState, job: int) -> None:
        if state.is_pending(job):
            state.withdraw(job)
        elif state.is_running(job):
            state.finish(job, state.run_of(job).run)

    def _rebuild(self, old: ClusterState, pools: PoolTable, now_s: float) -> ClusterState:
        """A state over ``pools`` holding every job id so far; live jobs keep their history
        (the rows re-admit and re-start them in the snapshot that follows)."""
        state = self.empty_state(pools)
        self._translated = {}
        cycle = self._cycle
        assert cycle is not None
        rows = {row["id"]: row for row in (*cycle.active, *cycle.waiting)}
        for job, job_id in enumerate(self.ids):
            row = rows.get(job_id)
            queued = cycle.options.get(job_id) if row is not None else None
            if row is None:
                state.add_job(old.submit_s(job), 0.0, 0, -1, 0)
                continue
            work_s, speed, allowed = self._speeds(state, queued, row)
            state.add_job(
                old.submit_s(job), work_s, row["count"], speed, allowed, old.deadline_s(job), old.objective(job)
            )
        state.inherit(old, [self.index[i] for i in rows if i in self.index])
        return state

    # -- the use-case's other ports are in live.py (admission, apply, explain) -----------
