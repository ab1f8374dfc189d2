"""Tenants' quotas and their usage, in accelerator-hours and in normalised capacity.

A quota is keyed by tenant and accelerator family (``hopper``, ``ascend``, ...), type
(``h800``) or ``*`` (all), with three optional limits over a rolling period: accelerator-hours,
capacity-hours (hours of the reference type, :mod:`suanli.capacity`: an hour on a type
counts its value, so an hour on an L20 counts 0.15 H800-hours and on a B200 2.29) and
accelerators held at once. Usage in the period::

    used_accelerator_hours = sum over runs of accelerator_s x overlap / 3600
    used_capacity_hours    = sum over runs of accelerator_s x overlap x value(type) / 3600

over the tenant's metered runs (``usage`` rows; ``overlap`` is the fraction of a run inside
the period) plus the running part of its current runs.

When either hour limit of a quota is used up (:func:`spent_quotas`), the types it covers are
closed to the tenant's waiting jobs (:func:`closed_types`): the live cycle holds a job whose
every type is closed (:func:`suanli.service.control.live._over_quota`, with the reason),
leaves the others only their open types (the feeder drops the closed pools from their
allowed sets), and a live quote refuses options on closed types. Admission refuses starts
past ``max_concurrent``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from suanli.capacity import CapacityTable, capacity_table
from suanli.catalog import Catalog
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


Spent = dict[str, list[tuple[str, str]]]
"""A tenant's used-up quotas: quota key -> what is used up there, as (kind, figure), e.g.
``("capacity", "1.5 of 1 H800-equivalent hours")``."""


def spent_quotas(cp: ControlPlane, conn: Connection, tenants: Iterable[str], now_s: float) -> dict[str, Spent]:
    """The quotas of ``tenants`` with an hour limit used up in its period, by tenant (a
    tenant with none is absent)."""
    limited = [
        quota
        for tenant_id in sorted(set(tenants))
        for quota in identity.quotas_of(conn, tenant_id)
        if quota["accelerator_hours"] is not None or quota["capacity_hours"] is not None
    ]
    spent: dict[str, Spent] = {}
    for quota, used in zip(limited, usages(cp, conn, limited, now_s), strict=True):
        hit = []
        if quota["accelerator_hours"] is not None and used.accelerator_hours >= quota["accelerator_hours"]:
            figure = f"{used.accelerator_hours:,.1f} of {quota['accelerator_hours']:,g} accelerator-hours"
            hit.append(("accelerator-hour", figure))
        if quota["capacity_hours"] is not None and used.capacity_hours >= quota["capacity_hours"]:
            unit = capacity_table(cp.planning.catalog).unit
            hit.append(("capacity", f"{used.capacity_hours:,.1f} of {quota['capacity_hours']:,g} {unit}"))
        if hit:
            spent.setdefault(quota["tenant_id"], {})[quota["family"]] = hit
    return spent


def covers(catalog: Catalog, key: str, accelerator: str) -> bool:
    """Quota ``key`` (``*``, a type or a family) applies to ``accelerator``."""
    return key in (QUOTA_ANY, accelerator) or family_of(catalog, accelerator) == key


def closed_types(catalog: Catalog, spent: Spent) -> frozenset[str]:
    """The catalogue's accelerator types a tenant's ``spent`` quotas cover."""
    return frozenset(a for a in catalog.accelerators if any(covers(catalog, key, a) for key in spent))


def spent_message(spent: Spent, accelerators: Iterable[str], catalog: Catalog) -> str:
    """The sentence of a refusal on ``accelerators`` by ``spent`` quotas: which limits, what
    is used, and how to fix it."""
    offered = list(accelerators)
    covering = {k: hit for k, hit in sorted(spent.items()) if any(covers(catalog, k, a) for a in offered)}
    covering = covering or dict(spent)
    used_up = "; ".join(f"{key}: {', '.join(text for _, text in hit)} used" for key, hit in covering.items())
    kinds = sorted({kind for hit in covering.values() for kind, _ in hit})
    return (
        f"the tenant's {' and '.join(kinds)} quota is used up for this period ({used_up}). "
        "To fix: wait for the period to move on, or ask an operator to raise it (suanli admin set-quota)"
    )


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
        return covers(catalog, family, accelerator)

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
