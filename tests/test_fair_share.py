"""Weighted max-min fair share across tenants in capacity-hours (the ``suanli`` policy's
``fair_share``): a two-tenant flood on Gavel's 16 V100 + 16 P100 + 16 K80 cluster, where
tenant A submits 10x tenant B's jobs at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from suanli.policy import Suanli, SuanliParams
from suanli.service import context
from suanli.service.simulation import POLICY_REGISTRY, SimulationRequest, policy_for, sim_input
from suanli.sim.engine import SimInput, SimOutput, simulate
from suanli.sim.network import load_network
from suanli.sim.workload import prepare
from suanli.traces import Trace
from suanli.traces.synthetic import SyntheticParams, synthetic

GAVEL = str(Path(__file__).resolve().parents[1] / "examples" / "networks" / "gavel-16-16-16.yaml")
SHARE_TOLERANCE = 0.05
"""Measured (seeds 0-2): B's share of the capacity-hours while both wait 0.482, 0.501, 0.475 at
equal weights, 0.248, 0.246, 0.250 at A:B = 3:1."""


def flood(seed: int) -> Trace:
    """440 jobs at once (1-8 accelerators, Philly-like durations), 40 of them tenant B's."""
    params = SyntheticParams(jobs=440, rate_per_h=1e6, max_gpus=8, mean_gpus=2.0, tenants=1, reference="v100")
    trace = synthetic(params, seed)
    b = np.zeros(len(trace), dtype=bool)
    b[np.random.default_rng(seed + 100).choice(len(trace), 40, replace=False)] = True
    return dataclasses.replace(trace, tenant=b.astype(np.int32), tenants=("A", "B"))


def prepared(trace: Trace, scale: float = 1.0, weights: dict[str, float] | None = None) -> SimInput:
    """``trace`` on Gavel's cluster at ``scale`` of its accelerators."""
    net = load_network(context().catalog, GAVEL, "v100", scale)
    return prepare(trace, net, tenant_weights=weights)


def simulate_fair(data: SimInput, fair: bool) -> SimOutput:
    return simulate(data, Suanli(SuanliParams(fair_share=fair)), restart_s=60.0)


def mean_jct_h(data: SimInput, out: SimOutput, tenant: int) -> float:
    finish = np.asarray(out.recorder.finish_s)
    mine = np.asarray(data.jobs.tenant) == tenant
    return float((finish[mine] - np.asarray(data.jobs.submit_s)[mine]).mean()) / 3600.0


def share_while_both_wait(data: SimInput, out: SimOutput, tenant: int) -> float:
    """``tenant``'s share of the capacity-hours up to B's last first start (both wait till then)."""
    r = out.recorder
    tenants = np.asarray(data.jobs.tenant)
    until = float(np.nanmax(np.asarray(r.first_start_s)[tenants == 1]))
    hours = np.minimum(np.frombuffer(r.run_end_s), until) - np.minimum(np.frombuffer(r.run_start_s), until)
    values = np.asarray(data.pools.capacity_value)[np.frombuffer(r.run_pool, dtype=np.intc)]
    used = hours * np.frombuffer(r.run_gpus, dtype=np.intc) * values
    mine = tenants[np.frombuffer(r.run_job, dtype=np.intc)] == tenant
    return float(used[mine].sum() / used.sum())


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed {s}")
def test_the_flooded_tenant_gets_its_half_and_its_jobs_finish_sooner(seed: int) -> None:
    trace = flood(seed)
    data = prepared(trace)
    off, on = simulate_fair(data, False), simulate_fair(data, True)
    b_off, b_on = mean_jct_h(data, off, 1), mean_jct_h(data, on, 1)
    alone_half = prepared(trace.select(np.flatnonzero(trace.tenant == 1)), scale=0.5)
    b_alone = mean_jct_h(alone_half, simulate_fair(alone_half, False), 1)
    # measured: B's mean JCT 15.5 -> 5.4 h, 15.4 -> 2.7 h, 16.1 -> 1.4 h; alone on half 5.9, 3.9, 2.4 h
    assert b_on < 0.5 * b_off
    assert b_on <= 1.2 * b_alone  # issue 10: within 1.2x of B alone on half the capacity
    assert share_while_both_wait(data, on, 1) == pytest.approx(0.5, abs=SHARE_TOLERANCE)
    assert share_while_both_wait(data, off, 1) < 0.5 - SHARE_TOLERANCE  # without: A's flood takes it


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed {s}")
def test_weights_set_the_shares(seed: int) -> None:
    data = prepared(flood(seed), weights={"A": 3.0})
    assert share_while_both_wait(data, simulate_fair(data, True), 1) == pytest.approx(0.25, abs=SHARE_TOLERANCE)


def recorded(out: SimOutput) -> tuple[Any, ...]:
    r = out.recorder
    return (r.first_start_s, r.finish_s, r.busy_accel_s, r.preemptions)


def test_without_fair_share_no_policy_reads_the_tenants() -> None:
    """Every policy decides the same on a congested synthetic trace with 10 tenants as with one."""
    request = SimulationRequest(synthetic=SyntheticParams(jobs=600, rate_per_h=300.0), capacity_scale=0.03)
    data = sim_input(context(), request)
    assert len(set(data.jobs.tenant)) == 10
    one = dataclasses.replace(data, jobs=dataclasses.replace(data.jobs, tenant=[], tenant_names=["default"]))
    one = dataclasses.replace(one, jobs=dataclasses.replace(one.jobs, tenant_weights=[1.0]))
    for name in POLICY_REGISTRY.names():
        assert recorded(simulate(data, policy_for(request, name), restart_s=60.0)) == recorded(
            simulate(one, policy_for(request, name), restart_s=60.0)
        ), name


def test_fair_share_with_one_tenant_decides_as_without() -> None:
    request = SimulationRequest(synthetic=SyntheticParams(jobs=600, rate_per_h=300.0, tenants=1), capacity_scale=0.03)
    data = sim_input(context(), request)
    assert recorded(simulate_fair(data, True)) == recorded(simulate_fair(data, False))


def test_fair_share_is_deterministic() -> None:
    data = prepared(flood(0))
    assert recorded(simulate_fair(data, True)) == recorded(simulate_fair(data, True))


def test_start_tags_interleave_tenants_from_their_attained_service() -> None:
    """Tenant 0 has 10 capacity-hours, tenant 1 none; every waiting job is 1 h of one
    accelerator: tenant 1's first ten go first, then the two alternate (ties: the policy's order)."""
    from suanli.policy.fair_share import fair_order
    from tests.sim_builders import jobs, pools, state

    net = pools().pool("a/x", capacity=100).build()
    table = jobs().job(work=7200.0, gpus=10, tenant=0)
    for tenant in [0, 0] + [1] * 12:
        table = table.job(work=3600.0, tenant=tenant)
    cluster = state(net, table, now=3600.0, running=[(0, 0)])
    pending = cluster.pending_table()
    assert pending.ids.tolist() == list(range(1, 15))
    merged = pending.ids[fair_order(cluster, pending, np.arange(14))].tolist()
    assert merged == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 13, 2, 14]
    weighted = dataclasses.replace(cluster.jobs, tenant_weights=[10.0, 1.0])
    heavy = state(net, weighted, now=3600.0, running=[(0, 0)])
    # weight 10: tenant 0's tags 1.0 and 1.1, tenant 1's 0, 1, 2, ... (job 1 ties job 4 and is ahead of it)
    order = fair_order(heavy, heavy.pending_table(), np.arange(14))
    assert heavy.pending_table().ids[order].tolist()[:5] == [3, 1, 4, 2, 5]


@pytest.mark.parametrize("name", ["fifo", "backfill"])
def test_arrival_order_policies_take_the_fair_order_too(name: str) -> None:
    """``fifo`` and ``backfill`` with ``fair_share`` take the queue merged by start tag; their own
    head-of-line reservation serves the gangs. Measured (seeds 0-2): B's share while both wait
    0.43, 0.50, 0.41 (fifo) and 0.50, 0.49, 0.48 (backfill); B's mean JCT 48.2, 61.2, 30.0 ->
    25.3, 9.5, 4.6 h (fifo) and 29.4, 33.8, 25.4 -> 25.7, 5.6, 2.5 h (backfill)."""
    off_h, on_h = [], []
    for seed in (0, 1, 2):
        data = prepared(flood(seed))
        off = simulate(data, POLICY_REGISTRY.create(name, fair_share=False), restart_s=60.0)
        on = simulate(data, POLICY_REGISTRY.create(name, fair_share=True), restart_s=60.0)
        off_h.append(mean_jct_h(data, off, 1))
        on_h.append(mean_jct_h(data, on, 1))
        assert share_while_both_wait(data, on, 1) == pytest.approx(0.5, abs=0.1)
    assert np.mean(on_h) < 0.5 * np.mean(off_h)
