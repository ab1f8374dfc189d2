"""The round-based preemptive policies (``las``, ``gavel``) weigh the restart cost
before preempting: a lease after each (re)start, a margin before a waiting job displaces a
running one, and no preemption of a job about to finish (``policy/rounds.py``).

Before these rules ``gavel`` re-ranked every round and time-sliced: three 4-hour jobs on
one accelerator with a 60 s restart took 142 preemptions (14.3 h mean JCT); now 8.
"""

from __future__ import annotations

import math
import random

import pytest

from suanli.policy import Gavel, GavelParams, Las, Policy
from tests.sim_builders import jobs, pools, run, sim_input, state

RESTART_S = 60.0
"""The simulator's default restart cost (reference-seconds)."""
ONE = pools().pool("a/v100", capacity=1).build()


@pytest.mark.parametrize(
    ("policy", "most"),
    [
        pytest.param(Gavel(), 15, id="gavel preempts three equal jobs on one accelerator under 5 times each"),
        pytest.param(Las(), 6, id="las preempts three equal jobs at most once per queue threshold each"),
    ],
)
def test_jobs_sharing_one_accelerator_are_preempted_a_bounded_number_of_times(policy: Policy, most: int) -> None:
    data = sim_input(ONE, jobs().job(submit=0, work=4 * 3600).job(submit=1, work=4 * 3600).job(submit=2, work=4 * 3600))
    result = run(data, policy, restart_s=RESTART_S)
    assert result.metrics["completed"] == 3
    assert result.metrics["preemptions"] <= most, result.metrics["preemptions"]


def _one_running(now: float) -> tuple[Gavel, object]:
    """Job 0 has run on the only accelerator since t = 0 (done work 0 for job 1, waiting)."""
    table = jobs().job(submit=0, work=1e6).job(submit=0, work=1e6)
    view = state(ONE, table, running={0: 0}, now=now)
    return Gavel(), view


@pytest.mark.parametrize(
    ("now", "preempted"),
    [
        pytest.param(600.0, [], id="gavel keeps a job within its lease (60 s restart / 5 % = 1,200 s on a V100)"),
        pytest.param(1300.0, [0], id="gavel preempts a job past its lease for one far behind"),
    ],
)
def test_gavel_preempts_only_after_the_lease(now: float, preempted: list[int]) -> None:
    policy, view = _one_running(now)
    decisions = policy.schedule(view)  # type: ignore[arg-type]
    assert [p.job for p in decisions.preempts] == preempted


def test_gavel_lease_scales_with_the_restart_on_a_slow_pool() -> None:
    slow = pools().pool("a/k80", capacity=1, speed=0.25).build()
    view = state(slow, jobs().job(work=1e6).job(work=1e6), running={0: 0}, now=1300.0)
    assert Gavel().lease_s(view, 0) == pytest.approx(RESTART_S / (0.25 * 0.05))
    assert Gavel().schedule(view).preempts == (), "a restart on a K80 costs 4x the time: a 4,800 s lease"


def test_gavel_margin_keeps_a_job_slightly_ahead() -> None:
    # job 1 ran 4,000 s, then job 0 6,000 s (past its lease): progress rates 0.39 and 0.6,
    # within a factor 2 (margin 1), so job 0 keeps running; with margin 0 it is preempted
    table = jobs().job(submit=0, work=1e6).job(submit=0, work=1e6)
    view = state(ONE, table, running={1: 0}, now=4000.0)
    view.preempt(1, 0.0, RESTART_S)
    view.start(0, 0)
    view.now_s = 10_000.0
    for params, preempted in ((GavelParams(), []), (GavelParams(margin=0.0), [0])):
        policy = Gavel(params)
        policy._total_work = {0: 1e6, 1: 1e6}  # as first seen, before either ran
        assert [p.job for p in policy.schedule(view).preempts] == preempted, params


def test_las_waiting_job_of_the_same_queue_does_not_displace_a_running_one() -> None:
    # both in the first queue (under 1 accelerator-hour); the waiting job arrived first
    table = jobs().job(submit=0, work=1e6).job(submit=1, work=1e6)
    view = state(ONE, table, running={1: 0}, started=0.0, now=2000.0)
    assert Las().schedule(view).preempts == ()


def test_las_a_job_of_a_higher_queue_displaces_a_running_one() -> None:
    table = jobs().job(submit=0, work=1e6).job(submit=1, work=1e6)
    view = state(ONE, table, running={0: 0}, started=0.0, now=4000.0)  # job 0: 4,000 s, second queue
    assert [p.job for p in Las().schedule(view).preempts] == [0]


def test_no_round_preempts_a_job_that_finishes_within_its_lease() -> None:
    table = jobs().job(submit=0, work=2500.0).job(submit=0, work=1e6)
    view = state(ONE, table, running={0: 0}, now=1300.0)  # 1,200 s left: within a lease
    assert Gavel().schedule(view).preempts == ()


# -- heavy load ---------------------------------------------------------------------

GAVELISH = (
    pools()
    .pool("lab/v100", capacity=4, speed=1.0)
    .pool("lab/p100", capacity=4, speed=0.6)
    .pool("lab/k80", capacity=4, speed=0.2)
).build()
CLASSES = ((1.0, 0.6, 0.15), (1.0, 0.9, 0.3), (1.0, 0.5, 0.1), (0.5, 1.1, 0.7))
"""Speeds per (V100, P100, K80) pool, shaped like Gavel's measured job types (most gain
5-10x from a V100 over a K80; recommendation models run faster on a P100)."""


def heavy_trace(count: int, mean_gap_s: float, seed: int) -> object:
    """Gavel-style jobs (70 % one accelerator, 10 % two, 20 % four; 1-4 h on a V100)
    arriving as a Poisson process on a 4 + 4 + 4 cluster."""
    rng = random.Random(seed)
    table = jobs()
    t = 0.0
    for _ in range(count):
        draw = rng.random()
        gpus = 1 if draw < 0.7 else 2 if draw < 0.8 else 4
        table.job(submit=t, work=3600.0 * rng.choice((1, 2, 3, 4)), gpus=gpus, speeds=rng.choice(CLASSES))
        t += -math.log(1.0 - rng.random()) * mean_gap_s
    return sim_input(GAVELISH, table)


@pytest.mark.parametrize("policy", [Gavel, Las], ids=["gavel", "las"])
def test_preemptions_per_job_stay_below_five_at_heavy_load(policy: type[Policy]) -> None:
    data = heavy_trace(300, mean_gap_s=1500.0, seed=0)
    result = run(data, policy(), restart_s=RESTART_S)  # type: ignore[arg-type]
    m = result.metrics
    assert m["completed"] == 300 and m["lost"] == 0
    assert m["window_utilisation"] > 0.9, f"not heavy load: {m['window_utilisation']:.2f} busy"
    assert m["preemptions"] / 300 < 5, m["preemptions"]


# -- the run's restart cost ---------------------------------------------------------


def test_a_simulation_prices_preemption_at_its_own_restart_cost() -> None:
    from suanli.service.simulation import SimulationRequest, policy_for

    request = SimulationRequest(restart_s=600.0)
    gavel, las = policy_for(request, "gavel"), policy_for(request, "las")
    assert isinstance(gavel, Gavel) and isinstance(las, Las)
    assert (gavel.restart_s, las.restart_s) == (600.0, 600.0), "the lease is restart_s / (speed x share)"
    view = state(ONE, jobs().job(work=1e6).job(work=1e6), running={0: 0}, now=0.0)
    assert gavel.lease_s(view, 0) == 600.0 / 0.05
    own = SimulationRequest(restart_s=600.0, policy_params={"las": {"restart_s": 0.0}})
    las_own = policy_for(own, "las")
    assert isinstance(las_own, Las) and las_own.restart_s == 0.0, "a policy's own parameter wins"
