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
"""

from __future__ import annotations

from typing import Any

from suanli.schemas import AgentHeartbeat, AgentRegister, AgentReport, Assignment, HeartbeatOut
from suanli.service.control.auth import Principal, require
from suanli.service.control.errors import ConflictRefusal, ForbiddenRefusal, NotFoundRefusal, Unprocessable
from suanli.service.control.jobs import close_run
from suanli.service.control.plane import ControlPlane
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE


def _own_site(who: Principal, site: str) -> None:
    require(who, ("agent",), "use agent endpoints (use an agent token: `suanli admin create-token --role agent`)")
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
        site_rows.upsert_site(conn, body.site, body.executor, dict(body.inventory), body.heartbeat_interval_s, now)
        identity.record(
            conn, now, who.token_id, who.role, "site.register", body.site, None, remote, {"inventory": body.inventory}
        )
    cp.sites.invalidate()
    cp.wake.set()
    return {"site": body.site, "heartbeat_interval_s": body.heartbeat_interval_s}


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
        if site["state"] != "up":
            changed = True  # back from the dead: its old jobs were requeued (their tokens are stale)
        site_rows.touch(conn, body.site, now)
        active = {row["id"]: row for row in job_rows.jobs_in(conn, ACTIVE, body.site)}
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
                close_run(conn, cp, row, now)
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
            assignments.append(
                Assignment(
                    id=job_id,
                    fencing_token=row["fencing_token"],
                    attempt=row["attempt"],
                    accelerator=row["accelerator"],
                    count=row["count"],
                    spec=row["spec"],
                    resume_from=row["checkpoint"],
                )
            )
    if changed:
        cp.wake.set()
    return HeartbeatOut(assignments=assignments, cancel=cancel, heartbeat_interval_s=site["heartbeat_interval_s"])


def report(cp: ControlPlane, who: Principal, job_id: str, body: AgentReport) -> None:
    """Apply an agent's report if it holds the job's current lease; else 409 STALE_LEASE."""
    _own_site(who, body.site)
    now = cp.now_s()
    with cp.store.begin() as conn:
        row = job_rows.job(conn, job_id)
        if row is None:
            raise NotFoundRefusal(f"no job '{job_id}'")
        if row["site"] != body.site or row["fencing_token"] != body.fencing_token or row["state"] not in ACTIVE:
            raise ConflictRefusal(
                f"stale lease: job '{job_id}' is {row['state']} under token {row['fencing_token']}"
                + (f" at {row['site']}" if row["site"] else "")
                + f"; this report holds token {body.fencing_token} at {body.site}. Stop the job",
                code="STALE_LEASE",
            )
        if body.logs:
            job_rows.append_log(conn, job_id, row["attempt"], body.logs)
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
    if body.state in ("SUCCEEDED", "FAILED"):
        cp.wake.set()
