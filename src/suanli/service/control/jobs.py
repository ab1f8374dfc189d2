"""Tenants' use-cases on jobs: submit, read, list, cancel, logs, explain, usage.

A tenant sees only its own jobs: another tenant's job answers 404 exactly as a missing
one does (so ids leak nothing). Staff (admin, operator) see every job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from suanli.errors import InputError, SpecError
from suanli.schemas import (
    TERMINAL_STATES,
    ExplainOut,
    JobEstimate,
    JobEta,
    JobOut,
    JobSubmit,
    LogsOut,
    Reason,
    UsageOut,
)
from suanli.service.control import batch_deps, compliance, paging, views
from suanli.service.control.auth import STAFF, Principal, require
from suanli.service.control.errors import ConflictRefusal, ForbiddenRefusal, NotFoundRefusal, Refusal, Unprocessable
from suanli.service.control.options import family_of, placement
from suanli.service.control.paths import check_run_paths
from suanli.service.control.plane import ControlPlane
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE, WAITING
from suanli.workload import JobSpec, pin_times, validate_spec

MAX_LIST = paging.MAX_LIMIT


def submit(
    cp: ControlPlane, who: Principal, body: JobSubmit, idempotency_key: str | None = None, remote: str | None = None
) -> tuple[JobOut, bool]:
    """Accept a job (durably, before answering) or refuse it with a reason code.
    Returns the job and whether it was created (False: the idempotency key was seen)."""
    require(who, ("tenant",), "submit jobs (submit with a tenant's token)")
    values = _accept(cp, who, body, idempotency_key, cp.sites.get(lambda: _read_sites(cp)))
    with cp.store.begin() as conn:
        row, created = _insert(conn, who, values, remote)
    if created:
        cp.wake.set()
    else:
        row = _refetch(cp, row["id"])
    assert who.tenant_name is not None
    return views.job_out(row, who.tenant_name), created


MAX_BATCH = 1000
"""Specs in one ``POST /v1/jobs:batch``."""


def submit_batch(
    cp: ControlPlane, who: Principal, items: list[JobSubmit], remote: str | None = None
) -> list[dict[str, Any]]:
    """Accept many jobs in one transaction: each spec is checked and placed as
    :func:`submit` does (its ``depends_on`` may name an earlier item by name:
    :mod:`~suanli.service.control.batch_deps`), the accepted ones are stored together (one commit, one fsync), and
    each item gets its own answer, in order: ``{"index", "created", "job"}`` or
    ``{"index", "error": {"code", "message", "details"}}``. A refused spec does not stop
    the others; an idempotency key seen before answers with its first job (the same spec)
    or with that item's 409-style ``IDEMPOTENCY_KEY_REUSED`` error (another spec)."""
    require(who, ("tenant",), "submit jobs (submit with a tenant's token)")
    if not 1 <= len(items) <= MAX_BATCH:
        raise Unprocessable(f"a batch holds 1 to {MAX_BATCH:,} jobs, not {len(items):,}", code="INVALID_BATCH")
    assert who.tenant_name is not None and who.tenant_id is not None
    tenant = who.tenant_id
    with cp.store.engine.connect() as conn:

        def stored_name(name: str) -> bool:
            return job_rows.newest_named(conn, tenant, name) is not None

        batch_deps.check_order([item.spec for item in items], stored_name)
    sites = cp.sites.get(lambda: _read_sites(cp))
    results: list[dict[str, Any]] = []
    accepted: list[tuple[int, dict[str, Any]]] = []
    earlier: dict[str, int] = {}
    """name -> the latest item before this one of that name (accepted or not)"""
    for index, item in enumerate(items):
        try:
            accepted.append((index, _accept(cp, who, item, None, sites, earlier)))
            results.append({"index": index})
        except Refusal as exc:
            results.append({"index": index, "error": _error_of(exc.code, exc.message, exc.details)})
        except InputError as exc:
            results.append({"index": index, "error": _error_of("INVALID_INPUT", str(exc), spec_error_details(exc))})
        name = item.spec.get("name")
        if isinstance(name, str):
            earlier[name] = index
    stored: list[tuple[int, dict[str, Any], bool]] = []
    if accepted:
        ids: dict[int, str] = {}
        with cp.store.begin() as conn:
            for index, values in accepted:
                try:
                    depends_on = batch_deps.bind(values["depends_on"] or [], ids, index)
                    row, created = _insert(conn, who, {**values, "depends_on": depends_on or None}, remote)
                except ConflictRefusal as exc:  # raised before this item wrote anything
                    results[index] = {"index": index, "error": _error_of(exc.code, exc.message, exc.details)}
                    continue
                except SpecError as exc:  # an earlier item it depends on was refused
                    error = _error_of("INVALID_INPUT", str(exc), spec_error_details(exc))
                    results[index] = {"index": index, "error": error}
                    continue
                ids[index] = str(row["id"])
                stored.append((index, row, created))
        cp.wake.set()
    for index, row, created in stored:
        final = row if created else _refetch(cp, row["id"])
        results[index] = {"index": index, "created": created, "job": views.job_out(final, who.tenant_name)}
    return results


def spec_error_details(exc: InputError) -> list[dict[str, Any]] | None:
    """A spec error's field, sentence and fix, for a client to name the line in its own
    copy of the file (the server saw JSON: it has no lines)."""
    if not isinstance(exc, SpecError) or exc.field is None:
        return None
    return [{"field": exc.field, "message": exc.reason, "hint": exc.hint}]


def _error_of(code: str, message: str, details: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def spec_hash(spec: dict[str, Any]) -> str:
    """SHA-256 of a spec's canonical JSON (keys sorted, no spaces), as it was submitted:
    two submissions carry the same spec exactly when their hashes are equal."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


MAX_KEY_CHARS = 128


def idempotency_key(body_key: str | None, header_key: str | None) -> str | None:
    """The submission's key, from the body or the ``Idempotency-Key`` header (both may be
    given when equal). An empty or blank key is refused: it would merge every submission
    that sends one into the first."""
    for where, key in (("idempotency_key", body_key), ("the Idempotency-Key header", header_key)):
        if key is not None and not key.strip():
            raise Unprocessable(
                f"{where} is empty. To fix: send a unique key per submission (a UUID; the SDK makes one), "
                "or leave it out",
                code="INVALID_IDEMPOTENCY_KEY",
            )
        if key is not None and len(key) > MAX_KEY_CHARS:
            raise Unprocessable(f"{where} is longer than {MAX_KEY_CHARS} characters", code="INVALID_IDEMPOTENCY_KEY")
    if body_key is not None and header_key is not None and body_key != header_key:
        raise Unprocessable(
            "idempotency_key in the body and the Idempotency-Key header differ. To fix: send one key, or the same "
            "in both",
            code="INVALID_IDEMPOTENCY_KEY",
        )
    return body_key if body_key is not None else header_key


def _accept(
    cp: ControlPlane,
    who: Principal,
    body: JobSubmit,
    header_key: str | None,
    sites: list[dict[str, Any]],
    earlier: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The job row to store for ``body``: its spec checked against the catalogue, the
    filing rule, the path rules and the network, its placements computed; or the refusal.
    ``earlier``: in a batch, name -> the latest earlier item of that name (``depends_on``
    then holds :data:`~suanli.service.control.batch_deps.Ref` entries until stored)."""
    assert who.tenant_id is not None
    key = idempotency_key(body.idempotency_key, header_key)
    now = cp.now_s()
    data = pin_times(body.spec, now)  # `now`, `+7d`: fixed at submission, not at each re-plan
    spec = validate_spec(data, "spec", cp.planning.catalog)
    if spec.run is None:
        raise Unprocessable(
            "the spec has no 'run:' section, so there is nothing to run. To fix: add run: {command: [...]} "
            "(see docs/control-plane.md); use `suanli plan` to plan without running",
            code="RUN_MISSING",
        )
    check_run_paths(spec, cp.settings.shared_roots)
    if spec.array is not None:
        raise SpecError(
            f"a job array ({spec.array} copies) is expanded before it is submitted, not by the server",
            path="spec",
            field="array",
            hint="submit the file with `suanli submit` (it sends the copies), or send one spec per copy "
            "without 'array' (POST /v1/jobs:batch)",
        )
    with cp.store.engine.connect() as conn:
        if spec.public:
            _check_filing(conn, who, spec)
        depends_on = resolve_dependencies(conn, who, spec, earlier)
    found = placement(cp, spec, data, sites)
    if not found.options:
        raise Unprocessable(
            f"no site of the network can run '{spec.name}': "
            + "; ".join(f"{r['code']}: {r['message']}" for r in found.rejected[:3]),
            code="NO_FEASIBLE_PLACEMENT",
            details=found.rejected,
        )
    return {
        "tenant_id": who.tenant_id,
        "idempotency_key": key,
        "spec_hash": spec_hash(body.spec) if key is not None else None,
        "name": spec.name,
        "kind": spec.kind,
        "spec": data,
        "state": "PENDING",
        "count": found.count,
        "options": found.options,
        "reasons": [_waiting_reason()],
        "depends_on": depends_on or None,
        "created_at": now,
        "updated_at": now,
    }


def _insert(
    conn: Connection, who: Principal, values: dict[str, Any], remote: str | None
) -> tuple[dict[str, Any], bool]:
    """Store the job, or find the one its idempotency key made before: the same submission
    again (a retry) when its spec was the same, else a 409 naming that job."""
    row, created = job_rows.insert_job(conn, values)
    if created:
        identity.record(
            conn, values["created_at"], who.token_id, who.role, "job.submit", row["id"], who.tenant_id, remote
        )
    elif row["spec_hash"] is not None and row["spec_hash"] != values["spec_hash"]:
        raise ConflictRefusal(
            f"idempotency key '{values['idempotency_key']}' was used for job '{row['id']}' ({row['name']}) with a "
            "different spec. To fix: use a new key for a new submission (the SDK makes one per call), or send "
            f"the same spec again to get job '{row['id']}'",
            code="IDEMPOTENCY_KEY_REUSED",
            details=[{"job": row["id"], "idempotency_key": values["idempotency_key"]}],
        )
    return row, created


def resolve_dependencies(
    conn: Connection, who: Principal, spec: JobSpec, earlier: Mapping[str, int] | None = None
) -> list[batch_deps.Ref]:
    """The ids of the jobs ``spec.depends_on`` names (each an id, or the name of the
    tenant's newest job of that name), each once, in order; in a batch, a name of an
    earlier item (``earlier``: name -> its index) is ``(entry, item)`` (the newest job of
    that name, stored in the same transaction). Refused, naming the entry: a job
    that is not the tenant's (another tenant's answers as a missing one does), a name no
    earlier job has (a job's own name means the newest *earlier* job of that name: a job
    cannot depend on itself), and one that already failed or was cancelled (this job could
    never start)."""
    assert who.tenant_id is not None
    resolved: list[batch_deps.Ref] = []
    for i, ref in enumerate(spec.depends_on):
        field = f"depends_on[{i}]"
        if earlier is not None and ref in earlier:
            if all(not isinstance(r, tuple) or r[1] != earlier[ref] for r in resolved):
                resolved.append((i, earlier[ref]))
            continue
        found = job_rows.job(conn, ref, who.tenant_id) or job_rows.newest_named(conn, who.tenant_id, ref)
        if found is None:
            own = " (this job's own name: a job cannot depend on itself)" if ref == spec.name else ""
            raise SpecError(
                f"no job '{ref}' of this tenant{own}",
                path="spec",
                field=field,
                hint="name a job you submitted before, by its id or its name (`suanli jobs` lists them)",
            )
        if found["state"] in ("FAILED", "CANCELLED"):
            raise SpecError(
                f"job {found['id']} ({found['name']}) is {found['state']}, so this job could never start "
                "(depends_on waits for success)",
                path="spec",
                field=field,
                hint=f"resubmit {found['name']} and depend on the new job, or drop it from depends_on",
            )
        if found["id"] not in resolved:
            resolved.append(str(found["id"]))
    return resolved


def _read_sites(cp: ControlPlane) -> list[dict[str, Any]]:
    with cp.store.engine.connect() as conn:
        return site_rows.list_sites(conn)


def _refetch(cp: ControlPlane, job_id: str) -> dict[str, Any]:
    with cp.store.engine.connect() as conn:
        row = job_rows.job(conn, job_id)
    assert row is not None
    return row


def _check_filing(conn: Connection, who: Principal, spec: JobSpec) -> None:
    """A public generative-AI service needs an approved filing of its model (see ``compliance``)."""
    assert who.tenant_id is not None
    refusal = compliance.filing_refusal(conn, who.tenant_id, spec)
    if refusal is not None:
        raise refusal


def _waiting_reason() -> dict[str, Any]:
    return {"code": "QUEUED", "message": "waiting for the scheduler's next cycle"}


def _visible(conn: Connection, who: Principal, job_id: str) -> dict[str, Any]:
    tenant = None if who.is_staff else who.tenant_id
    if who.role == "agent":
        raise ForbiddenRefusal("agents read jobs only through their heartbeat")
    row = job_rows.job(conn, job_id, tenant)
    if row is None:
        raise NotFoundRefusal(f"no job '{job_id}'")
    return row


def _names(conn: Connection) -> dict[str, str]:
    return identity.tenant_names(conn)


def get(cp: ControlPlane, who: Principal, job_id: str) -> JobOut:
    with cp.store.engine.connect() as conn:
        row = _visible(conn, who, job_id)
        metered = job_rows.usage_by_job(conn, [job_id]).get(job_id, {})
        return views.job_out(row, _names(conn).get(row["tenant_id"], "?"), metered, cp.now_s())


def list_jobs(cp: ControlPlane, who: Principal, state: str | None, limit: int, all_tenants: bool) -> list[JobOut]:
    """The newest ``limit`` jobs (the first page of :func:`list_page`)."""
    return list_page(cp, who, state, limit, all_tenants).items


def list_page(
    cp: ControlPlane, who: Principal, state: str | None, limit: int, all_tenants: bool, after: str | None = None
) -> paging.Page[JobOut]:
    """One page of jobs, newest first (by ``seq``), after the cursor ``after``: the
    caller's own, or every tenant's for staff (``all_tenants``, or a staff token of no
    tenant)."""
    require(who, ("admin", "operator", "tenant"), "list jobs")
    if all_tenants and not who.is_staff:
        raise ForbiddenRefusal("only operators and admins may list every tenant's jobs (drop all=true)")
    before = paging.decode("jobs", after)
    tenant = None if (who.is_staff and (all_tenants or who.tenant_id is None)) else who.tenant_id
    limit = min(limit, MAX_LIST)
    with cp.store.engine.connect() as conn:
        rows = job_rows.list_jobs(
            conn, tenant, [state] if state else None, limit + 1, int(before[0]) if before else None
        )
        names = _names(conn)
        metered = job_rows.usage_by_job(conn, [row["id"] for row in rows[:limit]])
    page = paging.paged("jobs", rows, limit, lambda row: (int(row["seq"]),))
    now = cp.now_s()
    return page.map(lambda r: views.job_out(r, names.get(r["tenant_id"], "?"), metered.get(r["id"], {}), now))


def cancel(cp: ControlPlane, who: Principal, job_id: str, remote: str | None = None) -> JobOut:
    now = cp.now_s()
    with cp.store.begin() as conn:
        row = _visible(conn, who, job_id)
        if row["state"] in TERMINAL_STATES:
            raise ConflictRefusal(f"job '{job_id}' is already {row['state']}", code="ALREADY_FINISHED")
        changed = job_rows.transition(
            conn,
            job_id,
            (*WAITING, *ACTIVE),
            {"state": "CANCELLED", "finished_at": now, "updated_at": now, "message": f"cancelled by {who.role}"},
        )
        if not changed:
            raise ConflictRefusal(f"job '{job_id}' changed state while cancelling; retry", code="RETRY")
        if row["state"] == "RUNNING":
            close_run(conn, cp, row, now)
        identity.record(conn, now, who.token_id, who.role, "job.cancel", job_id, row["tenant_id"], remote)
        row = job_rows.job(conn, job_id) or row
        name = _names(conn).get(row["tenant_id"], "?")
        metered = job_rows.usage_by_job(conn, [job_id]).get(job_id, {})
    cp.wake.set()
    return views.job_out(row, name, metered, now)


def close_run(conn: Connection, cp: ControlPlane, row: dict[str, Any], now_s: float) -> None:
    """Meter a run that ends now: accelerator-seconds, and energy, carbon and cost at the
    option's hourly rates (see ``options``)."""
    started = row.get("run_started_at")
    if started is None or row.get("site") is None:
        return
    elapsed_h = max(0.0, now_s - started) / 3600.0
    per_h = views.hourly_rates(row)
    family = family_of(cp.planning.catalog, row["accelerator"])
    job_rows.add_usage(
        conn,
        {
            "tenant_id": row["tenant_id"],
            "job_id": row["id"],
            "site": row["site"],
            "accelerator": row["accelerator"],
            "family": family,
            "start_s": started,
            "end_s": now_s,
            "accelerator_s": elapsed_h * 3600.0 * row["count"],
            "energy_kwh": per_h[0] * elapsed_h,
            "carbon_kg": per_h[1] * elapsed_h,
            "cost_usd": per_h[2] * elapsed_h,
        },
    )


def logs(cp: ControlPlane, who: Principal, job_id: str, offset: int) -> LogsOut:
    with cp.store.engine.connect() as conn:
        row = _visible(conn, who, job_id)
        text, next_offset = job_rows.read_log(conn, job_id, offset, cp.settings.max_log_read_chars)
    done = row["state"] in TERMINAL_STATES and next_offset >= row["log_chars"]
    return LogsOut(job=job_id, text=text, next_offset=next_offset, done=done)


ARRIVAL_ORDER = frozenset({"fifo", "cheapest", "backfill"})
"""Live policies that take waiting jobs in submission order (``suanli.policy``: greedy,
backfill); the others rank them their own way (attained service, rounds, deadlines)."""
HELD_OUT = frozenset({"WAITING_FOR_DEPENDENCY", "FILING_WITHDRAWN", "QUOTA_EXCEEDED"})
"""Reasons of jobs the live cycle keeps out of the policy's queue (``feeder``, ``live``)."""


def explain(cp: ControlPlane, who: Principal, job_id: str) -> ExplainOut:
    """Why the job is where it is: its reasons, its options with each site's state (live,
    degraded, down or catalogue-only), and for a waiting job its place in the queue."""
    with cp.store.engine.connect() as conn:
        row = _visible(conn, who, job_id)
        now = cp.now_s()
        registered = {s["id"]: s for s in site_rows.list_sites(conn)}
        waiting = row["state"] in WAITING
        ahead = job_rows.waiting_before(conn, int(row["seq"])) if waiting else []
    reasons = [Reason(**r) for r in row["reasons"] or []]
    options = [JobEstimate(**o) for o in row["options"] or []]
    states = {o.site: _site_state(registered.get(o.site), now) for o in options}
    live = {o.site: registered[o.site] for o in options if states[o.site] == "live"}
    state = row["state"]
    position, queue = None, None
    held = bool(reasons) and str(reasons[0].code) in HELD_OUT
    if state in ("PLACED", "RUNNING"):
        summary = (
            f"{state.lower()} at {row['site']} on {row['count']} x {row['accelerator']} (attempt {row['attempt']})"
        )
    elif state in TERMINAL_STATES:
        summary = f"{state.lower()}" + (f": {row['message']}" if row["message"] else "")
    else:
        at_live = [o for o in options if o.site in live and live[o.site]["inventory"].get(o.accelerator, 0) >= o.count]
        catalogue = sum(1 for o in options if states[o.site] == "catalogue-only")
        summary = (
            f"waiting: {len(at_live)} of {len(options)} feasible placements are at live sites"
            if at_live
            else f"waiting: none of its {len(options)} feasible placements is at a live site"
        ) + (f" ({catalogue} at catalogue-only sites, where no agent runs)" if catalogue else "")
        if held:
            summary += f"; held out of the queue: {reasons[0].message}"
        elif at_live:
            position, queue = _queue_position(cp, ahead, {(o.site, o.accelerator) for o in at_live})
            summary += f"; {_ordinal(position)} in the queue at them"
    eta = JobEta(**row["eta"]) if row.get("eta") and state not in TERMINAL_STATES else None
    return ExplainOut(
        id=job_id,
        state=state,
        summary=summary,
        reasons=reasons,
        options=options,
        eta=eta,
        site_states=states,
        queue_position=position,
        queue=queue,
    )


def _site_state(site: dict[str, Any] | None, now_s: float) -> str:
    if site is None:
        return "catalogue-only"
    if site["state"] != "up":
        return "down"
    return "degraded" if site_rows.degraded(site, now_s) else "live"


def _queue_position(
    cp: ControlPlane, ahead: list[tuple[str, str, str]], pools: set[tuple[str, str]]
) -> tuple[int, str]:
    """1 + the waiting jobs submitted before this one that could take one of ``pools`` and
    are in the queue (not held out of it), and what that counts, in words."""
    decoded: dict[str, bool] = {}
    count = 0
    for _job_id, options_text, reasons_text in ahead:
        reasons = json.loads(reasons_text)
        if reasons and isinstance(reasons[0], dict) and reasons[0].get("code") in HELD_OUT:
            continue
        if options_text not in decoded:
            decoded[options_text] = any((o["site"], o["accelerator"]) in pools for o in json.loads(options_text))
        count += decoded[options_text]
    policy = cp.settings.policy
    order = (
        f"policy {policy} takes waiting jobs in that order"
        if policy in ARRIVAL_ORDER
        else f"policy {policy} ranks waiting jobs its own way, so it may start this one sooner or later"
    )
    return count + 1, (
        f"{count:,} waiting job{'s' if count != 1 else ''} submitted before it can take the same live site and "
        f"accelerator (submission order; {order})"
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def usage(cp: ControlPlane, who: Principal) -> list[UsageOut]:
    """Every tenant's usage the caller may see (all pages of :func:`usage_page`)."""
    return paging.every_item(lambda after: usage_page(cp, who, paging.MAX_LIMIT, after))


def usage_page(cp: ControlPlane, who: Principal, limit: int, after: str | None = None) -> paging.Page[UsageOut]:
    """Metered use and jobs by state, one row per tenant by tenant name (a tenant's token:
    its own row; staff: every tenant, those with nothing metered too, a page at a time)."""
    require(who, ("admin", "operator", "tenant"), "read usage")
    after_name = paging.decode("usage", after)
    with cp.store.engine.connect() as conn:
        if who.is_staff:
            rows = identity.list_tenants(conn, limit + 1, str(after_name[0]) if after_name else None)
        else:
            own = identity.tenant_by_name(conn, who.tenant_name or "")
            rows = [own] if own is not None and (after_name is None or own["name"] > after_name[0]) else []
        page = paging.paged("usage", rows, limit, lambda row: (str(row["name"]),))
        tenant_ids = [str(row["id"]) for row in page.items]
        totals = {r["tenant_id"]: r for r in job_rows.usage_totals(conn, among=tenant_ids)}
        counts = job_rows.state_counts_by_tenant(conn, among=tenant_ids)
    by_tenant: dict[str, dict[str, int]] = {}
    for tenant_id, state, n in counts:
        by_tenant.setdefault(tenant_id, {})[state] = n

    def usage_of(tenant: dict[str, Any]) -> UsageOut:
        total = totals.get(tenant["id"], {})
        return UsageOut(
            tenant=tenant["name"],
            accelerator_hours=float(total.get("accelerator_s") or 0.0) / 3600.0,
            energy_kwh=float(total.get("energy_kwh") or 0.0),
            carbon_kg=float(total.get("carbon_kg") or 0.0),
            cost_usd=float(total.get("cost_usd") or 0.0),
            jobs=by_tenant.get(tenant["id"], {}),
        )

    return page.map(usage_of)


__all__ = [
    "MAX_BATCH",
    "STAFF",
    "cancel",
    "close_run",
    "explain",
    "family_of",
    "get",
    "idempotency_key",
    "list_jobs",
    "list_page",
    "logs",
    "resolve_dependencies",
    "spec_error_details",
    "spec_hash",
    "submit",
    "submit_batch",
    "usage",
    "usage_page",
]
