"""The SDK's client: one method per REST call of ``/v1``, answers parsed into the wire models
of :mod:`suanli.schemas`, errors mapped onto :mod:`suanli.client._errors`.

Retries. Reads (GET), quota updates (PUT) and job submissions are retried on connection
errors, 5xx and 429, with exponential backoff (``backoff_s * 2**attempt``, plus up to 25 %
jitter; a 429's ``Retry-After`` when it is longer, unless it exceeds ``MAX_RETRY_AFTER_S``).
A submission carries one idempotency key (generated when the caller gives none) in the
``Idempotency-Key`` header and the body, the same on every attempt, so a retry after a lost
answer returns the job the first attempt created instead of creating a second one. Other
calls (cancel, agent reports, ...) are sent once.

Testing without a network: pass ``transport=httpx.MockTransport(handler)``.
"""

from __future__ import annotations

import datetime
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from suanli import __version__
from suanli.client._credentials import resolve
from suanli.client._errors import (
    LOGIN_HINT,
    STATUS_ERRORS,
    ApiError,
    Conflict,
    Forbidden,
    InvalidRequest,
    RateLimited,
    ServerUnavailable,
    StaleLease,
    Unauthorized,
)
from suanli.errors import InputError
from suanli.schemas import (
    AgentHeartbeat,
    AgentRegister,
    AgentReport,
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
    TokenCreate,
    TokenCreated,
    UsageOut,
)
from suanli.schemas.v1 import Role

M = TypeVar("M", bound=BaseModel)

MAX_RETRY_AFTER_S = 60.0
"""A 429 asking to wait longer than this is raised at once as :class:`RateLimited`."""
SERVE_HINT = "To fix: start it with `suanli serve` or set SUANLI_SERVER"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Client:
    """A connection to a suanli server.

    ``server`` and ``token`` default to ``$SUANLI_SERVER`` / ``$SUANLI_TOKEN``, then to the
    login saved by ``suanli login``. ``transport`` replaces the network (tests use
    ``httpx.MockTransport``). ``retries`` is the number of extra attempts of a retried call.

    >>> with Client("http://127.0.0.1:8470", "tok") as client:  # doctest: +SKIP
    ...     job = client.submit(spec)
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.25,
    ) -> None:
        creds = resolve(server, token)
        self.server = creds.server
        self._display = _display_url(creds.server)
        self._token = creds.token.strip() if creds.token else None
        if self._token is not None and (not self._token.isprintable() or " " in self._token):
            raise InputError("the token contains spaces or control characters. To fix: copy it again")
        if retries < 0 or backoff_s < 0:
            raise ValueError("retries and backoff_s must be >= 0")
        self.retries, self.backoff_s = retries, backoff_s
        self._sleep: Callable[[float], None] = time.sleep
        headers = {"User-Agent": f"suanli/{__version__}", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, transport=transport, timeout=timeout_s)

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def __repr__(self) -> str:
        return f"Client(server={self._display!r}, token={'***' if self._token else None})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- jobs ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /v1/health`` (no token needed): ``{"status", "version", "leader"}``."""
        data = self._json(self._request("GET", "/v1/health", retry=True))
        if not isinstance(data, dict):
            raise self._bad_answer("/v1/health", "expected an object")
        return data

    def submit(self, spec: Mapping[str, Any] | BaseModel, idempotency_key: str | None = None) -> JobOut:
        """Submit a job spec (the YAML's content as a dict, or a ``JobSpec``); it needs a
        ``run:`` section. Retried with the same idempotency key, so it creates one job."""
        if isinstance(spec, BaseModel):
            spec_dict = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
        else:
            spec_dict = _jsonable(dict(spec), "spec")
        key = idempotency_key or str(uuid.uuid4())
        body = _body(JobSubmit, spec=spec_dict, idempotency_key=key)
        response = self._request("POST", "/v1/jobs", json=body, headers={IDEMPOTENCY_HEADER: key}, retry=True)
        return self._model(JobOut, response)

    def jobs(self, state: JobState | None = None, limit: int | None = None, all_tenants: bool = False) -> list[JobOut]:
        """Jobs, newest first; ``all_tenants`` (operator, admin) lists every tenant's."""
        params: dict[str, str | int] = {}
        if state is not None:
            params["state"] = state
        if limit is not None:
            params["limit"] = limit
        if all_tenants:
            params["all"] = "true"
        return self._items(JobOut, "jobs", self._request("GET", "/v1/jobs", params=params, retry=True))

    def job(self, job_id: str) -> JobOut:
        return self._model(JobOut, self._request("GET", f"/v1/jobs/{_seg(job_id)}", retry=True))

    def cancel(self, job_id: str) -> JobOut:
        return self._model(JobOut, self._request("POST", f"/v1/jobs/{_seg(job_id)}/cancel"))

    def logs(self, job_id: str, offset: int = 0) -> LogsOut:
        """The job's output from character ``offset`` on."""
        response = self._request("GET", f"/v1/jobs/{_seg(job_id)}/logs", params={"offset": offset}, retry=True)
        return self._model(LogsOut, response)

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
        return self._model(ExplainOut, self._request("GET", f"/v1/jobs/{_seg(job_id)}/explain", retry=True))

    def sites(self) -> list[SiteOut]:
        return self._items(SiteOut, "sites", self._request("GET", "/v1/sites", retry=True))

    def usage(self) -> list[UsageOut]:
        return self._items(UsageOut, "usage", self._request("GET", "/v1/usage", retry=True))

    # -- tenants, tokens, quotas, audit (operator, admin) -------------------------------------

    def create_tenant(self, name: str) -> TenantCreated:
        """A new tenant and its first token (shown once)."""
        body = _body(TenantCreate, name=name)
        return self._model(TenantCreated, self._request("POST", "/v1/tenants", json=body))

    def tenants(self) -> list[TenantOut]:
        return self._items(TenantOut, "tenants", self._request("GET", "/v1/tenants", retry=True))

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
    ) -> QuotaOut:
        """Set a tenant's quota for one accelerator family (``*`` for all); None = unlimited."""
        body = _body(QuotaIn, accelerator_hours=accelerator_hours, period_h=period_h, max_concurrent=max_concurrent)
        path = f"/v1/tenants/{_seg(tenant)}/quotas/{_seg(family)}"
        return self._model(QuotaOut, self._request("PUT", path, json=body, retry=True))

    def quotas(self, tenant: str) -> list[QuotaOut]:
        response = self._request("GET", f"/v1/tenants/{_seg(tenant)}/quotas", retry=True)
        return self._items(QuotaOut, "quotas", response)

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        response = self._request("GET", "/v1/audit", params={"limit": limit}, retry=True)
        return self._items(AuditEntry, "entries", response)

    # -- model filings ------------------------------------------------------------------------

    def file_model(self, model: str, filing_number: str | None = None, note: str | None = None) -> FilingOut:
        """Record a model's filing (generative-AI service registration) for review."""
        body = _body(FilingCreate, model=model, filing_number=filing_number, note=note)
        return self._model(FilingOut, self._request("POST", "/v1/filings", json=body))

    def filings(self) -> list[FilingOut]:
        return self._items(FilingOut, "filings", self._request("GET", "/v1/filings", retry=True))

    def decide_filing(self, filing_id: str, approved: bool, note: str | None = None) -> FilingOut:
        body = _body(FilingDecision, approved=approved, note=note)
        response = self._request("POST", f"/v1/filings/{_seg(filing_id)}/decision", json=body)
        return self._model(FilingOut, response)

    # -- the agent link (role agent) ------------------------------------------------------------

    def register(self, body: AgentRegister) -> dict[str, Any]:
        """Announce a site's inventory: ``{"site", "heartbeat_interval_s"}``."""
        data = self._json(self._request("POST", "/v1/agents/register", json=body.model_dump(mode="json")))
        if not isinstance(data, dict):
            raise self._bad_answer("/v1/agents/register", "expected an object")
        return data

    def heartbeat(self, body: AgentHeartbeat) -> HeartbeatOut:
        """Report the jobs running at the site; receive new assignments and jobs to stop."""
        response = self._request("POST", "/v1/agents/heartbeat", json=body.model_dump(mode="json"))
        return self._model(HeartbeatOut, response)

    def report(self, job_id: str, body: AgentReport) -> None:
        """Report a job's state, checkpoint or output. Raises :class:`StaleLease` when the
        fencing token is no longer the job's current one (stop running it)."""
        path = f"/v1/agents/jobs/{_seg(job_id)}/report"
        try:
            self._request("POST", path, json=body.model_dump(mode="json"))
        except Conflict as exc:
            raise StaleLease(exc.message, status=exc.status, code=exc.code, details=exc.details) from None

    # -- plumbing -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = False,
    ) -> httpx.Response:
        """Send one call, retrying it (when ``retry``) on connection errors, 5xx and 429."""
        attempts = 1 + (self.retries if retry else 0)
        failure = ""
        for attempt in range(attempts):
            response: httpx.Response | None = None
            try:
                response = self._http.request(method, path, json=json, params=params, headers=headers)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if attempt + 1 >= attempts:
                    raise ServerUnavailable(
                        f"cannot reach the suanli server at {self._display} ({failure})", hint=SERVE_HINT
                    ) from exc
                self._sleep(self._delay(attempt, None))
                continue
            status = response.status_code
            if status < 400:
                return response
            error = self._error(response)
            retriable = status == 429 or status >= 500
            if not retriable or attempt + 1 >= attempts:
                raise error
            if isinstance(error, RateLimited) and (error.retry_after_s or 0) > MAX_RETRY_AFTER_S:
                raise error
            self._sleep(self._delay(attempt, error))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, error: ApiError | None) -> float:
        delay = self.backoff_s * 2.0**attempt * (1 + 0.25 * random.random())
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            delay = max(delay, error.retry_after_s)
        return delay

    def _error(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        code, message, details = _error_body(response)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if status >= 500:
            return ServerUnavailable(
                f"the suanli server at {self._display} failed: {message}",
                status=status,
                code=code,
                details=details,
                hint="To fix: see the server's log, or start one with `suanli serve` or set SUANLI_SERVER",
            )
        cls = STATUS_ERRORS.get(status, ApiError)
        hint = None
        if cls is Unauthorized:
            hint = LOGIN_HINT if self._token is None else f"the token was refused by {self._display}. {LOGIN_HINT}"
        elif cls is Forbidden:
            hint = "To fix: use a token whose role allows this (ask an operator)"
        elif cls is InvalidRequest and status == 413:
            hint = "To fix: send a smaller request"
        if cls is RateLimited:
            return RateLimited(message, retry_after_s=retry_after, status=status, code=code, details=details)
        return cls(message, status=status, code=code, details=details, hint=hint)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._bad_answer(response.url.path, "the body is not JSON") from None

    def _model(self, model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate(self._json(response))
        except ValidationError as exc:
            raise self._bad_answer(response.url.path, _first_error(exc)) from None

    def _items(self, model: type[M], key: str, response: httpx.Response) -> list[M]:
        data = self._json(response)
        if not isinstance(data, dict) or key not in data:
            raise self._bad_answer(response.url.path, f"expected {{'{key}': [...]}}")
        try:
            return TypeAdapter(list[model]).validate_python(data[key])  # type: ignore[valid-type]
        except ValidationError as exc:
            raise self._bad_answer(response.url.path, _first_error(exc)) from None

    def _bad_answer(self, path: str, why: str) -> ApiError:
        return ApiError(
            f"unexpected answer from {self._display}{path}: {why}",
            code="BAD_RESPONSE",
            hint="To fix: check that the server and this client are the same suanli version",
        )


def _seg(value: str) -> str:
    """One URL path segment: ``/`` and everything else special escaped."""
    return quote(str(value), safe="")


def _body(schema: type[BaseModel], /, **fields: Any) -> dict[str, Any]:
    """Validate a request body locally (the server checks again) so bad input fails before sending."""
    try:
        return schema.model_validate(fields).model_dump(mode="json")
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise InvalidRequest("invalid request", code="INVALID_INPUT", details=details) from None


def _jsonable(value: Any, where: str) -> Any:
    """``value`` with YAML's timestamps as ISO 8601 text (``yaml.safe_load`` makes datetimes
    of ``2025-01-01T00:00:00Z``); anything else JSON cannot carry is an :class:`InvalidRequest`."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, datetime.date | datetime.time):  # datetime.datetime is a date
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidRequest(f"{where}: a {type(value).__name__} cannot be sent as JSON", code="INVALID_INPUT")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ".".join(str(p) for p in error["loc"])
    return f"{loc}: {error['msg']}" if loc else error["msg"]


def _error_body(response: httpx.Response) -> tuple[str, str, list[dict[str, Any]] | None]:
    """(code, message, details) from an ``ErrorOut`` body, FastAPI's ``{"detail": ...}``, or
    the status line when the body is neither (a proxy's HTML page)."""
    fallback = (f"HTTP_{response.status_code}", response.reason_phrase or "error", None)
    try:
        data = response.json()
    except ValueError:
        return fallback
    if not isinstance(data, dict):
        return fallback
    details = data.get("details")
    if not isinstance(details, list):
        details = None
    if isinstance(data.get("message"), str):
        code = data.get("code")
        return (code if isinstance(code, str) else fallback[0], data["message"], details)
    detail = data.get("detail")
    if isinstance(detail, str):
        return (fallback[0], detail, None)
    if isinstance(detail, list):
        return (fallback[0], "invalid request", [d for d in detail if isinstance(d, dict)] or None)
    return fallback


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is read as unknown)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _display_url(server: str) -> str:
    """The server's URL without user info (never print a password embedded in it)."""
    try:
        url = httpx.URL(server)
    except httpx.InvalidURL:
        raise InputError(
            "the server URL is not valid. To fix: pass --server http://HOST:PORT or set SUANLI_SERVER"
        ) from None
    if url.scheme not in ("http", "https") or not url.host:
        shown = server if "@" not in server else "(hidden: it has user info)"
        raise InputError(
            f"server '{shown}' is not an http(s) URL. To fix: pass --server http://HOST:PORT or set SUANLI_SERVER"
        )
    if url.userinfo:
        url = url.copy_with(username=None, password=None)
    return str(url).rstrip("/")
