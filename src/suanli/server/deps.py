"""Request dependencies: the control plane, the caller (token -> principal, rate-limited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from suanli.service.control.auth import Principal, authenticate
from suanli.service.control.errors import RateLimited, Unauthenticated
from suanli.service.control.plane import ControlPlane


def plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.cp
    return cp


def remote_of(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None


def caller(request: Request, authorization: Annotated[str | None, Header(max_length=300)] = None) -> Principal:
    """The principal of the bearer token; 401 without one, 429 beyond the rate."""
    if authorization is None:
        raise Unauthenticated("missing bearer token. To fix: send 'Authorization: Bearer <token>' (SUANLI_TOKEN)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    cp = plane(request)
    with cp.store.engine.connect() as conn:
        who = authenticate(conn, token.strip())
    wait_s = request.app.state.limiter.take(who.token_id)
    if wait_s > 0:
        raise RateLimited(f"too many requests for this token; retry in {wait_s:.2f} s", retry_after_s=wait_s)
    request.state.principal = who.token_id
    return who
