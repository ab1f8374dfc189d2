"""The simulator against published settings, on the real traces (skipped without
``../shared/data``).

(a) Gavel's own setting: 16 V100 + 16 P100 + 16 K80, Gavel's generated 200-job trace and
its measured throughputs. Gavel's simulator reports a mean JCT of 3.93 h under FIFO
(``traces/gavel/RESULTS.md``); ours must be within 15 %.
(b) The full Philly trace (Jeon et al., ATC'19, via Sia) on the national network under
every policy (slow).
"""

from __future__ import annotations

import math
import os
from typing import Any
from unittest import mock

import pytest

from suanli.policy import register_builtins
from suanli.service import context
from suanli.service.simulation import SimulationRequest, SimulationResult, run_simulation
from tests.conftest import EXAMPLES, SHARED_DATA, need_shared

GAVEL_FIFO_MEAN_JCT_H = 3.93
"""Gavel's simulator, fifo, 16:16:16, generated_200jobs_seed0.trace, seed 0 (RESULTS.md)."""
GAVEL_TOLERANCE = 0.15
GAVEL_NETWORK = EXAMPLES / "networks" / "gavel-16-16-16.yaml"


@pytest.fixture(scope="module")
def gavel_run() -> SimulationResult:
    trace = need_shared("traces", "gavel", "generated_200jobs_seed0.trace")
    profiles = need_shared("traces", "gavel", "simulation_throughputs.json")
    request = SimulationRequest(
        trace=str(trace),
        trace_format="gavel",
        network=str(GAVEL_NETWORK),
        policies=("fifo", "suanli"),
        seed=0,
    )
    return run_simulation(context(profiles=profiles), request)


def test_gavel_setting_completes_all_200_jobs(gavel_run: SimulationResult) -> None:
    assert len(gavel_run.trace) == 200
    assert sum(gavel_run.network.pools.capacity) == 48
    for name, policy_run in gavel_run.runs.items():
        m = policy_run.metrics
        assert m["completed"] == 200, (name, m["completed"], m["rejected"], m["lost"])
        assert m["lost"] == 0 and m["rejected"] == 0, name


def test_gavel_setting_fifo_matches_gavels_mean_jct(gavel_run: SimulationResult) -> None:
    fifo = gavel_run.runs["fifo"].metrics["avg_jct_h"]
    error = abs(fifo - GAVEL_FIFO_MEAN_JCT_H) / GAVEL_FIFO_MEAN_JCT_H
    assert error <= GAVEL_TOLERANCE, (
        f"fifo mean JCT {fifo:.3f} h vs Gavel's {GAVEL_FIFO_MEAN_JCT_H} h: {error:.1%} off "
        f"(limit {GAVEL_TOLERANCE:.0%})"
    )


def test_gavel_setting_suanli_beats_fifo(gavel_run: SimulationResult) -> None:
    fifo = gavel_run.runs["fifo"].metrics["avg_jct_h"]
    suanli = gavel_run.runs["suanli"].metrics["avg_jct_h"]
    assert math.isfinite(suanli)
    assert suanli < fifo, f"suanli mean JCT {suanli:.3f} h is not below fifo's {fifo:.3f} h (Gavel fifo: 3.93 h)"


def test_gavel_setting_bounds_hold(gavel_run: SimulationResult) -> None:
    for name, policy_run in gavel_run.runs.items():
        m = policy_run.metrics
        assert gavel_run.bounds.avg_jct_h <= m["avg_jct_h"], name
        assert gavel_run.bounds.carbon_kg <= m["carbon_kg"] * (1 + 1e-6), name


# -- the full Philly trace -----------------------------------------------------------

PHILLY_POLICIES = register_builtins().names()


@pytest.fixture(scope="module")
def philly_run() -> SimulationResult:
    need_shared("traces", "philly", "philly.csv")
    with mock.patch.dict(os.environ, {"SUANLI_DATA": str(SHARED_DATA)}):
        return run_simulation(context(), SimulationRequest(trace="philly", policies=PHILLY_POLICIES, seed=0))


def _summary(result: SimulationResult, *keys: str) -> str:
    rows: list[str] = []
    for name, policy_run in result.runs.items():
        m: dict[str, Any] = policy_run.metrics
        rows.append(name + ": " + ", ".join(f"{k}={m[k]:.4g}" for k in keys))
    return "; ".join(rows)


@pytest.mark.slow
def test_philly_loses_no_job_under_any_policy(philly_run: SimulationResult) -> None:
    assert len(philly_run.trace) > 80_000
    summary = _summary(philly_run, "completed", "rejected", "lost")
    for name in PHILLY_POLICIES:
        m = philly_run.runs[name].metrics
        assert m["lost"] == 0, f"{name} lost jobs: {summary}"
        assert m["completed"] + m["rejected"] == len(philly_run.trace), summary


@pytest.mark.slow
def test_philly_suanli_mean_jct_below_fifo(philly_run: SimulationResult) -> None:
    suanli = philly_run.runs["suanli"].metrics["avg_jct_h"]
    fifo = philly_run.runs["fifo"].metrics["avg_jct_h"]
    assert suanli < fifo, f"mean JCT (h): suanli {suanli:.4f} vs fifo {fifo:.4f}; {_summary(philly_run, 'avg_jct_h')}"


@pytest.mark.slow
def test_philly_suanli_carbon_below_cheapest(philly_run: SimulationResult) -> None:
    suanli = philly_run.runs["suanli"].metrics["carbon_kg"]
    cheapest = philly_run.runs["cheapest"].metrics["carbon_kg"]
    assert suanli < cheapest, (
        f"carbon (kg): suanli {suanli:.1f} vs cheapest {cheapest:.1f}; {_summary(philly_run, 'carbon_kg')}"
    )


@pytest.mark.slow
def test_philly_bounds_hold(philly_run: SimulationResult) -> None:
    for name, policy_run in philly_run.runs.items():
        m = policy_run.metrics
        assert philly_run.bounds.avg_jct_h <= m["avg_jct_h"], (name, philly_run.bounds)
        assert philly_run.bounds.carbon_kg <= m["carbon_kg"] * (1 + 1e-6), (name, philly_run.bounds)
