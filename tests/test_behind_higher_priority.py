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


def test_deep_in_the_queue_every_job_has_one_sentence_and_near_the_head_a_count() -> None:
    """More than NEAR jobs ahead: the same sentence for all (one stored reason, no write per
    job as the line moves); at most NEAR ahead: counted and named."""
    from suanli.scheduler.explain import NEAR, deep_sentence

    table = sim_jobs()
    for _ in range(NEAR + 5):
        table = table.job(work=3600, gpus=4)
    result = Scheduler(register_builtins().create("fifo"), state(ONE_POOL, table)).cycle(0.0)
    assert [job for job, _ in result.started] == [0]
    assert f"{NEAR} jobs ahead of it" in result.waits[NEAR].message, "the started job and NEAR - 1 waiting"
    deep = {result.waits[j].message for j in range(NEAR + 1, NEAR + 5)}
    assert deep == {deep_sentence("fifo")}
    assert all(result.waits[j].code is BEHIND for j in range(NEAR + 1, NEAR + 5))


def test_a_live_job_deep_in_the_queue_keeps_its_sentence_and_explain_gives_its_position(tmp_path: Path) -> None:
    from suanli.scheduler.explain import NEAR, deep_sentence

    net = Network.build(open_store(tmp_path / "s"), Settings(**{**GENEROUS.__dict__, "policy": "fifo"}))
    net.register("qingyang", {"h800": 1}, interval_s=3600.0)
    made = [net.submit(spec=job_spec(f"j{n}")) for n in range(NEAR + 4)]
    net.cycle()
    tenant = net.principal("tenant_a")
    last = made[-1].id
    first = jobs.explain(net.cp, tenant, last)
    assert [r.message for r in first.reasons] == [deep_sentence("fifo")]
    assert first.queue_position is not None and first.queue_position > NEAR
    with net.cp.store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT updated_at, reasons FROM jobs WHERE id = ?", (last,)).one()
    near = made[NEAR].id  # NEAR jobs ahead: the running one and NEAR - 1 waiting
    assert jobs.explain(net.cp, tenant, near).reasons[0].message.startswith(f"{NEAR} jobs ahead")
    jobs.cancel(net.cp, tenant, made[1].id)  # the line moves up one
    net.advance(1.0)
    net.cycle()
    with net.cp.store.engine.connect() as conn:
        again = conn.exec_driver_sql("SELECT updated_at, reasons FROM jobs WHERE id = ?", (last,)).one()
    assert tuple(again) == tuple(stored), "deep in the line its sentence is the same, so nothing was written"
    assert jobs.explain(net.cp, tenant, last).queue_position == first.queue_position - 1
    # the running job was ahead only in the cycle that started it; one waiting job is gone
    assert jobs.explain(net.cp, tenant, near).reasons[0].message.startswith(f"{NEAR - 2} jobs ahead")
