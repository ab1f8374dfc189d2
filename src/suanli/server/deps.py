"""Request dependencies: the control plane, the caller (token -> principal, rate-limited)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from suanli.server.proxies import TrustedProxies
from suanli.service.control.auth import Principal, authenticate
from suanli.service.control.errors import RateLimitRefusal, Unauthenticated
from suanli.service.control.plane import ControlPlane

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`sl_...`): `suanli admin create-token`, or a tenant's first token.",
)
"""Declares the bearer scheme in the OpenAPI; :func:`caller` gives the 401s their messages."""


P = ParamSpec("P")
T = TypeVar("T")


async def offload(
    fn: Callable[Concatenate[ControlPlane, P], T], cp: ControlPlane, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn(cp, ...)``, a use-case that blocks on the database: every route is ``async`` and
    calls its use-case through this.

    On PostgreSQL it runs in the thread pool (network round trips must not stall the event
    loop). On SQLite it runs right here, on the event loop: a query on a local file takes
    microseconds, a hop to a thread and back cost ~0.3 ms of CPU on the reference machine,
    and threads contending for the interpreter's lock cost more than the queries (one
    server process: ~390 submissions/s through the pool, ~580/s inline, in
    ``bench/bench_control.py``). This is ``better-sqlite3``'s argument for a synchronous API
    in Node's event loop. Writers still take turns (``Store.begin``), and the scheduler
    writes in short transactions so a request waits for it briefly. (A plain ``def`` route
    would cost FastAPI two hops: the call, then serialising the answer.)"""
    if cp.store.dialect == "sqlite":
        return fn(cp, *args, **kwargs)
    return await run_in_threadpool(fn, cp, *args, **kwargs)


async def plane(request: Request) -> ControlPlane:
    """``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    thread pool, a hop per request for an attribute read. So is :func:`caller`."""
    return _plane(request)


def _plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.cp
    return cp


def remote_of(request: Request) -> str | None:
    """The client's address for the audit log: the socket's peer (``host:port``), or, when
    that peer is a trusted proxy (``--trusted-proxy``), the client its ``X-Forwarded-For``
    names (see ``proxies``)."""
    client = request.client
    if client is None:
        return None
    trusted: TrustedProxies | None = getattr(request.app.state, "trusted_proxies", None)
    if trusted is not None and trusted.trusts(client.host):
        forwarded = request.headers.getlist("x-forwarded-for")
        host = trusted.client_of(",".join(forwarded)) if forwarded else None
        if host is not None:
            return host
    return f"{client.host}:{client.port}" if client.port else client.host  # uvicorn's forwarded peer has port 0


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> Principal:
    """The principal of the bearer token; 401 without one, 429 beyond the rate. Tokens read
    in the last few seconds come from ``cp.principals`` (see ``auth``); others are looked
    up in the store in the thread pool."""
    if credentials is None:
        if "authorization" not in request.headers:
            raise Unauthenticated("missing bearer token. To fix: send 'Authorization: Bearer <token>' (SUANLI_TOKEN)")
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    cp = _plane(request)
    token = credentials.credentials.strip()
    who = cp.principals.get(token)
    if who is None:
        who = await offload(_authenticate, cp, token)
    wait_s = request.app.state.limiter.take(who.token_id)
    if wait_s > 0:
        raise RateLimitRefusal(f"too many requests for this token; retry in {wait_s:.2f} s", retry_after_s=wait_s)
    request.state.principal = who.token_id
    return who


def _authenticate(cp: ControlPlane, token: str) -> Principal:
    generation = cp.principals.generation
    with cp.store.engine.connect() as conn:
        who = authenticate(conn, token)
    cp.principals.put(token, who, generation)
    return who
