"""Operators' and admins' use-cases: tenants, tokens, quotas (:mod:`.quotas`), filings, audit.

Each change is written with its audit entry in one transaction. These work with a
principal from a token (the API) and with :data:`~suanli.service.control.auth.LOCAL_ADMIN`
(``suanli admin ... --data-dir``, before any server runs).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from suanli.clock import iso
from suanli.schemas import (
    AuditEntry,
    FilingCreate,
    FilingOut,
    TenantCreated,
    TenantOut,
    TokenCreated,
    TokenOut,
)
from suanli.service.control import compliance, paging, views
from suanli.service.control.auth import (
    LOCAL_ADMIN,
    STAFF,
    TOKEN_PREFIX,
    Principal,
    hash_token,
    new_token,
    require,
    token_prefix,
)
from suanli.service.control.errors import ConflictRefusal, ForbiddenRefusal, NotFoundRefusal, Unprocessable
from suanli.service.control.jobs import close_run
from suanli.service.control.plane import ControlPlane
from suanli.service.control.quotas import (  # noqa: F401  (the quota use-cases, in quotas.py; importable here)
    QUOTA_ANY,
    all_quotas,
    quota_usage,
    quotas,
    set_quota,
)
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store.jobs import ACTIVE, WAITING


def create_tenant(
    cp: ControlPlane, who: Principal, name: str, remote: str | None = None, share_weight: float = 1.0
) -> TenantCreated:
    """A tenant and its first token (shown once); ``share_weight``: its weight in the live
    fair share."""
    require(who, STAFF, "create tenants")
    _check_weight(share_weight)
    token = new_token()
    now = cp.now_s()
    try:
        with cp.store.begin() as conn:
            row = identity.insert_tenant(conn, name, now, share_weight)
            identity.insert_token(
                conn,
                hash_token(token),
                "tenant",
                now,
                tenant_id=row["id"],
                name=f"{name} (first)",
                prefix=token_prefix(token),
            )
            identity.record(conn, now, who.token_id, who.role, "tenant.create", name, row["id"], remote)
    except IntegrityError:
        raise ConflictRefusal(f"tenant '{name}' exists already", code="TENANT_EXISTS") from None
    return TenantCreated(tenant=views.tenant_out(row), token=token)


def set_share_weight(
    cp: ControlPlane, who: Principal, name: str, share_weight: float, remote: str | None = None
) -> TenantOut:
    """Set tenant ``name``'s fair-share weight (the live scheduler reads it every cycle)."""
    require(who, STAFF, "set tenants' weights")
    _check_weight(share_weight)
    now = cp.now_s()
    with cp.store.begin() as conn:
        row = identity.tenant_by_name(conn, name)
        if row is None:
            raise NotFoundRefusal(f"no tenant '{name}'")
        identity.set_share_weight(conn, row["id"], share_weight)
        detail = {"share_weight": share_weight, "was": row["share_weight"]}
        identity.record(conn, now, who.token_id, who.role, "tenant.update", name, row["id"], remote, detail)
    return views.tenant_out(row | {"share_weight": share_weight})


def _check_weight(share_weight: float) -> None:
    """A fair-share weight is > 0 and at most 10^6 (the API's own bounds, for callers on the store)."""
    if not 0 < share_weight <= 1e6:
        raise Unprocessable(f"share_weight must be > 0 and <= 1e6, not {share_weight:g}", code="VALIDATION")


def tenants(cp: ControlPlane, who: Principal) -> list[TenantOut]:
    """Every tenant, by name (all pages of :func:`tenants_page`)."""
    return paging.every_item(lambda after: tenants_page(cp, who, paging.MAX_LIMIT, after))


def tenants_page(cp: ControlPlane, who: Principal, limit: int, after: str | None = None) -> paging.Page[TenantOut]:
    """One page of tenants by name, after the cursor ``after``."""
    require(who, STAFF, "list tenants")
    after_name = paging.decode("tenants", after)
    with cp.store.engine.connect() as conn:
        rows = identity.list_tenants(conn, limit + 1, str(after_name[0]) if after_name else None)
    return paging.paged("tenants", rows, limit, lambda row: (str(row["name"]),)).map(views.tenant_out)


def create_token(
    cp: ControlPlane,
    who: Principal,
    role: str,
    tenant: str | None = None,
    site: str | None = None,
    name: str | None = None,
    remote: str | None = None,
) -> TokenCreated:
    """A new token. Tenant tokens name their tenant; agent tokens name their site (a
    catalogue site); only admins make admin or operator tokens."""
    require(who, STAFF, "create tokens")
    if role in STAFF and who.role != "admin":
        raise ForbiddenRefusal(f"only admins create {role} tokens", code="ROLE_NOT_GRANTABLE")
    if role == "tenant" and not tenant:
        raise Unprocessable("a tenant token needs 'tenant'", code="TENANT_REQUIRED")
    if role == "agent":
        if not site:
            raise Unprocessable("an agent token needs 'site'", code="SITE_REQUIRED")
        if site not in cp.planning.catalog.sites:
            valid = ", ".join(sorted(cp.planning.catalog.sites))
            raise Unprocessable(f"unknown site '{site}'; valid: {valid}", code="UNKNOWN_SITE")
    if role != "tenant" and tenant:
        raise Unprocessable(f"a {role} token cannot belong to a tenant", code="TENANT_NOT_ALLOWED")
    if role != "agent" and site:
        raise Unprocessable(f"a {role} token cannot belong to a site", code="SITE_NOT_ALLOWED")
    token = new_token()
    now = cp.now_s()
    with cp.store.begin() as conn:
        tenant_id = None
        if tenant:
            row = identity.tenant_by_name(conn, tenant)
            if row is None:
                raise NotFoundRefusal(f"no tenant '{tenant}'")
            tenant_id = row["id"]
        token_id = identity.insert_token(
            conn, hash_token(token), role, now, tenant_id, site, name, prefix=token_prefix(token)
        )
        identity.record(
            conn, now, who.token_id, who.role, "token.create", token_id, tenant_id, remote, {"role": role, "site": site}
        )
    return TokenCreated(id=token_id, role=role, tenant=tenant, site=site, token=token, prefix=token_prefix(token))


def tokens(cp: ControlPlane, who: Principal, include_revoked: bool = False) -> list[TokenOut]:
    """Every token (the live ones unless ``include_revoked``), oldest first: id, prefix,
    role, tenant or site, name, when made and revoked; never a secret or a hash."""
    return paging.every_item(lambda after: tokens_page(cp, who, paging.MAX_LIMIT, after, include_revoked))


def tokens_page(
    cp: ControlPlane, who: Principal, limit: int, after: str | None = None, include_revoked: bool = False
) -> paging.Page[TokenOut]:
    """One page of :func:`tokens`, after the cursor ``after`` (keyed ``(created_at, id)``)."""
    require(who, STAFF, "list tokens")
    key = paging.decode("tokens", after)
    with cp.store.engine.connect() as conn:
        rows = identity.list_tokens(conn, include_revoked, limit + 1, (float(key[0]), str(key[1])) if key else None)
    return paging.paged("tokens", rows, limit, lambda row: (float(row["created_at"]), str(row["id"]))).map(
        views.token_out
    )


MIN_PREFIX_CHARS = len(TOKEN_PREFIX) + 4
"""A prefix names a token only from ``sl_`` and four more characters on (one in 16.7
million tokens shares four): shorter ones would revoke by accident."""


def revoke_token(cp: ControlPlane, who: Principal, ref: str, remote: str | None = None) -> TokenOut:
    """Revoke a token, named by its id (``k-...``) or its prefix (``sl_...``, as ``suanli
    admin tokens`` shows it, or a unique start of it), at once: refused from the next
    request on, here and, within ``PRINCIPAL_CACHE_TTL_S``, at every other replica (see
    ``auth``). Operators revoke tenant and agent tokens, admins any; a token revoked
    before is answered as it is (no second audit entry). An API caller may not revoke the
    last live admin token (the store's local admin still can, and can mint another)."""
    require(who, STAFF, "revoke tokens")
    now = cp.now_s()
    with cp.store.begin() as conn:
        row = _token_named(conn, ref)
        if row["role"] in STAFF and who.role != "admin":
            raise ForbiddenRefusal(f"only admins revoke {row['role']} tokens", code="ROLE_NOT_GRANTABLE")
        if row["revoked_at"] is None:
            if (
                row["role"] == "admin"
                and who.token_id != LOCAL_ADMIN.token_id
                and identity.count_tokens(conn, "admin") <= 1
            ):
                raise ConflictRefusal(
                    f"token '{row['id']}' is the last admin token; revoking it would leave no admin. To fix: "
                    "create another first (suanli admin create-token --role admin), or revoke it on the store "
                    "(suanli admin revoke-token ID --data-dir DIR | --db URL)",
                    code="LAST_ADMIN_TOKEN",
                )
            identity.revoke_token(conn, row["id"], now)
            identity.record(
                conn,
                now,
                who.token_id,
                who.role,
                "token.revoke",
                row["id"],
                row["tenant_id"],
                remote,
                {"role": row["role"], "site": row["site"], "prefix": row["prefix"]},
            )
            row["revoked_at"] = now
    cp.principals.forget(row["hash"])  # after the commit: a request after this one is refused
    return views.token_out(row)


def _token_named(conn: Any, ref: str) -> dict[str, Any]:
    """The token ``ref`` names: an id; a prefix (``sl_`` and at least four more characters)
    that one live token starts with; or, pasted whole, the token itself (matched by hash)."""
    ref = ref.strip()
    if not ref.startswith(TOKEN_PREFIX):
        rows = identity.tokens_by_ref(conn, ref, None)
        shown = ref
    else:
        if len(ref) < MIN_PREFIX_CHARS:
            raise Unprocessable(
                f"token prefix '{ref}' is too short to name one token; give at least {MIN_PREFIX_CHARS} "
                "characters, as `suanli admin tokens` shows them, or the token's id",
                code="PREFIX_TOO_SHORT",
            )
        prefix = token_prefix(ref)
        rows = identity.tokens_by_ref(conn, None, prefix)
        if len(ref) > len(prefix):  # longer than a prefix: the whole token, never echoed
            rows = [r for r in rows if r["hash"] == hash_token(ref)]
        shown = prefix + ("..." if len(ref) > len(prefix) else "")
    if not rows:
        raise NotFoundRefusal(f"no token '{shown}'. To fix: `suanli admin tokens` lists ids and prefixes")
    if len(rows) == 1:
        return rows[0]
    live = [r for r in rows if r["revoked_at"] is None]
    if len(live) == 1:
        return live[0]
    names = ", ".join(f"{r['id']} ({r['prefix']})" for r in rows)
    raise ConflictRefusal(
        f"token prefix '{shown}' matches {len(rows)} tokens: {names}. To fix: give more characters, or the id",
        code="AMBIGUOUS_TOKEN",
    )


def file_model(cp: ControlPlane, who: Principal, body: FilingCreate, remote: str | None = None) -> FilingOut:
    require(who, ("tenant",), "file models (file with a tenant's token)")
    assert who.tenant_id is not None and who.tenant_name is not None
    now = cp.now_s()
    with cp.store.begin() as conn:
        row = identity.insert_filing(conn, who.tenant_id, body.model, body.filing_number, body.note, now)
        identity.record(conn, now, who.token_id, who.role, "filing.create", row["id"], who.tenant_id, remote)
    return views.filing_out(row, who.tenant_name)


def filings(cp: ControlPlane, who: Principal) -> list[FilingOut]:
    """Every filing the caller may see, oldest first (all pages of :func:`filings_page`)."""
    return paging.every_item(lambda after: filings_page(cp, who, paging.MAX_LIMIT, after))


def filings_page(cp: ControlPlane, who: Principal, limit: int, after: str | None = None) -> paging.Page[FilingOut]:
    """One page of filings (a tenant's own; staff: all), oldest first, after ``after``."""
    require(who, ("admin", "operator", "tenant"), "read filings")
    key = paging.decode("filings", after)
    with cp.store.engine.connect() as conn:
        rows = identity.list_filings(
            conn, None if who.is_staff else who.tenant_id, limit + 1, (float(key[0]), str(key[1])) if key else None
        )
        names = identity.tenant_names(conn)
    page = paging.paged("filings", rows, limit, lambda row: (float(row["created_at"]), str(row["id"])))
    return page.map(lambda r: views.filing_out(r, names.get(r["tenant_id"], "?")))


def decide_filing(
    cp: ControlPlane, who: Principal, filing_id: str, approved: bool, note: str | None, remote: str | None = None
) -> FilingOut:
    require(who, STAFF, "decide filings")
    now = cp.now_s()
    with cp.store.begin() as conn:
        row = identity.filing(conn, filing_id)
        if row is None:
            raise NotFoundRefusal(f"no filing '{filing_id}'")
        identity.decide_filing(conn, filing_id, approved, note, who.token_id, now)
        action = "filing.approve" if approved else "filing.reject"
        identity.record(conn, now, who.token_id, who.role, action, filing_id, row["tenant_id"], remote)
        if approved:
            _release_held(conn, cp, who, row, now, remote)
        elif row["status"] == "approved" and not identity.approved_filing(conn, row["tenant_id"], row["model"]):
            _withdraw(conn, cp, who, row, now, remote)
        row = identity.filing(conn, filing_id) or row
        name = identity.tenant_names(conn).get(row["tenant_id"], "?")
    cp.wake.set()
    return views.filing_out(row, name)


def _withdraw(
    conn: Connection, cp: ControlPlane, who: Principal, filing: dict[str, Any], now: float, remote: str | None
) -> None:
    """The filing was approved and is no longer (and no other approves its model): stop or
    hold every public service depending on it (see ``compliance``)."""
    hold = cp.settings.on_filing_withdrawn == "hold"
    reason = compliance.withdrawn_reason(filing["model"], filing["id"], hold)
    catalog = cp.planning.catalog
    for row in compliance.dependents(conn, catalog, filing["tenant_id"], filing["model"], (*WAITING, *ACTIVE)):
        if hold:
            values: dict[str, Any] = {"reasons": [reason], "updated_at": now}
            if row["state"] in ACTIVE:
                values |= {"state": "PREEMPTED", "run_started_at": None}
        else:
            values = {"state": "CANCELLED", "finished_at": now, "updated_at": now, "reasons": [reason]}
            values["message"] = reason["message"]
        if job_rows.transition(conn, row["id"], (row["state"],), values):
            if row["state"] == "RUNNING":
                close_run(conn, cp, row, now)
            action = "job.hold" if hold else "job.stop"
            detail = {"code": compliance.FILING_WITHDRAWN, "filing": filing["id"], "model": filing["model"]}
            identity.record(conn, now, who.token_id, who.role, action, row["id"], row["tenant_id"], remote, detail)


def _release_held(
    conn: Connection, cp: ControlPlane, who: Principal, filing: dict[str, Any], now: float, remote: str | None
) -> None:
    """A filing of the model is approved: its services held by a withdrawal wait again."""
    rows = compliance.dependents(conn, cp.planning.catalog, filing["tenant_id"], filing["model"], WAITING)
    for row in compliance.held_by_filing(rows):
        queued = {"code": "QUEUED", "message": f"filing {filing['id']} of its model approved: waiting to be placed"}
        job_rows.set_fields(conn, row, {"reasons": [queued], "updated_at": now})
        identity.record(conn, now, who.token_id, who.role, "job.release", row, filing["tenant_id"], remote)


MAX_AUDIT_PAGE = 10_000
"""The audit listing's largest page (its ``limit`` cap before it had pages)."""


def audit(cp: ControlPlane, who: Principal, limit: int) -> list[AuditEntry]:
    """The newest ``limit`` entries (the first page of :func:`audit_page`)."""
    return audit_page(cp, who, limit).items


def audit_newest(cp: ControlPlane, who: Principal, limit: int | None) -> list[AuditEntry]:
    """The newest ``limit`` entries (None: all of them), over as many pages as it takes."""
    entries: list[AuditEntry] = []
    after: str | None = None
    while limit is None or len(entries) < limit:
        want = MAX_AUDIT_PAGE if limit is None else min(MAX_AUDIT_PAGE, limit - len(entries))
        page = audit_page(cp, who, want, after)
        entries.extend(page.items)
        if page.next is None:
            break
        after = page.next
    return entries


def audit_page(cp: ControlPlane, who: Principal, limit: int, after: str | None = None) -> paging.Page[AuditEntry]:
    """One page of the audit log, newest first (by id), after the cursor ``after``."""
    require(who, STAFF, "read the audit log")
    before = paging.decode("audit", after)
    limit = min(limit, MAX_AUDIT_PAGE)
    with cp.store.engine.connect() as conn:
        rows = identity.audit_entries(conn, limit + 1, before_id=int(before[0]) if before else None)
        names = identity.tenant_names(conn)
    page = paging.paged("audit", rows, limit, lambda row: (int(row["id"]),))
    return page.map(
        lambda r: AuditEntry(
            id=r["id"],
            at=iso(r["at"]),
            actor=r["actor"],
            role=r["role"],
            tenant=names.get(r["tenant_id"]) if r["tenant_id"] else None,
            action=r["action"],
            object=r["object"],
            remote=r["remote"],
            detail=r["detail"],
        )
    )
