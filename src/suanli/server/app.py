"""The FastAPI application of ``suanli serve``.

Every answer other than 2xx is an :class:`~suanli.schemas.ErrorOut` with a machine code:
validation errors (malformed JSON, unknown fields, out-of-range numbers) are 422 naming
the field; bodies over ``max_body_bytes`` are 413; refusals carry their own status. An
unexpected exception is logged with its trace and answered 500 ``INTERNAL`` without
details (the tests and the schemathesis fuzzing treat any 500 as a bug).
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DataError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli import __version__
from suanli.errors import InputError, SuanliError
from suanli.server import logs, logstream, web
from suanli.server.deps import BEARER, caller
from suanli.server.metrics import Metrics
from suanli.server.proxies import TrustedProxies
from suanli.server.ratelimit import RateLimiter
from suanli.server.routes import router
from suanli.server.scheduler import SchedulerLoop
from suanli.service.control.auth import STAFF, require
from suanli.service.control.errors import RateLimitRefusal, Refusal
from suanli.service.control.jobs import spec_error_details
from suanli.service.control.plane import ControlPlane


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": code, "message": message, "details": details})


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 ``BODY_TOO_LARGE``.

    A body with a ``Content-Length`` over the limit is refused before it is read (h11 never
    delivers more than the declared length). A body without one (chunked) is read here, up to
    the limit, before the app sees any of it, then handed on whole: it is refused once it
    passes the limit, instead of failing inside the app's own read (which FastAPI reports
    as a 400 parsing error). The app reads every body whole anyway, so buffering costs
    nothing extra; nothing is buffered beyond ``limit``."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is None:  # chunked (HTTP/1.1), or a server that does not say
            await self._buffered(scope, receive, send)
            return
        try:
            declared = int(length)
        except ValueError:
            await _error(400, "BAD_CONTENT_LENGTH", "Content-Length is not a number")(scope, receive, send)
            return
        if declared > self.limit:
            await self._too_big()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._too_big()(scope, receive, send)
                return
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        whole: list[Message] = [{"type": "http.request", "body": b"".join(parts), "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)

    def _too_big(self) -> JSONResponse:
        return _error(413, "BODY_TOO_LARGE", f"request body over {self.limit} bytes")


class AccessLog:
    """Count every request in ``/metrics`` (method, route, status) and log it at debug level
    with its milliseconds and token id.

    A plain ASGI middleware: ``@app.middleware("http")`` (Starlette's ``BaseHTTPMiddleware``)
    runs each request in an extra task with memory streams, which cost a third of the
    server's CPU per submit. A request that raised is counted as 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            if logs.LOGGER.isEnabledFor(logging.DEBUG):
                logs.event(
                    "request",
                    logging.DEBUG,
                    method=scope["method"],
                    route=path,
                    status=status,
                    ms=round((time.perf_counter() - t0) * 1000, 2),
                    token_id=(scope.get("state") or {}).get("principal"),
                )


def _unparsed_body(exc: RequestValidationError) -> bool:
    """The body reached validation as raw bytes: it was not sent as JSON."""
    return any(tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), bytes) for e in exc.errors())


def _allowed_methods(request: Request) -> str:
    """Every method the path supports, across all its routes (RFC 9110 ``Allow``)."""
    methods: set[str] = set()
    for route in (*request.app.router.routes, *router.routes):  # the /v1 routes are included as one
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        details.append({"field": ".".join(loc), "message": str(error.get("msg", "")), "type": str(error.get("type"))})
    return details


def create_app(cp: ControlPlane, replica: str | None = None, scheduler: bool = True) -> FastAPI:
    """The API over ``cp``; ``scheduler`` runs the scheduling loop in this process (it
    schedules only while it holds the leader lease)."""
    replica = replica or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    loop = SchedulerLoop(cp, replica) if scheduler else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        logstream.watch_stop_signals()  # a stop ends the log streams, which would hold it
        if loop is not None:
            loop.start()
        try:
            yield
        finally:
            if loop is not None:
                loop.stop()

    app = FastAPI(
        title="suanli",
        version=__version__,
        summary="A computing-power network for AI: sites, tenants, jobs.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # web.install serves /v1/docs with Swagger UI from package data, not a CDN
        swagger_ui_oauth2_redirect_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.cp = cp
    app.state.replica = replica
    app.state.limiter = RateLimiter(cp.settings.rate_per_s, cp.settings.burst)
    app.state.auth_failures = RateLimiter(cp.settings.failed_auth_per_s, cp.settings.failed_auth_burst)
    app.state.trusted_proxies = TrustedProxies(cp.settings.trusted_proxies)
    app.state.metrics = metrics = Metrics(cp)
    app.state.scheduler = loop
    if loop is not None:
        loop.metrics = metrics
    app.include_router(router)
    web.install(app)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        """Prometheus text format. The figures name tenants and their use, so an operator or
        admin token is required (Prometheus: ``authorization: {credentials_file: ...}`` in
        the scrape config) unless the server runs with ``--public-metrics``."""
        if not cp.settings.public_metrics:
            credentials = await BEARER(request)
            who = await caller(request, credentials)
            require(who, STAFF, "read /metrics")
        text = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(Refusal)
    async def refusal(_request: Request, exc: Refusal) -> JSONResponse:
        response = _error(exc.status, exc.code, exc.message, exc.details)
        if isinstance(exc, RateLimitRefusal):
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after_s + 0.999)))
        return response

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError) -> JSONResponse:
        return _error(422, "INVALID_INPUT", str(exc), spec_error_details(exc))

    @app.exception_handler(SuanliError)
    async def suanli_error(_request: Request, exc: SuanliError) -> JSONResponse:
        return _error(422, "REFUSED", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _unparsed_body(exc):
            given = request.headers.get("content-type")
            return _error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                (f"Content-Type '{given}' is not supported" if given else "the request has no Content-Type")
                + "; send the body as JSON with 'Content-Type: application/json'",
            )
        details = _validation_details(exc)
        first = details[0] if details else {"field": "", "message": "invalid request"}
        if first.get("type") == "json_invalid":
            error = exc.errors()[0]
            reason = (error.get("ctx") or {}).get("error", "JSON decode error")
            return _error(
                422, "INVALID_JSON", f"the request body is not valid JSON: {reason} (at character {error['loc'][-1]})"
            )
        where = f"field '{first['field']}': " if first["field"] else ""
        more = f" ({len(details) - 1} more)" if len(details) > 1 else ""
        return _error(422, "INVALID_REQUEST", f"{where}{first['message']}{more}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "UNPARSABLE_BODY", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        message = str(exc.detail)
        if exc.status_code == 400:  # FastAPI's answer to a body json.loads cannot take (not UTF-8, too deep)
            message += ". To fix: send the body as UTF-8 JSON nested less than 1000 levels deep"
        response = _error(exc.status_code, code, message)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request)
        return response

    @app.exception_handler(OperationalError)
    async def database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        logs.event("database error", logging.ERROR, error=str(exc.orig))
        response = _error(503, "DATABASE_UNAVAILABLE", "the database is unavailable or busy; retry")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(DataError)
    async def unstorable(_request: Request, exc: DataError) -> JSONResponse:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "a value out of range"
        return _error(422, "INVALID_VALUE", f"the database cannot store or compare a value of this request: {reason}")

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        logs.LOGGER.error("unexpected error", exc_info=exc)
        return _error(500, "INTERNAL", "internal error (logged on the server)")

    app.add_middleware(AccessLog, metrics=metrics)
    app.add_middleware(BodyLimit, limit=cp.settings.max_body_bytes)
    return app
