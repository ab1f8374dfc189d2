"""Wire models of API version 1 for the network's administration: tenants (with their
fair-share weights), API tokens and quotas. Same rules as :mod:`suanli.schemas.v1`: every
request model forbids unknown fields and bounds every number and string."""

from __future__ import annotations

from pydantic import Field

from suanli.schemas.v1 import NAME, Role, _In, _Out


class TenantCreate(_In):
    name: str = Field(pattern=NAME)
    share_weight: float = Field(default=1.0, gt=0, le=1e6)
    """The tenant's weight in the live fair share (``suanli serve --fair-share``)."""


class TenantUpdate(_In):
    share_weight: float = Field(gt=0, le=1e6)
    """The tenant's weight in the live fair share: its share of the capacity-hours while
    tenants compete is its weight over the sum of the waiting tenants' weights."""


class TenantOut(_Out):
    id: str
    name: str
    created_at: str
    share_weight: float = 1.0


class TenantList(_Out):
    tenants: list[TenantOut]
    next: str | None = None
    """The cursor of the next page: pass it as ``after`` (None on the last page)."""


class TenantCreated(_Out):
    tenant: TenantOut
    token: str
    """Shown once; only its hash is stored."""


class TokenCreate(_In):
    role: Role = "tenant"
    tenant: str | None = Field(default=None, pattern=NAME)
    site: str | None = Field(default=None, pattern=NAME)
    name: str | None = Field(default=None, max_length=128)


class TokenCreated(_Out):
    id: str
    role: Role
    tenant: str | None
    site: str | None
    token: str
    """Shown once; only its hash and its first characters (``prefix``) are stored."""
    prefix: str | None = None


class TokenOut(_Out):
    """A token as ``GET /v1/tokens`` lists it: never its secret, only its first characters
    (``prefix``; None for tokens made before releases stored it)."""

    id: str
    prefix: str | None
    role: Role
    tenant: str | None
    site: str | None
    name: str | None
    created_at: str
    revoked_at: str | None = None


class TokenList(_Out):
    tokens: list[TokenOut]
    next: str | None = None
    """The cursor of the next page: pass it as ``after`` (None on the last page)."""


class QuotaIn(_In):
    """A tenant's quota for one accelerator family (``hopper``, ``ascend``, ...), one type
    (``h800``) or ``*`` (all). Each limit is optional; the tenant's waiting jobs are held
    when any one of them is used up."""

    accelerator_hours: float | None = Field(default=None, ge=0, le=1e9)
    """Accelerator-hours per period (None = unlimited)."""
    capacity_hours: float | None = Field(default=None, ge=0, le=1e9)
    """Normalised capacity per period, in reference-accelerator-equivalent hours (H800 in
    the packaged catalogue: an hour of a type counts its value, :mod:`suanli.capacity`);
    None = unlimited."""
    period_h: float = Field(default=720.0, gt=0, le=87_600)
    max_concurrent: int | None = Field(default=None, ge=0, le=10_000_000)
    """Accelerators in use at once (None = unlimited)."""


class QuotaOut(_Out):
    tenant: str
    family: str
    accelerator_hours: float | None
    period_h: float
    max_concurrent: int | None
    used_accelerator_hours: float
    in_use: int
    capacity_hours: float | None = None
    """The normalised capacity limit per period (None = unlimited), in ``capacity_unit``."""
    used_capacity_hours: float = 0.0
    """Capacity used in the period: each run's accelerator-hours x its type's value."""
    capacity_unit: str = "H800-equivalent hours"
    """The unit of ``capacity_hours`` and ``used_capacity_hours`` (the reference type's hours)."""


class QuotaList(_Out):
    quotas: list[QuotaOut]
