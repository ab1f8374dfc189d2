"""Sites registered by agents, and named leases (the scheduler's leader lease)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from suanli.store.tables import SCHEMA_VERSION, leases, sites


def upsert_site(
    conn: Connection,
    site: str,
    executor: str,
    inventory: dict[str, int],
    interval_s: float,
    now_s: float,
    agent_id: str | None = None,
    agent_token_id: str | None = None,
) -> bool:
    """Register ``site`` for the agent ``agent_id`` (with token ``agent_token_id``): up,
    heartbeated now, its executor faults forgotten. False when the site's row was inserted
    by someone else meanwhile (two first registrations at once; the caller refuses one)."""
    values = {
        "executor": executor,
        "inventory": inventory,
        "heartbeat_interval_s": interval_s,
        "last_heartbeat_at": now_s,
        "state": "up",
        "agent_id": agent_id,
        "agent_token_id": agent_token_id,
        "faults": 0,
        "fault_message": None,
        "fault_at": None,
        "degraded_until": None,
    }
    if conn.execute(update(sites).where(sites.c.id == site).values(**values)).rowcount == 1:
        return True
    try:
        with conn.begin_nested():
            conn.execute(insert(sites).values(id=site, registered_at=now_s, schema_version=SCHEMA_VERSION, **values))
    except IntegrityError:
        return False
    return True


def site(conn: Connection, site_id: str, for_update: bool = False) -> dict[str, Any] | None:
    """The site's row; ``for_update`` locks it until the transaction ends (PostgreSQL; SQLite
    has one writer at a time anyway)."""
    query = select(sites).where(sites.c.id == site_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def record_fault(conn: Connection, site_id: str, now_s: float, message: str, degraded_until_s: float) -> None:
    """One more executor fault in a row at the site: the scheduler avoids it until ``degraded_until_s``."""
    conn.execute(
        update(sites)
        .where(sites.c.id == site_id)
        .values(faults=sites.c.faults + 1, fault_message=message, fault_at=now_s, degraded_until=degraded_until_s)
    )


def clear_faults(conn: Connection, site_id: str) -> None:
    """A job started at the site: its engine works again (a no-op on a site without faults)."""
    conn.execute(
        update(sites)
        .where(sites.c.id == site_id, (sites.c.faults > 0) | sites.c.degraded_until.is_not(None))
        .values(faults=0, degraded_until=None)
    )


def list_sites(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(sites).order_by(sites.c.id)).mappings()]


def touch(conn: Connection, site_id: str, now_s: float) -> bool:
    """Record a heartbeat; False when the site is unknown."""
    query = update(sites).where(sites.c.id == site_id).values(last_heartbeat_at=now_s, state="up")
    return conn.execute(query).rowcount == 1


def mark_down(conn: Connection, site_id: str) -> None:
    conn.execute(update(sites).where(sites.c.id == site_id).values(state="down"))


def acquire_lease(conn: Connection, name: str, holder: str, now_s: float, ttl_s: float) -> int | None:
    """Take or renew the lease ``name`` for ``holder`` until ``now_s + ttl_s``; returns the
    lease's term (it grows whenever the holder changes) or None when another holder's lease
    is still valid. One conditional UPDATE, so two replicas cannot both succeed."""
    renewed = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == holder, leases.c.expires_at >= now_s)
        .values(expires_at=now_s + ttl_s)
    )
    if renewed.rowcount == 1:
        return int(conn.execute(select(leases.c.term).where(leases.c.name == name)).scalar_one())
    taken = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.expires_at < now_s)
        .values(holder=holder, expires_at=now_s + ttl_s, term=leases.c.term + 1)
    )
    if taken.rowcount == 1:
        return int(conn.execute(select(leases.c.term).where(leases.c.name == name)).scalar_one())
    exists = conn.execute(select(leases.c.holder).where(leases.c.name == name)).first()
    if exists is not None:
        return None
    try:
        with conn.begin_nested():
            conn.execute(insert(leases).values(name=name, holder=holder, term=1, expires_at=now_s + ttl_s))
    except IntegrityError:
        return None
    return 1


def release_lease(conn: Connection, name: str, holder: str) -> None:
    conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == holder).values(expires_at=0.0))


def lease_holder(conn: Connection, name: str, now_s: float) -> str | None:
    row = conn.execute(select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)).first()
    return str(row[0]) if row is not None and row[1] >= now_s else None


def degraded(site: Mapping[str, Any], now_s: float) -> bool:
    """Whether the scheduler avoids ``site`` now: an executor fault's back-off runs."""
    until = site.get("degraded_until")
    return until is not None and until > now_s
