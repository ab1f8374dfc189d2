"""Hypothesis invariants of fair share on random networks and traces with random tenants and
weights: every job that fits completes, the tenants' capacity-hours add up to the run's, and
the same input gives the same run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.service.simulation import POLICY_REGISTRY
from suanli.sim.engine import SimInput
from tests.sim_builders import run
from tests.test_sim_properties import SETTINGS, runnable, sim_inputs

FAIR_POLICIES = ("suanli", "fifo", "backfill")


@st.composite
def with_tenants(draw: st.DrawFn) -> SimInput:
    data = draw(sim_inputs())
    n = len(data.jobs.submit_s)
    count = draw(st.integers(1, 3))
    tenant = draw(st.lists(st.integers(0, count - 1), min_size=n, max_size=n))
    weights = draw(st.lists(st.sampled_from([0.5, 1.0, 3.0]), min_size=count, max_size=count))
    jobs = dataclasses.replace(
        data.jobs, tenant=tenant, tenant_names=[f"t{i}" for i in range(count)], tenant_weights=weights
    )
    return dataclasses.replace(data, jobs=jobs)


@SETTINGS
@given(with_tenants())
def test_fair_share_completes_every_job_that_fits(data: SimInput) -> None:
    expected = int(runnable(data).sum())
    for name in FAIR_POLICIES:
        result = run(data, POLICY_REGISTRY.create(name, fair_share=True))
        assert result.metrics["completed"] == expected, name
        assert result.metrics["lost"] == 0 and result.output.unfinished == 0, name


@SETTINGS
@given(with_tenants())
def test_tenants_capacity_hours_add_up_and_runs_repeat(data: SimInput) -> None:
    for name in FAIR_POLICIES:
        first = run(data, POLICY_REGISTRY.create(name, fair_share=True))
        again = run(data, POLICY_REGISTRY.create(name, fair_share=True))
        assert np.array_equal(first.output.recorder.finish_s, again.output.recorder.finish_s, equal_nan=True), name
        r = first.output.recorder
        speed = np.asarray(data.pools.speed)[np.frombuffer(r.run_pool, dtype=np.intc)]
        hours = (np.frombuffer(r.run_end_s) - np.frombuffer(r.run_start_s)) / 3600.0
        total = float((hours * np.frombuffer(r.run_gpus, dtype=np.intc) * speed).sum())
        by_tenant = first.metrics["tenants"]["by_tenant"].values()
        assert sum(t["capacity_h"] for t in by_tenant) == pytest.approx(total, rel=1e-9, abs=1e-9), name
