"""Request dependencies: the control plane, the caller (token -> principal, rate-limited)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from suanli.server.proxies import TrustedProxies
from suanli.server.ratelimit import RateLimiter
from suanli.service.control.auth import Principal, authenticate
from suanli.service.control.errors import RateLimitRefusal, Unauthenticated
from suanli.service.control.plane import ControlPlane
from suanli.store import identity

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
    found = _client(request)
    if found is None:
        return None
    host, port = found
    return f"{host}:{port}" if port else host  # uvicorn's forwarded peer has port 0


def client_host(request: Request) -> str:
    """The client's host alone (the failed-authentication limit counts per host)."""
    found = _client(request)
    return "unknown" if found is None else found[0]


def _client(request: Request) -> tuple[str, int | None] | None:
    client = request.client
    if client is None:
        return None
    trusted: TrustedProxies | None = getattr(request.app.state, "trusted_proxies", None)
    if trusted is not None and trusted.trusts(client.host):
        forwarded = request.headers.getlist("x-forwarded-for")
        host = trusted.client_of(",".join(forwarded)) if forwarded else None
        if host is not None:
            return host, None
    return client.host, client.port


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
    who = await principal_of(request, cp, token)
    wait_s = request.app.state.limiter.take(who.token_id)
    if wait_s > 0:
        raise RateLimitRefusal(f"too many requests for this token; retry in {wait_s:.2f} s", retry_after_s=wait_s)
    request.state.principal = who.token_id
    return who


async def principal_of(request: Request, cp: ControlPlane, token: str) -> Principal:
    """The token's principal, from the cache while no revocation since says otherwise (at
    most ``PrincipalCache`` seconds old), else from the store; :class:`Unauthenticated` for a
    token that is not (or no longer) valid. A long-lived answer (a log stream) asks again
    before each read, so a revocation ends it as it ends a poller's next request."""
    who = cp.principals.get(token)
    if who is not None and cp.principals.check_due():
        await offload(_read_revocations, cp)
        who = cp.principals.get(token)
    if who is None:
        who = await _authenticate_or_count(request, cp, token)
    return who


async def _authenticate_or_count(request: Request, cp: ControlPlane, token: str) -> Principal:
    """Authenticate a token this server has not cached; a client address whose tokens
    failed too often lately gets 429 instead of another look-up (``failures``)."""
    failures: RateLimiter = request.app.state.auth_failures
    address = client_host(request)
    wait_s = failures.peek(address)
    if wait_s > 0:
        raise RateLimitRefusal(
            f"too many failed authentications from {address}; retry in {wait_s:.1f} s", retry_after_s=wait_s
        )
    try:
        return await offload(_authenticate, cp, token)
    except Unauthenticated:
        failures.take(address)
        raise


def _read_revocations(cp: ControlPlane) -> None:
    with cp.store.engine.connect() as conn:
        cp.principals.saw_stamp(identity.revocation_stamp(conn))


def _authenticate(cp: ControlPlane, token: str) -> Principal:
    generation = cp.principals.generation
    with cp.store.engine.connect() as conn:
        if not cp.principals.has_stamp:  # the baseline later revocations are told apart from
            cp.principals.saw_stamp(identity.revocation_stamp(conn))
            generation = cp.principals.generation
        who = authenticate(conn, token)
    cp.principals.put(token, who, generation)
    return who
