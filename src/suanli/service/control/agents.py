"""Site agents' side of the protocol: register, heartbeat, report.

Leases and fencing: placing a job on a site starts a new attempt with a new fencing token
(``jobs.fencing_token``, one more than before). An agent may change a job only while it
holds the job's current token at its own site; anything else (a report from an agent
whose site was declared dead and whose job moved on, a duplicate after a restart) is
refused with 409 ``STALE_LEASE`` and the job is listed in the agent's ``cancel`` so it
stops. So a job never runs twice at once with both runs able to report.

Heartbeat reconciliation, per site: jobs PLACED here that the agent does not run are
(re)sent as assignments; jobs the agent runs that are not ours-at-this-token are
cancelled; jobs RUNNING here that the agent no longer has (it restarted) are placed again
under a new token, resuming from their last checkpoint.

One agent per site. The agent that registers a site holds its *lease* for as long as it
heartbeats: until ``last heartbeat + heartbeat interval x missed_heartbeats``, the moment
the scheduler would declare the site down. A registration by another agent (another
``agent_id``; agents that send none are known by their token) while the lease runs is
refused with 409 ``SITE_HELD``, naming the holder and when its lease expires, unless it
comes with ``force`` (``suanli agent --force``, any agent token of the site: the site's
operator). From then on the replaced agent's heartbeats are refused with 409
``AGENT_REPLACED``, and its reports with ``STALE_LEASE`` once its jobs are placed again.

Executor faults: an agent whose engine could not start a job reports ``EXECUTOR_FAULT``.
The job waits again (PREEMPTED, reason ``EXECUTOR_FAULT``, nothing metered) unless its
starts failed ``max_start_faults`` times, and the site is *degraded*: the scheduler
places nothing there for ``fault_backoff_s x 2^(faults in a row - 1)`` (at most
``max_fault_backoff_s``). A job starting there (RUNNING) or the agent registering again
ends it. ``GET /v1/sites`` shows the state, the fault and until when; the audit log has
a ``site.fault`` entry for each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from suanli.clock import iso
from suanli.schemas import AgentHeartbeat, AgentRegister, AgentReport, Assignment, HeartbeatOut
from suanli.service.control.auth import Principal, require
from suanli.service.control.errors import ConflictRefusal, ForbiddenRefusal, NotFoundRefusal, Unprocessable
from suanli.service.control.jobs import close_run
from suanli.service.control.plane import ControlPlane
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE


def _require_agent(who: Principal) -> None:
    require(who, ("agent",), "use agent endpoints (use an agent token: `suanli admin create-token --role agent`)")


def _own_site(who: Principal, site: str) -> None:
    _require_agent(who)
    if who.site != site:
        raise ForbiddenRefusal(f"this agent token belongs to site '{who.site}', not '{site}'", code="WRONG_SITE")


def register(cp: ControlPlane, who: Principal, body: AgentRegister, remote: str | None = None) -> dict[str, Any]:
    _own_site(who, body.site)
    catalog = cp.planning.catalog
    if body.site not in catalog.sites:
        raise Unprocessable(
            f"unknown site '{body.site}'; valid: {', '.join(sorted(catalog.sites))}", code="UNKNOWN_SITE"
        )
    unknown = sorted(set(body.inventory) - set(catalog.accelerators))
    if unknown:
        raise Unprocessable(
            f"unknown accelerator type(s) {', '.join(unknown)} in the inventory; "
            f"valid: {', '.join(sorted(catalog.accelerators))}",
            code="UNKNOWN_ACCELERATOR",
        )
    bad = {k: v for k, v in body.inventory.items() if v < 0 or v > 10_000_000}
    if bad:
        raise Unprocessable(f"inventory counts must be between 0 and 10,000,000, got {bad}", code="BAD_INVENTORY")
    now = cp.now_s()
    with cp.store.begin() as conn:
        current = site_rows.site(conn, body.site, for_update=True)
        detail: dict[str, Any] = {"inventory": body.inventory, "agent": body.agent_id}
        if current is not None and not _same_agent(current, who, body.agent_id):
            expires_s = lease_expires_s(cp, current)
            if expires_s is not None and expires_s >= now:
                if not body.force:
                    raise _site_held(current, expires_s, now)
                detail.update(forced=True, replaced=agent_name(current))
        registered = site_rows.upsert_site(
            conn,
            body.site,
            body.executor,
            dict(body.inventory),
            body.heartbeat_interval_s,
            now,
            agent_id=body.agent_id,
            agent_token_id=who.token_id,
        )
        if not registered:
            raise ConflictRefusal(
                f"another agent registered site '{body.site}' at the same moment. To fix: retry", code="SITE_HELD"
            )
        identity.record(conn, now, who.token_id, who.role, "site.register", body.site, None, remote, detail)
    cp.sites.invalidate()
    cp.wake.set()
    return {
        "site": body.site,
        "heartbeat_interval_s": body.heartbeat_interval_s,
        "site_timeout_s": body.heartbeat_interval_s * cp.settings.missed_heartbeats,
    }


def lease_expires_s(cp: ControlPlane, site: dict[str, Any]) -> float | None:
    """When the site's agent's lease runs out (the moment the scheduler would declare the
    site down), or None when it is down already."""
    if site["state"] != "up" or site["last_heartbeat_at"] is None:
        return None
    return float(site["last_heartbeat_at"] + site["heartbeat_interval_s"] * cp.settings.missed_heartbeats)


def agent_name(site: dict[str, Any]) -> str:
    """The agent holding the site, as refusals and the audit log name it."""
    if site["agent_id"]:
        return f"agent {site['agent_id']} (token {site['agent_token_id']})"
    if site["agent_token_id"]:
        return f"an agent with token {site['agent_token_id']} (it sends no agent id)"
    return "an agent registered before this server's release (unknown token)"


def _same_agent(site: dict[str, Any], who: Principal, agent_id: str | None) -> bool:
    """Whether ``who``, calling itself ``agent_id``, is the agent holding ``site``: the same
    agent id, or, for agents that send none, the same token."""
    if agent_id is not None or site["agent_id"] is not None:
        return bool(agent_id == site["agent_id"])
    return site["agent_token_id"] is not None and bool(site["agent_token_id"] == who.token_id)


def _site_held(site: dict[str, Any], expires_s: float, now_s: float) -> ConflictRefusal:
    ago_s = now_s - float(site["last_heartbeat_at"])
    return ConflictRefusal(
        f"site '{site['id']}' is run by {agent_name(site)}, which heartbeated {ago_s:.1f} s ago; "
        f"its lease expires at {iso(expires_s)} (in {expires_s - now_s:.1f} s) unless it heartbeats again. "
        "To fix: stop that agent and register after its lease expires, or replace it with `suanli agent --force`",
        code="SITE_HELD",
        details=[
            {
                "agent": site["agent_id"],
                "token_id": site["agent_token_id"],
                "last_heartbeat": iso(float(site["last_heartbeat_at"])),
                "lease_expires_at": iso(expires_s),
            }
        ],
    )


LEASE_COLUMNS = ("id", "state", "site", "fencing_token", "attempt", "accelerator", "count", "checkpoint")
"""What a heartbeat reads of a site's active jobs: no spec (see :func:`assignment`)."""


def _assignment(row: dict[str, Any], spec: dict[str, Any] | None) -> Assignment:
    return Assignment(
        tenant=row["tenant_id"] if spec is not None else None,
        id=row["id"],
        fencing_token=row["fencing_token"],
        attempt=row["attempt"],
        accelerator=row["accelerator"],
        count=row["count"],
        spec=spec,
        resume_from=row["checkpoint"],
    )


def assignment(cp: ControlPlane, who: Principal, job_id: str, fencing_token: int) -> Assignment:
    """One lease's assignment with its spec, for the agent holding it: heartbeat answers
    list a lease (without its spec) until the agent reports the job, and the agent fetches
    the spec once, when it starts the job. A lease that is not the job's current one at
    the caller's site is 409 ``STALE_LEASE`` (the agent forgets it), as a report's would be."""
    _require_agent(who)
    with cp.store.engine.connect() as conn:
        row = _leased(conn, job_id, str(who.site), fencing_token, "this agent asks with", "Do not start it")
    spec: dict[str, Any] = row["spec"]
    return _assignment(row, spec=spec)


def heartbeat(cp: ControlPlane, who: Principal, body: AgentHeartbeat) -> HeartbeatOut:
    _own_site(who, body.site)
    now = cp.now_s()
    reported = {r.id: r for r in body.running}
    assignments: list[Assignment] = []
    cancel: list[str] = []
    changed = False
    with cp.store.begin() as conn:
        site = site_rows.site(conn, body.site)
        if site is None:
            raise ConflictRefusal(
                f"site '{body.site}' is not registered. To fix: register first", code="NOT_REGISTERED"
            )
        if _replaced(site, who, body.agent_id):
            caller = body.agent_id or f"the agent with token {who.token_id}"
            raise ConflictRefusal(
                f"site '{body.site}' is now run by {agent_name(site)}, registered since this one; "
                f"{caller} must stop its jobs and exit. To fix: nothing, unless the wrong agent was replaced "
                "(then restart the right one with `suanli agent --force`)",
                code="AGENT_REPLACED",
            )
        if site["state"] != "up":
            changed = True  # back from the dead: its old jobs were requeued (their tokens are stale)
            # what it offers again, for the inventory's history (service.control.history)
            identity.record(conn, now, who.token_id, who.role, "site.up", body.site, None, None, None)
        site_rows.touch(conn, body.site, now)
        active = {row["id"]: row for row in job_rows.jobs_in(conn, ACTIVE, body.site, columns=LEASE_COLUMNS)}
        for job_id, running in reported.items():
            row = active.get(job_id)
            if row is None or row["fencing_token"] != running.fencing_token:
                cancel.append(job_id)
            elif running.checkpoint and running.checkpoint != row["checkpoint"]:
                job_rows.set_fields(conn, job_id, {"checkpoint": running.checkpoint, "updated_at": now})
        for job_id, current in active.items():
            row = current
            held = reported.get(job_id)
            if held is not None and held.fencing_token == row["fencing_token"]:
                continue
            if row["state"] == "RUNNING":
                # the agent lost it (restarted): a new attempt under a new token
                close_run(conn, cp, job_rows.job(conn, job_id) or row, now)
                job_rows.transition(
                    conn,
                    job_id,
                    ("RUNNING",),
                    {
                        "state": "PLACED",
                        "attempt": row["attempt"] + 1,
                        "fencing_token": row["fencing_token"] + 1,
                        "run_started_at": None,
                        "updated_at": now,
                        "message": "the site's agent lost the job (restart?); started again from its checkpoint",
                    },
                )
                row = job_rows.job(conn, job_id) or row
            assignments.append(_assignment(row, spec=None))
    if changed:
        cp.wake.set()
    return HeartbeatOut(
        assignments=assignments,
        cancel=cancel,
        heartbeat_interval_s=site["heartbeat_interval_s"],
        site_timeout_s=site["heartbeat_interval_s"] * cp.settings.missed_heartbeats,
    )


def _replaced(site: dict[str, Any], who: Principal, agent_id: str | None) -> bool:
    """Whether another agent holds ``site`` than the one heartbeating (``who``, calling
    itself ``agent_id``). A row with no holder (registered before agents had ids) is anyone's."""
    if site["agent_id"] is None and site["agent_token_id"] is None:
        return False
    return not _same_agent(site, who, agent_id)


def _leased(conn: Connection, job_id: str, site: str, fencing_token: int, holder: str, fix: str) -> dict[str, Any]:
    """The job's row when ``fencing_token`` is its current lease at ``site``; else 404 for
    no such job, or 409 ``STALE_LEASE`` naming the lease it has (``holder``: who asks,
    ``fix``: what the agent must do)."""
    row = job_rows.job(conn, job_id)
    if row is None:
        raise NotFoundRefusal(f"no job '{job_id}'")
    if row["site"] != site or row["fencing_token"] != fencing_token or row["state"] not in ACTIVE:
        raise ConflictRefusal(
            f"stale lease: job '{job_id}' is {row['state']} under token {row['fencing_token']}"
            + (f" at {row['site']}" if row["site"] else "")
            + f"; {holder} token {fencing_token} at {site}. {fix}",
            code="STALE_LEASE",
        )
    return row


def _new_text(conn: Connection, job_id: str, attempt: int, body: AgentReport) -> str:
    """The part of ``body.logs`` the job's log lacks: a report with ``log_offset`` repeats
    nothing another report (a retry whose answer was lost) already delivered.

    A report from past the end cannot come from an agent that advances its offset only on
    acknowledged reports; it is stored as sent (a marker in the text would shift every
    later offset and make the server drop text it never had)."""
    text = body.logs or ""
    if body.log_offset is None:
        return text
    have = job_rows.attempt_log_chars(conn, job_id, attempt)
    return text[have - body.log_offset :] if body.log_offset <= have else text


def report(cp: ControlPlane, who: Principal, job_id: str, body: AgentReport) -> None:
    """Apply an agent's report if it holds the job's current lease; else 409 STALE_LEASE."""
    _own_site(who, body.site)
    now = cp.now_s()
    with cp.store.begin() as conn:
        row = _leased(conn, job_id, body.site, body.fencing_token, "this report holds", "Stop the job")
        if body.logs:
            job_rows.append_log(conn, job_id, row["attempt"], _new_text(conn, job_id, row["attempt"], body))
        values: dict[str, Any] = {"updated_at": now}
        if body.checkpoint:
            values["checkpoint"] = body.checkpoint
        if body.state == "RUNNING" and row["state"] == "PLACED":
            values.update(state="RUNNING", run_started_at=now)
            if row["started_at"] is None:
                values["started_at"] = now
            values["reasons"] = [
                {"code": "RUNNING", "message": f"running at {row['site']} on {row['count']} x {row['accelerator']}"}
            ]
            site_rows.clear_faults(conn, body.site)
        elif body.state == "EXECUTOR_FAULT":
            values.update(_executor_fault(conn, cp, who, row, body.message or "no reason given", now))
            if row["state"] == "RUNNING":
                close_run(conn, cp, row, now)
        elif body.state in ("SUCCEEDED", "FAILED"):
            values.update(state=body.state, finished_at=now, exit_code=body.exit_code, message=body.message)
            ended = "succeeded" if body.state == "SUCCEEDED" else f"failed (exit code {body.exit_code})"
            values["reasons"] = [
                {"code": body.state, "message": f"{ended} at {row['site']} on {row['count']} x {row['accelerator']}"}
            ]
            if row["state"] == "RUNNING":
                close_run(conn, cp, row, now)
        done = job_rows.transition(conn, job_id, ACTIVE, values, fencing_token=body.fencing_token, site=body.site)
        if not done:
            raise ConflictRefusal(f"stale lease: job '{job_id}' changed while reporting", code="STALE_LEASE")
    if body.state in ("SUCCEEDED", "FAILED", "EXECUTOR_FAULT"):
        cp.wake.set()


def _executor_fault(
    conn: Connection, cp: ControlPlane, who: Principal, row: dict[str, Any], message: str, now_s: float
) -> dict[str, Any]:
    """Degrade the job's site and return the job's new values: back in the queue
    (PREEMPTED), or FAILED once its starts failed ``max_start_faults`` times."""
    site_id = row["site"]
    site = site_rows.site(conn, site_id, for_update=True)
    in_a_row = (site["faults"] if site is not None else 0) + 1
    settings = cp.settings
    backoff_s = min(settings.max_fault_backoff_s, settings.fault_backoff_s * 2 ** min(in_a_row - 1, 30))
    until_s = now_s + backoff_s
    site_rows.record_fault(conn, site_id, now_s, message, until_s)
    starts = row["start_faults"] + 1
    where = f"at {site_id} on {row['count']} x {row['accelerator']}"
    identity.record(
        conn,
        now_s,
        who.token_id,
        who.role,
        "site.fault",
        site_id,
        None,
        None,
        {"job": row["id"], "message": message, "faults_in_a_row": in_a_row, "degraded_until": iso(until_s)},
    )
    if starts >= settings.max_start_faults:
        text = (
            f"the sites' engines failed to start it {starts} times (last {where}: {message}); a job refused that "
            "often is likely not runnable there as written. To fix: check run.command, run.runtime_env and "
            "the count against the sites' engines, then resubmit"
        )
        reason = {"code": "EXECUTOR_FAULT", "message": text, "site": site_id}
        return {"state": "FAILED", "finished_at": now_s, "message": text, "reasons": [reason], "start_faults": starts}
    reason = {
        "code": "EXECUTOR_FAULT",
        "message": f"the engine {where} could not start it ({message}); it waits again (not the job's fault), "
        f"and {site_id} is avoided until {iso(until_s)}",
        "site": site_id,
    }
    return {"state": "PREEMPTED", "run_started_at": None, "reasons": [reason], "start_faults": starts}
