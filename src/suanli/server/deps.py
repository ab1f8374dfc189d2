"""Request dependencies: the control plane, the caller (token -> principal, rate-limited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from suanli.service.control.auth import Principal, authenticate
from suanli.service.control.errors import RateLimited, Unauthenticated
from suanli.service.control.plane import ControlPlane

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`sl_...`): `suanli admin create-token`, or a tenant's first token.",
)
"""Declares the bearer scheme in the OpenAPI; :func:`caller` gives the 401s their messages."""


async def plane(request: Request) -> ControlPlane:
    """``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    thread pool, a hop per request for an attribute read. So is :func:`caller`."""
    return _plane(request)


def _plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.cp
    return cp


def remote_of(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None


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
        who = await run_in_threadpool(_authenticate, cp, token)
    wait_s = request.app.state.limiter.take(who.token_id)
    if wait_s > 0:
        raise RateLimited(f"too many requests for this token; retry in {wait_s:.2f} s", retry_after_s=wait_s)
    request.state.principal = who.token_id
    return who


def _authenticate(cp: ControlPlane, token: str) -> Principal:
    with cp.store.engine.connect() as conn:
        who = authenticate(conn, token)
    cp.principals.put(token, who)
    return who
