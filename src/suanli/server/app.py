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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli import __version__
from suanli.errors import InputError, SuanliError
from suanli.server import logs
from suanli.server.metrics import Metrics
from suanli.server.ratelimit import RateLimiter
from suanli.server.routes import router
from suanli.server.scheduler import SchedulerLoop
from suanli.service.control.errors import RateLimited, Refusal
from suanli.service.control.plane import ControlPlane


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": code, "message": message, "details": details})


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by Content-Length or as they stream."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = _error(413, "BODY_TOO_LARGE", f"request body over {self.limit} bytes")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _error(400, "BAD_CONTENT_LENGTH", "Content-Length is not a number")(scope, receive, send)
                return
            if declared > self.limit:
                await too_big(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass


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
        docs_url="/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.cp = cp
    app.state.replica = replica
    app.state.limiter = RateLimiter(cp.settings.rate_per_s, cp.settings.burst)
    app.state.metrics = metrics = Metrics(cp)
    app.state.scheduler = loop
    if loop is not None:
        loop.metrics = metrics
    app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(Refusal)
    async def refusal(_request: Request, exc: Refusal) -> JSONResponse:
        response = _error(exc.status, exc.code, exc.message, exc.details)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after_s + 0.999)))
        return response

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError) -> JSONResponse:
        return _error(422, "INVALID_INPUT", str(exc))

    @app.exception_handler(SuanliError)
    async def suanli_error(_request: Request, exc: SuanliError) -> JSONResponse:
        return _error(422, "REFUSED", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details[0] if details else {"field": "", "message": "invalid request"}
        where = f"field '{first['field']}': " if first["field"] else ""
        more = f" ({len(details) - 1} more)" if len(details) > 1 else ""
        return _error(422, "INVALID_REQUEST", f"{where}{first['message']}{more}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(OperationalError)
    async def database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        logs.event("database error", logging.ERROR, error=str(exc.orig))
        response = _error(503, "DATABASE_UNAVAILABLE", "the database is unavailable or busy; retry")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        logs.LOGGER.error("unexpected error", exc_info=exc)
        return _error(500, "INTERNAL", "internal error (logged on the server)")

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        logs.event(
            "request",
            logging.DEBUG,
            method=request.method,
            route=path,
            status=response.status_code,
            ms=round((time.perf_counter() - t0) * 1000, 2),
            token_id=getattr(request.state, "principal", None),
        )
        return response

    app.add_middleware(BodyLimit, limit=cp.settings.max_body_bytes)
    return app
