"""The ``/v1`` routes: each parses, calls one service function, and returns its model."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from suanli import __version__
from suanli.schemas import (
    JOB_STATES,
    AgentHeartbeat,
    AgentRegister,
    AgentReport,
    Assignment,
    AuditList,
    ErrorOut,
    ExplainOut,
    FilingCreate,
    FilingDecision,
    FilingList,
    FilingOut,
    HealthOut,
    HeartbeatOut,
    JobBatch,
    JobBatchOut,
    JobList,
    JobOut,
    JobSubmit,
    LogsOut,
    QuotaIn,
    QuotaList,
    QuotaOut,
    QuoteIn,
    QuoteOut,
    RegisterOut,
    SiteList,
    TenantCreate,
    TenantCreated,
    TenantList,
    TenantOut,
    TenantUpdate,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    UsageList,
    WhoAmI,
)
from suanli.schemas.history import HistoryOut
from suanli.server import logstream
from suanli.server.deps import caller, offload, plane, principal_of, remote_of
from suanli.service.control import admin, agents, history, jobs, paging, quotes
from suanli.service.control import quotas as quota_cases
from suanli.service.control.auth import Principal
from suanli.service.control.errors import Unprocessable
from suanli.service.control.network import list_sites
from suanli.service.control.plane import ControlPlane
from suanli.store import sites as site_rows

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}
router = APIRouter(prefix="/v1", responses=ERRORS)

CP = Annotated[ControlPlane, Depends(plane)]
Who = Annotated[Principal, Depends(caller)]
JobId = Annotated[str, Query(max_length=64)]
After = Annotated[
    str | None,
    Query(
        max_length=paging.MAX_CURSOR_CHARS,
        description="A page's cursor: the `next` of the page before (leave out for the first page).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=paging.MAX_LIMIT, description="Items per page.")]


@router.get("/health", response_model=HealthOut, tags=["system"])
async def health(request: Request, cp: CP) -> HealthOut:
    """Liveness and whether this replica holds the scheduler lease (no token needed)."""
    holder = await offload(_leader, cp)
    return HealthOut(status="ok", version=__version__, leader=holder == request.app.state.replica)


def _leader(cp: ControlPlane) -> str | None:
    with cp.store.engine.connect() as conn:
        return site_rows.lease_holder(conn, "scheduler", cp.now_s())


# -- jobs ---------------------------------------------------------------------------


@router.post(
    "/jobs",
    status_code=201,
    response_model=JobOut,
    responses={200: {"model": JobOut, "description": "The job this idempotency key created before"}},
    tags=["jobs"],
)
async def submit_job(
    body: JobSubmit,
    request: Request,
    response: Response,
    cp: CP,
    who: Who,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JobOut:
    """Submit a job (a spec with ``run:``). 201 when created; 200 with the first job when
    the idempotency key was used before."""
    job, created = await offload(jobs.submit, cp, who, body, idempotency_key, remote_of(request))
    if not created:
        response.status_code = 200
    return job


@router.post("/jobs:batch", response_model=JobBatchOut, tags=["jobs"])
async def submit_batch(body: JobBatch, request: Request, cp: CP, who: Who) -> JobBatchOut:
    """Submit up to 1,000 jobs in one call, stored in one transaction. 200 with one item per
    job, in order: the job (``created`` False when its idempotency key was used before) or the
    error that job got; one refused spec does not stop the others."""
    items = await offload(jobs.submit_batch, cp, who, list(body.jobs), remote_of(request))
    return JobBatchOut.model_validate({"items": items})


@router.get("/whoami", response_model=WhoAmI, tags=["system"])
async def whoami(who: Who) -> WhoAmI:
    """What the caller's token is: role, tenant, site."""
    return WhoAmI(role=who.role, tenant=who.tenant_name, site=who.site, token_id=who.token_id)


@router.get("/jobs", response_model=JobList, tags=["jobs"])
async def list_jobs(
    cp: CP,
    who: Who,
    state: Annotated[str | None, Query(max_length=16, json_schema_extra={"enum": list(JOB_STATES)})] = None,
    limit: Limit = paging.DEFAULT_LIMIT,
    all_tenants: Annotated[bool, Query(alias="all")] = False,
    after: After = None,
) -> JobList:
    """Jobs, newest first: the caller's own (``all=true``: every tenant's, staff only), a
    page at a time (``next`` is the cursor of the next page; a job submitted while paging
    is not listed, every other exactly once)."""
    if state is not None and state not in JOB_STATES:
        raise Unprocessable(f"unknown state '{state}'; valid: {', '.join(JOB_STATES)}", code="UNKNOWN_STATE")
    page = await offload(jobs.list_page, cp, who, state, limit, all_tenants, after)
    return JobList(jobs=page.items, next=page.next)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
async def get_job(job_id: str, cp: CP, who: Who) -> JobOut:
    """One job with its state, site, accelerator, count, reasons and estimate."""
    return await offload(jobs.get, cp, who, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, tags=["jobs"])
async def cancel_job(job_id: str, request: Request, cp: CP, who: Who) -> JobOut:
    return await offload(jobs.cancel, cp, who, job_id, remote_of(request))


@router.get("/jobs/{job_id}/logs", response_model=LogsOut, tags=["jobs"])
async def job_logs(job_id: str, cp: CP, who: Who, offset: Annotated[int, Query(ge=0, le=2**53)] = 0) -> LogsOut:
    """Log text from character ``offset``; ``done`` once the job ended and all was sent."""
    return await offload(jobs.logs, cp, who, job_id, offset)


@router.get(
    "/jobs/{job_id}/logs/stream",
    tags=["jobs"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events: log, end, error"}},
)
async def job_log_stream(
    job_id: str,
    request: Request,
    cp: CP,
    who: Who,
    offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
    timeout_s: Annotated[float, Query(gt=0, le=logstream.MAX_STREAM_S)] = logstream.MAX_STREAM_S,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The job's output from character ``offset`` (or ``Last-Event-ID``, on a reconnect) as
    Server-Sent Events, until the job ended and all of it was sent, or ``timeout_s`` passed
    (``suanli.server.logstream``)."""
    if last_event_id is not None:
        if not last_event_id.isdigit() or int(last_event_id) > 2**53:
            raise Unprocessable("Last-Event-ID must be a character offset (a whole number)", code="INVALID_INPUT")
        offset = int(last_event_id)
    await offload(jobs.get, cp, who, job_id)  # 404 for a job it may not see, before the stream opens
    token = request.headers["authorization"].split(None, 1)[1].strip()

    async def read(at: int) -> LogsOut:
        return await offload(jobs.logs, cp, await principal_of(request, cp, token), job_id, at)

    async def state() -> str:
        return str((await offload(jobs.get, cp, who, job_id)).state)

    events = logstream.log_events(
        read, state, offset, cp.settings.max_log_read_chars, request.is_disconnected, timeout_s
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx: pass each event at once
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


@router.get("/jobs/{job_id}/explain", response_model=ExplainOut, tags=["jobs"])
async def explain_job(job_id: str, cp: CP, who: Who) -> ExplainOut:
    """Why the job runs where it runs, or why it waits."""
    return await offload(jobs.explain, cp, who, job_id)


@router.post("/plan", response_model=QuoteOut, tags=["jobs"])
async def plan_live(body: QuoteIn, cp: CP, who: Who) -> QuoteOut:
    """Where, on what, how long, how much and when, over the live network: the options at
    sites whose agents are up, each with its predicted start and finish given the queue
    (the leader's ETA forecast). ``run:`` is optional; nothing is submitted."""
    return QuoteOut.model_validate(await offload(quotes.quote, cp, who, body))


@router.post("/estimate", response_model=QuoteOut, tags=["jobs"])
async def estimate_live(body: QuoteIn, cp: CP, who: Who) -> QuoteOut:
    """One option over the live network: ``accelerator`` x ``count`` (at ``site``, or the
    sites that can run it), with its predicted start; 422 naming why when there is none."""
    if body.accelerator is None or body.count is None:
        raise Unprocessable(
            "an estimate needs 'accelerator' and 'count' (POST /v1/plan lists every option)", code="INVALID_REQUEST"
        )
    return QuoteOut.model_validate(await offload(quotes.quote, cp, who, body))


@router.get("/usage", response_model=UsageList, tags=["jobs"])
async def usage(cp: CP, who: Who, limit: Limit = paging.DEFAULT_LIMIT, after: After = None) -> UsageList:
    """Metered accelerator-hours, energy, carbon and cost, by tenant name (own tenant, or
    every tenant for staff, a page at a time)."""
    page = await offload(jobs.usage_page, cp, who, limit, after)
    return UsageList(usage=page.items, next=page.next)


# -- sites --------------------------------------------------------------------------


@router.get("/sites", response_model=SiteList, tags=["sites"])
async def sites(cp: CP, who: Who) -> SiteList:
    """Sites, their agents' inventories and what is in use."""
    return SiteList(sites=await offload(list_sites, cp, who))


@router.get("/history", response_model=HistoryOut, tags=["sites"])
async def network_history(
    cp: CP,
    who: Who,
    window_s: Annotated[
        float,
        Query(gt=0, le=history.MAX_WINDOW_S, allow_inf_nan=False, description="Seconds back from now."),
    ] = history.DEFAULT_WINDOW_S,
    step_s: Annotated[
        float, Query(ge=1, le=history.MAX_WINDOW_S, allow_inf_nan=False, description="Seconds per point.")
    ] = history.DEFAULT_STEP_S,
) -> HistoryOut:
    """The network over time, one value per ``step_s`` (at most 1,000 points): jobs running
    and waiting, accelerators in use by site and by type, metered kWh and kg CO2e by site (a
    tenant's token: its own jobs). Derived from the store, so every replica answers alike.

    Run in the thread pool even on SQLite (``offload`` runs SQLite calls on the event loop):
    it scans the jobs table (about 60 ms for 10,000 jobs here), and other requests should
    not wait behind it."""
    return await run_in_threadpool(history.history, cp, who, window_s, step_s)


# -- admin --------------------------------------------------------------------------


@router.post("/tenants", status_code=201, response_model=TenantCreated, tags=["admin"])
async def create_tenant(body: TenantCreate, request: Request, cp: CP, who: Who) -> TenantCreated:
    """A tenant and its first token (shown once)."""
    return await offload(admin.create_tenant, cp, who, body.name, remote_of(request), body.share_weight)


@router.patch("/tenants/{tenant}", response_model=TenantOut, tags=["admin"])
async def update_tenant(tenant: str, body: TenantUpdate, request: Request, cp: CP, who: Who) -> TenantOut:
    """Set a tenant's fair-share weight (staff; audited as ``tenant.update``)."""
    return await offload(admin.set_share_weight, cp, who, tenant, body.share_weight, remote_of(request))


@router.get("/tenants", response_model=TenantList, tags=["admin"])
async def list_tenants(cp: CP, who: Who, limit: Limit = paging.DEFAULT_LIMIT, after: After = None) -> TenantList:
    """Tenants by name, a page at a time."""
    page = await offload(admin.tenants_page, cp, who, limit, after)
    return TenantList(tenants=page.items, next=page.next)


@router.post("/tokens", status_code=201, response_model=TokenCreated, tags=["admin"])
async def create_token(body: TokenCreate, request: Request, cp: CP, who: Who) -> TokenCreated:
    """A token (shown once; only its hash is kept)."""
    return await offload(admin.create_token, cp, who, body.role, body.tenant, body.site, body.name, remote_of(request))


@router.get("/tokens", response_model=TokenList, tags=["admin"])
async def list_tokens(
    cp: CP, who: Who, revoked: bool = False, limit: Limit = paging.DEFAULT_LIMIT, after: After = None
) -> TokenList:
    """Tokens, oldest first, a page at a time: id, prefix, role, tenant or site, name, when
    made (and revoked, with ``revoked=true``). Never a token's secret or hash."""
    page = await offload(admin.tokens_page, cp, who, limit, after, revoked)
    return TokenList(tokens=page.items, next=page.next)


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["admin"])
async def revoke_token(
    token_id: Annotated[str, Path(min_length=1, max_length=200)], request: Request, cp: CP, who: Who
) -> TokenOut:
    """Revoke a token (by its id, or its prefix as listed), at once on this server and
    within 5 s on every other replica. Answers the token, with ``revoked_at``; a token
    revoked before is answered the same way."""
    return await offload(admin.revoke_token, cp, who, token_id, remote_of(request))


@router.put("/tenants/{tenant}/quotas/{family}", response_model=QuotaOut, tags=["admin"])
async def set_quota(tenant: str, family: str, body: QuotaIn, request: Request, cp: CP, who: Who) -> QuotaOut:
    """A tenant's quota for an accelerator family, type or ``*`` (all): accelerator-hours
    and/or capacity-hours per period, and accelerators at once (each omitted = unlimited)."""
    return await offload(quota_cases.set_quota, cp, who, tenant, family, body, remote_of(request))


@router.get("/tenants/{tenant}/quotas", response_model=QuotaList, tags=["admin"])
async def get_quotas(tenant: str, cp: CP, who: Who) -> QuotaList:
    """A tenant's quotas, each with its use this period in accelerator-hours and in
    normalised capacity (``capacity_unit``: H800-equivalent hours)."""
    return QuotaList(quotas=await offload(quota_cases.quotas, cp, who, tenant))


@router.get("/quotas", response_model=QuotaList, tags=["admin"])
async def all_quotas(cp: CP, who: Who) -> QuotaList:
    """Every tenant's quotas with their use (staff), or the caller's own (a tenant), by
    tenant and key."""
    return QuotaList(quotas=await offload(quota_cases.all_quotas, cp, who))


@router.get("/audit", response_model=AuditList, tags=["admin"])
async def audit(
    cp: CP,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=admin.MAX_AUDIT_PAGE, description="Entries per page.")] = 100,
    after: After = None,
) -> AuditList:
    """The audit log, newest first, a page at a time: who did what, when, from where."""
    page = await offload(admin.audit_page, cp, who, limit, after)
    return AuditList(entries=page.items, next=page.next)


# -- filings ------------------------------------------------------------------------


@router.post("/filings", status_code=201, response_model=FilingOut, tags=["compliance"])
async def file_model(body: FilingCreate, request: Request, cp: CP, who: Who) -> FilingOut:
    """Record a model filing (pending until an operator decides)."""
    return await offload(admin.file_model, cp, who, body, remote_of(request))


@router.get("/filings", response_model=FilingList, tags=["compliance"])
async def filings(cp: CP, who: Who, limit: Limit = paging.DEFAULT_LIMIT, after: After = None) -> FilingList:
    """Model filings, oldest first, a page at a time (a tenant's own; staff: all)."""
    page = await offload(admin.filings_page, cp, who, limit, after)
    return FilingList(filings=page.items, next=page.next)


@router.post("/filings/{filing_id}/decision", response_model=FilingOut, tags=["compliance"])
async def decide_filing(filing_id: str, body: FilingDecision, request: Request, cp: CP, who: Who) -> FilingOut:
    return await offload(admin.decide_filing, cp, who, filing_id, body.approved, body.note, remote_of(request))


# -- agents -------------------------------------------------------------------------


@router.post("/agents/register", response_model=RegisterOut, tags=["agents"])
async def register(body: AgentRegister, request: Request, cp: CP, who: Who) -> dict[str, Any]:
    """An agent announces its site's inventory."""
    return await offload(agents.register, cp, who, body, remote_of(request))


@router.post("/agents/heartbeat", response_model=HeartbeatOut, tags=["agents"])
async def heartbeat(body: AgentHeartbeat, cp: CP, who: Who) -> HeartbeatOut:
    """Alive; the jobs it runs. Answers with assignments and jobs to stop."""
    return await offload(agents.heartbeat, cp, who, body)


@router.get("/agents/jobs/{job_id}/assignment", response_model=Assignment, tags=["agents"])
async def assignment(job_id: str, cp: CP, who: Who, fencing_token: Annotated[int, Query(ge=0, le=2**53)]) -> Assignment:
    """A lease's assignment with the job's spec (heartbeats list leases without specs);
    409 STALE_LEASE unless ``fencing_token`` is the job's current one at this agent's site."""
    return await offload(agents.assignment, cp, who, job_id, fencing_token)


@router.post("/agents/jobs/{job_id}/report", status_code=204, tags=["agents"])
async def report(job_id: str, body: AgentReport, cp: CP, who: Who) -> Response:
    """A state change, checkpoint or log text; 409 when the fencing token is stale."""
    await offload(agents.report, cp, who, job_id, body)
    return Response(status_code=204)
