"""The live scheduling cycle: the leader's long-lived :class:`~suanli.scheduler.Scheduler`
(the object the simulator runs) on the wall clock, fed from the store.

One cycle (the leader runs it every ``cycle_interval_s`` and after every submit):

1. lease: take or renew the ``scheduler`` lease; a replica without it does nothing;
2. lost sites: sites silent for ``missed_heartbeats`` x their interval go down; their
   jobs become PREEMPTED (they resume from their last checkpoint wherever they go next).
   Silence is counted from the later of the site's last heartbeat and the moment this
   replica took the lease (:func:`silent_since_s`): a restarted server, or a replica
   taking over from a dead leader, gives every site one full heartbeat timeout to
   reach it before anything is declared lost;
3. read: live sites become pools (``scheduler.snapshot.pool_table``, as in the simulator), except sites
   degraded by an executor fault until their back-off ends; waiting jobs get
   their options at live pools (duration per pool from the estimator), and jobs over
   their tenant's accelerator-hour or capacity-hour quota are held back. Jobs are read without their spec
   and options; those are read (as text, each distinct one decoded once) only for jobs the
   cycle has not seen, or whose options must be re-planned because the network changed;
   the rest come from ``cp.queued``;
4. the scheduler's cycle (:mod:`suanli.scheduler.cycle`): snapshot and requeue through
   :class:`~suanli.service.control.feeder.LiveFeed`, the policy's decision, admission
   under the tenants' concurrency quotas, apply (preemptions and placements as
   conditional updates: a job cancelled meanwhile is skipped), explain (each waiting
   job's reason, the policy's own where it gave one, written when it changes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from suanli.catalog import Site
from suanli.clock import WallClock, iso
from suanli.errors import InputError
from suanli.model.reasons import ReasonCode
from suanli.policy import Policy, PoolTable, Wait
from suanli.scheduler import ClusterState, Running, Scheduler
from suanli.scheduler.snapshot import pool_table, with_capacity_values
from suanli.service.control.compliance import held_by_filing
from suanli.service.control.feeder import CycleRows, LiveFeed, dependency_holds
from suanli.service.control.jobs import close_run
from suanli.service.control.options import (
    Placement,
    QueuedOptions,
    family_of,
    network_signature,
    placement,
    queued_options,
)
from suanli.service.control.plane import ControlPlane, Settings
from suanli.service.control.quotas import QUOTA_ANY, closed_types, spent_message, spent_quotas
from suanli.service.simulation import SimulationRequest, policy_for
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE, WAITING
from suanli.workload import validate_spec

LEADER_LEASE = "scheduler"
REASON_BATCH = 2000
"""Waiting jobs whose reason one transaction rewrites (see ``_set_reasons``)."""
BEHIND = str(ReasonCode.BEHIND_HIGHER_PRIORITY)


@dataclass
class LiveCycle:
    leader: bool
    requeued: list[str] = field(default_factory=list)
    placed: list[tuple[str, str, str]] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)
    waiting: int = 0
    running: int = 0
    took_s: float = 0.0
    """Wall seconds the whole cycle took (phases 1-5)."""
    decide_s: float = 0.0
    """Seconds the policy's decision took (phase 4)."""
    wake_at_s: float | None = None
    """When the policy asked to be called again even if nothing happens (a round, a
    cleaner hour)."""
    phase_s: dict[str, float] = field(default_factory=dict)
    """Wall seconds of each of the scheduler's phases (:data:`suanli.scheduler.PHASES`)."""


def run_live_cycle(cp: ControlPlane, holder: str) -> LiveCycle:
    t0 = time.perf_counter()
    now = cp.now_s()
    with cp.store.begin() as conn:
        term = site_rows.acquire_lease(conn, LEADER_LEASE, holder, now, cp.settings.lease_ttl_s)
    if term is None:
        return LiveCycle(leader=False)
    if cp.leader_term != term:
        cp.leader_term, cp.leader_since_s = term, now
    result = LiveCycle(leader=True)
    with cp.store.begin() as conn:
        result.requeued = requeue_lost_sites(conn, cp, now)
    with cp.store.engine.connect() as conn:
        sites = site_rows.list_sites(conn)
        waiting = job_rows.queue_rows(conn, WAITING)
        active = job_rows.queue_rows(conn, ACTIVE)
    result.waiting, result.running = len(waiting), len(active)
    options = _options(cp, waiting, active, sites)
    by_dependency = dependency_holds(cp, waiting, now)  # before the live check: failed ones end now
    up = [s for s in sites if s["state"] == "up" and any(n > 0 for n in s["inventory"].values())]
    live = [s for s in up if not site_rows.degraded(s, now)]
    if not live:
        _set_reasons(cp, waiting, {}, "NO_LIVE_SITE", _no_live_site(up))
        result.took_s = time.perf_counter() - t0
        return result
    pools = live_pools(cp, live)
    held, held_reason, closed = _over_quota(cp, waiting, options, now)
    by_filing = held_by_filing(waiting)
    held |= set(by_filing) | set(by_dependency)
    held_reason |= by_filing | by_dependency
    weights: dict[str, float] = {}
    if cp.settings.fair_share:
        with cp.store.engine.connect() as conn:
            weights = identity.share_weights(conn)
    rows = CycleRows(waiting, active, options, held, closed, weights)
    scheduler = leader_scheduler(cp, pools)
    ports = scheduler.ports
    assert isinstance(ports, LivePorts)
    ports.begin(rows, pools, result, held_reason)
    cycle = scheduler.cycle(now)
    result.decide_s = cycle.phase_s.get("decide", 0.0)
    result.phase_s = dict(cycle.phase_s)
    result.wake_at_s = cycle.wake_at_s
    if result.placed or result.preempted:
        cp.wake.set()
    result.took_s = time.perf_counter() - t0
    return result


def _no_live_site(up: Sequence[dict[str, Any]]) -> str:
    if not up:
        return "no site is up: waiting for an agent to register"
    held = "; ".join(f"{s['id']} until {iso(s['degraded_until'])} ({s['fault_message']})" for s in up)
    return f"every site that is up is degraded by an executor fault: {held}"[:1000]


def leader_scheduler(cp: ControlPlane, pools: PoolTable) -> Scheduler:
    """This replica's long-lived scheduler (made when it first leads, or when the policy
    settings changed): the policy instance and the state live from cycle to cycle."""
    scheduler = cp.scheduler
    wanted = policy_settings(cp.settings)
    if scheduler is None or not isinstance(scheduler.ports, LivePorts) or scheduler.ports.made_for != wanted:
        ports = LivePorts(cp)
        ports.made_for = wanted
        state = ports.empty_state(pools)
        scheduler = Scheduler(live_policy(cp.settings), state, cp.settings.restart_s, WallClock(), ports)
        cp.scheduler = scheduler
    return scheduler


def policy_settings(settings: Settings) -> tuple[str, bool, float]:
    """What the live policy is made from: its name, fair share, the restart cost."""
    return settings.policy, settings.fair_share, settings.restart_s


def live_policy(settings: Settings) -> Policy:
    """The live policy as the simulator makes it (:func:`~suanli.service.simulation.policy_for`):
    a policy that prices preemption at the server's ``--restart``, and one that orders by fair
    share across tenants with ``--fair-share``."""
    return policy_for(SimulationRequest(restart_s=settings.restart_s, fair_share=settings.fair_share), settings.policy)


class LivePorts(LiveFeed):
    """The feeder (snapshot and requeue, :class:`LiveFeed`) plus admission under the
    tenants' concurrency quotas, applying decisions to the store, and reasons."""

    def __init__(self, cp: ControlPlane) -> None:
        super().__init__(cp)
        self._result = LiveCycle(leader=True)
        self._held_reason: dict[str, dict[str, Any]] = {}
        self._in_use: dict[tuple[str, str], int] = {}
        self._limits: dict[tuple[str, str], int] = {}
        self._started: set[str] = set()
        self.made_for: tuple[str, bool, float] | None = None
        """The settings the scheduler of these ports was made for (:func:`policy_settings`)."""

    def begin(
        self, rows: CycleRows, pools: PoolTable, result: LiveCycle, held_reason: dict[str, dict[str, Any]]
    ) -> None:
        self.load(rows, pools)
        self._result = result
        self._held_reason = dict(held_reason)
        self._in_use = in_use_by_tenant(self.cp, rows.active)
        with self.cp.store.engine.connect() as conn:
            self._limits = concurrency_limits(conn, {row["tenant_id"] for row in rows.waiting})
        self._started = set()

    def admit(self, state: ClusterState, job: int, pool: int) -> Wait | None:
        row = self.rows[job]
        accel = state.pools.names[pool].split("/", 1)[1]
        refusal = concurrency_refusal(self.cp, self._limits, self._in_use, row, accel)
        if refusal is None and accel in self._closed_to(row):
            # its allowed pools leave closed types out, but a job requeued in this cycle
            # (its site lost) was translated before its tenant's quota closed the type
            message = (
                f"the tenant's quota covering {accel} is used up for this period (suanli admin quotas). "
                "To fix: wait for the period to move on, or ask an operator to raise it (suanli admin set-quota)"
            )
            refusal = {"code": "QUOTA_EXCEEDED", "message": message}
        if refusal is not None:
            self._held_reason[row["id"]] = refusal
            return Wait(job, ReasonCode.QUOTA_EXCEEDED, refusal["message"], pool=pool)
        _charge(self.cp, self._in_use, row, accel)
        return None

    def apply(
        self,
        state: ClusterState,
        preempted: Sequence[tuple[int, Running]],
        started: Sequence[tuple[int, Running]],
    ) -> None:
        cp, result, now = self.cp, self._result, state.now_s
        name = policy_name(cp)
        with cp.store.begin() as conn:
            for job, _run in preempted:
                row = job_rows.job(conn, self.ids[job])  # with its options, for metering
                if row is not None and job_rows.transition(
                    conn,
                    row["id"],
                    ACTIVE,
                    {
                        "state": "PREEMPTED",
                        "updated_at": now,
                        "run_started_at": None,
                        "reasons": [{"code": "PREEMPTED_BY_POLICY", "message": f"preempted by policy {name}"}],
                    },
                ):
                    close_run(conn, cp, row, now)
                    result.preempted.append(row["id"])
            for job, run in started:
                row = self.rows[job]
                site, accel = state.pools.names[run.pool].split("/", 1)
                reason = {
                    "code": "PLACED",
                    "message": f"policy {name} placed it at {site} on {row['count']} x {accel}",
                    "site": site,
                    "accelerator": accel,
                    "count": row["count"],
                }
                if job_rows.place(conn, row["id"], site, accel, now, [reason]):
                    self._started.add(row["id"])
                    result.placed.append((row["id"], site, accel))

    def explain(self, state: ClusterState, waits: Mapping[int, Wait]) -> None:
        specific = {**self.cp.replan_failed, **self._held_reason}
        made: dict[tuple[ReasonCode, str, int | None, float | None], dict[str, Any]] = {}
        """one stored reason per distinct wait (every job deep in the line has the same)"""
        for job, wait in waits.items():
            if wait.code is not ReasonCode.QUOTA_EXCEEDED:
                key = (wait.code, wait.message, wait.pool, wait.until_s)
                reason = made.get(key)
                if reason is None:
                    reason = made[key] = _reason_dict(state, wait)
                specific[self.ids[job]] = reason
        cycle = self._cycle
        assert cycle is not None
        still = [row for row in cycle.waiting if row["id"] not in self._started]
        _set_reasons(
            self.cp, still, specific, "WAITING_FOR_CAPACITY", "waiting for idle accelerators at a feasible live site"
        )


def _reason_dict(state: ClusterState, wait: Wait) -> dict[str, Any]:
    """A policy's reason as a job's stored reason: code, message, and where given the pool
    it waits for and until when (UTC)."""
    reason: dict[str, Any] = {"code": str(wait.code), "message": wait.message}
    if wait.pool is not None:
        site, accel = state.pools.names[wait.pool].split("/", 1)
        reason["site"], reason["accelerator"] = site, accel
    if wait.until_s is not None:
        reason["until"] = iso(state.pools.epoch_s + wait.until_s)
    return reason


def policy_name(cp: ControlPlane) -> str:
    return cp.settings.policy


def silent_since_s(last_heartbeat_s: float, leader_since_s: float | None) -> float:
    """Since when a site counts as silent: its last heartbeat, or the moment this replica
    took the leader lease if that is later.

    The timing argument. Agents heartbeat every interval ``h`` and retry a failed one
    within ``h`` (``agents.runner.retry_delay_s``); a site is lost after ``k x h`` of
    silence (``missed_heartbeats`` k = 2 by default). Through a server outage of any
    length the agents keep retrying, so once the new leader runs, each reaches it within
    ``h`` of the server answering; counting silence from the leader's start gives them
    ``k x h`` (10 s by default) for that, and a running job is preempted only when its
    agent stays silent a full timeout while a leader was there to hear it. The cost: a
    site whose agent really died during the outage is declared lost up to ``k x h``
    later than it would have been."""
    return last_heartbeat_s if leader_since_s is None else max(last_heartbeat_s, leader_since_s)


def requeue_lost_sites(conn: Connection, cp: ControlPlane, now_s: float) -> list[str]:
    """Sites whose agent missed its heartbeats go down; their jobs wait again (PREEMPTED)."""
    requeued: list[str] = []
    for site in site_rows.list_sites(conn):
        if site["state"] != "up" or site["last_heartbeat_at"] is None:
            continue
        last_s = float(site["last_heartbeat_at"])
        if (
            now_s - silent_since_s(last_s, cp.leader_since_s)
            <= site["heartbeat_interval_s"] * cp.settings.missed_heartbeats
        ):
            continue
        silent_s = now_s - last_s
        site_rows.mark_down(conn, site["id"])
        identity.record(conn, now_s, "scheduler", "system", "site.down", site["id"], None, None, {"silent_s": silent_s})
        for row in job_rows.jobs_in(conn, ACTIVE, site["id"]):
            reason = {
                "code": "SITE_LOST",
                "message": f"site {site['id']} stopped heartbeating ({silent_s:.1f} s); "
                "requeued to resume from its last checkpoint",
                "site": site["id"],
            }
            if job_rows.transition(
                conn,
                row["id"],
                ACTIVE,
                {"state": "PREEMPTED", "updated_at": now_s, "run_started_at": None, "reasons": [reason]},
            ):
                close_run(conn, cp, row, now_s)
                requeued.append(row["id"])
    return requeued


def _options(
    cp: ControlPlane, waiting: list[dict[str, Any]], active: list[dict[str, Any]], sites: Sequence[dict[str, Any]]
) -> dict[str, QueuedOptions]:
    """Every job's options for this cycle, by job id. Waiting jobs are re-planned when the
    network changed since their options were planned (an agent joined with types its
    catalogue entry lacked), once per distinct spec, and the new options stored; running
    jobs keep theirs. Only jobs missing from ``cp.queued`` or re-planned are read here."""
    signature = network_signature(sites)
    cache = cp.queued
    replan = [row["id"] for row in waiting if (q := cache.get(row["id"])) is None or q.signature != signature]
    load = replan + [row["id"] for row in active if row["id"] not in cache]
    if load:
        with cp.store.engine.connect() as conn:
            stored = job_rows.raw_specs_and_options(conn, load)
        count = {row["id"]: row["count"] for row in (*waiting, *active)}
        updates = _load_options(cp, stored, count, set(replan), sites, signature)
        if updates:
            with cp.store.begin() as conn:
                for options, job_ids in updates:
                    job_rows.set_waiting_fields(conn, "options", options, job_ids)
    ids = {row["id"] for row in waiting} | {row["id"] for row in active}
    for gone in cache.keys() - ids:
        del cache[gone]
        cp.replan_failed.pop(gone, None)
    return cache


def _load_options(
    cp: ControlPlane,
    stored: dict[str, tuple[str, str]],
    count: dict[str, int],
    replan: set[str],
    sites: Sequence[dict[str, Any]],
    signature: str,
) -> list[tuple[list[dict[str, Any]], list[str]]]:
    """Fill ``cp.queued`` from stored text: each distinct spec is planned once, each distinct
    options text decoded once. Returns the new options of the jobs whose stored ones changed
    (jobs with the same new options together)."""
    plans: dict[str, Placement | None] = {}
    decoded: dict[str, list[dict[str, Any]]] = {}
    queued: dict[tuple[int, int, str | None], QueuedOptions] = {}
    texts: dict[int, str] = {}
    updates: dict[int, tuple[list[dict[str, Any]], list[str]]] = {}
    for job_id, (spec_text, options_text) in stored.items():
        n = count[job_id]
        found = None
        if job_id in replan:
            if spec_text not in plans:
                plans[spec_text] = _replan(cp, spec_text, sites, signature)
            found = plans[spec_text]
        key: tuple[int, int, str | None]
        if found is not None and found.options and found.count == n:
            if id(found) not in texts:
                texts[id(found)] = json.dumps(found.options)
            if texts[id(found)] != options_text:
                updates.setdefault(id(found), (found.options, []))[1].append(job_id)
            key = (id(found), n, signature)
            if key not in queued:
                queued[key] = queued_options(found.options, n, signature, found.objective, found.deadline_s)
        else:
            if options_text not in decoded:
                decoded[options_text] = json.loads(options_text)
            key = (id(decoded[options_text]), n, signature if job_id in replan else None)
            if key not in queued:
                queued[key] = queued_options(decoded[options_text], n, key[2])
        cp.queued[job_id] = queued[key]
        note = cp.replan_notes.get(spec_text) if job_id in replan else None
        if note is not None:
            cp.replan_failed[job_id] = note
        else:
            cp.replan_failed.pop(job_id, None)
    return list(updates.values())


def _replan(cp: ControlPlane, spec_text: str, sites: Sequence[dict[str, Any]], signature: str) -> Placement | None:
    """The spec's options on the network now; None when the catalogue changed under a
    stored spec so that it no longer validates (it keeps its options, and the reason is
    kept in ``cp.replan_notes`` for the job's explanation)."""
    spec_data = json.loads(spec_text)
    try:
        spec = validate_spec(spec_data, "spec", cp.planning.catalog)
    except InputError as exc:
        cp.replan_notes[spec_text] = {
            "code": "SPEC_NO_LONGER_VALID",
            "message": f"the catalogue changed and the stored spec no longer validates ({exc}); "
            "it is scheduled on the options planned at submission",
        }
        return None
    cp.replan_notes.pop(spec_text, None)
    return placement(cp, spec, spec_data, sites, signature)


def live_pools(cp: ControlPlane, live: Sequence[dict[str, Any]]) -> PoolTable:
    catalog = cp.planning.catalog
    sites: list[Site] = [
        catalog.sites[s["id"]].model_copy(update={"inventory": dict(s["inventory"])})
        for s in live
        if s["id"] in catalog.sites
    ]
    reference = "h800" if "h800" in catalog.accelerators else sorted(catalog.accelerators)[0]
    pools = pool_table(catalog, tuple(sites), reference)
    # fair share counts service in the capacity unit, as the simulator's network does
    return with_capacity_values(catalog, pools) if cp.settings.fair_share else pools


def _over_quota(
    cp: ControlPlane, waiting: list[dict[str, Any]], options: dict[str, QueuedOptions], now_s: float
) -> tuple[set[str], dict[str, dict[str, Any]], dict[str, frozenset[str]]]:
    """Waiting jobs whose tenant has used up an accelerator-hour or capacity-hour quota that
    covers every accelerator type the job could run on, each with the limits it hit; and
    each such tenant's closed types (the feeder leaves its other jobs only the open ones)."""
    tenants = {row["tenant_id"] for row in waiting}
    held: set[str] = set()
    reasons: dict[str, dict[str, Any]] = {}
    if not tenants:
        return held, reasons, {}
    catalog = cp.planning.catalog
    with cp.store.engine.connect() as conn:
        spent = spent_quotas(cp, conn, tenants, now_s)
    closed = {tenant_id: closed_types(catalog, keys) for tenant_id, keys in spent.items()}
    for row in waiting:
        shut = closed.get(row["tenant_id"])
        if not shut:
            continue
        offered = options[row["id"]].accelerators if row["id"] in options else frozenset()
        if offered <= shut:
            held.add(row["id"])
            message = spent_message(spent[row["tenant_id"]], offered, catalog)
            reasons[row["id"]] = {"code": "QUOTA_EXCEEDED", "message": message}
    return held, reasons, closed


def in_use_by_tenant(cp: ControlPlane, active: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Accelerators each tenant holds, by (tenant, quota key: ``*``, type, family)."""
    in_use: dict[tuple[str, str], int] = {}
    for row in active:
        if row["accelerator"]:
            _charge(cp, in_use, row, row["accelerator"])
    return in_use


def _charge(cp: ControlPlane, in_use: dict[tuple[str, str], int], row: dict[str, Any], accel: str) -> None:
    for key in (QUOTA_ANY, accel, family_of(cp.planning.catalog, accel)):
        in_use[(row["tenant_id"], key)] = in_use.get((row["tenant_id"], key), 0) + row["count"]


def concurrency_limits(conn: Connection, tenants: set[str]) -> dict[tuple[str, str], int]:
    """``max_concurrent`` of each tenant's quotas, by (tenant, quota key)."""
    limits: dict[tuple[str, str], int] = {}
    for tenant_id in tenants:
        for quota in identity.quotas_of(conn, tenant_id):
            if quota["max_concurrent"] is not None:
                limits[(tenant_id, quota["family"])] = quota["max_concurrent"]
    return limits


def concurrency_refusal(
    cp: ControlPlane,
    limits: dict[tuple[str, str], int],
    in_use: dict[tuple[str, str], int],
    row: dict[str, Any],
    accel: str,
) -> dict[str, Any] | None:
    """The QUOTA_EXCEEDED reason when ``row`` (``tenant_id``, ``count``) on ``accel`` would
    hold more than a concurrency quota allows (admission, and live quotes), else None."""
    for key in (QUOTA_ANY, accel, family_of(cp.planning.catalog, accel)):
        limit = limits.get((row["tenant_id"], key))
        if limit is not None and in_use.get((row["tenant_id"], key), 0) + row["count"] > limit:
            return {
                "code": "QUOTA_EXCEEDED",
                "message": f"the tenant may hold {limit} accelerators of {key} at once; "
                f"{in_use.get((row['tenant_id'], key), 0)} are in use and this job needs {row['count']}",
            }
    return None


def _set_reasons(
    cp: ControlPlane,
    waiting: list[dict[str, Any]],
    specific: dict[str, dict[str, Any]],
    code: str,
    message: str,
) -> None:
    """Write each waiting job's reason when it changed (most cycles write nothing): its code,
    or for BEHIND_HIGHER_PRIORITY its sentence (which counts and names the jobs ahead only
    near the head of the line, :func:`~suanli.scheduler.explain.deep_sentence`). A reason
    several jobs share is one ``UPDATE ... IN``: on SQLite in transactions of
    ``REASON_BATCH`` jobs (reasons are advice, and short transactions let the API's writes,
    one writer at a time, in between), on PostgreSQL one transaction each (it locks rows, and
    a commit waits for an fsync). The reasons of one job each (sentences near the head) are
    one ``executemany`` per batch."""
    common = {"code": code, "message": message}
    changes: dict[int, tuple[dict[str, Any], list[str]]] = {}
    """id(reason) -> the reason and the jobs it is new for: jobs that share a reason share
    its object (``LivePorts.explain`` makes one per distinct wait), so grouping by the object
    groups them without encoding each job's reason to compare it (~7 us a job)"""
    for row in waiting:
        reason = specific.get(row["id"]) or common
        if row["state"] == "PREEMPTED" and reason["code"] == code and row["reasons"]:
            continue  # keep why it was preempted until it is placed again
        current = row["reasons"] or []
        same = len(current) == 1 and current[0].get("code") == reason["code"]
        if same and (reason["code"] != BEHIND or current[0].get("message") == reason["message"]):
            continue
        changes.setdefault(id(reason), (reason, []))[1].append(row["id"])
    for reason, job_ids in changes.values():
        if len(job_ids) == 1:
            continue
        batch = REASON_BATCH if cp.store.dialect == "sqlite" else len(job_ids)
        for start in range(0, len(job_ids), batch):
            with cp.store.begin() as conn:
                job_rows.set_waiting_fields(conn, "reasons", [reason], job_ids[start : start + batch])
    per_job = [(job_ids[0], [reason]) for reason, job_ids in changes.values() if len(job_ids) == 1]
    batch = REASON_BATCH if cp.store.dialect == "sqlite" else max(1, len(per_job))
    for start in range(0, len(per_job), batch):
        with cp.store.begin() as conn:
            job_rows.set_waiting_values(conn, "reasons", dict(per_job[start : start + batch]))
