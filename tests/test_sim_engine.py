"""The discrete-event simulator on scenarios small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from suanli.model.footprint import CarbonCurve
from suanli.policy import CarbonAware, CarbonParams, Fifo, FifoParams, register_builtins
from suanli.service import context
from suanli.service.simulation import SimulationRequest, run_simulation
from suanli.sim.bounds import simple_bounds
from suanli.sim.engine import fastest_runtime_s, simulate
from suanli.traces.synthetic import SyntheticParams
from tests.sim_builders import jobs, pools, profile, run, sim_input

H = 3600.0
REGISTRY = register_builtins()


def fifo() -> Fifo:
    return Fifo(FifoParams(pick="first"))


def test_two_jobs_on_one_pool() -> None:
    """Job 0 takes the whole pool for an hour; job 1 arrives at 10 min and waits for it.

    JCT 1 h and (5,400 - 600) s = 1.333 h; queueing 0 and 3,000 s; makespan 1.5 h;
    utilisation (4 x 3,600 + 2 x 1,800) / (4 x 5,400) = 5/6."""
    data = sim_input(pools().pool("a/v100", capacity=4), jobs().job(0, 3600, 4).job(600, 1800, 2))
    result = run(data, fifo())
    m = result.metrics
    assert result.jct_s(0, data) == 3600.0
    assert result.jct_s(1, data) == 4800.0
    assert result.queue_s(0, data) == 0.0
    assert result.queue_s(1, data) == 3000.0
    assert m["jobs"] == m["completed"] == 2
    assert m["lost"] == m["rejected"] == 0
    assert m["avg_jct_h"] == pytest.approx((3600 + 4800) / 2 / H)
    assert m["median_jct_h"] == pytest.approx((3600 + 4800) / 2 / H)
    assert m["avg_queue_h"] == pytest.approx(1500 / H)
    assert m["makespan_h"] == pytest.approx(1.5)
    assert m["utilisation"] == pytest.approx(5 / 6)
    assert m["by_site"]["a"]["utilisation"] == pytest.approx(5 / 6)
    assert m["utilisation_by_type"]["v100"] == pytest.approx(5 / 6)
    assert result.output.unfinished == 0


def test_a_pool_twice_as_fast_halves_the_runtime() -> None:
    slow = run(sim_input(pools().pool("a/v100", capacity=2, speed=1.0), jobs().job(0, 3600, 2)), fifo())
    fast = run(sim_input(pools().pool("a/h100", capacity=2, speed=2.0), jobs().job(0, 3600, 2)), fifo())
    assert slow.metrics["avg_jct_h"] == pytest.approx(1.0)
    assert fast.metrics["avg_jct_h"] == pytest.approx(0.5)
    assert fast.metrics["makespan_h"] == pytest.approx(0.5)


def test_a_measured_job_class_speed_overrides_the_pool_speed() -> None:
    data = sim_input(pools().pool("a/v100", capacity=2, speed=2.0), jobs().job(0, 3600, 1, speeds=[4.0]))
    assert run(data, fifo()).jct_s(0, data) == pytest.approx(900.0)
    assert fastest_runtime_s(data)[0] == pytest.approx(900.0)


def test_energy_carbon_and_cost_of_one_run() -> None:
    """4 accelerators x 0.5 kW x 1.5 h = 3 kWh; x 400 g/kWh = 1.2 kg; x 2 USD x 4 x 1.5 h = 12 USD."""
    net = pools().pool("a/v100", capacity=8, usd=2.0, kw=0.5, intensity=400)
    result = run(sim_input(net, jobs().job(0, 5400, 4)), fifo())
    m = result.metrics
    assert m["energy_kwh"] == pytest.approx(3.0)
    assert m["carbon_kg"] == pytest.approx(1.2)
    assert m["cost_usd"] == pytest.approx(12.0)
    assert m["by_site"]["a"]["energy_kwh"] == pytest.approx(3.0)
    assert sum(result.output.recorder.carbon_by_hour_kg) == pytest.approx(1.2)


def test_energy_and_cost_count_the_pool_a_job_ran_on() -> None:
    """Two sites, two runs: energy and cost are per site; a faster pool runs for less time."""
    net = (
        pools()
        .pool("a/v100", capacity=2, usd=2.0, kw=0.5, intensity=500)
        .pool("b/h100", capacity=2, speed=2.0, usd=5.0, kw=1.0, intensity=100)
    )
    data = sim_input(net, jobs().job(0, 3600, 2).only(0).job(0, 3600, 2).only(1))
    m = run(data, fifo()).metrics
    assert m["by_site"]["a"]["energy_kwh"] == pytest.approx(1.0)  # 2 x 0.5 kW x 1 h
    assert m["by_site"]["b"]["energy_kwh"] == pytest.approx(1.0)  # 2 x 1 kW x 0.5 h
    assert m["by_site"]["a"]["carbon_kg"] == pytest.approx(0.5)
    assert m["by_site"]["b"]["carbon_kg"] == pytest.approx(0.1)
    assert m["by_site"]["a"]["cost_usd"] == pytest.approx(4.0)
    assert m["by_site"]["b"]["cost_usd"] == pytest.approx(5.0)
    assert m["carbon_kg"] == pytest.approx(0.6)


def test_carbon_on_an_hourly_profile_integrates_the_hours_run() -> None:
    """1 kW from 01:30 to 03:30: half an hour at 100 g/kWh, an hour at 200, half an hour at 300."""
    intensity = profile(0, h1=100, h2=200, h3=300)
    net = pools().pool("a/v100", capacity=1, kw=1.0, intensity=intensity)
    data = sim_input(net, jobs().job(1.5 * H, 2 * H, 1))
    m = run(data, fifo()).metrics
    assert m["carbon_kg"] == pytest.approx((0.5 * 100 + 1.0 * 200 + 0.5 * 300) / 1000)


def test_the_recorder_aligns_simulated_time_with_the_trace_epoch() -> None:
    """Simulated time 0 is ``epoch_s`` UTC: a run over sim hours 0-1 with epoch 02:00 is charged
    the 02:00 intensity."""
    intensity = profile(100, h2=900)
    net = pools().pool("a/v100", capacity=1, kw=1.0, intensity=intensity).build()
    data = sim_input(net, jobs().job(0, H, 1), epoch_s=2 * H)
    assert run(data, fifo()).metrics["carbon_kg"] == pytest.approx(0.9)


def test_the_carbon_policy_sees_the_hour_of_day_the_recorder_charges() -> None:
    """The trace starts at 12:00 UTC, in the clean half of a day (dirty 00-12, clean 12-24).
    A job arriving then should run at once in the clean hours; deferring it 'until the clean
    hours' as if sim time 0 were midnight moves it into the dirty ones."""
    half = tuple([1000.0] * 12 + [100.0] * 12)
    net = pools().pool("a/v100", capacity=1, kw=1.0, intensity=half).build()
    data = sim_input(net, jobs().job(0, H, 1), epoch_s=12 * H)
    result = run(data, CarbonAware(CarbonParams(max_delay_h=12)))
    assert result.queue_s(0, data) == 0.0, "the carbon policy deferred a job that arrived in a clean hour"
    assert result.metrics["carbon_kg"] == pytest.approx(0.1)


def test_carbon_defers_to_the_clean_hour_within_max_delay() -> None:
    """Arriving at 00:00 with a clean hour at 03:00 and 6 h of slack, the job waits 3 h."""
    net = pools().pool("a/v100", capacity=1, kw=1.0, intensity=profile(500, h3=100)).build()
    data = sim_input(net, jobs().job(0, H, 1))
    result = run(data, CarbonAware(CarbonParams(max_delay_h=6)))
    assert result.queue_s(0, data) == 3 * H
    assert result.metrics["carbon_kg"] == pytest.approx(0.1)


def test_until_stops_the_run_and_counts_unfinished_jobs() -> None:
    data = sim_input(
        pools().pool("a/v100", capacity=4),
        jobs().job(0, 3600, 4).job(600, 1800, 2).job(5000, 100, 1),
    )
    result = run(data, fifo(), until_s=4000.0)
    assert result.output.unfinished == 2
    assert result.metrics["completed"] == 1
    assert result.metrics["avg_jct_h"] == pytest.approx(1.0)
    assert math.isnan(result.output.recorder.finish_s[1])
    assert result.queue_s(1, data) == 3000.0  # it started, but did not finish
    assert math.isnan(result.output.recorder.first_start_s[2])  # it never arrived
    whole = run(data, fifo())
    assert whole.output.unfinished == 0
    assert whole.metrics["completed"] == 3


def test_end_s_is_when_the_simulation_stopped() -> None:
    """``SimOutput.end_s``: the last event's time for a run to completion (job 1 ends at
    5,400 s), and no later than ``until_s`` for a stopped run."""
    data = sim_input(
        pools().pool("a/v100", capacity=4),
        jobs().job(0, 3600, 4).job(600, 1800, 2).job(5000, 100, 1),
    )
    assert run(data, fifo()).output.end_s == 5400.0
    assert run(data, fifo(), until_s=4000.0).output.end_s <= 4000.0


def test_until_in_the_service_reports_unfinished_not_lost() -> None:
    request = SimulationRequest(
        policies=("fifo", "suanli"),
        until_h=2.0,
        capacity_scale=0.01,
        synthetic=SyntheticParams(jobs=150, rate_per_h=200.0),
    )
    result = run_simulation(context(), request)
    for name, policy_run in result.runs.items():
        m = policy_run.metrics
        assert m["lost"] == 0, name
        assert m["unfinished"] > 0, name
        assert m["completed"] + m["unfinished"] + m["rejected"] == m["jobs"] == 150, name


def test_a_job_larger_than_every_pool_is_rejected_not_lost() -> None:
    data = sim_input(
        pools().pool("a/v100", capacity=4).pool("b/v100", capacity=2),
        jobs().job(0, 100, 8).job(0, 100, 4).job(0, 100, 4).only(1).job(0, 100, 2).only(1),
    )
    for name in REGISTRY.names():
        result = run(data, REGISTRY.create(name))
        assert result.output.rejected == (0, 2), name
        assert result.metrics["rejected"] == 2, name
        assert result.metrics["lost"] == 0, name
        assert result.metrics["completed"] == 2, name
        assert result.output.unfinished == 0, name


def test_finishes_at_a_time_free_capacity_for_arrivals_at_that_time() -> None:
    data = sim_input(pools().pool("a/v100", capacity=2), jobs().job(0, 3600, 2).job(3600, 100, 2))
    for name in REGISTRY.names():
        result = run(data, REGISTRY.create(name))
        assert result.queue_s(1, data) == 0.0, name
        assert result.jct_s(1, data) == pytest.approx(100.0), name


def test_equal_arrivals_are_all_admitted_before_the_cycle() -> None:
    """Three jobs arrive at once; suanli sees all of them and starts the shortest first."""
    data = sim_input(pools().pool("a/v100", capacity=1), jobs().job(0, 300, 1).job(0, 200, 1).job(0, 100, 1))
    result = run(data, REGISTRY.create("suanli"))
    assert [result.jct_s(j, data) for j in range(3)] == [600.0, 300.0, 100.0]


def test_an_empty_network_rejects_everything_and_finishes() -> None:
    data = sim_input(pools().pool("a/v100", capacity=0), jobs().job(0, 100, 1))
    result = run(data, fifo())
    assert result.output.rejected == (0,)
    assert result.metrics["lost"] == 0


def test_simple_bounds_on_a_hand_computed_case() -> None:
    """Fastest pool 2x; cleanest: 0.5 kW x 100 g/kWh / speed 1 = 50 < 1 kW x 300 / 2 = 150."""
    net = (
        pools()
        .pool("a/v100", capacity=4, kw=0.5, intensity=profile(400, h5=100))
        .pool("b/h100", capacity=4, speed=2.0, kw=1.0, intensity=300)
    )
    data = sim_input(net, jobs().job(0, 3600, 2).job(0, 7200, 1))
    bounds = simple_bounds(data)
    assert bounds.avg_jct_h == pytest.approx((0.5 + 1.0) / 2)
    assert bounds.carbon_kg == pytest.approx((2 * 1 + 1 * 2) * 0.5 * 100 / 1000)


def test_simple_bounds_ignore_jobs_no_pool_can_run() -> None:
    """A rejected job emits nothing and has no completion time under any policy; a lower
    bound that charges for it is above what every policy achieves."""
    data = sim_input(
        pools().pool("a/v100", capacity=2, kw=1.0, intensity=100),
        jobs().job(0, 3600, 1).job(0, 100 * 3600, 4),
    )
    bounds = simple_bounds(data)
    result = run(data, fifo())
    assert result.metrics["rejected"] == 1
    assert result.metrics["carbon_kg"] == pytest.approx(0.1)
    assert bounds.carbon_kg <= result.metrics["carbon_kg"] * (1 + 1e-9), bounds
    assert bounds.avg_jct_h <= result.metrics["avg_jct_h"] * (1 + 1e-9), bounds


def test_site_carbon_integral_matches_hour_by_hour_sum() -> None:
    values = tuple(float(v) for v in range(100, 2500, 100))
    curve = CarbonCurve(values, utc_offset_h=3.0)
    start, end = 5_000.0, 200_000.0
    step = 10.0
    t = np.arange(start, end, step) + step / 2
    hours = ((t / 3600.0 + 3.0) % 24).astype(int)
    expected = float(np.sum(np.asarray(values)[hours]) * step / 3600.0)
    assert curve.grams_per_kw(start, end) == pytest.approx(expected, rel=1e-6)
    assert sum(curve.hours_of_day(start, end)) == pytest.approx((end - start) / 3600.0)


def test_simulate_is_deterministic_for_a_fixed_policy_seed() -> None:
    table = jobs()
    for k in range(40):
        table.job(submit=k * 97.0, work=100.0 + (k * 7919) % 5000, gpus=1 + k % 3)
    data = sim_input(pools().pool("a/v100", capacity=3).pool("b/v100", capacity=3), table)
    first = simulate(data, Fifo(FifoParams(seed=5))).recorder
    second = simulate(data, Fifo(FifoParams(seed=5))).recorder
    assert first.finish_s == second.finish_s
    assert first.busy_accel_s == second.busy_accel_s
