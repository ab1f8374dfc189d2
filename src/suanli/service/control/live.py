"""The scheduler on the wall clock: the simulator's cycle over the store's state.

One cycle (the leader runs it every ``cycle_interval_s`` and after every submit):

1. lease: take or renew the ``scheduler`` lease; a replica without it does nothing;
2. requeue: sites silent for ``missed_heartbeats`` x their interval go down; their jobs
   become PREEMPTED (they resume from their last checkpoint wherever they go next);
3. snapshot: live sites become pools (``pool_table``, as in the simulator); running jobs
   occupy them; waiting jobs get their options at live pools (duration per pool from the
   estimator), and jobs over their tenant's accelerator-hour quota are held back. Jobs are
   read without their spec and options; those are read (as text, each distinct one decoded
   once) only for jobs the cycle has not seen, or whose options must be re-planned because
   the network changed; the rest come from ``cp.queued``;
4. decide: the policy (the simulator's registry) over a :class:`ClusterState`, via
   :func:`~suanli.scheduler.run_cycle`, the very function the simulator calls;
5. apply: preemptions and placements as conditional updates (a job cancelled meanwhile
   is skipped), concurrency quotas checked per placement; each waiting job's reason is
   updated when it changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from suanli.catalog import Site
from suanli.policy import PoolTable
from suanli.scheduler import ClusterState, JobTable, run_cycle
from suanli.service.control.admin import QUOTA_ANY, quota_usage
from suanli.service.control.jobs import close_run
from suanli.service.control.options import (
    Placement,
    QueuedOptions,
    family_of,
    network_signature,
    placement,
    queued_options,
)
from suanli.service.control.plane import ControlPlane
from suanli.service.simulation import POLICY_REGISTRY
from suanli.sim.network import pool_table
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE, WAITING
from suanli.workload import validate_spec

LEADER_LEASE = "scheduler"
REASON_BATCH = 2000
"""Waiting jobs whose reason one transaction rewrites (see ``_set_reasons``)."""
OVERRUN_GRACE_S = 60.0
"""A running job past its estimated end is assumed to need at least this much longer."""


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


def run_live_cycle(cp: ControlPlane, holder: str) -> LiveCycle:
    t0 = time.perf_counter()
    now = cp.now_s()
    with cp.store.begin() as conn:
        term = site_rows.acquire_lease(conn, LEADER_LEASE, holder, now, cp.settings.lease_ttl_s)
    if term is None:
        return LiveCycle(leader=False)
    result = LiveCycle(leader=True)
    with cp.store.begin() as conn:
        result.requeued = requeue_lost_sites(conn, cp, now)
    with cp.store.engine.connect() as conn:
        sites = site_rows.list_sites(conn)
        waiting = job_rows.queue_rows(conn, WAITING)
        active = job_rows.queue_rows(conn, ACTIVE)
    result.waiting, result.running = len(waiting), len(active)
    options = _options(cp, waiting, active, sites)
    live = [s for s in sites if s["state"] == "up" and any(n > 0 for n in s["inventory"].values())]
    if not live:
        _set_reasons(cp, waiting, {}, "NO_LIVE_SITE", "no site is up: waiting for an agent to register")
        result.took_s = time.perf_counter() - t0
        return result
    pools = _pools(cp, live)
    held, held_reason = _over_quota(cp, waiting, options, now)
    candidates = [row for row in waiting if row["id"] not in held]
    rows = active + candidates
    state = _snapshot(pools, rows, len(active), now, options)
    policy = POLICY_REGISTRY.create(cp.settings.policy)
    t_decide = time.perf_counter()
    cycle = run_cycle(state, policy)
    result.decide_s = time.perf_counter() - t_decide
    with cp.store.begin() as conn:
        for job, _run in cycle.preempted:
            row = job_rows.job(conn, rows[job]["id"])  # with its options, for metering
            if row is not None and job_rows.transition(
                conn,
                row["id"],
                ACTIVE,
                {
                    "state": "PREEMPTED",
                    "updated_at": now,
                    "run_started_at": None,
                    "reasons": [{"code": "PREEMPTED_BY_POLICY", "message": f"preempted by policy {policy_name(cp)}"}],
                },
            ):
                close_run(conn, cp, row, now)
                result.preempted.append(row["id"])
        in_use = _in_use_by_tenant(cp, active)
        limits = _concurrency_limits(conn, {row["tenant_id"] for row in candidates})
        started: set[str] = set()
        for job, run in cycle.started:
            row = rows[job]
            pool = pools.names[run.pool]
            site, accel = pool.split("/", 1)
            refusal = _concurrency_refusal(cp, limits, in_use, row, accel)
            if refusal is not None:
                held_reason[row["id"]] = refusal
                continue
            reason = {
                "code": "PLACED",
                "message": f"policy {policy_name(cp)} placed it at {site} on {row['count']} x {accel}",
                "site": site,
                "accelerator": accel,
                "count": row["count"],
            }
            if job_rows.place(conn, row["id"], site, accel, now, [reason]):
                started.add(row["id"])
                _charge(cp, in_use, row, accel)
                result.placed.append((row["id"], site, accel))
    still = [row for row in waiting if row["id"] not in started]
    _set_reasons(
        cp, still, held_reason, "WAITING_FOR_CAPACITY", "waiting for idle accelerators at a feasible live site"
    )
    if result.placed or result.preempted:
        cp.wake.set()
    result.took_s = time.perf_counter() - t0
    return result


def policy_name(cp: ControlPlane) -> str:
    return cp.settings.policy


def requeue_lost_sites(conn: Connection, cp: ControlPlane, now_s: float) -> list[str]:
    """Sites whose agent missed its heartbeats go down; their jobs wait again (PREEMPTED)."""
    requeued: list[str] = []
    for site in site_rows.list_sites(conn):
        if site["state"] != "up" or site["last_heartbeat_at"] is None:
            continue
        silent_s = now_s - site["last_heartbeat_at"]
        if silent_s <= site["heartbeat_interval_s"] * cp.settings.missed_heartbeats:
            continue
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
                queued[key] = queued_options(found.options, n, signature)
        else:
            if options_text not in decoded:
                decoded[options_text] = json.loads(options_text)
            key = (id(decoded[options_text]), n, signature if job_id in replan else None)
            if key not in queued:
                queued[key] = queued_options(decoded[options_text], n, key[2])
        cp.queued[job_id] = queued[key]
    return list(updates.values())


def _replan(cp: ControlPlane, spec_text: str, sites: Sequence[dict[str, Any]], signature: str) -> Placement | None:
    """The spec's options on the network now; None when the catalogue changed under a
    stored spec (it keeps its options)."""
    spec_data = json.loads(spec_text)
    try:
        spec = validate_spec(spec_data, "spec", cp.planning.catalog)
    except Exception:
        return None
    return placement(cp, spec, spec_data, sites, signature)


def _pools(cp: ControlPlane, live: Sequence[dict[str, Any]]) -> PoolTable:
    catalog = cp.planning.catalog
    sites: list[Site] = [
        catalog.sites[s["id"]].model_copy(update={"inventory": dict(s["inventory"])})
        for s in live
        if s["id"] in catalog.sites
    ]
    reference = "h800" if "h800" in catalog.accelerators else sorted(catalog.accelerators)[0]
    return pool_table(catalog, tuple(sites), reference)


def _snapshot(
    pools: PoolTable, rows: list[dict[str, Any]], n_active: int, now_s: float, options: dict[str, QueuedOptions]
) -> ClusterState:
    """A :class:`ClusterState` whose first ``n_active`` jobs are running in their pools.
    Waiting jobs that share options (one :class:`QueuedOptions`) share their work, speed
    row and allowed set, computed once."""
    index = {tuple(name.split("/", 1)): p for p, name in enumerate(pools.names)}
    work: list[float] = []
    speed_rows: list[list[float]] = []
    row_of: dict[tuple[float, ...], int] = {}
    speed_class: list[int] = []
    allowed_sets: list[frozenset[int] | None] = []
    allowed_of: dict[frozenset[int], int] = {}
    allowed_class: list[int] = []
    shared: dict[int, tuple[float, int, int]] = {}
    empty = QueuedOptions(None, (), frozenset())
    for position, row in enumerate(rows):
        queued = options.get(row["id"], empty)
        if position >= n_active and id(queued) in shared:
            job_work, speed, allowed_at = shared[id(queued)]
        else:
            runtime = {index[(s, a)]: t for s, a, t in queued.runtimes if (s, a) in index}
            if position < n_active and (row["site"], row["accelerator"]) in index:
                own = index[(row["site"], row["accelerator"])]
                # a job past its estimate is expected to run on a while yet, not to have
                # ended already (policies that wait for a busy pool read these ends)
                elapsed_s = now_s - (row["run_started_at"] or row["placed_at"] or now_s)
                runtime[own] = max(runtime.get(own, 3600.0), elapsed_s + OVERRUN_GRACE_S)
            job_work = min(runtime.values()) if runtime else 1.0
            speeds = tuple(job_work / runtime[p] if p in runtime else 1e-9 for p in range(len(pools)))
            if speeds not in row_of:
                row_of[speeds] = len(speed_rows)
                speed_rows.append(list(speeds))
            allowed = frozenset(runtime)
            if allowed not in allowed_of:
                allowed_of[allowed] = len(allowed_sets)
                allowed_sets.append(allowed)
            speed, allowed_at = row_of[speeds], allowed_of[allowed]
            if position >= n_active:
                shared[id(queued)] = (job_work, speed, allowed_at)
        work.append(job_work)
        speed_class.append(speed)
        allowed_class.append(allowed_at)
    table = JobTable(
        submit_s=[row["created_at"] for row in rows],
        work_s=work,
        gpus=[row["count"] for row in rows],
        deadline_s=[None] * len(rows),
        speed_class=speed_class,
        class_speed=speed_rows,
        allowed_class=allowed_class,
        allowed_sets=allowed_sets,
    )
    state = ClusterState(pools, table)
    for job in range(n_active):
        row = rows[job]
        pool = index.get((row["site"], row["accelerator"]))
        if pool is None or state.free[pool] < row["count"]:
            continue  # its site left the live network or shrank: requeue handles it
        state.now_s = row["run_started_at"] or row["placed_at"] or now_s
        state.admit(job)
        state.start(job, pool)
    state.now_s = now_s
    for job in range(n_active, len(rows)):
        state.admit(job)
    return state


def _over_quota(
    cp: ControlPlane, waiting: list[dict[str, Any]], options: dict[str, QueuedOptions], now_s: float
) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Waiting jobs whose tenant has used up an accelerator-hour quota that covers every
    accelerator family the job could run on."""
    tenants = {row["tenant_id"] for row in waiting}
    held: set[str] = set()
    reasons: dict[str, dict[str, Any]] = {}
    if not tenants:
        return held, reasons
    catalog = cp.planning.catalog
    with cp.store.engine.connect() as conn:
        exhausted: dict[str, set[str]] = {}
        for tenant_id in tenants:
            for quota in identity.quotas_of(conn, tenant_id):
                if quota["accelerator_hours"] is None:
                    continue
                used_h, _ = quota_usage(cp, conn, tenant_id, quota["family"], quota["period_h"], now_s)
                if used_h >= quota["accelerator_hours"]:
                    exhausted.setdefault(tenant_id, set()).add(quota["family"])
    for row in waiting:
        families = exhausted.get(row["tenant_id"])
        if not families:
            continue
        offered = options[row["id"]].accelerators if row["id"] in options else frozenset()
        blocked = all(
            QUOTA_ANY in families or accel in families or family_of(catalog, accel) in families for accel in offered
        )
        if blocked:
            held.add(row["id"])
            reasons[row["id"]] = {
                "code": "QUOTA_EXCEEDED",
                "message": f"the tenant's accelerator-hour quota for {', '.join(sorted(families))} is used up "
                "for this period",
            }
    return held, reasons


def _in_use_by_tenant(cp: ControlPlane, active: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    in_use: dict[tuple[str, str], int] = {}
    for row in active:
        if row["accelerator"]:
            _charge(cp, in_use, row, row["accelerator"])
    return in_use


def _charge(cp: ControlPlane, in_use: dict[tuple[str, str], int], row: dict[str, Any], accel: str) -> None:
    for key in (QUOTA_ANY, accel, family_of(cp.planning.catalog, accel)):
        in_use[(row["tenant_id"], key)] = in_use.get((row["tenant_id"], key), 0) + row["count"]


def _concurrency_limits(conn: Connection, tenants: set[str]) -> dict[tuple[str, str], int]:
    limits: dict[tuple[str, str], int] = {}
    for tenant_id in tenants:
        for quota in identity.quotas_of(conn, tenant_id):
            if quota["max_concurrent"] is not None:
                limits[(tenant_id, quota["family"])] = quota["max_concurrent"]
    return limits


def _concurrency_refusal(
    cp: ControlPlane,
    limits: dict[tuple[str, str], int],
    in_use: dict[tuple[str, str], int],
    row: dict[str, Any],
    accel: str,
) -> dict[str, Any] | None:
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
    """Write each waiting job's reason when it changed (most cycles write nothing). On
    SQLite, in transactions of ``REASON_BATCH`` jobs: reasons are advice, and short
    transactions let the API's writes (one writer at a time) in between; PostgreSQL locks
    rows, so there each distinct reason is one transaction (a commit waits for an fsync)."""
    common = {"code": code, "message": message}
    changes: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for row in waiting:
        reason = specific.get(row["id"]) or common
        if row["state"] == "PREEMPTED" and reason["code"] == code and row["reasons"]:
            continue  # keep why it was preempted until it is placed again
        current = row["reasons"] or []
        if len(current) == 1 and current[0].get("code") == reason["code"]:
            continue
        key = json.dumps(reason, sort_keys=True) if reason is not common else ""
        changes.setdefault(key, (reason, []))[1].append(row["id"])
    for reason, job_ids in changes.values():
        batch = REASON_BATCH if cp.store.dialect == "sqlite" else len(job_ids)
        for start in range(0, len(job_ids), batch):
            with cp.store.begin() as conn:
                job_rows.set_waiting_fields(conn, "reasons", [reason], job_ids[start : start + batch])
