"""Where ``suanli admin`` commands act: on a store directly (``--data-dir``/``--db``, as the
operator of the machine, like ``slurm``'s ``sacctmgr`` on the controller) or through a
server's API with a token. One protocol, two implementations, chosen once per command by
:func:`admin_backend`; the commands only parse, call one method and render."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from suanli.client import Client
    from suanli.schemas import (
        AuditEntry,
        FilingOut,
        QuotaIn,
        QuotaOut,
        TenantCreated,
        TenantOut,
        TokenCreated,
        TokenOut,
    )
    from suanli.service.control.plane import ControlPlane


class AdminBackend(Protocol):
    def create_tenant(self, name: str, share_weight: float | None = None) -> TenantCreated: ...

    def set_share_weight(self, tenant: str, share_weight: float) -> TenantOut: ...

    def create_token(self, role: str, tenant: str | None, site: str | None, name: str | None) -> TokenCreated: ...

    def tokens(self, include_revoked: bool) -> list[TokenOut]: ...

    def revoke_token(self, ref: str) -> TokenOut: ...

    def set_quota(self, tenant: str, family: str, body: QuotaIn) -> QuotaOut: ...

    def quotas(self, tenant: str | None) -> list[QuotaOut]:
        """One tenant's quotas with their use, or (None) every tenant's."""
        ...

    def decide_filing(self, filing_id: str, approved: bool, note: str | None) -> FilingOut: ...

    def filings(self) -> list[FilingOut]: ...

    def tenants(self) -> list[TenantOut]: ...

    def audit(self, limit: int | None) -> list[AuditEntry]:
        """The newest ``limit`` entries (None: all), over as many pages as it takes."""
        ...


class LocalAdmin:
    """The store itself, as the local administrator (audited with address ``cli``)."""

    REMOTE = "cli"

    def __init__(self, cp: ControlPlane) -> None:
        from suanli.service.control.auth import LOCAL_ADMIN

        self.cp = cp
        self.who = LOCAL_ADMIN

    def create_tenant(self, name: str, share_weight: float | None = None) -> TenantCreated:
        from suanli.service.control import admin

        weight = 1.0 if share_weight is None else share_weight
        return admin.create_tenant(self.cp, self.who, name, self.REMOTE, weight)

    def set_share_weight(self, tenant: str, share_weight: float) -> TenantOut:
        from suanli.service.control import admin

        return admin.set_share_weight(self.cp, self.who, tenant, share_weight, self.REMOTE)

    def create_token(self, role: str, tenant: str | None, site: str | None, name: str | None) -> TokenCreated:
        from suanli.service.control import admin

        return admin.create_token(self.cp, self.who, role, tenant, site, name, self.REMOTE)

    def tokens(self, include_revoked: bool) -> list[TokenOut]:
        from suanli.service.control import admin

        return admin.tokens(self.cp, self.who, include_revoked)

    def revoke_token(self, ref: str) -> TokenOut:
        from suanli.service.control import admin

        return admin.revoke_token(self.cp, self.who, ref, self.REMOTE)

    def set_quota(self, tenant: str, family: str, body: QuotaIn) -> QuotaOut:
        from suanli.service.control import quotas

        return quotas.set_quota(self.cp, self.who, tenant, family, body, self.REMOTE)

    def quotas(self, tenant: str | None) -> list[QuotaOut]:
        from suanli.service.control import quotas

        return quotas.all_quotas(self.cp, self.who) if tenant is None else quotas.quotas(self.cp, self.who, tenant)

    def decide_filing(self, filing_id: str, approved: bool, note: str | None) -> FilingOut:
        from suanli.service.control import admin

        return admin.decide_filing(self.cp, self.who, filing_id, approved, note, self.REMOTE)

    def filings(self) -> list[FilingOut]:
        from suanli.service.control import admin

        return admin.filings(self.cp, self.who)

    def tenants(self) -> list[TenantOut]:
        from suanli.service.control import admin

        return admin.tenants(self.cp, self.who)

    def audit(self, limit: int | None) -> list[AuditEntry]:
        from suanli.service.control import admin

        return admin.audit_newest(self.cp, self.who, limit)


class RemoteAdmin:
    """A server's API, with the caller's token (its role decides what is allowed)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def create_tenant(self, name: str, share_weight: float | None = None) -> TenantCreated:
        return self.client.create_tenant(name, share_weight)

    def set_share_weight(self, tenant: str, share_weight: float) -> TenantOut:
        return self.client.set_share_weight(tenant, share_weight)

    def create_token(self, role: str, tenant: str | None, site: str | None, name: str | None) -> TokenCreated:
        return self.client.create_token(role, tenant=tenant, site=site, name=name)  # type: ignore[arg-type]

    # The SDK has no token-listing or revoking call yet: these speak the routes through its
    # request plumbing (retried like every read; a DELETE is sent once).

    def tokens(self, include_revoked: bool) -> list[TokenOut]:
        from suanli.schemas import TokenOut

        params = {"revoked": "true"} if include_revoked else None
        items = list(self.client.iter_pages_json("/v1/tokens", "tokens", params))  # every page
        return self.client._typed_list(TokenOut, "/v1/tokens", items)

    def revoke_token(self, ref: str) -> TokenOut:
        from urllib.parse import quote

        from suanli.schemas import TokenOut

        response = self.client._request("DELETE", f"/v1/tokens/{quote(ref.strip(), safe='')}")
        return self.client._model(TokenOut, response)

    def set_quota(self, tenant: str, family: str, body: QuotaIn) -> QuotaOut:
        return self.client.set_quota(
            tenant,
            family,
            accelerator_hours=body.accelerator_hours,
            period_h=body.period_h,
            max_concurrent=body.max_concurrent,
            capacity_hours=body.capacity_hours,
        )

    def quotas(self, tenant: str | None) -> list[QuotaOut]:
        return self.client.quotas(tenant)

    def decide_filing(self, filing_id: str, approved: bool, note: str | None) -> FilingOut:
        return self.client.decide_filing(filing_id, approved, note)

    def filings(self) -> list[FilingOut]:
        return self.client.filings()

    def tenants(self) -> list[TenantOut]:
        return self.client.tenants()

    def audit(self, limit: int | None) -> list[AuditEntry]:
        return list(self.client.iter_audit(limit))


def is_local(data_dir: Path | None, db: str | None) -> bool:
    """A store was named (``--data-dir``, ``--db`` or ``SUANLI_DB``): act on it directly."""
    return data_dir is not None or db is not None or bool(os.environ.get("SUANLI_DB"))


def admin_backend(
    data_dir: Path | None,
    db: str | None,
    server: str | None,
    token: str | None,
    plane: Any,
    profile: str | None = None,
) -> AdminBackend:
    """The store when one is named, else the server (``profile``: the config file's profile
    for the server and token). ``plane(data_dir, db)`` opens the store's control plane (the
    CLI's own opener, with its error for a missing store)."""
    if is_local(data_dir, db):
        return LocalAdmin(plane(data_dir, db))
    from suanli.client import Client

    return RemoteAdmin(Client(server, token, profile=profile))
