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
- jobs over their tenant's accelerator-hour quota wait outside the queue, and so do jobs
  whose dependencies have not all succeeded (:func:`dependency_holds`, which also ends a
  job whose dependency failed or was cancelled: it could never start);
- a waiting job whose options were re-planned (``QueuedOptions`` replaced: the network
  changed, or it was first seen running, on its stored options) is translated again and
  :meth:`~suanli.scheduler.ClusterState.replan` applies the new speeds, pools, deadline and
  objective, the work done keeping its fraction;
- when the live pools change (a site registers, goes down, changes its inventory) the
  state is rebuilt over the new pools with every job's history carried over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from suanli.model.reasons import ReasonCode
from suanli.policy import PoolTable
from suanli.scheduler import ClusterState
from suanli.scheduler.snapshot import JobRows
from suanli.scheduler.state import NewJob
from suanli.service.control.options import QueuedOptions
from suanli.service.control.plane import ControlPlane
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store.jobs import WAITING

OVERRUN_GRACE_S = 60.0
"""A running job past its estimated end is assumed to need at least this much longer."""


WAITING_FOR_DEPENDENCY = str(ReasonCode.WAITING_FOR_DEPENDENCY)
DEPENDENCY_NEVER_SATISFIED = str(ReasonCode.DEPENDENCY_NEVER_SATISFIED)
"""Reason codes of ``depends_on`` (Slurm's ``Dependency`` and ``DependencyNeverSatisfied``)."""


def dependency_holds(cp: ControlPlane, waiting: Sequence[dict[str, Any]], now_s: float) -> dict[str, dict[str, Any]]:
    """Waiting jobs held back for their dependencies, with the reason (Slurm's ``afterok``):
    a job is offered to the policy only once every job of its ``depends_on`` SUCCEEDED. One
    whose dependency ended FAILED or CANCELLED (or is gone) is CANCELLED now, with a reason
    naming it (Slurm's ``kill_invalid_depend``); it stays in the returned holds for the
    rest of this cycle. The policy does not see a held job until its dependencies succeed;
    its ETA is chained after theirs (``eta.chain_etas``)."""
    dependent = [row for row in waiting if row.get("depends_on")]
    if not dependent:
        return {}
    with cp.store.engine.connect() as conn:
        known = job_rows.names_and_states(conn, sorted({d for row in dependent for d in row["depends_on"]}))
    holds: dict[str, dict[str, Any]] = {}
    doomed: dict[str, tuple[str, str, str]] = {}
    """job id -> (its tenant, the dependency that failed, the sentence)"""
    for row in dependent:
        unmet = [d for d in row["depends_on"] if known.get(d, ("", "GONE"))[1] != "SUCCEEDED"]
        if not unmet:
            continue
        dead = [d for d in unmet if known.get(d, ("", "GONE"))[1] in ("FAILED", "CANCELLED", "GONE")]
        if dead:
            name, state = known.get(dead[0], ("?", "GONE"))
            message = f"dependency {dead[0]} ({name}) ended {state}, so this job can never start"
            doomed[row["id"]] = (row["tenant_id"], dead[0], message)
            holds[row["id"]] = {"code": DEPENDENCY_NEVER_SATISFIED, "message": message}
            continue
        named = ", ".join(f"{d} ({known[d][0]})" for d in unmet[:3]) + (
            f" and {len(unmet) - 3} more" if len(unmet) > 3 else ""
        )
        holds[row["id"]] = {
            "code": WAITING_FOR_DEPENDENCY,
            "message": f"waiting for {named} to succeed",
        }
    if doomed:
        with cp.store.begin() as conn:
            for job_id, (tenant, dependency, message) in doomed.items():
                reason = {"code": DEPENDENCY_NEVER_SATISFIED, "message": message}
                values = {"state": "CANCELLED", "finished_at": now_s, "updated_at": now_s, "message": message}
                if job_rows.transition(conn, job_id, WAITING, {**values, "reasons": [reason]}):
                    detail = {"dependency": dependency}
                    identity.record(conn, now_s, "scheduler", "system", "job.cancel", job_id, tenant, None, detail)
        cp.wake.set()  # the jobs that depend on these go the same way next cycle
    return holds


@dataclass
class CycleRows:
    """What one cycle read from the store, for the feeder's later phases."""

    waiting: list[dict[str, Any]]
    active: list[dict[str, Any]]
    options: Mapping[str, QueuedOptions]
    held: set[str] = field(default_factory=set)
    """Jobs over an accelerator-hour quota: kept out of the queue (live.py has the reasons)."""
    closed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """tenant id -> the accelerator types its used-up hour quotas cover: its waiting jobs'
    allowed pools leave them out (``quotas.closed_types``)."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """tenant id -> its fair-share weight (read when the live policy shares by tenant; a
    tenant not named weighs 1)."""


NOTHING: frozenset[str] = frozenset()


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
        self._rows = JobRows()
        """The state's shared rows (speeds, allowed sets): the one snapshot builder"""
        self._source: dict[int, tuple[QueuedOptions | None, frozenset[str]]] = {}
        """scheduler job id -> the options its speeds, pools, deadline and objective were
        translated from, and the types closed to it then (a waiting job whose options were
        re-planned, or whose tenant's closed types changed, is translated again)"""
        self._lost: list[int] = []
        self._translated: dict[int | tuple[int, frozenset[str]], tuple[float, int, int]] = {}
        """id(QueuedOptions), with the closed types where there are any -> (work, speed row,
        allowed set), for this snapshot: jobs with the same options (one object) and closed
        types are translated once"""
        self._pool_index: tuple[PoolTable | None, dict[str, int]] = (None, {})
        self._tenant: dict[str, int] = {}
        """tenant id -> its index in the state's tenant table (0 is the table's ``default``)"""
        self._cycle: CycleRows | None = None
        self._pools: PoolTable | None = None

    # -- what the use-case hands over each cycle -----------------------------------------

    def load(self, rows: CycleRows, pools: PoolTable) -> None:
        self._cycle = rows
        self._pools = pools

    def empty_state(self, pools: PoolTable) -> ClusterState:
        self._rows = JobRows()
        return self._rows.empty_state(pools)

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
        if cycle.weights:
            self._weigh(state, cycle.weights)
        self._add_new(state, cycle)
        index, rows = self.index, self.rows
        for row in cycle.active:
            job = index[row["id"]]
            rows[job] = row
            self._sync_active(state, job, row, now_s)
        options, source, held, closed = cycle.options, self._source, cycle.held, cycle.closed
        is_pending, is_running = state.is_pending, state.is_running
        for row in cycle.waiting:
            job_id = row["id"]
            job = index[job_id]
            rows[job] = row
            queued = options.get(job_id)
            shut = self._closed_to(row) if closed else NOTHING
            if job_id not in held and (queued is None or source.get(job) == (queued, shut)):
                if is_pending(job):
                    continue  # waiting as it was, on the options it was translated from
                if not is_running(job):
                    state.admit(job)  # first seen, or back from a hold
                    continue
            self._sync_waiting(state, job, row, cycle)
        for job in [*state.pending, *state.running()]:
            if job not in rows:
                self._leave(state, job)
        return state

    def requeue(self, state: ClusterState, now_s: float) -> Sequence[int]:
        return self._lost

    def label(self, job: int) -> str:
        return self.ids[job]

    # -- rows -> state -------------------------------------------------------------------

    def _add_new(self, state: ClusterState, cycle: CycleRows) -> None:
        """Give the jobs first seen in this cycle's rows their scheduler ids (running ones
        first, then waiting, each in submission order), translated from their options."""
        index, options = self.index, cycle.options
        new = [row for row in (*cycle.active, *cycle.waiting) if row["id"] not in index]
        if not new:
            return
        made = []
        for row in new:
            queued = options.get(row["id"])
            work_s, speed, allowed = self._speeds(state, queued, row)
            deadline_s, objective = (queued.deadline_s, queued.objective) if queued else (None, None)
            made.append((row["created_at"], work_s, row["count"], speed, allowed, deadline_s, objective))
        tenants = [self._tenant_of(state, row.get("tenant_id")) for row in new]
        for row, job in zip(new, state.add_jobs(made, tenants), strict=True):
            index[row["id"]] = job
            self.ids.append(row["id"])
            self._source[job] = (options.get(row["id"]), self._closed_to(row))

    def _tenant_of(self, state: ClusterState, tenant_id: str | None) -> int:
        """The tenant's index in the state's tenant table, added (weighing 1) if new; a row
        without one (a job of no tenant) is the table's ``default``, 0."""
        if tenant_id is None:
            return 0
        found = self._tenant.get(tenant_id)
        if found is None:
            names = state.jobs.tenant_names
            found = self._tenant[tenant_id] = len(names)
            names.append(tenant_id)
        return found

    def _weigh(self, state: ClusterState, weights: Mapping[str, float]) -> None:
        """Each known tenant's weight from the store (a weight set between cycles counts
        from the next one)."""
        table = state.jobs.tenant_weights
        table.extend([1.0] * (len(state.jobs.tenant_names) - len(table)))
        for tenant_id, index in self._tenant.items():
            table[index] = weights.get(tenant_id, 1.0)

    def _closed_to(self, row: dict[str, Any]) -> frozenset[str]:
        """The types closed to a waiting job by its tenant's used-up quotas (none to a
        running one: it keeps its run). A PREEMPTED job's row keeps the site it lost: it
        is told by its state."""
        cycle = self._cycle
        if cycle is None or not cycle.closed or row["state"] not in WAITING:
            return NOTHING
        return cycle.closed.get(row["tenant_id"], NOTHING)

    def _speeds(self, state: ClusterState, queued: QueuedOptions | None, row: dict[str, Any]) -> tuple[float, int, int]:
        """(work on the job's fastest option in seconds, speed row, allowed set): each
        pool's speed is that work over its runtime there (the estimator's duration). Jobs
        with the same options (one object) share one translation, unless their options name
        no live pool (then a running job's own pool stands in). A waiting job's pools leave
        out the types its tenant's used-up quotas cover (:meth:`_closed_to`)."""
        pools = state.pools
        shut = self._closed_to(row)
        key = id(queued) if not shut else (id(queued), shut)
        if queued is not None:
            found = self._translated.get(key)
            if found is not None:
                return found
        index = self._index(pools)
        runtime = {
            index[f"{s}/{a}"]: t
            for s, a, t in (queued.runtimes if queued else ())
            if f"{s}/{a}" in index and a not in shut
        }
        shared = queued is not None and bool(runtime)
        if not runtime and row["site"] and f"{row['site']}/{row['accelerator']}" in index:
            runtime[index[f"{row['site']}/{row['accelerator']}"]] = 3600.0  # running, options unknown
        priced = {index[f"{s}/{a}"]: (c, k) for s, a, c, k in (queued.figures if queued else ()) if f"{s}/{a}" in index}
        work_s, speed, allowed = self._rows.from_runtimes(len(pools), runtime, priced)
        if shared:
            assert queued is not None
            self._translated[key] = (work_s, speed, allowed)
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
        elif held:
            return
        else:
            state.admit(job)
        self._replan(state, job, row, cycle.options.get(row["id"]))

    def _replan(self, state: ClusterState, job: int, row: dict[str, Any], queued: QueuedOptions | None) -> None:
        """A waiting job whose options were re-planned since it was translated (the network
        changed, or it was first seen running, on its stored options) takes the new ones:
        speeds, allowed pools, and the spec's deadline and objective where they were read."""
        translated = (queued, self._closed_to(row))
        if queued is None or self._source.get(job) == translated:
            return
        work_s, speed, allowed = self._speeds(state, queued, row)
        deadline_s = queued.deadline_s if queued.deadline_s is not None else state.deadline_s(job)
        objective = queued.objective if queued.objective is not None else state.objective(job)
        state.replan(job, work_s, speed, allowed, deadline_s, objective)
        self._source[job] = translated

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
        state.jobs.tenant_names[:] = old.jobs.tenant_names
        state.jobs.tenant_weights[:] = old.jobs.tenant_weights
        made: list[NewJob] = []
        for job, job_id in enumerate(self.ids):
            row = rows.get(job_id)
            queued = cycle.options.get(job_id) if row is not None else None
            if row is None:
                made.append((old.submit_s(job), 0.0, 0, -1, 0, None, None))
                continue
            work_s, speed, allowed = self._speeds(state, queued, row)
            self._source[job] = (queued, self._closed_to(row))
            made.append(
                (old.submit_s(job), work_s, row["count"], speed, allowed, old.deadline_s(job), old.objective(job))
            )
        state.add_jobs(made, [old.tenant(job) for job in range(len(self.ids))])
        state.inherit(old, [self.index[i] for i in rows if i in self.index])
        return state

    # -- the use-case's other ports are in live.py (admission, apply, explain) -----------
