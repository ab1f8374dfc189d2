"""Forecasts (suanli.sim.forecast): the scheduler run forward from a copy of its state.

The anchor: with no arrivals after the snapshot, a forecast is the simulation of the same
jobs under the same policy, so its predicted starts and finishes must be the simulator's,
job for job, for every policy. And the live state the forecast copied is left as it was.
"""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.policy import register_builtins
from suanli.scheduler import Scheduler
from suanli.sim.forecast import STRETCH, forecast, fork
from tests.sim_builders import jobs, pools, run, sim_input, state

POLICIES = register_builtins().names()
NET = (
    pools()
    .pool("a/v100", capacity=4, speed=2.0, usd=3.0, intensity=600)
    .pool("b/k80", capacity=4, speed=1.0, usd=1.0, intensity=200)
    .build()
)


def predicted(scheduler: Scheduler, now_s: float, stretch: float = 1.0) -> dict[int, tuple[float, float]]:
    done = forecast(fork(scheduler, now_s, stretch), budget_s=30.0, clock=time.monotonic)
    assert done.complete
    return {job: (p.start_s, p.finish_s) for job, p in done.predictions.items()}


job_sets = st.lists(st.tuples(st.floats(60, 20_000), st.sampled_from([1, 2, 4])), min_size=1, max_size=12)


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(specs=job_sets)
def test_a_forecast_from_time_zero_is_the_simulation_of_the_same_jobs(
    policy: str, specs: list[tuple[float, int]]
) -> None:
    builder = jobs()
    for work, gpus in specs:
        builder = builder.job(submit=0.0, work=work, gpus=gpus)
    data = sim_input(NET, builder)
    simulated = run(data, register_builtins().create(policy), restart_s=30.0).output.recorder
    live = Scheduler(register_builtins().create(policy), state(NET, data.jobs), restart_s=30.0)
    ahead = predicted(live, 0.0)
    for job in range(len(specs)):
        assert ahead[job] == pytest.approx((simulated.first_start_s[job], simulated.finish_s[job]), abs=1e-6), job


def test_running_jobs_keep_their_expected_end_and_the_queue_follows_them() -> None:
    table = jobs().job(work=7200, gpus=4).job(work=3600, gpus=4).job(work=1800, gpus=4).job(work=600, gpus=4)
    cluster = state(NET, table, now=1000.0, running={0: 0, 1: 1}, started=0.0)
    live = Scheduler(register_builtins().create("fifo"), cluster)
    ahead = predicted(live, 1000.0)
    assert ahead[0] == (0.0, 3600.0)  # 7,200 s of work at speed 2 on a/v100
    assert ahead[1] == (0.0, 3600.0)  # 3,600 s at speed 1 on b/k80
    assert ahead[2][0] == 3600.0 and ahead[3][0] == 3600.0, "both start when the two pools free up"
    assert sorted(f for _, f in (ahead[2], ahead[3])) == [3600.0 + 600 / 2, 3600.0 + 1800 / 1] or sorted(
        f for _, f in (ahead[2], ahead[3])
    ) == [3600.0 + 600 / 1, 3600.0 + 1800 / 2]


def test_the_late_side_forecast_stretches_what_is_left_not_what_is_done() -> None:
    table = jobs().job(work=7200, gpus=4).job(work=3600, gpus=4)
    cluster = state(NET, table, now=1800.0, running={0: 0}, started=0.0, pending=[1])
    live = Scheduler(register_builtins().create("fifo"), cluster)
    late = predicted(live, 1800.0, STRETCH)
    assert late[0] == (0.0, 1800.0 + (3600.0 - 1800.0) * STRETCH)
    assert late[1][0] == 1800.0, "the k80 pool is free now"
    assert late[1][1] == pytest.approx(1800.0 + 3600.0 * STRETCH / 1.0)


def test_forecasting_leaves_the_live_scheduler_as_it_was() -> None:
    table = jobs()
    for work, gpus in itertools.islice(itertools.cycle([(3600, 2), (600, 4), (1800, 1)]), 20):
        table = table.job(work=work, gpus=gpus)
    cluster = state(NET, table, now=0.0)
    live = Scheduler(register_builtins().create("las"), cluster, restart_s=30.0)
    live.cycle(0.0)
    before = (list(cluster.pending), cluster.running(), list(cluster.free), [cluster.attained_s(j) for j in range(20)])
    predicted(live, 600.0)
    predicted(live, 600.0, STRETCH)
    after = (list(cluster.pending), cluster.running(), list(cluster.free), [cluster.attained_s(j) for j in range(20)])
    assert after == before
    assert live.state is cluster


def test_a_job_that_can_never_start_ends_the_forecast_incomplete() -> None:
    table = jobs().job(work=600, gpus=4).job(work=600, gpus=64)
    live = Scheduler(register_builtins().create("fifo"), state(NET, table))
    done = forecast(fork(live, 0.0), budget_s=5.0, clock=time.monotonic)
    assert not done.complete
    assert set(done.predictions) == {0}


def test_the_budget_stops_a_long_forecast() -> None:
    ticks = itertools.count()
    table = jobs()
    for _ in range(50):
        table = table.job(work=600, gpus=4)
    live = Scheduler(register_builtins().create("fifo"), state(NET, table))
    done = forecast(fork(live, 0.0), budget_s=3.0, clock=lambda: float(next(ticks)))
    assert not done.complete
    assert 0 < len(done.predictions) < 50


def test_the_timeline_finds_the_first_hole_a_newcomer_fits() -> None:
    from suanli.sim.forecast import Timeline

    table = jobs().job(work=7200, gpus=2).job(work=3600, gpus=4).job(work=600, gpus=4)
    cluster = state(NET, table, now=0.0, running={0: 0}, started=0.0, pending=[1, 2])
    live = Scheduler(register_builtins().create("fifo"), cluster)
    snapshot = fork(live, 0.0)
    done = forecast(snapshot, budget_s=30.0, clock=time.monotonic)
    timeline = Timeline.of(fork(live, 0.0), done)
    # a/v100 (4): job 0 holds 2 until 3600; job 1 (4 GPUs) and job 2 (4) take the pools as they free
    runs = {name: timeline.runs[i] for i, name in enumerate(timeline.names)}
    assert runs["a/v100"][0] == (0.0, 3600.0, 2)
    assert timeline.earliest_start("a/v100", 2, 600.0, 0.0) == 0.0, "two are free beside job 0 now"
    assert timeline.earliest_start("b/k80", 8, 60.0, 0.0) is None, "larger than the pool"
    assert timeline.earliest_start("c/none", 1, 60.0, 0.0) is None
    last_end = max(f for _, f, _ in runs["b/k80"])
    assert timeline.earliest_start("b/k80", 4, 60.0, 0.0) == last_end
