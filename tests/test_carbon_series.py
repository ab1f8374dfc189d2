"""Measured intensity series as a site's carbon signal (--carbon-series)."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.errors import InputError
from suanli.model.footprint import CarbonCurve
from suanli.service import context
from suanli.service.simulation import SimulationRequest, run_simulation
from suanli.sim.carbon_series import load_carbon_series
from suanli.traces.synthetic import SyntheticParams
from tests.conftest import need_shared

T0 = 1735689600.0  # 2025-01-01T00:00:00Z


def write(tmp_path: Path, text: str, name: str = "series.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_readings_are_averaged_per_hour_and_gaps_take_the_previous_hour(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Time,Carbon Intensity\n"
        "2025-01-01 00:00:00,100\n2025-01-01 00:30:00,200\n"
        "2025-01-01 01:15:00,300\n"
        "2025-01-01 03:00:00,50\n",
    )
    series = load_carbon_series(path)
    assert series.start_s == T0
    assert series.hourly_g_per_kwh == (150.0, 300.0, 300.0, 50.0)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Time,Carbon Intensity\n2025-01-01 00:00:00,lots\n", ":2: column 'Carbon Intensity'"),
        ("Time,Carbon Intensity\nyesterday,100\n", ":2: 'yesterday' is not a date-time"),
        ("Time,Carbon Intensity\n2025-01-01 00:00:00,-5\n", ">= 0"),
        ("Time,Carbon Intensity\n", "no readings"),
    ],
    ids=["non-numeric", "bad-time", "negative", "empty"],
)
def test_a_malformed_series_is_refused_with_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        load_carbon_series(write(tmp_path, text))


def test_a_named_column_that_is_absent_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no column 'gCO2'"):
        load_carbon_series(write(tmp_path, "Time,Carbon Intensity\n2025-01-01 00:00:00,1\n"), column="gCO2")


def test_a_series_curve_integrates_its_own_hours_and_repeats() -> None:
    curve = CarbonCurve((100.0, 300.0), 8.0, series_start_s=T0)
    assert curve.grams_for(T0, 1.0) == pytest.approx(100.0)
    assert curve.grams_for(T0 + 1800.0, 1.0) == pytest.approx(50.0 + 150.0)
    assert curve.grams_for(T0 + 2 * 3600.0, 2.0) == pytest.approx(400.0)  # repeats after its end
    assert curve.value_at(T0 + 3600.0 + 5) == 300.0


def test_a_daily_profile_needs_twenty_four_values() -> None:
    with pytest.raises(ValueError, match="24"):
        CarbonCurve((1.0, 2.0), 0.0)


def test_a_simulation_charges_a_site_what_its_series_says(tmp_path: Path) -> None:
    rows = "".join(f"2024-12-31 {h:02d}:00:00,40\n" for h in range(24))
    path = write(tmp_path, "Time,Carbon Intensity\n" + rows)
    request = SimulationRequest(
        policies=("carbon",),
        capacity_scale=0.03,
        synthetic=SyntheticParams(jobs=200, rate_per_h=100),
        carbon_series={"tianfu": str(path)},
    )
    result = run_simulation(context(), request)
    site = result.runs["carbon"].metrics["by_site"]["tianfu"]
    assert site["energy_kwh"] > 0
    assert site["carbon_kg"] == pytest.approx(site["energy_kwh"] * 40.0 / 1000.0, rel=1e-9)


def test_a_series_for_an_unknown_site_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Time,Carbon Intensity\n2025-01-01 00:00:00,1\n")
    request = SimulationRequest(
        policies=("fifo",), synthetic=SyntheticParams(jobs=5), carbon_series={"mars": str(path)}
    )
    with pytest.raises(InputError, match="mars"):
        run_simulation(context(), request)


def test_the_shared_german_series_loads_as_a_year_of_hours() -> None:
    series = load_carbon_series(need_shared("carbon", "data", "ger_ci.csv"))
    assert 360 * 24 <= len(series.hourly_g_per_kwh) <= 400 * 24
    assert all(v >= 0 for v in series.hourly_g_per_kwh)
