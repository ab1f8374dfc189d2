"""One brain: the control plane's leader keeps one scheduler (policy and job history) from
cycle to cycle, as the simulator does, and the job's own objective and deadline reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suanli.service.control.plane import Settings
from suanli.store import open_store
from tests.api_builders import GENEROUS, Network, job_spec

LONG = {"model": {"params_b": 1.5}, "tokens_b": 0.5}
"""A 1.5B full fine-tune that runs for hours on one H800."""


def network(tmp_path: Path, policy: str, **settings: Any) -> Network:
    return Network.build(open_store(tmp_path / "s"), Settings(**{**GENEROUS.__dict__, "policy": policy, **settings}))


def test_las_keeps_attained_service_across_live_cycles_and_preempts_once_per_level(tmp_path: Path) -> None:
    """Two long jobs on one H800 under ``las`` (queue levels at 1 h and 10 h of attained
    service): A runs first; when A has had an hour, B (level 0) takes the pool; when B has
    had its hour too, A (earlier) takes it back and keeps it. Rebuilt each cycle, the
    policy forgot attained service and rounds, and A and B swapped every cycle."""
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
    first_s, second_s = (t for t, _ in preempted)
    assert 3600.0 <= first_s <= 3600.0 + 360.0 + 10.0, "A gives way in the first round after its first hour"
    assert 7200.0 <= second_s <= 7200.0 + 2 * 360.0 + 10.0, "B gives way back after its own hour"
