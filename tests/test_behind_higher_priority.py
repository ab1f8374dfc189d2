"""A waiting job the policy gave no reason for is BEHIND_HIGHER_PRIORITY when others are
served before it on pools it may use (naming how many and which), and WAITING_FOR_CAPACITY
when it is first in line: in the simulator's cycle and live, in ``suanli explain``."""

from __future__ import annotations

from pathlib import Path

from suanli.model.reasons import ReasonCode
from suanli.policy import register_builtins
from suanli.scheduler import Scheduler
from suanli.service.control import jobs
from suanli.service.control.plane import Settings
from suanli.store import open_store
from tests.api_builders import GENEROUS, Network, job_spec
from tests.sim_builders import jobs as sim_jobs
from tests.sim_builders import pools, state

NET = pools().pool("a/v100", capacity=4, speed=1.0).pool("b/k80", capacity=4, speed=1.0).build()
ONE_POOL = pools().pool("a/v100", capacity=4, speed=1.0).build()
BEHIND = ReasonCode.BEHIND_HIGHER_PRIORITY


def test_a_job_behind_one_the_policy_started_and_one_waiting_ahead_names_both() -> None:
    table = sim_jobs().job(work=3600, gpus=4).job(work=3600, gpus=4).job(work=3600, gpus=4)
    scheduler = Scheduler(register_builtins().create("fifo"), state(ONE_POOL, table))
    first = scheduler.cycle(0.0)
    assert [job for job, _ in first.started] == [0]
    assert first.waits[1].code is BEHIND and "1 job ahead" in first.waits[1].message
    assert "(job 0)" in first.waits[1].message
    assert first.waits[2].code is BEHIND and "2 jobs ahead" in first.waits[2].message
    assert "(job 0, job 1)" in first.waits[2].message
    later = scheduler.cycle(10.0)
    assert 1 not in later.waits, "first in line: it waits for capacity"
    assert later.waits[2].code is BEHIND and "1 job ahead" in later.waits[2].message
    assert "(job 1)" in later.waits[2].message


def test_a_job_is_not_behind_jobs_that_want_other_pools() -> None:
    table = (
        sim_jobs()
        .job(work=9000, gpus=4)
        .job(work=9000, gpus=4)
        .job(work=3600, gpus=4)
        .only(0)
        .job(work=3600, gpus=4)
        .only(1)
        .job(work=3600, gpus=4)
        .only(0)
    )
    scheduler = Scheduler(register_builtins().create("fifo"), state(NET, table, running={0: 0, 1: 1}))
    result = scheduler.cycle(5.0)
    assert not result.started
    assert 2 not in result.waits and 3 not in result.waits
    assert result.waits[4].code is BEHIND and "(job 2)" in result.waits[4].message


def test_explain_shows_a_live_job_behind_higher_priority_work_and_then_first_in_line(tmp_path: Path) -> None:
    net = Network.build(open_store(tmp_path / "s"), Settings(**{**GENEROUS.__dict__, "policy": "fifo"}))
    net.register("qingyang", {"h800": 1}, interval_s=3600.0)
    a = net.submit(spec=job_spec("a"))
    b = net.submit(spec=job_spec("b"))
    c = net.submit(spec=job_spec("c"))
    assert [p[0] for p in net.cycle().placed] == [a.id]
    tenant = net.principal("tenant_a")
    [why_b] = jobs.explain(net.cp, tenant, b.id).reasons
    assert why_b.code == "BEHIND_HIGHER_PRIORITY"
    assert f"1 job ahead of it want pools it may use ({a.id})" in why_b.message
    [why_c] = jobs.explain(net.cp, tenant, c.id).reasons
    assert why_c.code == "BEHIND_HIGHER_PRIORITY"
    assert f"2 jobs ahead of it want pools it may use ({a.id}, {b.id})" in why_c.message
    net.advance(1.0)
    net.cycle()
    [why_b] = jobs.explain(net.cp, tenant, b.id).reasons
    assert why_b.code == "WAITING_FOR_CAPACITY", "first in line now"
    [why_c] = jobs.explain(net.cp, tenant, c.id).reasons
    assert why_c.code == "BEHIND_HIGHER_PRIORITY" and f"({b.id})" in why_c.message, why_c.message


def test_a_stored_sentence_is_rewritten_when_the_count_moves_near_the_head_not_deep_in_the_queue() -> None:
    from suanli.service.control.live import _moved_near_the_head

    def said(n: int) -> dict[str, str]:
        return {"code": "BEHIND_HIGHER_PRIORITY", "message": f"{n} jobs ahead of it want pools it may use (x)"}

    assert not _moved_near_the_head(said(500), said(499)), "deep in a queue of thousands: kept"
    assert _moved_near_the_head(said(11), said(10))
    assert _moved_near_the_head(said(3), said(2))
    assert not _moved_near_the_head(said(3), said(3))
