"""Round mechanics of the round-based policies (``policy/rounds.py``), read through
``gavel``: a job scheduled again on the pool it runs in keeps running (Gavel's lease
extension: no restart), and a round that preempts asks to be woken for the next round
while the jobs it preempted wait."""

from __future__ import annotations

from suanli.policy import Gavel
from tests.sim_builders import jobs, pools, state

TWO = pools().pool("a/v100", capacity=2).build()


def test_gavel_keeps_a_job_that_is_scheduled_again_on_its_own_pool() -> None:
    # jobs 0 and 1 have run since t = 0 (past the 1,200 s lease); job 2, far behind,
    # takes one place: only one of them is preempted, the other keeps its run
    table = jobs().job(submit=0, work=1e6).job(submit=0, work=1e6).job(submit=0, work=1e6)
    view = state(TWO, table, running={0: 0, 1: 0}, now=1300.0)
    decisions = Gavel().schedule(view)
    assert len(decisions.preempts) == 1
    kept = ({0, 1} - {p.job for p in decisions.preempts}).pop()
    assert kept not in {s.job for s in decisions.starts}, "kept in place, not stopped and started again"


def test_a_round_that_preempts_asks_to_be_woken_for_the_next_round() -> None:
    # one accelerator: job 0 (past its lease) gives way to job 1; job 0 now waits, so the
    # policy asks for the next round (before, it asked only when jobs that were waiting
    # before the round still waited, and job 0 sat until the next arrival or finish)
    one = pools().pool("a/v100", capacity=1).build()
    view = state(one, jobs().job(submit=0, work=1e6).job(submit=0, work=1e6), running={0: 0}, now=1300.0)
    decisions = Gavel().schedule(view)
    assert [p.job for p in decisions.preempts] == [0] and [s.job for s in decisions.starts] == [1]
    assert decisions.wake_at_s == 1300.0 + 360.0
