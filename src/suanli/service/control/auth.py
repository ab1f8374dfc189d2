"""API tokens and who may do what.

A token is ``sl_`` + 32 random bytes in URL-safe base64 (256 bits): shown once when made;
only its SHA-256 is stored. A fast hash is enough here (unlike passwords, a 256-bit random
token cannot be guessed by brute force), and it lets every request authenticate with one
indexed lookup. Comparison happens in the database on the hash, never on the token.

Roles: ``admin`` (everything), ``operator`` (run the network: sites, every tenant's jobs,
quotas, filings decisions, audit), ``tenant`` (its own jobs, filings and usage), ``agent``
(one site's agent endpoints only).

The server keeps each authenticated principal for ``PRINCIPAL_CACHE_TTL_S`` seconds
(:class:`PrincipalCache`), so a burst of requests with one token reads the token table once.
Revocation therefore takes effect within that time: a token whose ``revoked_at`` is set is
refused by every replica at most 5 s later (a new token works at once: refusals are never
cached).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from suanli.service.control.errors import ForbiddenRefusal, Unauthenticated
from suanli.store import identity

TOKEN_PREFIX = "sl_"
ROLES = ("admin", "operator", "tenant", "agent")
STAFF = ("admin", "operator")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id (the audit log's actor), role, tenant and site."""

    token_id: str
    role: str
    tenant_id: str | None = None
    tenant_name: str | None = None
    site: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF


LOCAL_ADMIN = Principal(token_id="local-cli", role="admin")
"""The operator at the server's own machine (``suanli admin ... --data-dir``)."""


def authenticate(conn: Connection, token: str | None) -> Principal:
    if not token:
        raise Unauthenticated("missing bearer token. To fix: pass 'Authorization: Bearer <token>' (SUANLI_TOKEN)")
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("malformed token (suanli tokens start with 'sl_')")
    row = identity.token_by_hash(conn, hash_token(token))
    if row is None:
        raise Unauthenticated("unknown or revoked token")
    return Principal(
        token_id=row["id"],
        role=row["role"],
        tenant_id=row["tenant_id"],
        tenant_name=row["tenant_name"],
        site=row["site"],
    )


PRINCIPAL_CACHE_TTL_S = 5.0
"""How long a server trusts a token it has read (the longest a revoked token still works)."""


class PrincipalCache:
    """Principals by token hash, each trusted for ``ttl_s`` seconds after it was read from
    the store (monotonic time); at most ``size`` entries (all dropped when full)."""

    def __init__(self, ttl_s: float = PRINCIPAL_CACHE_TTL_S, size: int = 10_000) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        item = self._items.get(hash_token(token))
        if item is None or time.monotonic() - item[0] > self.ttl_s:
            return None
        return item[1]

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[hash_token(token)] = (time.monotonic(), principal)


def require(principal: Principal, roles: Iterable[str], action: str) -> None:
    allowed = tuple(roles)
    if principal.role not in allowed:
        raise ForbiddenRefusal(f"role '{principal.role}' may not {action} (needs {' or '.join(allowed)})")
