"""Properties of every registered policy on random small networks and traces (Hypothesis).

The capacity check does not trust the scheduler's own books: a recorder subclass logs
every run segment (pool, accelerators, start, end) the engine reports, and a sweep over
those segments recomputes each pool's busy accelerators at every instant.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from suanli.policy import register_builtins
from suanli.sim import engine
from suanli.sim.bounds import simple_bounds
from suanli.sim.engine import SimInput, fastest_runtime_s
from suanli.sim.metrics import Recorder
from tests.sim_builders import Run, jobs, pools, run, sim_input

REGISTRY = register_builtins()
POLICIES = REGISTRY.names()
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REL = 1e-9
BOUND_REL = 1e-6
"""Carbon integrals at Unix-epoch times lose ~7 digits for second-long runs (a difference of
two cumulative sums near 1e8), so the bound comparison allows a relative 1e-6."""


class LoggingRecorder(Recorder):
    """A recorder that also keeps every run segment it is told about."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.segments: list[tuple[int, int, float, float]] = []

    def ran(self, pool: int, gpus: int, start_s: float, end_s: float, job: int = -1) -> None:
        self.segments.append((pool, gpus, start_s, end_s))
        super().ran(pool, gpus, start_s, end_s, job)


@contextmanager
def logging_recorder() -> Iterator[None]:
    with mock.patch.object(engine, "Recorder", LoggingRecorder):
        yield


@st.composite
def networks(draw: st.DrawFn) -> Any:
    builder = pools()
    n_sites = draw(st.integers(1, 3))
    for site in range(n_sites):
        flat = draw(st.booleans())
        intensity: Any = (
            draw(st.floats(20, 900)) if flat else tuple(draw(st.lists(st.floats(20, 900), min_size=24, max_size=24)))
        )
        offset = draw(st.sampled_from([0.0, 8.0, -5.0]))
        for kind in range(draw(st.integers(1, 2))):
            builder.pool(
                f"s{site}/t{kind}",
                capacity=draw(st.integers(1, 8)),
                speed=draw(st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0])),
                usd=draw(st.floats(0.1, 5.0)),
                kw=draw(st.floats(0.1, 1.5)),
                intensity=intensity,
                utc_offset_h=offset,
            )
    return builder.build()


@st.composite
def sim_inputs(draw: st.DrawFn, allow_rejections: bool = True) -> SimInput:
    net = draw(networks())
    n_pools = len(net)
    largest = max(net.capacity)
    table = jobs()
    submit = 0.0
    for _ in range(draw(st.integers(1, 14))):
        submit += draw(st.sampled_from([0.0, 0.0, 60.0, 600.0, 3600.0, 7200.0]))
        gpus = draw(st.integers(1, 10 if allow_rejections else largest))
        deadline = submit + draw(st.floats(100, 50_000)) if draw(st.integers(0, 4)) == 0 else None
        speeds = (
            draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 4.0]), min_size=n_pools, max_size=n_pools))
            if draw(st.integers(0, 3)) == 0
            else None
        )
        table.job(
            submit=submit,
            work=draw(st.sampled_from([1.0, 60.0, 600.0, 1800.0, 3600.0, 20_000.0])),
            gpus=gpus,
            deadline=deadline,
            speeds=speeds,
        )
        if draw(st.integers(0, 3)) == 0:
            subset = draw(st.sets(st.integers(0, n_pools - 1), min_size=1))
            if allow_rejections or max(net.capacity[p] for p in subset) >= gpus:
                table.only(subset)
    epoch = draw(st.sampled_from([0.0, 1735689600.0, 1735689600.0 + 5.5 * 3600]))
    return sim_input(net, table, epoch_s=epoch)


def run_logged(data: SimInput, name: str) -> Run:
    with logging_recorder():
        return run(data, REGISTRY.create(name))


def runnable(data: SimInput) -> np.ndarray:
    """Jobs some allowed pool is large enough for (computed here, not by the engine)."""
    pools_, table = data.pools, data.jobs
    out = []
    for j in range(len(table.submit_s)):
        allowed = table.allowed_sets[table.allowed_class[j]]
        candidates = range(len(pools_)) if allowed is None else allowed
        out.append(any(pools_.capacity[p] >= table.gpus[j] for p in candidates))
    return np.asarray(out, dtype=bool)


@SETTINGS
@given(sim_inputs())
def test_no_pool_is_ever_over_its_capacity(data: SimInput) -> None:
    for name in POLICIES:
        result = run_logged(data, name)
        segments = result.output.recorder.segments  # type: ignore[attr-defined]
        for pool in range(len(data.pools)):
            # ends sort before starts at the same instant: a finish frees capacity for a start
            events = sorted(
                [(start, 1, gpus) for p, gpus, start, end in segments if p == pool and end > start]
                + [(end, 0, -gpus) for p, gpus, start, end in segments if p == pool and end > start]
            )
            busy = 0
            for t, _, delta in events:
                busy += delta
                assert busy <= data.pools.capacity[pool], f"{name}: pool {pool} has {busy} busy at t={t}"
            assert busy == 0


@SETTINGS
@given(sim_inputs())
def test_every_job_completes_or_is_rejected(data: SimInput) -> None:
    expected_rejected = set(np.flatnonzero(~runnable(data)).tolist())
    for name in POLICIES:
        result = run_logged(data, name)
        m = result.metrics
        assert m["lost"] == 0, name
        assert result.output.unfinished == 0, name
        assert set(result.output.rejected) == expected_rejected, name
        assert m["completed"] + m["rejected"] == m["jobs"] == len(data.jobs.submit_s), name
        finish = np.asarray(result.output.recorder.finish_s)
        assert np.isnan(finish).tolist() == [j in expected_rejected for j in range(len(finish))], name


@SETTINGS
@given(sim_inputs())
def test_site_energy_carbon_and_cost_sum_to_the_totals(data: SimInput) -> None:
    for name in POLICIES:
        result = run_logged(data, name)
        m = result.metrics
        for key in ("energy_kwh", "carbon_kg", "cost_usd"):
            by_site = sum(site[key] for site in m["by_site"].values())
            assert by_site == pytest.approx(m[key], rel=REL, abs=1e-12), (name, key)
        assert sum(result.output.recorder.carbon_by_hour_kg) == pytest.approx(m["carbon_kg"], rel=1e-6, abs=1e-9)
        # and the totals are what the run segments imply
        segments = result.output.recorder.segments  # type: ignore[attr-defined]
        pools_ = data.pools
        energy = sum(pools_.kw_per_accel[p] * g * (e - s) / 3600.0 for p, g, s, e in segments)
        cost = sum(pools_.usd_per_accel_h[p] * g * (e - s) / 3600.0 for p, g, s, e in segments)
        assert m["energy_kwh"] == pytest.approx(energy, rel=1e-9, abs=1e-12), name
        assert m["cost_usd"] == pytest.approx(cost, rel=1e-9, abs=1e-12), name


@SETTINGS
@given(sim_inputs())
def test_no_job_completes_faster_than_on_its_fastest_pool(data: SimInput) -> None:
    fastest = fastest_runtime_s(data)
    submit = np.asarray(data.jobs.submit_s)
    for name in POLICIES:
        result = run_logged(data, name)
        finish = np.asarray(result.output.recorder.finish_s)
        done = ~np.isnan(finish)
        jct = finish[done] - submit[done]
        too_fast = jct < fastest[done] * (1 - 1e-9) - 1e-6
        assert not too_fast.any(), (name, jct[too_fast], fastest[done][too_fast])


@SETTINGS
@given(sim_inputs())
def test_same_input_same_metrics(data: SimInput) -> None:
    for name in POLICIES:
        first = run(data, REGISTRY.create(name))
        second = run(data, REGISTRY.create(name))
        a = {k: v for k, v in first.metrics.items() if k not in ("wall_s", "jobs_per_s")}
        b = {k: v for k, v in second.metrics.items() if k not in ("wall_s", "jobs_per_s")}
        assert _same(a, b), name
        assert first.output.recorder.finish_s == second.output.recorder.finish_s or _same(
            first.output.recorder.finish_s, second.output.recorder.finish_s
        ), name


def _same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to NaN."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


WITH_A_REJECTED_JOB = sim_input(
    pools().pool("a/v100", capacity=2, kw=1.0, intensity=100),
    jobs().job(0, 3600, 1).job(0, 100 * 3600, 4),
)
"""Job 1 needs 4 accelerators and no pool has 4: it is rejected under every policy."""


@SETTINGS
@example(WITH_A_REJECTED_JOB)
@given(sim_inputs())
def test_simple_bounds_are_below_every_policy(data: SimInput) -> None:
    bounds = simple_bounds(data)
    for name in POLICIES:
        m = run(data, REGISTRY.create(name)).metrics
        if m["completed"] == 0:
            continue
        assert bounds.carbon_kg <= m["carbon_kg"] * (1 + BOUND_REL), (name, bounds, m["carbon_kg"])
        assert bounds.avg_jct_h <= m["avg_jct_h"] * (1 + 1e-9), (name, bounds, m["avg_jct_h"])


@SETTINGS
@given(sim_inputs(allow_rejections=False))
def test_simple_bounds_are_below_every_policy_when_every_job_fits(data: SimInput) -> None:
    """The same property on traces with no rejected job (separates the bound's handling of
    rejected jobs from its arithmetic)."""
    bounds = simple_bounds(data)
    for name in POLICIES:
        m = run(data, REGISTRY.create(name)).metrics
        assert m["rejected"] == 0
        assert bounds.carbon_kg <= m["carbon_kg"] * (1 + BOUND_REL), (name, bounds, m["carbon_kg"])
        assert bounds.avg_jct_h <= m["avg_jct_h"] * (1 + 1e-9), (name, bounds, m["avg_jct_h"])
