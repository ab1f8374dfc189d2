"""Backfill takes each job's fastest pool first (by the job's own throughput), not the
network's order: on Gavel's cluster the network lists K80, P100, V100."""

from __future__ import annotations

from suanli.policy import Backfill
from tests.sim_builders import jobs, pools, state

SLOW_FIRST = (
    pools().pool("lab/k80", capacity=4, speed=0.25).pool("lab/p100", capacity=4, speed=0.6).pool("lab/v100", capacity=4)
).build()


def starts(view: object) -> set[tuple[int, int]]:
    return {(s.job, s.pool) for s in Backfill().schedule(view).starts}  # type: ignore[arg-type]


def test_backfill_starts_a_job_on_its_fastest_pool_not_the_first_listed() -> None:
    assert starts(state(SLOW_FIRST, jobs().job(gpus=2))) == {(0, 2)}


def test_backfill_ranks_pools_by_the_jobs_measured_throughput() -> None:
    # a recommendation-like job runs fastest on the P100s
    assert starts(state(SLOW_FIRST, jobs().job(gpus=1, speeds=[1.4, 2.2, 1.0]))) == {(0, 1)}


def test_backfill_falls_back_to_the_next_fastest_pool_with_room() -> None:
    view = state(SLOW_FIRST, jobs().job(gpus=4, work=1e6).job(gpus=4), running={0: 2})
    assert starts(view) == {(1, 1)}


def test_backfilled_jobs_also_take_their_fastest_pool() -> None:
    # the head (8) fits nowhere; the small job behind it goes to the V100s, not the K80s
    view = state(SLOW_FIRST, jobs().job(gpus=8).job(gpus=1, work=100))
    assert starts(view) == {(1, 2)}
