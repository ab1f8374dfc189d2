"""Energy, carbon and cost of a run, given its duration, load, site and start.

Energy (IT x PUE)::

    accelerator_kw = tdp_w x load x count / 1000
    host_kw        = host_power_w x count / 1000          (CPUs, NICs, fans, storage share)
    energy_kwh     = (accelerator_kw + host_kw) x hours x PUE

Carbon integrates the site's hourly intensity over the hours the job runs::

    carbon_kg = facility_kw x integral_{t0}^{t0+D} intensity(t) dt / 1000

with intensity(t) = annual regional average x hour-of-day multiplier at local time
(``Catalog.intensity_profile_g_per_kwh``), piecewise constant per hour and periodic
per day, so the integral is closed-form through the cumulative sum of the 24 values.

Cost is whatever the site declares (``Pricing``): rental price x accelerator-hours, or
ownership: energy x electricity price + accelerator-hours x capex / (years x 8,760 h x
fleet utilisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from suanli.catalog import Accelerator, Site
from suanli.units import HOURS_PER_DAY, HOURS_PER_YEAR, SECONDS_PER_HOUR, W_PER_KW

if TYPE_CHECKING:
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Power:
    accelerator_kw: float
    host_kw: float
    pue: float

    @property
    def it_kw(self) -> float:
        return self.accelerator_kw + self.host_kw

    @property
    def facility_kw(self) -> float:
        return self.it_kw * self.pue


def power(accel: Accelerator, count: int, load: float, pue: float) -> Power:
    return Power(
        accelerator_kw=accel.tdp_w * load * count / W_PER_KW,
        host_kw=accel.host_power_w * count / W_PER_KW,
        pue=pue,
    )


@dataclass(frozen=True)
class CarbonCurve:
    """Cumulative intensity of one site, for O(1) integrals over any interval."""

    hourly_g_per_kwh: tuple[float, ...]
    utc_offset_h: float

    def __post_init__(self) -> None:
        values = np.asarray(self.hourly_g_per_kwh, dtype=np.float64)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_cumulative", np.concatenate(([0.0], np.cumsum(values))))
        object.__setattr__(self, "_day_total", float(values.sum()))

    def _cum(self, local_h: FloatArray) -> FloatArray:
        """Integral of intensity from local hour 0 of day 0 up to ``local_h`` (g/kWh x h)."""
        values: FloatArray = self._values  # type: ignore[attr-defined]
        cumulative: FloatArray = self._cumulative  # type: ignore[attr-defined]
        days = np.floor(local_h / HOURS_PER_DAY)
        within = local_h - days * HOURS_PER_DAY
        hour = np.minimum(np.floor(within).astype(np.int64), HOURS_PER_DAY - 1)
        result: FloatArray = days * self._day_total + cumulative[hour] + (within - hour) * values[hour]  # type: ignore[attr-defined]
        return result

    def integral(self, start_s: FloatArray, duration_h: FloatArray) -> FloatArray:
        """Integral of intensity over [start, start + duration], in g/kWh x h (vectorised)."""
        local = np.asarray(start_s, dtype=np.float64) / SECONDS_PER_HOUR + self.utc_offset_h
        duration = np.asarray(duration_h, dtype=np.float64)
        # shift by whole days so the numbers stay small, and take the first (partial) hour
        # exactly so that short runs are not lost to rounding in a difference of sums
        local = local - np.floor(local / HOURS_PER_DAY) * HOURS_PER_DAY
        values: FloatArray = self._values  # type: ignore[attr-defined]
        first_hour = np.floor(local)
        first_len = np.minimum(duration, first_hour + 1.0 - local)
        first = first_len * values[first_hour.astype(np.int64) % HOURS_PER_DAY]
        rest = np.where(duration > first_len, self._cum(local + duration) - self._cum(first_hour + 1.0), 0.0)
        result: FloatArray = first + rest
        return result

    def mean_g_per_kwh(self, start_s: float, duration_h: float) -> float:
        """Average intensity over the run."""
        if duration_h <= 0:
            hour = int((start_s / SECONDS_PER_HOUR + self.utc_offset_h) % HOURS_PER_DAY)
            return self.hourly_g_per_kwh[hour]
        return float(self.integral(np.asarray([start_s]), np.asarray([duration_h]))[0] / duration_h)


def carbon_kg(curve: CarbonCurve, facility_kw: float, start_s: float, duration_h: float) -> float:
    return float(curve.integral(np.asarray([start_s]), np.asarray([duration_h]))[0]) * facility_kw / 1000.0


@dataclass(frozen=True)
class Cost:
    total_usd: float
    accelerator_usd: float
    energy_usd: float
    how: str


def cost(site: Site, accel: Accelerator, accelerator_hours: float, energy_kwh: float) -> Cost:
    pricing = site.pricing
    if pricing.model == "rental":
        price = pricing.accelerator_usd_per_h.get(accel.id)
        if price is None:
            from suanli.model.reasons import Code, Infeasible, Rejection

            raise Infeasible(
                Rejection(
                    Code.ACCELERATOR_ABSENT,
                    f"{site.id} rents no {accel.id} (no price); choose a site that holds it",
                    site=site.id,
                    accelerator=accel.id,
                )
            )
        usd = accelerator_hours * price
        return Cost(usd, usd, 0.0, f"{accelerator_hours:,.0f} accelerator-h x ${price:g}/h rental at {site.id}")
    hourly_capital = accel.capex_usd / (pricing.amortisation_years * HOURS_PER_YEAR * pricing.utilisation)
    capital = accelerator_hours * hourly_capital
    energy = energy_kwh * site.electricity_usd_per_kwh
    return Cost(
        capital + energy,
        capital,
        energy,
        f"{accelerator_hours:,.0f} accelerator-h x ${hourly_capital:.3f}/h amortised "
        f"(${accel.capex_usd:,.0f} over {pricing.amortisation_years:g} y at {pricing.utilisation:.0%} use)"
        f" + {energy_kwh:,.0f} kWh x ${site.electricity_usd_per_kwh:g}/kWh",
    )


def hourly_cost_rate(site: Site, accel: Accelerator) -> tuple[float, float]:
    """(USD per accelerator-hour, USD per kWh) for vectorised costing at ``site``."""
    pricing = site.pricing
    if pricing.model == "rental":
        return pricing.accelerator_usd_per_h[accel.id], 0.0
    return accel.capex_usd / (
        pricing.amortisation_years * HOURS_PER_YEAR * pricing.utilisation
    ), site.electricity_usd_per_kwh
