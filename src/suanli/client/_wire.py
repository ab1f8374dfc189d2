"""The SDK's wire layer: one method per REST call of ``/v1``, answers as decoded JSON.

:class:`Wire` holds what every call shares (server, token, retries, error mapping) and
imports neither pydantic nor the wire schemas, so the CLI's everyday commands (submit,
status, jobs, logs, cancel, explain) start fast; :class:`suanli.client.Client` adds the
typed answers on top of it.

Retries. Reads (GET), quota updates (PUT) and job submissions are retried on connection
errors, 5xx and 429, with exponential backoff (``backoff_s * 2**attempt``, plus up to 25 %
jitter; a 429's ``Retry-After`` when it is longer, unless it exceeds ``MAX_RETRY_AFTER_S``).
A submission carries one idempotency key (generated when the caller gives none) in the
``Idempotency-Key`` header and the body, the same on every attempt, so a retry after a lost
answer returns the job the first attempt created instead of creating a second one. Other
calls (cancel, agent reports, ...) are sent once.
"""

from __future__ import annotations

import datetime
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from suanli import __version__
from suanli.client._credentials import resolve
from suanli.client._errors import (
    LOGIN_HINT,
    STATUS_ERRORS,
    ApiError,
    Forbidden,
    InvalidRequest,
    RateLimited,
    ServerUnavailable,
    Unauthorized,
)
from suanli.client._http import Response, ServerUrl, TransportError, target, transport_for
from suanli.errors import InputError

MAX_RETRY_AFTER_S = 60.0
"""A 429 asking to wait longer than this is raised at once as :class:`RateLimited`."""
SERVE_HINT = "To fix: start it with `suanli serve` or set SUANLI_SERVER"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_BATCH = 1000
"""Specs in one ``POST /v1/jobs:batch`` (the server's limit too)."""
PAGE_SIZE = 1000
"""Items asked for per page when following a listing's cursors (the server's largest page)."""

Json = Any
"""A decoded JSON value."""


class Wire:
    """A connection to a suanli server, speaking JSON.

    ``server`` and ``token`` default to ``$SUANLI_SERVER`` / ``$SUANLI_TOKEN``, then to the
    login saved by ``suanli login``. ``transport`` replaces the network (an httpx transport
    such as ``httpx.MockTransport``, or a :class:`suanli.client._http.Transport`).
    ``retries`` is the number of extra attempts of a retried call. ``profile`` names a
    profile of the config file (default ``$SUANLI_PROFILE``, then the file's own choice).
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        transport: Any = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.25,
        profile: str | None = None,
    ) -> None:
        creds = resolve(server, token, profile)
        url = ServerUrl.parse(creds.server)
        self.server = creds.server
        self._display = url.display
        self._token = creds.token.strip() if creds.token else None
        if self._token is not None and (not self._token.isprintable() or " " in self._token):
            raise InputError("the token contains spaces or control characters. To fix: copy it again")
        if retries < 0 or backoff_s < 0:
            raise ValueError("retries and backoff_s must be >= 0")
        self.retries, self.backoff_s = retries, backoff_s
        self._sleep: Callable[[float], None] = time.sleep
        self._headers = {"User-Agent": f"suanli/{__version__}", "Accept": "application/json"}
        if self._token:
            self._headers["Authorization"] = f"Bearer {self._token}"
        self._transport = transport_for(url, timeout_s, transport)

    @property
    def url(self) -> str:
        """The server's URL as messages show it (without user info)."""
        return self._display

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server={self._display!r}, token={'***' if self._token else None})"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- jobs, as JSON ------------------------------------------------------------------------

    def health_json(self) -> dict[str, Any]:
        """``GET /v1/health`` (no token needed): ``{"status", "version", "leader"}``."""
        return self._object(self._request("GET", "/v1/health", retry=True))

    def submit_json(self, spec: Mapping[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """``POST /v1/jobs``: the job created (or the one this idempotency key created before)."""
        key = idempotency_key or str(uuid.uuid4())
        body = {"spec": _jsonable(dict(spec), "spec"), "idempotency_key": key}
        response = self._request("POST", "/v1/jobs", json=body, headers={IDEMPOTENCY_HEADER: key}, retry=True)
        return self._object(response)

    def submit_batch_json(
        self, specs: list[Mapping[str, Any]], idempotency_keys: list[str] | None = None
    ) -> dict[str, Any]:
        """``POST /v1/jobs:batch``: up to :data:`MAX_BATCH` specs in one call and one
        transaction; ``{"items": [{"index", "created", "job"} | {"index", "error"}]}``, one per
        spec in order. Retried with the same keys, so each spec creates one job."""
        if not specs or len(specs) > MAX_BATCH:
            raise InvalidRequest(f"a batch holds 1 to {MAX_BATCH:,} specs, not {len(specs):,}", code="INVALID_BATCH")
        keys = idempotency_keys or [str(uuid.uuid4()) for _ in specs]
        if len(keys) != len(specs):
            raise InvalidRequest("one idempotency key per spec", code="INVALID_BATCH")
        items = [
            {"spec": _jsonable(dict(spec), f"specs[{i}]"), "idempotency_key": key}
            for i, (spec, key) in enumerate(zip(specs, keys, strict=True))
        ]
        return self._object(self._request("POST", "/v1/jobs:batch", json={"jobs": items}, retry=True))

    def jobs_json(self, state: str | None = None, limit: int | None = None, all_tenants: bool = False) -> list[Json]:
        """The newest jobs, one page (the server's default of 100, or ``limit`` up to 1,000);
        ``all_tenants`` (operator, admin) lists every tenant's. :meth:`iter_jobs_json`
        follows the pages."""
        return self.page_json("/v1/jobs", "jobs", _job_params(state, all_tenants), limit)[0]

    def jobs_page_json(
        self, state: str | None = None, all_tenants: bool = False, limit: int | None = None, after: str | None = None
    ) -> tuple[list[Json], str | None]:
        """One page of jobs, newest first, after the cursor ``after``: the jobs, and the
        cursor of the next page (None on the last)."""
        return self.page_json("/v1/jobs", "jobs", _job_params(state, all_tenants), limit, after)

    def iter_jobs_json(
        self, state: str | None = None, all_tenants: bool = False, limit: int | None = None
    ) -> Iterator[Json]:
        """Jobs, newest first, page after page: every one (``limit`` None) or the newest
        ``limit``. Each job that existed when the first page was read comes exactly once;
        jobs submitted meanwhile are not listed."""
        return self.iter_pages_json("/v1/jobs", "jobs", _job_params(state, all_tenants), limit)

    def page_json(
        self,
        path: str,
        key: str,
        params: Mapping[str, str | int] | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> tuple[list[Json], str | None]:
        """One page of the listing at ``path`` (its items under ``key``): the items, and
        the cursor of the next page (None on the last, and from servers without pages)."""
        sent: dict[str, str | int] = dict(params or {})
        if limit is not None:
            sent["limit"] = limit
        if after is not None:
            sent["after"] = after
        response = self._request("GET", path, params=sent, retry=True)
        items = self._list(key, response)
        cursor = self._json(response).get("next")
        if cursor is not None and not isinstance(cursor, str):
            raise self._bad_answer(response.path, "expected 'next' to be a cursor (a string) or null")
        return items, cursor

    def iter_pages_json(
        self, path: str, key: str, params: Mapping[str, str | int] | None = None, limit: int | None = None
    ) -> Iterator[Json]:
        """The items of the listing at ``path``, following its ``next`` cursors until the
        end or ``limit`` items, asking for :data:`PAGE_SIZE` (or fewer) at a time."""
        after: str | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
            items, after = self.page_json(path, key, params, size, after)
            yield from items[:remaining]
            if remaining is not None:
                remaining -= len(items)
            if after is None or not items:
                return

    def job_json(self, job_id: str) -> dict[str, Any]:
        return self._object(self._request("GET", f"/v1/jobs/{_seg(job_id)}", retry=True))

    def cancel_json(self, job_id: str) -> dict[str, Any]:
        return self._object(self._request("POST", f"/v1/jobs/{_seg(job_id)}/cancel"))

    def logs_json(self, job_id: str, offset: int = 0) -> dict[str, Any]:
        """The job's output from character ``offset`` on: ``{"text", "next_offset", "done"}``."""
        response = self._request("GET", f"/v1/jobs/{_seg(job_id)}/logs", params={"offset": offset}, retry=True)
        return self._object(response)

    def explain_json(self, job_id: str) -> dict[str, Any]:
        """Why the job runs where it runs, or why it waits."""
        return self._object(self._request("GET", f"/v1/jobs/{_seg(job_id)}/explain", retry=True))

    def sites_json(self) -> list[Json]:
        return self._list("sites", self._request("GET", "/v1/sites", retry=True))

    def usage_json(self) -> list[Json]:
        """Usage by tenant: every tenant the token may see (all pages)."""
        return list(self.iter_pages_json("/v1/usage", "usage"))

    def quote_json(
        self,
        spec: Mapping[str, Any],
        accelerator: str | None = None,
        count: int | None = None,
        site: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/plan`` (or ``/v1/estimate`` with ``accelerator`` and ``count``): the
        live options with their predicted starts; nothing is submitted."""
        body: dict[str, Any] = {"spec": _jsonable(dict(spec), "spec")}
        body |= {k: v for k, v in (("accelerator", accelerator), ("count", count), ("site", site)) if v is not None}
        path = "/v1/estimate" if accelerator is not None else "/v1/plan"
        return self._object(self._request("POST", path, json=body, retry=True))

    def whoami_json(self) -> dict[str, Any]:
        """``GET /v1/whoami``: the token's role, tenant, site and name."""
        return self._object(self._request("GET", "/v1/whoami", retry=True))

    def file_model_json(self, model: str, filing_number: str | None = None, note: str | None = None) -> dict[str, Any]:
        """``POST /v1/filings``: record a model's filing (generative-AI service registration)."""
        body = {"model": model, "filing_number": filing_number, "note": note}
        return self._object(self._request("POST", "/v1/filings", json=body))

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
    ) -> Response:
        """Send one call, retrying it (when ``retry``) on connection errors, 5xx and 429."""
        attempts = 1 + (self.retries if retry else 0)
        body, sent = _encode(json), dict(self._headers)
        if body is not None:
            sent["Content-Type"] = "application/json"
        if headers:
            sent.update(headers)
        where = target(path, params)
        for attempt in range(attempts):
            try:
                response = self._transport.send(method, where, body, sent)
            except TransportError as exc:
                if attempt + 1 >= attempts:
                    raise ServerUnavailable(
                        f"cannot reach the suanli server at {self._display} ({exc})", hint=SERVE_HINT
                    ) from exc
                self._sleep(self._delay(attempt, None))
                continue
            status = response.status
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

    def _error(self, response: Response) -> ApiError:
        status = response.status
        code, message, details = _error_body(response)
        retry_after = _retry_after(response.header("Retry-After"))
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

    def _json(self, response: Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._bad_answer(response.path, "the body is not JSON") from None

    def _object(self, response: Response) -> dict[str, Any]:
        data = self._json(response)
        if not isinstance(data, dict):
            raise self._bad_answer(response.path, "expected an object")
        return data

    def _list(self, key: str, response: Response) -> list[Json]:
        data = self._json(response)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise self._bad_answer(response.path, f"expected {{'{key}': [...]}}")
        items: list[Json] = data[key]
        return items

    def _bad_answer(self, path: str, why: str) -> ApiError:
        return ApiError(
            f"unexpected answer from {self._display}{path}: {why}",
            code="BAD_RESPONSE",
            hint="To fix: check that the server and this client are the same suanli version",
        )


def _seg(value: str) -> str:
    """One URL path segment: ``/`` and everything else special escaped."""
    return quote(str(value), safe="")


def _encode(value: Any) -> bytes | None:
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _jsonable(value: Any, where: str) -> Any:
    """``value`` with YAML's timestamps as ISO 8601 text (``yaml.safe_load`` makes datetimes
    of ``2025-01-01T00:00:00Z``); anything else JSON cannot carry is an :class:`InvalidRequest`."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, datetime.date | datetime.time):  # datetime.datetime is a date
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"{where}: {value} cannot be sent as JSON", code="INVALID_INPUT")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidRequest(f"{where}: a {type(value).__name__} cannot be sent as JSON", code="INVALID_INPUT")


def _error_body(response: Response) -> tuple[str, str, list[dict[str, Any]] | None]:
    """(code, message, details) from an ``ErrorOut`` body, FastAPI's ``{"detail": ...}``, or
    the status line when the body is neither (a proxy's HTML page)."""
    fallback = (f"HTTP_{response.status}", response.reason or "error", None)
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


def _job_params(state: str | None, all_tenants: bool) -> dict[str, str | int]:
    params: dict[str, str | int] = {}
    if state is not None:
        params["state"] = state
    if all_tenants:
        params["all"] = "true"
    return params
