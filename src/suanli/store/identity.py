"""Tenants, API tokens, quotas, model filings and the audit log (SQL only; the rules are
in ``suanli.service.control``). Every function takes an open connection so the caller
decides the transaction."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, or_, select, update

from suanli.store.tables import SCHEMA_VERSION, audit, filings, quotas, tenants, tokens


def new_id(prefix: str) -> str:
    """A short random id, e.g. ``t-3f9a1c2b7d4e``: 48 random bits, collisions negligible
    at the scale of a network's tenants and jobs (and refused by the unique index)."""
    return f"{prefix}-{secrets.token_hex(6)}"


# -- tenants -------------------------------------------------------------------------


def insert_tenant(conn: Connection, name: str, now_s: float, share_weight: float = 1.0) -> dict[str, Any]:
    row = {
        "id": new_id("t"),
        "name": name,
        "created_at": now_s,
        "schema_version": SCHEMA_VERSION,
        "share_weight": share_weight,
    }
    conn.execute(insert(tenants).values(**row))
    return row


def set_share_weight(conn: Connection, tenant_id: str, share_weight: float) -> None:
    conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(share_weight=share_weight))


def share_weights(conn: Connection) -> dict[str, float]:
    """Tenant id -> its fair-share weight."""
    return {r.id: float(r.share_weight) for r in conn.execute(select(tenants.c.id, tenants.c.share_weight))}


def tenant_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(tenants).where(tenants.c.name == name)).mappings().first()
    return dict(row) if row else None


def tenant_names(conn: Connection) -> dict[str, str]:
    """Tenant id -> name."""
    return {r.id: r.name for r in conn.execute(select(tenants.c.id, tenants.c.name))}


def list_tenants(conn: Connection, limit: int | None = None, after_name: str | None = None) -> list[dict[str, Any]]:
    """Tenants by name: ``limit`` of them after ``after_name`` (a listing's page)."""
    query = select(tenants).order_by(tenants.c.name)
    if after_name is not None:
        query = query.where(tenants.c.name > after_name)
    if limit is not None:
        query = query.limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


# -- tokens --------------------------------------------------------------------------


def insert_token(
    conn: Connection,
    token_hash: str,
    role: str,
    now_s: float,
    tenant_id: str | None = None,
    site: str | None = None,
    name: str | None = None,
    prefix: str | None = None,
) -> str:
    token_id = new_id("k")
    conn.execute(
        insert(tokens).values(
            id=token_id,
            hash=token_hash,
            role=role,
            tenant_id=tenant_id,
            site=site,
            name=name,
            created_at=now_s,
            prefix=prefix,
        )
    )
    return token_id


def token_by_hash(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    query = (
        select(tokens, tenants.c.name.label("tenant_name"))
        .select_from(tokens.outerjoin(tenants, tokens.c.tenant_id == tenants.c.id))
        .where(tokens.c.hash == token_hash, tokens.c.revoked_at.is_(None))
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def list_tokens(
    conn: Connection, include_revoked: bool = False, limit: int | None = None, after: tuple[float, str] | None = None
) -> list[dict[str, Any]]:
    """Tokens, oldest first, with their tenant's name (never their hash): ``limit`` of
    them after the key ``after`` (``(created_at, id)``, a listing's page)."""
    columns = [column for column in tokens.columns if column.name != "hash"]
    query = (
        select(*columns, tenants.c.name.label("tenant_name"))
        .select_from(tokens.outerjoin(tenants, tokens.c.tenant_id == tenants.c.id))
        .order_by(tokens.c.created_at, tokens.c.id)
    )
    if not include_revoked:
        query = query.where(tokens.c.revoked_at.is_(None))
    if after is not None:
        query = query.where(_after(tokens.c.created_at, tokens.c.id, after))
    if limit is not None:
        query = query.limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def tokens_by_ref(conn: Connection, token_id: str | None, prefix: str | None) -> list[dict[str, Any]]:
    """The token with id ``token_id``, or the tokens whose stored prefix starts with
    ``prefix`` (revoked ones too), with their hash and tenant's name."""
    query = select(tokens, tenants.c.name.label("tenant_name")).select_from(
        tokens.outerjoin(tenants, tokens.c.tenant_id == tenants.c.id)
    )
    if token_id is not None:
        query = query.where(tokens.c.id == token_id)
    else:
        assert prefix is not None
        query = query.where(tokens.c.prefix.startswith(prefix, autoescape=True))
    return [dict(r) for r in conn.execute(query.order_by(tokens.c.id)).mappings()]


def revoke_token(conn: Connection, token_id: str, now_s: float) -> bool:
    """Mark the token revoked now; False when it was revoked already."""
    done = conn.execute(
        update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=now_s)
    )
    return done.rowcount == 1


def revocation_stamp(conn: Connection) -> tuple[int, float | None]:
    """How many tokens are revoked and when the last was: it changes with every revocation
    (through any replica, worker or ``suanli admin --data-dir``), so a server that reads it
    every half second drops its cached principals within that of a revocation."""
    row = conn.execute(select(func.count(tokens.c.revoked_at), func.max(tokens.c.revoked_at))).one()
    return int(row[0]), None if row[1] is None else float(row[1])


def count_tokens(conn: Connection, role: str | None = None) -> int:
    query = select(tokens.c.id).where(tokens.c.revoked_at.is_(None))
    if role is not None:
        query = query.where(tokens.c.role == role)
    return len(conn.execute(query).all())


# -- quotas --------------------------------------------------------------------------


def upsert_quota(
    conn: Connection,
    tenant_id: str,
    family: str,
    accelerator_hours: float | None,
    period_h: float,
    max_concurrent: int | None,
    now_s: float,
    capacity_hours: float | None = None,
) -> None:
    values = {
        "accelerator_hours": accelerator_hours,
        "capacity_hours": capacity_hours,
        "period_h": period_h,
        "max_concurrent": max_concurrent,
        "updated_at": now_s,
    }
    done = conn.execute(
        update(quotas).where(quotas.c.tenant_id == tenant_id, quotas.c.family == family).values(**values)
    )
    if done.rowcount == 0:
        conn.execute(insert(quotas).values(tenant_id=tenant_id, family=family, **values))


def quotas_of(conn: Connection, tenant_id: str | None = None) -> list[dict[str, Any]]:
    query = select(quotas).order_by(quotas.c.tenant_id, quotas.c.family)
    if tenant_id is not None:
        query = query.where(quotas.c.tenant_id == tenant_id)
    return [dict(r) for r in conn.execute(query).mappings()]


# -- filings -------------------------------------------------------------------------


def insert_filing(
    conn: Connection, tenant_id: str, model: str, filing_number: str | None, note: str | None, now_s: float
) -> dict[str, Any]:
    row = {
        "id": new_id("f"),
        "tenant_id": tenant_id,
        "model": model,
        "status": "pending",
        "filing_number": filing_number,
        "note": note,
        "created_at": now_s,
        "decided_at": None,
        "decided_by": None,
    }
    conn.execute(insert(filings).values(**row))
    return row


def filing(conn: Connection, filing_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(filings).where(filings.c.id == filing_id)).mappings().first()
    return dict(row) if row else None


def list_filings(
    conn: Connection, tenant_id: str | None = None, limit: int | None = None, after: tuple[float, str] | None = None
) -> list[dict[str, Any]]:
    """Filings, oldest first: ``limit`` of them after the key ``after`` (``(created_at, id)``)."""
    query = select(filings).order_by(filings.c.created_at, filings.c.id)
    if tenant_id is not None:
        query = query.where(filings.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(_after(filings.c.created_at, filings.c.id, after))
    if limit is not None:
        query = query.limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def decide_filing(conn: Connection, filing_id: str, approved: bool, note: str | None, actor: str, now_s: float) -> None:
    values: dict[str, Any] = {
        "status": "approved" if approved else "rejected",
        "decided_at": now_s,
        "decided_by": actor,
    }
    if note is not None:
        values["note"] = note
    conn.execute(update(filings).where(filings.c.id == filing_id).values(**values))


def approved_filing(conn: Connection, tenant_id: str, model: str) -> bool:
    query = select(filings.c.id).where(
        filings.c.tenant_id == tenant_id, filings.c.model == model, filings.c.status == "approved"
    )
    return conn.execute(query).first() is not None


# -- audit ---------------------------------------------------------------------------


def record(
    conn: Connection,
    now_s: float,
    actor: str,
    role: str,
    action: str,
    obj: str,
    tenant_id: str | None = None,
    remote: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit entry: who (token id or ``cli``), in what role, did what to which object,
    when and from where. Written in the same transaction as the change it records."""
    row = {
        "at": now_s,
        "actor": actor,
        "role": role,
        "tenant_id": tenant_id,
        "action": action,
        "object": obj,
        "remote": remote,
        "detail": detail,
    }
    conn.execute(_INSERT_AUDIT, row)


_INSERT_AUDIT = insert(audit)
"""Built once: a statement object memoises its compiled-cache key (values go as parameters)."""


def audit_entries(
    conn: Connection, limit: int, tenant_id: str | None = None, before_id: int | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` entries (older than ``before_id``: a listing's next page)."""
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(audit.c.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(audit.c.id < before_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def _after(at: ColumnElement[float], row_id: ColumnElement[str], key: tuple[float, str]) -> ColumnElement[bool]:
    """Rows after ``key`` in ``(at, id)`` order (written out: SQLite and PostgreSQL both
    compare row values, but this form also lets either use an index on ``at``)."""
    return or_(at > key[0], and_(at == key[0], row_id > key[1]))
