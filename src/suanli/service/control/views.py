"""Rows -> wire models (``suanli.schemas``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from suanli.clock import iso
from suanli.schemas import (
    TERMINAL_STATES,
    FilingOut,
    JobEstimate,
    JobEta,
    JobOut,
    Reason,
    SiteOut,
    TenantOut,
    TokenOut,
)


def _iso(t_s: float | None) -> str | None:
    return iso(t_s) if t_s is not None else None


def estimate_of(row: dict[str, Any]) -> JobEstimate | None:
    """The option at the job's site and accelerator, or its best option while it waits."""
    options: list[dict[str, Any]] = row["options"] or []
    if not options:
        return None
    chosen = options[0]
    if row.get("site"):
        for option in options:
            if option["site"] == row["site"] and option["accelerator"] == row["accelerator"]:
                chosen = option
                break
    return JobEstimate(**chosen)


def hourly_rates(row: dict[str, Any]) -> tuple[float, float, float]:
    """(kWh, kg CO2e, USD) per hour of the job's run at its site and accelerator: its
    option's figures over its duration (zeros without one)."""
    rates = estimate_of(row)
    if rates is None or rates.duration_h <= 0:
        return (0.0, 0.0, 0.0)
    return (rates.energy_kwh / rates.duration_h, rates.carbon_kg / rates.duration_h, rates.cost_usd / rates.duration_h)


def so_far(row: dict[str, Any], metered: Mapping[str, float], now_s: float) -> dict[str, float]:
    """What the job has used: its closed runs (``metered``: the usage rows' sums) plus the
    run in progress from its start to ``now_s``, at the rates ``close_run`` meters it at."""
    accelerator_s = float(metered.get("accelerator_s", 0.0))
    energy, carbon, cost = (float(metered.get(k, 0.0)) for k in ("energy_kwh", "carbon_kg", "cost_usd"))
    started = row.get("run_started_at")
    if started is not None and row.get("site") and row["state"] in ("PLACED", "RUNNING"):
        elapsed_h = max(0.0, now_s - started) / 3600.0
        per_h = hourly_rates(row)
        accelerator_s += elapsed_h * 3600.0 * (row["count"] or 0)
        energy, carbon, cost = energy + per_h[0] * elapsed_h, carbon + per_h[1] * elapsed_h, cost + per_h[2] * elapsed_h
    return {
        "cost_so_far": cost,
        "co2_kg_so_far": carbon,
        "energy_kwh_so_far": energy,
        "accelerator_hours_so_far": accelerator_s / 3600.0,
    }


def job_out(
    row: dict[str, Any], tenant_name: str, metered: Mapping[str, float] | None = None, now_s: float | None = None
) -> JobOut:
    """The job as the API shows it; with ``metered`` (its closed runs' sums, ``{}`` for
    none) and ``now_s``, its use so far too (:func:`so_far`)."""
    used = so_far(row, metered, now_s) if metered is not None and now_s is not None else {}
    return JobOut(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        tenant=tenant_name,
        state=row["state"],
        site=row["site"],
        accelerator=row["accelerator"],
        count=row["count"],
        attempt=row["attempt"],
        reasons=[Reason(**r) for r in row["reasons"] or []],
        estimate=estimate_of(row),
        created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]),
        started_at=_iso(row["started_at"]),
        finished_at=_iso(row["finished_at"]),
        exit_code=row["exit_code"],
        message=row["message"],
        checkpoint=row["checkpoint"],
        eta=JobEta(**row["eta"]) if row.get("eta") and row["state"] not in TERMINAL_STATES else None,
        depends_on=list(row.get("depends_on") or []),
        **used,
    )


def tenant_out(row: dict[str, Any]) -> TenantOut:
    return TenantOut(
        id=row["id"], name=row["name"], created_at=iso(row["created_at"]), share_weight=row.get("share_weight", 1.0)
    )


def token_out(row: dict[str, Any]) -> TokenOut:
    """A token row (joined with its tenant's name), without its hash."""
    return TokenOut(
        id=row["id"],
        prefix=row["prefix"],
        role=row["role"],
        tenant=row["tenant_name"],
        site=row["site"],
        name=row["name"],
        created_at=iso(row["created_at"]),
        revoked_at=_iso(row["revoked_at"]),
    )


def filing_out(row: dict[str, Any], tenant_name: str) -> FilingOut:
    return FilingOut(
        id=row["id"],
        tenant=tenant_name,
        model=row["model"],
        status=row["status"],
        filing_number=row["filing_number"],
        note=row["note"],
        created_at=iso(row["created_at"]),
        decided_at=_iso(row["decided_at"]),
    )


def site_out(
    row: dict[str, Any],
    in_use: dict[str, int],
    region: str | None,
    pue: float | None,
    now_s: float,
    lease_expires_s: float | None,
) -> SiteOut:
    """The site as the API shows it: ``degraded`` while an executor fault's back-off runs."""
    until = row["degraded_until"]
    state = "degraded" if row["state"] == "up" and until is not None and until > now_s else row["state"]
    return SiteOut(
        id=row["id"],
        executor=row["executor"],
        state=state,
        inventory=dict(row["inventory"]),
        in_use=in_use,
        last_heartbeat=_iso(row["last_heartbeat_at"]),
        region=region,
        pue=pue,
        agent=row["agent_id"],
        lease_expires_at=_iso(lease_expires_s),
        faults=row["faults"],
        fault=row["fault_message"],
        fault_at=_iso(row["fault_at"]),
        degraded_until=_iso(until) if state == "degraded" else None,
    )
