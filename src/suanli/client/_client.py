"""The SDK's client: one method per REST call of ``/v1``, answers parsed into the wire models
of :mod:`suanli.schemas`, errors mapped onto :mod:`suanli.client._errors`.

It is :class:`suanli.client._wire.Wire` (the calls, retries and error mapping, as JSON) with
typed answers; see there for what is retried and how a submission stays one job.

Testing without a network: pass ``transport=httpx.MockTransport(handler)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from suanli.client._errors import Conflict, InvalidRequest, StaleLease
from suanli.client._wire import IDEMPOTENCY_HEADER, MAX_RETRY_AFTER_S, SERVE_HINT, Wire, _jsonable, _seg
from suanli.schemas import (
    AgentHeartbeat,
    AgentRegister,
    AgentReport,
    Assignment,
    AuditEntry,
    ExplainOut,
    FilingCreate,
    FilingDecision,
    FilingOut,
    HeartbeatOut,
    JobOut,
    JobState,
    JobSubmit,
    LogsOut,
    QuotaIn,
    QuotaOut,
    SiteOut,
    TenantCreate,
    TenantCreated,
    TenantOut,
    TenantUpdate,
    TokenCreate,
    TokenCreated,
    UsageOut,
)
from suanli.schemas.v1 import Role

M = TypeVar("M", bound=BaseModel)

__all__ = ["IDEMPOTENCY_HEADER", "MAX_RETRY_AFTER_S", "SERVE_HINT", "Client"]


class Client(Wire):
    """A connection to a suanli server, with typed answers.

    ``server`` and ``token`` default to ``$SUANLI_SERVER`` / ``$SUANLI_TOKEN``, then to the
    login saved by ``suanli login``. ``transport`` replaces the network (tests use
    ``httpx.MockTransport``). ``retries`` is the number of extra attempts of a retried call.

    >>> with Client("http://127.0.0.1:8470", "tok") as client:  # doctest: +SKIP
    ...     job = client.submit(spec)
    """

    def __enter__(self) -> Client:
        return self

    # -- jobs ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /v1/health`` (no token needed): ``{"status", "version", "leader"}``."""
        return self.health_json()

    def submit(self, spec: Mapping[str, Any] | BaseModel, idempotency_key: str | None = None) -> JobOut:
        """Submit a job spec (the YAML's content as a dict, or a ``JobSpec``); it needs a
        ``run:`` section. Retried with the same idempotency key, so it creates one job."""
        if isinstance(spec, BaseModel):
            spec_dict = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
        else:
            spec_dict = _jsonable(dict(spec), "spec")
        key = idempotency_key or str(uuid.uuid4())
        _body(JobSubmit, spec=spec_dict, idempotency_key=key)  # refuse bad input before sending
        return self._typed(JobOut, "/v1/jobs", self.submit_json(spec_dict, key))

    def jobs(self, state: JobState | None = None, limit: int | None = None, all_tenants: bool = False) -> list[JobOut]:
        """The newest jobs, one page (100, or ``limit`` up to 1,000); ``all_tenants``
        (operator, admin) lists every tenant's. :meth:`iter_jobs` goes past one page."""
        return self._typed_list(JobOut, "/v1/jobs", self.jobs_json(state, limit, all_tenants))

    def iter_jobs(
        self, state: JobState | None = None, all_tenants: bool = False, limit: int | None = None
    ) -> Iterator[JobOut]:
        """Jobs, newest first, following the listing's pages: every one, or the newest
        ``limit``. Each job that existed when it began comes exactly once, in order."""
        for item in self.iter_jobs_json(state, all_tenants, limit):
            yield self._typed(JobOut, "/v1/jobs", item)

    def job(self, job_id: str) -> JobOut:
        return self._typed(JobOut, f"/v1/jobs/{_seg(job_id)}", self.job_json(job_id))

    def cancel(self, job_id: str) -> JobOut:
        return self._typed(JobOut, f"/v1/jobs/{_seg(job_id)}/cancel", self.cancel_json(job_id))

    def logs(self, job_id: str, offset: int = 0) -> LogsOut:
        """The job's output from character ``offset`` on."""
        return self._typed(LogsOut, f"/v1/jobs/{_seg(job_id)}/logs", self.logs_json(job_id, offset))

    def follow_logs(self, job_id: str, poll_s: float = 1.0, offset: int = 0) -> Iterator[str]:
        """Yield the job's output as it comes, until the job is finished and all is sent.
        Polls every ``poll_s`` seconds while there is nothing new."""
        while True:
            chunk = self.logs(job_id, offset)
            if chunk.text:
                yield chunk.text
            offset = chunk.next_offset
            if chunk.done:
                return
            if not chunk.text:
                self._sleep(poll_s)

    def explain(self, job_id: str) -> ExplainOut:
        """Why the job runs where it runs, or why it waits."""
        return self._typed(ExplainOut, f"/v1/jobs/{_seg(job_id)}/explain", self.explain_json(job_id))

    def sites(self) -> list[SiteOut]:
        return self._typed_list(SiteOut, "/v1/sites", self.sites_json())

    def usage(self) -> list[UsageOut]:
        return self._typed_list(UsageOut, "/v1/usage", self.usage_json())

    # -- tenants, tokens, quotas, audit (operator, admin) -------------------------------------

    def create_tenant(self, name: str, share_weight: float | None = None) -> TenantCreated:
        """A new tenant and its first token (shown once); ``share_weight``: its weight in the
        live fair share (1 unless given)."""
        body = _body(TenantCreate, name=name, **({} if share_weight is None else {"share_weight": share_weight}))
        if share_weight is None:
            del body["share_weight"]  # a server from before fair-share weights refuses the field
        return self._model(TenantCreated, self._request("POST", "/v1/tenants", json=body))

    def set_share_weight(self, tenant: str, share_weight: float) -> TenantOut:
        """Set a tenant's weight in the live fair share (staff)."""
        body = _body(TenantUpdate, share_weight=share_weight)
        return self._model(TenantOut, self._request("PATCH", f"/v1/tenants/{_seg(tenant)}", json=body, retry=True))

    def tenants(self) -> list[TenantOut]:
        """Every tenant, by name (all pages)."""
        return self._typed_list(TenantOut, "/v1/tenants", list(self.iter_pages_json("/v1/tenants", "tenants")))

    def create_token(
        self, role: Role = "tenant", tenant: str | None = None, site: str | None = None, name: str | None = None
    ) -> TokenCreated:
        """A new token (shown once): a tenant's, a site agent's, an operator's or an admin's."""
        body = _body(TokenCreate, role=role, tenant=tenant, site=site, name=name)
        return self._model(TokenCreated, self._request("POST", "/v1/tokens", json=body))

    def set_quota(
        self,
        tenant: str,
        family: str,
        accelerator_hours: float | None = None,
        period_h: float = 720.0,
        max_concurrent: int | None = None,
        capacity_hours: float | None = None,
    ) -> QuotaOut:
        """Set a tenant's quota for one accelerator family, type or ``*`` (all); None =
        unlimited. ``capacity_hours`` is in the server's capacity unit (H800-equivalent hours)."""
        body = _body(
            QuotaIn,
            accelerator_hours=accelerator_hours,
            capacity_hours=capacity_hours,
            period_h=period_h,
            max_concurrent=max_concurrent,
        )
        if capacity_hours is None:
            del body["capacity_hours"]  # a server from before capacity quotas refuses the field
        path = f"/v1/tenants/{_seg(tenant)}/quotas/{_seg(family)}"
        return self._model(QuotaOut, self._request("PUT", path, json=body, retry=True))

    def quotas(self, tenant: str | None = None) -> list[QuotaOut]:
        """One tenant's quotas with their use, or (None) every quota the caller may see."""
        path = "/v1/quotas" if tenant is None else f"/v1/tenants/{_seg(tenant)}/quotas"
        return self._items(QuotaOut, "quotas", self._request("GET", path, retry=True))

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries (following pages past the server's 10,000 a page)."""
        items = list(self.iter_pages_json("/v1/audit", "entries", limit=limit))
        return self._typed_list(AuditEntry, "/v1/audit", items)

    def iter_audit(self, limit: int | None = None) -> Iterator[AuditEntry]:
        """The audit log, newest first, page after page: all of it, or the newest ``limit``."""
        for item in self.iter_pages_json("/v1/audit", "entries", limit=limit):
            yield self._typed(AuditEntry, "/v1/audit", item)

    # -- model filings ------------------------------------------------------------------------

    def file_model(self, model: str, filing_number: str | None = None, note: str | None = None) -> FilingOut:
        """Record a model's filing (generative-AI service registration) for review."""
        _body(FilingCreate, model=model, filing_number=filing_number, note=note)  # refuse bad input before sending
        return self._typed(FilingOut, "/v1/filings", self.file_model_json(model, filing_number, note))

    def filings(self) -> list[FilingOut]:
        """Every filing the token may see, oldest first (all pages)."""
        return self._typed_list(FilingOut, "/v1/filings", list(self.iter_pages_json("/v1/filings", "filings")))

    def decide_filing(self, filing_id: str, approved: bool, note: str | None = None) -> FilingOut:
        body = _body(FilingDecision, approved=approved, note=note)
        response = self._request("POST", f"/v1/filings/{_seg(filing_id)}/decision", json=body)
        return self._model(FilingOut, response)

    # -- the agent link (role agent) ------------------------------------------------------------

    def register(self, body: AgentRegister) -> dict[str, Any]:
        """Announce a site's inventory: ``{"site", "heartbeat_interval_s"}``."""
        return self._object(self._request("POST", "/v1/agents/register", json=body.model_dump(mode="json")))

    def heartbeat(self, body: AgentHeartbeat) -> HeartbeatOut:
        """Report the jobs running at the site; receive new assignments and jobs to stop."""
        response = self._request("POST", "/v1/agents/heartbeat", json=body.model_dump(mode="json"))
        return self._model(HeartbeatOut, response)

    def assignment(self, job_id: str, fencing_token: int) -> Assignment:
        """A lease's assignment with the job's spec (heartbeats list leases without their
        specs). Raises :class:`StaleLease` when the lease is no longer the job's current one
        at this agent's site (do not start it)."""
        path = f"/v1/agents/jobs/{_seg(job_id)}/assignment"
        try:
            response = self._request("GET", path, params={"fencing_token": fencing_token}, retry=True)
        except Conflict as exc:
            raise StaleLease(exc.message, status=exc.status, code=exc.code, details=exc.details) from None
        return self._model(Assignment, response)

    def report(self, job_id: str, body: AgentReport) -> None:
        """Report a job's state, checkpoint or output. Raises :class:`StaleLease` when the
        fencing token is no longer the job's current one (stop running it)."""
        path = f"/v1/agents/jobs/{_seg(job_id)}/report"
        try:
            self._request("POST", path, json=body.model_dump(mode="json"))
        except Conflict as exc:
            raise StaleLease(exc.message, status=exc.status, code=exc.code, details=exc.details) from None

    # -- plumbing -------------------------------------------------------------------------------

    def _model(self, model: type[M], response: Any) -> M:
        return self._typed(model, response.path, self._json(response))

    def _items(self, model: type[M], key: str, response: Any) -> list[M]:
        return self._typed_list(model, response.path, self._list(key, response))

    def _typed(self, model: type[M], path: str, data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise self._bad_answer(path, _first_error(exc)) from None

    def _typed_list(self, model: type[M], path: str, items: list[Any]) -> list[M]:
        try:
            return TypeAdapter(list[model]).validate_python(items)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise self._bad_answer(path, _first_error(exc)) from None


def _body(schema: type[BaseModel], /, **fields: Any) -> dict[str, Any]:
    """Validate a request body locally (the server checks again) so bad input fails before sending."""
    try:
        return schema.model_validate(fields).model_dump(mode="json")
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise InvalidRequest("invalid request", code="INVALID_INPUT", details=details) from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ".".join(str(p) for p in error["loc"])
    return f"{loc}: {error['msg']}" if loc else error["msg"]
