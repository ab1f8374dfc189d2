"""The capacity-aware mean-JCT bound (``sim/bounds.py``: ``jct_lp_bound``, ``lower_bounds``).

It never exceeds any policy's simulated mean JCT (preemptive ones, restart costs and
faults included); it is the capacity-free bound when capacity is ample and strictly
above it under congestion; it is deterministic; and without HiGHS, above its size cap,
or on runs cut short it falls back to the capacity-free bound and says why.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.policy import register_builtins
from suanli.service.planning import context
from suanli.service.simulation import SimulationRequest, sim_input
from suanli.sim.bounds import JctLpOptions, carbon_lp_bound, jct_lp_bound, lower_bounds, simple_bounds
from suanli.sim.engine import SimInput
from suanli.sim.faults import Faults, Outage
from suanli.traces.synthetic import SyntheticParams
from tests.sim_builders import jobs, pools, run
from tests.sim_builders import sim_input as build_input

REGISTRY = register_builtins()
POLICIES = REGISTRY.names()
REL = 1e-9
COARSE = JctLpOptions(speed_ratio=1.3, uniform_intervals=3, work_ratio=4.0, growth=1.0)
"""Coarser than the coarsest step the size cap falls back to: still a valid bound."""
RUN_SETTINGS: dict[str, dict[str, Any]] = {
    "as is": {},
    "with preemption costs": {"checkpoint_s": 1800.0, "restart_s": 60.0},
}


def mean_jct_h(data: SimInput, name: str, **kwargs: Any) -> float:
    return float(run(data, REGISTRY.create(name), **kwargs).metrics["avg_jct_h"])


def synthetic(jobs_n: int, capacity: float, seed: int = 0) -> SimInput:
    request = SimulationRequest(
        synthetic=SyntheticParams(jobs=jobs_n, rate_per_h=300), capacity_scale=capacity, seed=seed
    )
    return sim_input(context(), request)


@st.composite
def congested_inputs(draw: st.DrawFn) -> SimInput:
    """1-4 small pools of mixed speeds; 2-16 jobs arriving close together, some gangs,
    some with measured speeds, some restricted to a subset of pools."""
    net = pools()
    n_sites = draw(st.integers(1, 2))
    for site in range(n_sites):
        for kind in range(draw(st.integers(1, 2))):
            net.pool(
                f"s{site}/t{kind}",
                capacity=draw(st.integers(1, 6)),
                speed=draw(st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0])),
            )
    table = net.build()
    largest = max(table.capacity)
    builder = jobs()
    submit = 0.0
    for _ in range(draw(st.integers(2, 16))):
        submit += draw(st.sampled_from([0.0, 0.0, 60.0, 600.0, 3600.0]))
        n_pools = len(table)
        speeds = (
            draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 4.0]), min_size=n_pools, max_size=n_pools))
            if draw(st.integers(0, 3)) == 0
            else None
        )
        builder.job(
            submit=submit,
            work=draw(st.sampled_from([1.0, 60.0, 600.0, 1800.0, 3600.0, 20_000.0, 80_000.0])),
            gpus=draw(st.integers(1, largest + 1)),  # largest + 1: sometimes rejected
            speeds=speeds,
        )
        if draw(st.integers(0, 3)) == 0:
            builder.only(draw(st.sets(st.integers(0, n_pools - 1), min_size=1)))
    return build_input(table, builder)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(congested_inputs(), st.sampled_from(["default", "coarse"]))
def test_the_lp_bound_is_below_every_policy_on_random_congested_inputs(data: SimInput, sizing: str) -> None:
    bound = jct_lp_bound(data, COARSE if sizing == "coarse" else None)
    if bound.avg_jct_h is None:
        assert bound.detail == "no job can run"
        return
    assert bound.avg_jct_h >= simple_bounds(data).avg_jct_h * (1 - 1e-5) or sizing == "coarse"
    for name in POLICIES:
        for setting in RUN_SETTINGS.values():
            m = run(data, REGISTRY.create(name), **setting).metrics
            assert bound.avg_jct_h <= m["avg_jct_h"] * (1 + REL), (name, setting, bound, m["avg_jct_h"])


def test_the_lp_bound_is_below_every_policy_with_faults() -> None:
    """Outages and node failures preempt jobs and take accelerators away: only more time."""
    net = pools().pool("a/fast", capacity=4, speed=2.0).pool("b/slow", capacity=4, speed=1.0)
    builder = jobs()
    for j in range(12):
        builder.job(submit=600.0 * (j // 3), work=3600.0 * (1 + j % 4), gpus=1 + j % 3)
    data = build_input(net, builder)
    bound = jct_lp_bound(data)
    assert bound.avg_jct_h is not None
    outage = Faults(outages=(Outage("a", 0.5, 2.0),), seed=1)
    for name in POLICIES:
        jct = mean_jct_h(data, name, faults=outage, checkpoint_s=600.0, restart_s=60.0)
        assert bound.avg_jct_h <= jct * (1 + REL), name


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed {s}")
def test_the_lp_bound_is_below_every_policy_on_synthetic_traces(seed: int) -> None:
    data = synthetic(200, 0.01, seed)
    bound = jct_lp_bound(data)
    assert bound.avg_jct_h is not None, bound.detail
    assert bound.avg_jct_h >= simple_bounds(data).avg_jct_h
    for name in POLICIES:
        jct = mean_jct_h(data, name)
        assert bound.avg_jct_h <= jct * (1 + REL), (name, bound, jct)


def test_under_congestion_the_lp_bound_is_strictly_tighter_than_the_capacity_free_one() -> None:
    data = synthetic(150, 0.005)
    simple = simple_bounds(data).avg_jct_h
    bound = jct_lp_bound(data)
    assert bound.avg_jct_h is not None, bound.detail
    assert bound.avg_jct_h > simple * 1.05, (bound, simple)
    best = min(mean_jct_h(data, name) for name in POLICIES)
    assert bound.avg_jct_h <= best
    combined = lower_bounds(data, makespan_s=0.0)
    assert combined.avg_jct_h == bound.avg_jct_h
    assert "JCT: time-indexed LP with pool capacities (HiGHS" in combined.method


def test_two_jobs_on_one_accelerator() -> None:
    """Two 1-hour jobs at t=0 on one accelerator: JCTs 1 h and 2 h in every schedule
    without idling, mean 1.5 h; the capacity-free bound says 1 h. The LP charges work in
    an interval at the interval's start: it is below 1.5 h by its discretisation, which
    finer intervals shrink."""
    data = build_input(pools().pool("a/v100", capacity=1), jobs().job(0, 3600, 1).job(0, 3600, 1))
    assert simple_bounds(data).avg_jct_h == pytest.approx(1.0)
    default = jct_lp_bound(data).avg_jct_h
    fine = jct_lp_bound(data, JctLpOptions(growth=0.02)).avg_jct_h
    assert default is not None and fine is not None
    assert 1.3 <= default <= fine <= 1.5
    assert fine >= 1.48
    assert mean_jct_h(data, "fifo") == pytest.approx(1.5)


def test_a_gang_too_large_for_the_fastest_pool_counts_at_the_speed_it_can_get() -> None:
    """The fast pool holds 2 accelerators, the job needs 4: it can only run on the slow
    pool. The capacity-free bound (fastest allowed pool) ignores that; the LP does not."""
    net = pools().pool("a/fast", capacity=2, speed=4.0).pool("b/slow", capacity=8, speed=1.0)
    data = build_input(net, jobs().job(0, 3600, 4))
    assert simple_bounds(data).avg_jct_h == pytest.approx(0.25)
    bound = jct_lp_bound(data)
    assert bound.avg_jct_h == pytest.approx(1.0, rel=1e-5)
    assert bound.detail.startswith("no solve: capacity never binds")
    assert mean_jct_h(data, "suanli") == pytest.approx(1.0)


def test_a_job_no_pool_can_hold_is_left_out_as_the_policies_leave_it_out() -> None:
    data = build_input(pools().pool("a/v100", capacity=2), jobs().job(0, 3600, 1).job(0, 3600, 2).job(0, 3600, 3))
    bound = jct_lp_bound(data)
    assert bound.avg_jct_h is not None
    fifo = run(data, REGISTRY.create("fifo")).metrics
    assert fifo["rejected"] == 1
    assert bound.avg_jct_h <= fifo["avg_jct_h"] * (1 + REL)
    assert bound.avg_jct_h > simple_bounds(data).avg_jct_h


def test_with_ample_capacity_it_is_the_capacity_free_bound() -> None:
    data = synthetic(200, 1.0)
    simple = simple_bounds(data).avg_jct_h
    bound = jct_lp_bound(data)
    assert bound.avg_jct_h == pytest.approx(simple, rel=1e-5)
    assert bound.detail.startswith("no solve")
    combined = lower_bounds(data, makespan_s=0.0)
    assert combined.avg_jct_h == simple
    assert "JCT: per job, capacity-free (capacity LP no tighter" in combined.method


def test_more_capacity_never_raises_the_bound_and_enough_reaches_the_capacity_free_one() -> None:
    builder = jobs()
    for j in range(10):
        builder.job(submit=300.0 * j, work=1800.0 * (1 + j % 3), gpus=1 + j % 2)
    values = []
    for capacity in (2, 3, 4, 8, 64):
        data = build_input(pools().pool("a/fast", capacity=capacity, speed=2.0).pool("b/slow", capacity=4), builder)
        bound = jct_lp_bound(data)
        assert bound.avg_jct_h is not None
        values.append(bound.avg_jct_h)
    # (the grid's horizon follows the capacity, so the discretisation moves a little too)
    assert all(later <= earlier * 1.02 for earlier, later in itertools.pairwise(values)), values
    assert values[-1] == pytest.approx(simple_bounds(data).avg_jct_h, rel=1e-5)
    assert values[0] > values[-1] * 1.05


def test_the_same_input_gives_the_same_bound() -> None:
    data = synthetic(150, 0.005)
    first, second = jct_lp_bound(data), jct_lp_bound(data)
    assert first == second
    assert lower_bounds(data, 3600.0) == lower_bounds(data, 3600.0)


def test_without_highspy_it_falls_back_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    congested = build_input(pools().pool("a/v100", capacity=1), jobs().job(0, 3600, 1).job(0, 3600, 1))
    monkeypatch.setitem(sys.modules, "highspy", None)  # import highspy -> ImportError
    bound = jct_lp_bound(congested)
    assert bound.avg_jct_h is None
    assert "highspy" in bound.detail
    combined = lower_bounds(congested, makespan_s=7200.0)
    assert combined.avg_jct_h == simple_bounds(congested).avg_jct_h
    assert "capacity LP not used: highspy is not installed" in combined.method
    assert carbon_lp_bound(congested, 7200.0) is None
    # where capacity never binds no solver is needed
    ample = build_input(pools().pool("a/v100", capacity=4), jobs().job(0, 3600, 1).job(0, 3600, 1))
    assert jct_lp_bound(ample).avg_jct_h == pytest.approx(1.0, rel=1e-5)


def test_above_the_size_cap_it_falls_back_and_says_why() -> None:
    data = synthetic(150, 0.005)
    bound = jct_lp_bound(data, JctLpOptions(max_columns=10))
    assert bound.avg_jct_h is None
    assert bound.detail.startswith("LP too large")
    combined = lower_bounds(data, 0.0, jct_options=JctLpOptions(max_columns=10))
    assert combined.avg_jct_h == simple_bounds(data).avg_jct_h
    assert "capacity LP not used: LP too large" in combined.method


def test_the_size_cap_coarsens_before_it_gives_up() -> None:
    data = synthetic(150, 0.005)
    fine = jct_lp_bound(data, JctLpOptions(max_columns=10**6))
    capped = jct_lp_bound(data, JctLpOptions(max_columns=15_000))
    assert fine.avg_jct_h is not None and capped.avg_jct_h is not None
    assert "merged" in capped.detail and "merged" not in fine.detail
    assert capped.avg_jct_h <= fine.avg_jct_h * (1 + 1e-3)


def test_runs_cut_short_keep_the_capacity_free_jct_bound() -> None:
    data = synthetic(150, 0.005)
    bounds = lower_bounds(data, 0.0, complete=False)
    assert bounds.avg_jct_h == simple_bounds(data).avg_jct_h
    assert "runs cut short" in bounds.method
