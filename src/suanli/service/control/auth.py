"""API tokens and who may do what.

A token is ``sl_`` + 32 random bytes in URL-safe base64 (256 bits): shown once when made;
only its SHA-256 is stored. A fast hash is enough here (unlike passwords, a 256-bit random
token cannot be guessed by brute force), and it lets every request authenticate with one
indexed lookup. Comparison happens in the database on the hash, never on the token.

Roles: ``admin`` (everything), ``operator`` (run the network: sites, every tenant's jobs,
quotas, filings decisions, audit), ``tenant`` (its own jobs, filings and usage), ``agent``
(one site's agent endpoints only).

The first ``PREFIX_CHARS`` characters of a token (``sl_`` and 8 more: 48 of its 256 random
bits) are stored beside the hash, so listings can show which token is which and an operator
can revoke one by the prefix; the 208 bits left are as unguessable as ever.

The server keeps each authenticated principal for ``PRINCIPAL_CACHE_TTL_S`` seconds
(:class:`PrincipalCache`), so a burst of requests with one token reads the token table once.
A revocation through a replica's API drops the token from that replica's cache at once
(:meth:`PrincipalCache.forget`); every other replica, ``--workers`` process, or server
beside a ``suanli admin revoke-token --data-dir`` reads the store's revocation stamp (how
many tokens are revoked, and the latest time) at most every ``REVOCATION_CHECK_S`` (0.5 s)
while it serves cached principals, and drops them all when it changed: a revoked token is
refused everywhere within about half a second. A new token works at once: refusals are
never cached.
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


PREFIX_CHARS = 11
"""Characters of a token kept in clear (``sl_`` + 8): enough to tell tokens apart."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_prefix(token: str) -> str:
    """What listings show of a token and ``revoke-token`` accepts: its first characters."""
    return token[:PREFIX_CHARS]


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
"""How long a server trusts a token it has read without reading it again."""
REVOCATION_CHECK_S = 0.5
"""How often a server serving cached principals reads the store's revocation stamp (the
longest a token revoked elsewhere still works here)."""


class PrincipalCache:
    """Principals by token hash, each trusted for ``ttl_s`` seconds after it was read from
    the store (monotonic time); at most ``size`` entries (all dropped when full)."""

    def __init__(self, ttl_s: float = PRINCIPAL_CACHE_TTL_S, size: int = 10_000) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self.generation = 0
        """Counts :meth:`forget` calls: a principal read before one is not cached after it."""
        self.check_s = REVOCATION_CHECK_S
        self._stamp: object = None
        self._checked_at = float("-inf")

    def check_due(self) -> bool:
        """Whether the revocation stamp should be read before a cached principal is used
        (at most every :attr:`check_s`); claims the check, so concurrent requests read it once."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < self.check_s:
                return False
            self._checked_at = now
            return True

    @property
    def has_stamp(self) -> bool:
        """Whether a revocation stamp was read yet (it must be before anything is cached)."""
        return self._stamp is not None

    def saw_stamp(self, stamp: object) -> None:
        """The store's revocation stamp as just read: when it changed, every cached
        principal is dropped (some token was revoked somewhere)."""
        with self._lock:
            if stamp != self._stamp:
                if self._stamp is not None:
                    self._items.clear()
                    self.generation += 1
                self._stamp = stamp

    def get(self, token: str) -> Principal | None:
        item = self._items.get(hash_token(token))
        if item is None or time.monotonic() - item[0] > self.ttl_s:
            return None
        return item[1]

    def forget(self, token_hash: str) -> None:
        """Drop a token (by its stored hash) at once: it was revoked through this replica."""
        with self._lock:
            self._items.pop(token_hash, None)
            self.generation += 1

    def put(self, token: str, principal: Principal, read_at_generation: int | None = None) -> None:
        """Keep ``principal``; not when a token was forgotten since it was read from the
        store (``read_at_generation``: :attr:`generation` before the read), as that read may
        predate the revocation."""
        with self._lock:
            if read_at_generation is not None and read_at_generation != self.generation:
                return
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[hash_token(token)] = (time.monotonic(), principal)


def require(principal: Principal, roles: Iterable[str], action: str) -> None:
    allowed = tuple(roles)
    if principal.role not in allowed:
        raise ForbiddenRefusal(f"role '{principal.role}' may not {action} (needs {' or '.join(allowed)})")
