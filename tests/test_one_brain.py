"""One brain: the control plane's leader keeps one scheduler (policy and job history) from
cycle to cycle, as the simulator does, and the job's own objective and deadline reach it."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from suanli.clock import to_seconds
from suanli.placement import plan
from suanli.scheduler.snapshot import pool_table
from suanli.service.control import jobs
from suanli.service.control.plane import Settings
from suanli.store import open_store
from suanli.workload import validate_spec
from tests.api_builders import GENEROUS, Network, job_spec

LONG = {"model": {"params_b": 1.5}, "tokens_b": 0.5}
"""A 1.5B full fine-tune that runs for hours on one H800."""


def network(tmp_path: Path, policy: str, **settings: Any) -> Network:
    return Network.build(open_store(tmp_path / "s"), Settings(**{**GENEROUS.__dict__, "policy": policy, **settings}))


def test_las_keeps_attained_service_across_live_cycles_and_preempts_only_for_a_higher_queue(tmp_path: Path) -> None:
    """Two long jobs on one H800 under ``las`` (queue levels at 1 h and 10 h of attained
    service): A runs first; when A has had an hour, B (level 0) takes the pool; when B has
    had its hour too, both are in level 1 and B keeps the pool (only a higher queue
    displaces a running job: Tiresias's discrete queues, docs/simulator.md) until A has
    waited as long as it ran and goes back to the top queue (Tiresias's starvation
    rule, ``starve_factor`` 1). Rebuilt each
    cycle, the policy forgot attained service and rounds, and A and B swapped every cycle."""
    net = network(tmp_path, "las", missed_heartbeats=3.0)
    t0_s = net.clock.now_s()
    net.register("qingyang", {"h800": 1}, interval_s=3600.0)
    # a 3-hour story with one heartbeat an hour: the site must not be lost meanwhile
    a = net.submit(spec=job_spec("a", **LONG))
    assert [p[0] for p in net.cycle().placed] == [a.id]
    net.advance(1.0)
    b = net.submit(spec=job_spec("b", **LONG))
    net.cycle()
    preempted: list[tuple[float, str]] = []
    for step in range(int(3 * 3600 / 10)):
        net.advance(10.0)
        if step % 180 == 0:
            net.heartbeat("qingyang")
        for job_id in net.cycle().preempted:
            preempted.append((net.clock.now_s() - t0_s, job_id))
    assert [job for _, job in preempted] == [a.id, b.id], preempted
    (first_s, _), (second_s, _) = preempted
    assert 3600.0 <= first_s <= 3600.0 + 360.0 + 10.0, "A gives way in the first round after its first hour"
    assert 3600.0 <= second_s - first_s <= 3600.0 + 360.0 + 10.0, (
        "B gives way back only once A has waited as long as it last ran (Tiresias's starvation rule)"
    )


LIVE_H800_SITES = ("helinger", "qingyang", "zhongwei")


def lora(objective: str) -> dict[str, Any]:
    return job_spec(
        f"lora-{objective}",
        model="qwen2.5-7b",
        method="lora",
        tokens_b=0.5,
        resources={"accelerators": ["h800"], "count": 8},
        objective=objective,
    )


@pytest.mark.parametrize("objective", ["time", "cost", "carbon", "balanced"])
def test_on_an_idle_network_a_job_is_placed_where_the_planner_ranks_it_first(tmp_path: Path, objective: str) -> None:
    net = network(tmp_path, "suanli")
    for site in LIVE_H800_SITES:
        net.register(site, {"h800": 8}, interval_s=3600.0)
    spec = lora(objective)
    options = plan(validate_spec(spec, "spec", net.cp.planning.catalog), net.cp.planning.catalog, net.clock.now_s())
    live = [o for o in options.options if o.site in LIVE_H800_SITES and o.count == 8]
    job = net.submit(spec=spec)
    placed = net.cycle().placed
    assert placed == [(job.id, live[0].site, "h800")], [(o.site, o.finish_s, o.cost_usd, o.carbon_kg) for o in live]


def test_a_job_the_carbon_policy_holds_shows_why_and_the_hour_it_waits_for(tmp_path: Path) -> None:
    net = network(tmp_path, "carbon")
    net.register("qingyang", {"h800": 8}, interval_s=3600.0)
    pools = pool_table(net.cp.planning.catalog, (net.cp.planning.catalog.sites["qingyang"],), "h800")
    h800 = pools.names.index("qingyang/h800")
    start_s = math.ceil(net.clock.now_s() / 3600.0) * 3600.0 + 60.0
    dirty = [
        start_s + 3600.0 * k
        for k in range(24)
        if pools.intensity_at(h800, start_s + 3600.0 * k)
        > 1.05 * min(pools.intensity_at(h800, start_s + 3600.0 * (k + i)) for i in range(6))
    ]
    assert dirty, "qingyang's grid profile has an hour with a cleaner one within 6 h"
    net.clock.advance_to(dirty[0])
    job = net.submit(spec=job_spec("green", **LONG))
    assert net.cycle().placed == []
    explained = jobs.explain(net.cp, net.principal("tenant_a"), job.id)
    [reason] = explained.reasons
    assert reason.code == "HELD_FOR_CLEANER_HOUR"
    assert (reason.site, reason.accelerator) == ("qingyang", "h800")
    assert reason.until is not None
    until_s = to_seconds(datetime.fromisoformat(reason.until))
    assert dirty[0] < until_s <= dirty[0] + 6 * 3600.0
    waits_for = pools.intensity_at(h800, until_s)
    assert waits_for * 1.05 < pools.intensity_at(h800, dirty[0])
    assert f"{waits_for:,.0f} in" in reason.message
    net.clock.advance_to(until_s + 1.0)
    net.heartbeat("qingyang")
    assert [p[0] for p in net.cycle().placed] == [job.id], "placed once the cleaner hour comes"
