"""ClusterState: the scheduler's only mutable state refuses impossible changes and keeps
its books (free accelerators, the queue's order, work kept across preemption)."""

from __future__ import annotations

import random

import pytest

from suanli.scheduler import ClusterState, SchedulerError
from tests.sim_builders import jobs, pools, state

NET = pools().pool("a/v100", capacity=4, speed=1.0).pool("b/k80", capacity=2, speed=2.0).build()


def test_start_refuses_more_accelerators_than_idle() -> None:
    cluster = state(NET, jobs().job(gpus=3).job(gpus=2), running={0: 0})
    assert cluster.free[0] == 1
    with pytest.raises(SchedulerError, match="has 1 idle, job 1 needs 2"):
        cluster.start(1, 0)
    assert cluster.free[0] == 1
    assert list(cluster.pending) == [1]


def test_start_refuses_a_job_larger_than_the_pool() -> None:
    cluster = state(NET, jobs().job(gpus=3))
    with pytest.raises(SchedulerError):
        cluster.start(0, 1)
    assert list(cluster.free) == [4, 2]


def test_a_job_cannot_start_twice() -> None:
    cluster = state(NET, jobs().job(gpus=1), running={0: 0})
    with pytest.raises(SchedulerError, match="not waiting"):
        cluster.start(0, 0)
    with pytest.raises(SchedulerError, match="not waiting"):
        cluster.start(0, 1)
    assert list(cluster.free) == [3, 2]


def test_a_job_not_admitted_cannot_start_and_a_known_job_cannot_be_admitted_again() -> None:
    cluster = state(NET, jobs().job().job(), pending=[0])
    with pytest.raises(SchedulerError):
        cluster.start(1, 0)
    with pytest.raises(SchedulerError, match="already known"):
        cluster.admit(0)
    cluster.start(0, 0)
    with pytest.raises(SchedulerError, match="already known"):
        cluster.admit(0)


def test_start_refuses_a_pool_the_job_may_not_use() -> None:
    cluster = state(NET, jobs().job(gpus=1).only(1))
    with pytest.raises(SchedulerError, match="may not use"):
        cluster.start(0, 0)
    cluster.start(0, 1)


def test_finishing_a_stale_run_returns_none_and_changes_nothing() -> None:
    cluster = state(NET, jobs().job(gpus=2, work=1000.0), running={0: 0})
    first = cluster._running[0].run
    cluster.now_s = 100.0
    cluster.preempt(0)
    cluster.now_s = 200.0
    second = cluster.start(0, 1)
    assert second.run != first
    assert cluster.finish(0, first) is None
    assert cluster.pool_of(0) == 1
    assert list(cluster.free) == [4, 0]
    cluster.now_s = second.end_s
    assert cluster.finish(0, second.run) is second
    assert list(cluster.free) == [4, 2]
    assert cluster.idle


def test_finishing_a_job_that_is_not_running_returns_none() -> None:
    cluster = state(NET, jobs().job())
    assert cluster.finish(0, 1) is None
    assert list(cluster.pending) == [0]


def test_preempting_a_job_that_is_not_running_is_refused() -> None:
    cluster = state(NET, jobs().job().job(), pending=[0])
    with pytest.raises(SchedulerError, match="not running"):
        cluster.preempt(0)  # waiting
    with pytest.raises(SchedulerError, match="not running"):
        cluster.preempt(1)  # never admitted
    cluster.start(0, 0)
    cluster.now_s = 10.0
    cluster.preempt(0)
    with pytest.raises(SchedulerError, match="not running"):
        cluster.preempt(0)  # already preempted


@pytest.mark.parametrize(
    ("pool", "checkpoint_s", "restart_s", "remaining"),
    [
        pytest.param(0, 0.0, 0.0, 10_000.0 - 2_500.0, id="continuous checkpoints keep all the work done"),
        pytest.param(0, 1_000.0, 0.0, 10_000.0 - 2_000.0, id="work since the last checkpoint is lost"),
        pytest.param(0, 1_000.0, 60.0, 10_000.0 - 2_000.0 + 60.0, id="the restart adds reference work"),
        pytest.param(1, 1_000.0, 60.0, 10_000.0 - 2 * 2_000.0 + 60.0, id="work kept counts the pool's speed"),
        pytest.param(0, 5_000.0, 30.0, 10_000.0 + 30.0, id="no checkpoint yet keeps nothing"),
    ],
)
def test_preempt_keeps_work_to_the_last_checkpoint(
    pool: int, checkpoint_s: float, restart_s: float, remaining: float
) -> None:
    cluster = state(NET, jobs().job(gpus=2, work=10_000.0), running={0: pool}, started=500.0)
    cluster.now_s = 3_000.0  # 2,500 s into the run
    stopped = cluster.preempt(0, checkpoint_s, restart_s)
    assert stopped.pool == pool
    assert stopped.start_s == 500.0
    assert cluster.remaining_work_s(0) == pytest.approx(remaining)
    assert cluster.attained_s(0) == pytest.approx(2 * 2_500.0)
    assert list(cluster.pending) == [0]
    assert list(cluster.free) == [4, 2]
    resumed = cluster.start(0, 0)
    assert resumed.end_s == pytest.approx(3_000.0 + remaining)


def test_a_finished_run_leaves_no_work() -> None:
    cluster = state(NET, jobs().job(gpus=1, work=100.0), running={0: 1})
    assert cluster.runtime_s(0, 1) == 50.0
    cluster.now_s = 50.0
    cluster.finish(0, cluster._running[0].run)
    assert cluster.remaining_work_s(0) == 0.0
    assert cluster.attained_s(0) == 50.0


def test_preempted_jobs_keep_their_arrival_place() -> None:
    table = jobs()
    for k in range(5):
        table.job(submit=10.0 * k, gpus=1)
    cluster = state(NET, table, running={1: 0, 3: 1})
    assert list(cluster.pending) == [0, 2, 4]
    cluster.now_s = 100.0
    cluster.preempt(3)
    assert list(cluster.pending) == [0, 2, 3, 4]
    cluster.preempt(1)
    assert list(cluster.pending) == [0, 1, 2, 3, 4]
    cluster.start(0, 0)
    cluster.start(2, 0)
    assert list(cluster.pending) == [1, 3, 4]
    cluster.preempt(0)
    assert list(cluster.pending) == [0, 1, 3, 4]


def test_equal_submit_times_keep_job_order_after_preemption() -> None:
    cluster = state(NET, jobs().job().job().job(), running={0: 0, 1: 0})
    cluster.now_s = 5.0
    cluster.preempt(1)
    cluster.preempt(0)
    assert list(cluster.pending) == [0, 1, 2]


def test_releases_are_sorted_by_end_and_versions_change() -> None:
    table = jobs().job(work=300.0).job(work=100.0).job(work=200.0)
    cluster = ClusterState(NET, table.build(NET))
    for job in range(3):
        cluster.admit(job)
    versions = [cluster.pool_version(0)]
    for job in range(3):
        cluster.start(job, 0)
        versions.append(cluster.pool_version(0))
    assert len(set(versions)) == 4
    assert [end for end, _, _ in cluster.running_releases(0)] == [100.0, 200.0, 300.0]
    assert [job for _, _, job in cluster.running_releases(0)] == [1, 2, 0]
    assert cluster.pool_version(1) == 0


def test_free_never_exceeds_capacity_nor_drops_below_zero() -> None:
    """Random legal and illegal operations: the books always balance."""
    rng = random.Random(7)
    table = jobs()
    for k in range(30):
        table.job(submit=float(k), work=float(rng.randint(10, 500)), gpus=rng.choice([1, 1, 2, 3, 4]))
    built = table.build(NET)
    cluster = ClusterState(NET, built)
    runs: dict[int, int] = {}
    arrived = 0
    for step in range(2_000):
        cluster.now_s = float(step)
        action = rng.random()
        job = rng.randrange(30)
        try:
            if action < 0.1 and arrived < 30:
                cluster.admit(arrived)  # arrivals come in submit order, as in the simulator
                arrived += 1
            elif action < 0.3 and (known := [*cluster.pending, *cluster.running()]):
                cluster.admit(rng.choice(known))
                raise AssertionError("admitted a job that is already waiting or running")
            elif action < 0.6:
                runs[job] = cluster.start(job, rng.randrange(2)).run
            elif action < 0.8:
                cluster.finish(job, runs.get(job, 0))
            else:
                cluster.preempt(job, rng.choice([0.0, 3.0]), rng.choice([0.0, 5.0]))
        except SchedulerError:
            pass
        busy = [0, 0]
        for running in cluster.running():
            busy[cluster.pool_of(running)] += built.gpus[running]
        for pool in range(2):
            assert 0 <= cluster.free[pool] <= NET.capacity[pool]
            assert cluster.free[pool] + busy[pool] == NET.capacity[pool]
        assert set(cluster.pending).isdisjoint(cluster.running())
        assert list(cluster.pending) == sorted(cluster.pending), "the queue lost its arrival order"
