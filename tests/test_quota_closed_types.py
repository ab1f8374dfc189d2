"""A used-up hour quota closes the types it covers to the tenant's waiting jobs: a job that
could also run elsewhere goes elsewhere, never onto a closed type (it did before: the job
was only held when every type it could use was closed, and the policy then placed it on
any of them); the types open again when the period moves on; a live quote refuses options
on a closed type. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from suanli.schemas import QuotaIn
from suanli.service.control import admin
from suanli.store import Store
from tests.api_builders import AGENT_SITE, TENANT_A, Network, job_spec


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def on(accelerators: list[str], name: str, count: int = 1) -> dict[str, Any]:
    return job_spec(name, resources={"accelerators": accelerators, "count": count})


def spend_l20_hours(net: Network, hours: float) -> None:
    """Tenant A's quota of 4 L20-hours a day, spent: 8 L20s for ``hours``."""
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, "l20", QuotaIn(accelerator_hours=4.0, period_h=24))
    first = net.submit(spec=on(["l20"], "first", count=8))
    assert [j for j, _, _ in net.cycle().placed] == [first.id]
    net.report(AGENT_SITE, first.id, 1, state="RUNNING")
    net.advance(hours * 3600)
    net.heartbeat(AGENT_SITE, (first.id, 1))
    net.report(AGENT_SITE, first.id, 1, state="SUCCEEDED", exit_code=0)


def test_a_job_that_may_use_a_closed_type_goes_to_an_open_one(net: Network) -> None:
    net.register(AGENT_SITE, {"h800": 8, "l20": 8})
    spend_l20_hours(net, 1.0)
    either = net.submit(spec=on(["l20", "h800"], "either"))
    l20_only = net.submit(spec=on(["l20"], "l20-only"))
    theirs = net.submit("tenant_b", on(["l20"], "theirs"))
    placed = net.cycle().placed
    assert sorted((j, a) for j, _, a in placed) == sorted([(either.id, "h800"), (theirs.id, "l20")])
    [reason] = net.job(l20_only.id)["reasons"]
    assert reason["code"] == "QUOTA_EXCEEDED"
    assert "l20: 8.0 of 4 accelerator-hours used" in reason["message"]


def test_a_waiting_job_gets_the_closed_type_back_when_the_period_moves_on(net: Network) -> None:
    net.register(AGENT_SITE, {"h800": 1, "l20": 8})
    spend_l20_hours(net, 1.0)
    busy = net.submit("tenant_b", on(["h800"], "busy"))
    assert [j for j, _, _ in net.cycle().placed] == [busy.id]
    net.report(AGENT_SITE, busy.id, 1, state="RUNNING")
    waiting = net.submit(spec=on(["l20", "h800"], "waiting"))
    assert net.cycle().placed == [], "the H800 is busy and the L20s are closed to acme"
    assert net.job(waiting.id)["state"] == "PENDING"
    net.advance(24 * 3600 + 60)
    net.heartbeat(AGENT_SITE, (busy.id, 1))
    assert net.cycle().placed == [(waiting.id, AGENT_SITE, "l20")]


def test_a_quote_refuses_the_closed_type_and_offers_the_open_one(net: Network) -> None:
    net.register(AGENT_SITE, {"h800": 8, "l20": 8})
    spend_l20_hours(net, 1.0)
    spec = on(["l20", "h800"], "asking") | {"run": None}
    answer = net.api.post("/v1/plan", json={"spec": spec}, headers=net.headers("tenant_a"))
    assert answer.status_code == 200, answer.text
    assert {o["accelerator"] for o in answer.json()["options"]} == {"h800"}
    refused = [r for r in answer.json()["rejected"] if r["code"] == "QUOTA_EXCEEDED"]
    assert refused and {r["accelerator"] for r in refused} == {"l20"}
    assert "accelerator-hour quota is used up" in refused[0]["message"]
    other = net.api.post("/v1/plan", json={"spec": spec}, headers=net.headers("tenant_b")).json()
    assert {o["accelerator"] for o in other["options"]} == {"h800", "l20"}, "the quota binds acme alone"


def test_a_job_requeued_from_a_lost_site_keeps_out_of_its_closed_types(net: Network) -> None:
    """A PREEMPTED job keeps the site it lost in its row; it waits all the same, so the types
    its tenant's used-up quota covers are closed to it too."""
    net.register(AGENT_SITE, {"h800": 1, "l20": 8})
    job = net.submit(spec=on(["l20", "h800"], "moving"))
    assert net.cycle().placed == [(job.id, AGENT_SITE, "l20")]
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, "l20", QuotaIn(accelerator_hours=0.5, period_h=24))
    net.advance(3600)  # an hour on one L20, and the site falls silent
    assert net.cycle().requeued == [], "the lease had lapsed: the new term gives the site a full timeout"
    net.advance(6)
    assert net.cycle().requeued == []
    net.advance(6)  # 12 s of silence under one lease term (the lease lives 10 s unrenewed)
    assert net.cycle().requeued == [job.id]
    assert net.job(job.id)["state"] == "PREEMPTED" and net.job(job.id)["site"] == AGENT_SITE
    net.register(AGENT_SITE, {"h800": 1, "l20": 8})
    placed = net.cycle().placed + net.cycle().placed  # refused on the L20s, then translated again
    assert placed == [(job.id, AGENT_SITE, "h800")], "1.0 of 0.5 L20-hours: the L20s are closed"
