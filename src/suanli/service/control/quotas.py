"""Tenants' quotas and their usage, in accelerator-hours and in normalised capacity.

A quota is keyed by tenant and accelerator family (``hopper``, ``ascend``, ...), type
(``h800``) or ``*`` (all), with three optional limits over a rolling period: accelerator-hours,
capacity-hours (hours of the reference type, :mod:`suanli.capacity`: an hour on a type
counts its value, so an hour on an L20 counts 0.15 H800-hours and on a B200 2.29) and
accelerators held at once. Usage in the period::

    used_accelerator_hours = sum over runs of accelerator_s x overlap / 3600
    used_capacity_hours    = sum over runs of accelerator_s x overlap x value(type) / 3600

over the tenant's metered runs (``usage`` rows; ``overlap`` is the fraction of a run inside
the period) plus the running part of its current runs. The live cycle holds a tenant's
waiting jobs when either hour limit of a quota that covers every type the job could run on
is used up (:func:`suanli.service.control.live._over_quota`), and admission refuses starts
past ``max_concurrent``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from suanli.capacity import CapacityTable, capacity_table
from suanli.schemas import QuotaIn, QuotaOut
from suanli.service.control.auth import STAFF, Principal, require
from suanli.service.control.errors import NotFoundRefusal, Unprocessable
from suanli.service.control.options import family_of
from suanli.service.control.plane import ControlPlane
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store.jobs import ACTIVE

QUOTA_ANY = "*"
ACTIVE_COLUMNS = ("tenant_id", "accelerator", "count", "run_started_at")
"""What usage needs of a running job (never its spec)."""


@dataclass(frozen=True)
class QuotaUsage:
    """A tenant's use of one quota key over one period."""

    accelerator_hours: float
    capacity_hours: float
    """Accelerator-hours weighted by each type's capacity value (reference-equivalent hours)."""
    in_use: int
    """Accelerators held now."""


def set_quota(
    cp: ControlPlane, who: Principal, tenant: str, family: str, body: QuotaIn, remote: str | None = None
) -> QuotaOut:
    require(who, STAFF, "set quotas")
    families = {a.family for a in cp.planning.catalog.accelerators.values()} | set(cp.planning.catalog.accelerators)
    if family != QUOTA_ANY and family not in families:
        raise Unprocessable(
            f"unknown accelerator family '{family}'; valid: *, {', '.join(sorted(families))}", code="UNKNOWN_FAMILY"
        )
    tenant_id = _tenant_id(cp, tenant)
    now = cp.now_s()
    with cp.store.begin() as conn:
        identity.upsert_quota(
            conn,
            tenant_id,
            family,
            body.accelerator_hours,
            body.period_h,
            body.max_concurrent,
            now,
            capacity_hours=body.capacity_hours,
        )
        identity.record(
            conn, now, who.token_id, who.role, "quota.set", f"{tenant}/{family}", tenant_id, remote, body.model_dump()
        )
    return next(q for q in quotas(cp, who, tenant) if q.family == family)


def quotas(cp: ControlPlane, who: Principal, tenant: str) -> list[QuotaOut]:
    """One tenant's quotas with their usage (staff, or the tenant itself)."""
    require(who, ("admin", "operator", "tenant"), "read quotas")
    tenant_id = _tenant_id(cp, tenant)
    if not who.is_staff and who.tenant_id != tenant_id:
        raise NotFoundRefusal(f"no tenant '{tenant}'")
    with cp.store.engine.connect() as conn:
        return _quota_outs(cp, conn, identity.quotas_of(conn, tenant_id), {tenant_id: tenant})


def all_quotas(cp: ControlPlane, who: Principal) -> list[QuotaOut]:
    """Every tenant's quotas with their usage (staff), or the caller's own (a tenant), by
    tenant name and key."""
    require(who, ("admin", "operator", "tenant"), "read quotas")
    with cp.store.engine.connect() as conn:
        names = identity.tenant_names(conn)
        rows = identity.quotas_of(conn, None if who.is_staff else who.tenant_id)
        out = _quota_outs(cp, conn, rows, names)
    return sorted(out, key=lambda q: (q.tenant, q.family))


def _quota_outs(
    cp: ControlPlane, conn: Connection, rows: Sequence[Mapping[str, Any]], names: Mapping[str, str]
) -> list[QuotaOut]:
    table = capacity_table(cp.planning.catalog)
    now = cp.now_s()
    usage = usages(cp, conn, rows, now)
    return [
        QuotaOut(
            tenant=names.get(row["tenant_id"], row["tenant_id"]),
            family=row["family"],
            accelerator_hours=row["accelerator_hours"],
            capacity_hours=row["capacity_hours"],
            period_h=row["period_h"],
            max_concurrent=row["max_concurrent"],
            used_accelerator_hours=used.accelerator_hours,
            used_capacity_hours=used.capacity_hours,
            capacity_unit=table.unit,
            in_use=used.in_use,
        )
        for row, used in zip(rows, usage, strict=True)
    ]


def usages(cp: ControlPlane, conn: Connection, rows: Sequence[Mapping[str, Any]], now_s: float) -> list[QuotaUsage]:
    """The usage of each quota row (``tenant_id``, ``family``, ``period_h``), in order: the
    metered runs are read once per tenant (over its longest period) and the running jobs once."""
    tenants = {row["tenant_id"] for row in rows}
    if not tenants:
        return []
    active = [r for r in job_rows.jobs_in(conn, ACTIVE, columns=ACTIVE_COLUMNS) if r["tenant_id"] in tenants]
    runs: dict[str, list[dict[str, Any]]] = {}
    for tenant_id in tenants:
        longest_h = max(row["period_h"] for row in rows if row["tenant_id"] == tenant_id)
        runs[tenant_id] = job_rows.usage_since(conn, now_s - longest_h * 3600.0, tenant_id)
    table = capacity_table(cp.planning.catalog)
    return [
        _usage(
            cp,
            table,
            runs[row["tenant_id"]],
            (r for r in active if r["tenant_id"] == row["tenant_id"]),
            row["family"],
            row["period_h"],
            now_s,
        )
        for row in rows
    ]


def quota_usage(
    cp: ControlPlane, conn: Connection, tenant_id: str, family: str, period_h: float, now_s: float
) -> QuotaUsage:
    """Accelerator-hours and capacity-hours used in the last ``period_h`` (finished runs
    plus the running part of current ones) and accelerators held now, for ``family``
    (``*`` = all)."""
    [used] = usages(cp, conn, [{"tenant_id": tenant_id, "family": family, "period_h": period_h}], now_s)
    return used


def _usage(
    cp: ControlPlane,
    table: CapacityTable,
    runs: Iterable[Mapping[str, Any]],
    active: Iterable[Mapping[str, Any]],
    family: str,
    period_h: float,
    now_s: float,
) -> QuotaUsage:
    catalog = cp.planning.catalog
    since = now_s - period_h * 3600.0

    def matches(accelerator: str) -> bool:
        return family in (QUOTA_ANY, accelerator) or family_of(catalog, accelerator) == family

    def value(accelerator: str) -> float:
        """A type no longer in the catalogue (its spec is gone) counts as the reference."""
        known = table.values.get(accelerator)
        return known.per_accelerator_hour if known is not None else 1.0

    used_s = capacity_s = 0.0
    for run in runs:
        if run["end_s"] < since or not matches(run["accelerator"]):
            continue
        seconds = run["accelerator_s"] * _overlap(run["start_s"], run["end_s"], since)
        used_s += seconds
        capacity_s += seconds * value(run["accelerator"])
    in_use = 0
    for row in active:
        accelerator = row["accelerator"] or ""
        if not matches(accelerator):
            continue
        in_use += row["count"]
        if row["run_started_at"] is not None:
            seconds = (now_s - max(row["run_started_at"], since)) * row["count"]
            used_s += seconds
            capacity_s += seconds * value(accelerator)
    return QuotaUsage(used_s / 3600.0, capacity_s / 3600.0, in_use)


def _overlap(start_s: float, end_s: float, since_s: float) -> float:
    """Fraction of a run inside the period (the part before ``since_s`` is not charged)."""
    if end_s <= start_s:
        return 1.0
    return max(0.0, min(1.0, (end_s - max(start_s, since_s)) / (end_s - start_s)))


def _tenant_id(cp: ControlPlane, name: str) -> str:
    with cp.store.engine.connect() as conn:
        row = identity.tenant_by_name(conn, name)
    if row is None:
        raise NotFoundRefusal(f"no tenant '{name}'")
    return str(row["id"])
