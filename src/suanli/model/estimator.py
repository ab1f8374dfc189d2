"""The estimator: time, accelerator-hours, energy, carbon and cost of one job on N
accelerators of one type at one site from one start time, with its derivation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suanli.catalog import Catalog, ThroughputTable
from suanli.clock import iso
from suanli.model import footprint
from suanli.model.breakdown import Line, Section
from suanli.model.performance import Performance, performance
from suanli.model.shapes import resolve_shape
from suanli.units import SECONDS_PER_HOUR
from suanli.workload import JobSpec


@dataclass(frozen=True)
class Estimate:
    """One job, one option. ``start_s`` is when the job's compute begins (UTC epoch s)."""

    job: str
    accelerator: str
    count: int
    site: str
    start_s: float
    flops: float | None
    duration_h: float
    accelerator_hours: float
    energy_kwh: float
    carbon_kg: float
    cost_usd: float
    breakdown: Mapping[str, Section]

    @property
    def finish_s(self) -> float:
        return self.start_s + self.duration_h * SECONDS_PER_HOUR

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "accelerator": self.accelerator,
            "count": self.count,
            "site": self.site,
            "start": iso(self.start_s),
            "finish": iso(self.finish_s),
            "flops": self.flops,
            "duration_h": self.duration_h,
            "accelerator_hours": self.accelerator_hours,
            "energy_kwh": self.energy_kwh,
            "carbon_kg": self.carbon_kg,
            "cost_usd": self.cost_usd,
            "breakdown": {
                section: {line.name: line.as_dict() for line in lines} for section, lines in self.breakdown.items()
            },
        }


def curve_for(catalog: Catalog, site_id: str) -> footprint.CarbonCurve:
    site = catalog.site(site_id)
    return footprint.CarbonCurve(catalog.intensity_profile_g_per_kwh(site_id), site.utc_offset_h)


def estimate(
    job: JobSpec,
    catalog: Catalog,
    accelerator: str,
    count: int,
    site: str,
    start_s: float,
    profiles: ThroughputTable | None = None,
) -> Estimate:
    """Estimate ``job`` on ``count`` x ``accelerator`` at ``site`` from ``start_s``.

    Raises :class:`suanli.model.reasons.Infeasible` when it cannot run there (memory,
    precision, SLO); the site's inventory is not checked here (that is placement's job).
    """
    accel = catalog.accelerator(accelerator)
    where = catalog.site(site)
    perf = performance(job, resolve_shape(job, catalog), accel, count, profiles)
    return assemble(job, catalog, perf, accelerator, count, site, start_s, curve_for(catalog, where.id))


def assemble(
    job: JobSpec,
    catalog: Catalog,
    perf: Performance,
    accelerator: str,
    count: int,
    site: str,
    start_s: float,
    curve: footprint.CarbonCurve,
) -> Estimate:
    """Energy, carbon and cost around a :class:`Performance` (shared with placement)."""
    accel = catalog.accelerator(accelerator)
    where = catalog.site(site)
    hours = perf.duration_h
    accel_hours = hours * count
    pw = footprint.power(accel, count, perf.power_load, where.pue)
    it_kwh = pw.it_kw * hours
    energy_kwh = pw.facility_kw * hours
    carbon = footprint.carbon_kg(curve, pw.facility_kw, start_s, hours)
    mean_intensity = curve.mean_g_per_kwh(start_s, hours)
    price = footprint.cost(where, accel, accel_hours, energy_kwh)
    breakdown: dict[str, Section] = {
        "compute": (*perf.lines, Line("accelerator_hours", accel_hours, "accelerator-h", f"{hours:,.1f} h x {count}")),
        "energy": (
            Line(
                "accelerator_kw",
                pw.accelerator_kw,
                "kW",
                f"{accel.tdp_w:g} W TDP x load {perf.power_load:.2f} x {count}",
            ),
            Line("host_kw", pw.host_kw, "kW", f"{accel.host_power_w:g} W host share x {count}"),
            Line("it_kwh", it_kwh, "kWh", "(accelerator + host) x hours"),
            Line("pue", where.pue, "", f"{where.id}"),
            Line("facility_overhead_kwh", energy_kwh - it_kwh, "kWh", "IT energy x (PUE - 1)"),
            Line("energy_kwh", energy_kwh, "kWh", "IT energy x PUE"),
        ),
        "carbon": (
            Line("grid_region", where.grid_region, "", catalog.grid_region(where.grid_region).name),
            Line("mean_intensity_g_per_kwh", mean_intensity, "gCO2/kWh", "hourly intensity averaged over the run"),
            Line("carbon_kg", carbon, "kgCO2", "facility kW x integral of intensity over the run / 1000"),
        ),
        "cost": (
            Line("pricing", where.pricing.model, "", price.how),
            Line("accelerator_usd", price.accelerator_usd, "USD", "rental or amortised capital"),
            Line("energy_usd", price.energy_usd, "USD", "energy x electricity price (ownership only)"),
            Line("cost_usd", price.total_usd, "USD", "accelerator + energy"),
        ),
    }
    return Estimate(
        job=job.name,
        accelerator=accelerator,
        count=count,
        site=site,
        start_s=start_s,
        flops=perf.flops,
        duration_h=hours,
        accelerator_hours=accel_hours,
        energy_kwh=energy_kwh,
        carbon_kg=carbon,
        cost_usd=price.total_usd,
        breakdown=breakdown,
    )
