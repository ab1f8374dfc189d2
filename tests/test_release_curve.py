"""The state's release curves (made when read, changes logged until the next read, dropped
after too many) always equal a curve made afresh from the pool's running jobs, and jobs
added in one batch get the ids, rows and arrays that one-by-one adds give."""

from __future__ import annotations

import random

import numpy as np
import pytest

from suanli.scheduler import ClusterState, SchedulerError
from suanli.scheduler.arrays import CURVE_LOG, ReleaseCurve
from tests.sim_builders import jobs, pools, state

NET = pools().pool("a/v100", capacity=16, speed=1.0).pool("b/k80", capacity=8, speed=2.0).build()


def _fresh(cluster: ClusterState, pool: int) -> tuple[list[float], list[int]]:
    curve = ReleaseCurve.of(cluster.running_releases(pool))
    return curve.ends.tolist(), curve.cumulative().tolist()


@pytest.mark.parametrize("seed", range(6))
def test_a_curve_read_at_random_times_equals_one_made_afresh(seed: int) -> None:
    rnd = random.Random(seed)
    builder = jobs()
    for _ in range(60):
        builder.job(submit=0.0, work=rnd.uniform(10, 5000), gpus=rnd.choice((1, 1, 2, 4)))
    cluster = state(NET, builder)
    reads = drops = 0
    for step in range(400):
        cluster.now_s = float(step)
        action = rnd.random()
        if action < 0.45 and cluster.count_pending():
            job = rnd.choice(list(cluster.pending))
            pool = rnd.randrange(2)
            if cluster.free[pool] >= cluster.gpus(job):
                cluster.start(job, pool)
        elif action < 0.7 and cluster.count_running():
            job = rnd.choice(cluster.running())
            cluster.preempt(job) if rnd.random() < 0.5 else cluster.finish(job, cluster.run_of(job).run)
            if cluster.remaining_work_s(job) > 0 and not cluster.is_pending(job):
                cluster.admit(job)
        elif action < 0.8 and cluster.count_running():
            cluster.extend(job := rnd.choice(cluster.running()), cluster.run_of(job).end_s + rnd.uniform(1, 900))
        else:
            pool = rnd.randrange(2)
            logged = cluster._curves[pool]
            drops += logged is None and bool(cluster.running_releases(pool))
            ends, cumulative = cluster.release_curve(pool)
            assert (ends.tolist(), cumulative.tolist()) == _fresh(cluster, pool), f"step {step}, pool {pool}"
            assert ends[-1] == np.inf
            reads += 1
    assert reads > 50 and drops > 0, "the run read curves both kept and dropped"


def test_a_curve_with_too_many_changes_unread_is_dropped_and_made_again() -> None:
    builder = jobs()
    for _ in range(CURVE_LOG + 2):
        builder.job(work=100.0)
    cluster = state(NET, builder)
    cluster.release_curve(0)
    for job in range(CURVE_LOG):
        cluster.start(job, 0)
    assert cluster._curves[0] is not None, "up to CURVE_LOG changes are held back"
    cluster.start(CURVE_LOG, 0)
    assert cluster._curves[0] is None
    ends, cumulative = cluster.release_curve(0)
    assert len(ends) == CURVE_LOG + 2 and cumulative[-1] == CURVE_LOG + 1


def test_jobs_added_in_one_batch_match_jobs_added_one_by_one() -> None:
    rows = [
        (float(i), 100.0 * (i + 1), 1 + i % 3, -1, 0, None if i % 2 else 50.0 * i, "cost" if i == 3 else None)
        for i in range(7)
    ]
    one, batch = state(NET, jobs()), state(NET, jobs())
    ids = [one.add_job(*row) for row in rows]
    assert list(batch.add_jobs(rows)) == ids == list(range(7))
    assert one.jobs == batch.jobs
    for job in ids:
        one.admit(job)
        batch.admit(job)
    a, b = one.pending_table(), batch.pending_table()
    for name in ("ids", "gpus", "submit_s", "remaining_s", "profile"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert np.array_equal(a.deadline_s, b.deadline_s, equal_nan=True)


def test_a_batch_naming_a_missing_row_adds_nothing() -> None:
    cluster = state(NET, jobs().job())
    with pytest.raises(SchedulerError, match="speed row 5"):
        cluster.add_jobs([(0.0, 1.0, 1, -1, 0, None, None), (0.0, 1.0, 1, 5, 0, None, None)])
    assert len(cluster.jobs.submit_s) == 1
