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

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from suanli.catalog import Accelerator, Site
from suanli.units import HOURS_PER_DAY, HOURS_PER_YEAR, SECONDS_PER_HOUR, W_PER_KW

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]


INSTANT_H = 1e-9
"""Runs shorter than this (3.6 microseconds) are instants for a mean intensity."""


@dataclass(frozen=True)
class Power:
    """Power drawn by a job's accelerators and their hosts, and the site's PUE."""

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
    """A site's hourly intensity, integrated in closed form: O(1) per interval, exact for
    short runs (the first, partial hour is taken directly and both ends are shifted by
    whole periods, so no large sums are subtracted).

    Two kinds: a daily profile (24 values by local hour of day, ``utc_offset_h`` = local
    time - UTC), or a measured series (hourly values from ``series_start_s``, UTC,
    repeating after its end). The scalar methods are plain Python (the simulator calls
    them once per run); :meth:`integral` is the vectorised form the planner uses.
    """

    hourly_g_per_kwh: tuple[float, ...]
    utc_offset_h: float
    series_start_s: float | None = None

    def __post_init__(self) -> None:
        values = [float(v) for v in self.hourly_g_per_kwh]
        if not values or (self.series_start_s is None and len(values) != HOURS_PER_DAY):
            raise ValueError("a daily profile has 24 hourly values; a series needs a start and values")
        cumulative = [0.0]
        for value in values:
            cumulative.append(cumulative[-1] + value)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "_cumulative", cumulative)
        object.__setattr__(self, "_period_total", cumulative[-1])

    values: list[float] = field(init=False, repr=False, compare=False)

    @property
    def period_h(self) -> int:
        return len(self.values)

    def _hours(self, t_s: float) -> float:
        """Position of UTC time ``t_s`` on the curve's hour axis."""
        if self.series_start_s is not None:
            return (t_s - self.series_start_s) / SECONDS_PER_HOUR
        return t_s / SECONDS_PER_HOUR + self.utc_offset_h

    def _cum(self, hours: float) -> float:
        """Integral from hour 0 of period 0 up to ``hours`` (g/kWh x h)."""
        period = self.period_h
        rounds = math.floor(hours / period)
        within = hours - period * rounds
        hour = min(int(within), period - 1)
        cumulative: list[float] = self._cumulative  # type: ignore[attr-defined]
        total: float = self._period_total  # type: ignore[attr-defined]
        return rounds * total + cumulative[hour] + (within - hour) * self.values[hour]

    def grams_per_kw(self, start_s: float, end_s: float) -> float:
        """Integral of intensity over [start, end] (UTC epoch s): gCO2 per kW drawn."""
        return self.grams_for(start_s, (end_s - start_s) / SECONDS_PER_HOUR)

    def grams_for(self, start_s: float, duration_h: float) -> float:
        """Integral of intensity over ``duration_h`` hours from ``start_s`` (UTC epoch s).
        Taking the duration, not the end, keeps short runs exact: an end in epoch seconds
        is rounded to ~1e-7 s."""
        period = self.period_h
        a = self._hours(start_s)
        a -= period * math.floor(a / period)
        hour = math.floor(a)
        # Lengths, not differences of positions: a + d - a loses a short run in a's rounding,
        # and a difference of cumulative sums divided by a short d is all rounding error.
        first_len = min(duration_h, hour + 1.0 - a)
        grams = first_len * self.values[hour % period]
        rest_h = duration_h - first_len
        if 0 < rest_h < 1.0:  # it ends in the next hour
            grams += rest_h * self.values[(hour + 1) % period]
        elif rest_h >= 1.0:
            grams += self._cum(a + duration_h) - self._cum(hour + 1.0)
        return grams

    def value_at(self, t_s: float) -> float:
        """The intensity in force at UTC time ``t_s``."""
        return self.values[math.floor(self._hours(t_s)) % self.period_h]

    def hours_of_day(self, start_s: float, end_s: float) -> list[float]:
        """Hours spent in each local hour of the day (24 bins) between start and end."""
        bins = [0.0] * HOURS_PER_DAY
        a = start_s / SECONDS_PER_HOUR + self.utc_offset_h
        b = end_s / SECONDS_PER_HOUR + self.utc_offset_h
        full_days = math.floor((b - a) / HOURS_PER_DAY)
        if full_days:
            bins = [float(full_days)] * HOURS_PER_DAY
            a += HOURS_PER_DAY * full_days
        t = a
        while t < b - 1e-12:
            hour = math.floor(t)
            step = min(b, hour + 1.0) - t
            bins[int(hour % HOURS_PER_DAY)] += step
            t += step
        return bins

    def integral(self, start_s: FloatArray, duration_h: FloatArray) -> FloatArray:
        """:meth:`grams_for` over arrays of starts and durations (hours), broadcast."""
        import numpy as np

        values = np.asarray(self.values)
        cumulative = np.asarray(self._cumulative)  # type: ignore[attr-defined]
        period = self.period_h

        def cum(hours: FloatArray) -> FloatArray:
            rounds = np.floor(hours / period)
            within = hours - rounds * period
            hour = np.minimum(np.floor(within).astype(np.int64), period - 1)
            result: FloatArray = rounds * self._period_total + cumulative[hour] + (within - hour) * values[hour]  # type: ignore[attr-defined]
            return result

        starts = np.asarray(start_s, dtype=np.float64)
        if self.series_start_s is not None:
            local = (starts - self.series_start_s) / SECONDS_PER_HOUR
        else:
            local = starts / SECONDS_PER_HOUR + self.utc_offset_h
        duration = np.asarray(duration_h, dtype=np.float64)
        local = local - np.floor(local / period) * period
        first_hour = np.floor(local)
        first_len = np.minimum(duration, first_hour + 1.0 - local)
        first = first_len * values[first_hour.astype(np.int64) % period]
        rest_h = duration - first_len
        next_hour = values[(first_hour.astype(np.int64) + 1) % period]
        rest = np.where(
            rest_h >= 1.0, cum(local + duration) - cum(first_hour + 1.0), np.where(rest_h > 0, rest_h * next_hour, 0.0)
        )
        out: FloatArray = first + rest
        return out

    def mean_g_per_kwh(self, start_s: float, duration_h: float) -> float:
        """Average intensity over the run; an instant's below :data:`INSTANT_H` (a mean of
        a run that short is rounding: 1.5 x 5e-324 is 1e-323)."""
        if duration_h <= INSTANT_H:
            return self.value_at(start_s)
        return self.grams_for(start_s, duration_h) / duration_h


def carbon_kg(curve: CarbonCurve, facility_kw: float, start_s: float, duration_h: float) -> float:
    return curve.grams_for(start_s, duration_h) * facility_kw / 1000.0


@dataclass(frozen=True)
class Cost:
    """What a run costs (USD): accelerators and energy, and how it was priced."""

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
