"""Per-tenant metrics of a simulation: capacity-hours by tenant in the capacity unit, mean
JCT, finish-time fairness (rho) against the fluid isolated estimate, max rho and Jain's index."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.policy import Fifo
from suanli.service import context
from suanli.service.simulation import SimulationRequest, run_simulation, tenant_rows
from suanli.sim.fairness import isolated_jct_s
from suanli.traces.synthetic import SyntheticParams
from tests.sim_builders import jobs, pools, run, sim_input


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(0, 1e4), st.floats(0, 1e4)), min_size=1, max_size=30))
def test_isolated_jct_is_the_fluid_recursion(rows: list[tuple[float, float, float]]) -> None:
    gaps, sizes, fastest = (np.asarray(c) for c in zip(*rows, strict=True))
    submit = np.cumsum(gaps)
    got = isolated_jct_s(submit, sizes, fastest, 4.0)
    finish = 0.0
    for j in range(len(submit)):
        finish = max(finish, submit[j]) + sizes[j] / 4.0
        assert got[j] == pytest.approx(max(finish - submit[j], fastest[j]), rel=1e-9, abs=1e-6)


def test_two_tenants_capacity_hours_and_rho() -> None:
    """Pool values 2 and 1: tenant 0 runs 2 x 1 h on the fast pool, tenant 1 1 x 2 h on the slow."""
    net = pools().pool("a/fast", capacity=2, speed=2.0).pool("a/slow", capacity=1, speed=1.0).build()
    table = jobs().job(work=7200.0, gpus=2, tenant=0).job(work=7200.0, gpus=1, tenant=1).only(1)
    result = run(sim_input(net, table), Fifo())
    tenants = result.metrics["tenants"]
    by = tenants["by_tenant"]
    assert by["t0"]["capacity_h"] == pytest.approx(2 * 1.0 * 2.0)
    assert by["t1"]["capacity_h"] == pytest.approx(1 * 2.0 * 1.0)
    assert by["t0"]["share"] + by["t1"]["share"] == pytest.approx(1.0)
    assert by["t0"]["avg_jct_h"] == pytest.approx(1.0) and by["t1"]["avg_jct_h"] == pytest.approx(2.0)
    # alone on half of C = 2 x 2 + 1 x 1 = 5: t0's 14,400 accelerator-s take 14,400 / 2.5 s (> its 1 h)
    assert by["t0"]["isolated_jct_h"] == pytest.approx(14400 / 2.5 / 3600)
    assert by["t1"]["isolated_jct_h"] == pytest.approx(2.0)  # its fastest run (slow pool only)
    assert by["t0"]["rho"] == pytest.approx(1.0 / (14400 / 2.5 / 3600))
    assert tenants["max_rho"] == pytest.approx(max(by["t0"]["rho"], by["t1"]["rho"]))
    rho = np.asarray([by["t0"]["rho"], by["t1"]["rho"]])
    assert tenants["jain_rho"] == pytest.approx(rho.sum() ** 2 / (2 * (rho**2).sum()))
    assert tenants["capacity_unit"] == "reference-accelerator hours"  # a builder's pools have no values


def test_weights_set_each_tenants_slice() -> None:
    net = pools().pool("a/x", capacity=4).build()
    table = jobs().job(work=3600.0, gpus=4, tenant=0).job(work=3600.0, gpus=4, tenant=1).weights(3.0, 1.0)
    by = run(sim_input(net, table), Fifo()).metrics["tenants"]["by_tenant"]
    assert by["t0"]["weight"] == 3.0
    assert by["t0"]["isolated_jct_h"] == pytest.approx(4 / 3)  # 4 x 1 h on 3 of 4 accelerators
    assert by["t1"]["isolated_jct_h"] == pytest.approx(4.0)


def test_simulate_json_reports_tenants_in_the_capacity_unit() -> None:
    request = SimulationRequest(
        synthetic=SyntheticParams(jobs=300, rate_per_h=300.0, tenants=3), capacity_scale=0.03, policies=("fifo",)
    )
    result = run_simulation(context(), request)
    tenants = json.loads(json.dumps(result.as_dict()))["policies"]["fifo"]["tenants"]
    assert set(tenants["by_tenant"]) == {"tenant-0", "tenant-1", "tenant-2"}
    assert tenants["capacity_unit"] == "H800-equivalent hours"
    assert sum(t["jobs"] for t in tenants["by_tenant"].values()) == 300
    assert sum(t["share"] for t in tenants["by_tenant"].values()) == pytest.approx(1.0)
    assert 0 < tenants["jain_rho"] <= 1.0
    rows = tenant_rows(result, most=2)
    assert [label for label, _, _ in rows][:2] == ["tenants: largest rho", "tenants: Jain's index of rho"]
    assert len(rows) == 2 + 2 * 2 and all(len(values) == 1 for _, _, values in rows)


def test_one_tenant_adds_no_rows() -> None:
    request = SimulationRequest(synthetic=SyntheticParams(jobs=50, tenants=1), capacity_scale=0.03, policies=("fifo",))
    assert tenant_rows(run_simulation(context(), request)) == []
