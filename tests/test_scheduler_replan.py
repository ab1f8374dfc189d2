"""A waiting job whose options are re-planned takes the new ones in the live scheduler's
state (ClusterState.replan through the feeder), though the pools stay as they were: a job
first seen running on its stored options, preempted, then re-planned, is scheduled on what
the planner offers now, with its spec's deadline and objective."""

from __future__ import annotations

from pathlib import Path

from suanli.scheduler.snapshot import pool_table
from suanli.service.control.feeder import CycleRows, LiveFeed
from suanli.service.control.options import QueuedOptions
from suanli.store import open_store
from tests.api_builders import Network

SITES = ("qingyang", "zhongwei")


def row(job_id: str) -> dict[str, object]:
    return {"id": job_id, "created_at": 100.0, "count": 1, "site": None, "accelerator": None, "state": "QUEUED"}


def test_a_waiting_jobs_replanned_options_reach_the_state_on_the_same_pools(tmp_path: Path) -> None:
    net = Network.build(open_store(tmp_path / "s"))
    catalog = net.cp.planning.catalog
    pools = pool_table(catalog, tuple(catalog.sites[s] for s in SITES), "h800")
    at = {name: p for p, name in enumerate(pools.names)}
    feed = LiveFeed(net.cp)
    state = feed.empty_state(pools)
    stored = QueuedOptions(None, (("qingyang", "h800", 3600.0),), frozenset({"h800"}))
    feed.load(CycleRows([row("j")], [], {"j": stored}), pools)
    state = feed.snapshot(state, 200.0)
    [job] = state.pending
    assert state.allowed(job) == frozenset({at["qingyang/h800"]})
    assert state.deadline_s(job) is None and state.objective(job) is None

    replanned = QueuedOptions(
        "sig",
        (("qingyang", "h800", 3600.0), ("zhongwei", "h800", 1800.0)),
        frozenset({"h800"}),
        objective="cost",
        deadline_s=9000.0,
        figures=(("qingyang", "h800", 10.0, 1.0), ("zhongwei", "h800", 6.0, 0.5)),
    )
    feed.load(CycleRows([row("j")], [], {"j": replanned}), pools)
    state = feed.snapshot(state, 300.0)
    assert state.allowed(job) == frozenset({at["qingyang/h800"], at["zhongwei/h800"]})
    assert state.runtime_s(job, at["zhongwei/h800"]) == 1800.0
    assert state.runtime_s(job, at["qingyang/h800"]) == 3600.0
    assert (state.deadline_s(job), state.objective(job)) == (9000.0, "cost")
    assert state.figures(job) is not None

    again = QueuedOptions("sig2", (("zhongwei", "h800", 1800.0),), frozenset({"h800"}))
    feed.load(CycleRows([row("j")], [], {"j": again}), pools)
    state = feed.snapshot(state, 400.0)
    assert state.allowed(job) == frozenset({at["zhongwei/h800"]})
    assert (state.deadline_s(job), state.objective(job)) == (9000.0, "cost"), "options without the spec keep them"
