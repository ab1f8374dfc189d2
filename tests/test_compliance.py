"""Compliance as a live rule (``suanli.service.control.compliance``), at the service level on
a SimClock, on SQLite and PostgreSQL: filings bind to the model (a catalogue id, or an
inline model's fingerprint), never to the job's name; rejecting an approved filing stops
the public services of its model (or holds them, by the operator's setting) with reason
``FILING_WITHDRAWN`` and audit entries, and approving one again releases held services."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select

from suanli.schemas import FilingCreate
from suanli.service.control import admin
from suanli.service.control.compliance import model_key
from suanli.service.control.errors import ForbiddenRefusal
from suanli.store import Store
from suanli.store.tables import audit
from suanli.workload import validate_spec
from tests.api_builders import AGENT_SITE, GENEROUS, Network, job_spec, service_spec

INLINE = {"params_b": 7.6, "layers": 28, "hidden": 3584, "heads": 28, "kv_heads": 4}


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


@pytest.fixture
def holding(store: Store) -> Network:
    return Network.build(store, dataclasses.replace(GENEROUS, on_filing_withdrawn="hold"))


def approve(net: Network, model: str, tenant: str = "tenant_a") -> str:
    filing = admin.file_model(net.cp, net.principal(tenant), FilingCreate(model=model, filing_number="BJ-2026-7"))
    admin.decide_filing(net.cp, net.principal("operator"), filing.id, approved=True, note=None)
    return filing.id


def reject(net: Network, filing_id: str) -> None:
    admin.decide_filing(net.cp, net.principal("operator"), filing_id, approved=False, note="withdrawn")


def inline_service(name: str) -> dict[str, Any]:
    spec = service_spec(name)
    spec["model"] = dict(INLINE)
    return spec


def running_service(net: Network, spec: dict[str, Any]) -> str:
    net.register(AGENT_SITE, {"h800": 4})
    job = net.submit("tenant_a", spec)
    assert (job.id, AGENT_SITE, "h800") in net.cycle().placed
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")
    return job.id


def audit_actions(net: Network, obj: str) -> list[str]:
    with net.cp.store.engine.connect() as conn:
        return [a for (a,) in conn.execute(select(audit.c.action).where(audit.c.object == obj).order_by(audit.c.id))]


def test_an_inline_model_named_like_an_approved_one_is_refused_until_its_fingerprint_is_filed(net: Network) -> None:
    approve(net, "qwen2.5-7b")
    impostor = inline_service("qwen2.5-7b")  # named after the approved model, but a model of its own
    with pytest.raises(ForbiddenRefusal) as refused:
        net.submit("tenant_a", impostor)
    key = model_key(validate_spec(impostor, "spec", net.cp.planning.catalog))
    assert refused.value.code == "FILING_NOT_APPROVED"
    assert key.startswith("inline-") and len(key) == len("inline-") + 16
    assert key in refused.value.message and f"suanli file-model {key}" in refused.value.message
    approve(net, key)
    assert net.submit("tenant_a", impostor).state == "PENDING"
    renamed = inline_service("another-name")
    assert net.submit("tenant_a", renamed).state == "PENDING", "the same shape under any name is the filed model"
    other_shape = inline_service("qwen2.5-7b")
    other_shape["model"]["layers"] = 32
    with pytest.raises(ForbiddenRefusal):
        net.submit("tenant_a", other_shape)


def test_a_catalogue_model_filed_under_its_id_is_matched_whatever_case_the_spec_uses(net: Network) -> None:
    approve(net, "qwen2.5-7b")
    assert net.submit("tenant_a", service_spec(model="Qwen2.5-7B")).state == "PENDING"


def test_rejecting_an_approved_filing_stops_its_running_public_service_with_filing_withdrawn(net: Network) -> None:
    filing = approve(net, "qwen2.5-7b")
    job_id = running_service(net, service_spec("chat"))
    private = running_service(net, service_spec("internal", public=False))
    trainer = running_service(net, job_spec("trainer"))
    reject(net, filing)

    row = net.job(job_id)
    assert row["state"] == "CANCELLED"
    assert [r["code"] for r in row["reasons"]] == ["FILING_WITHDRAWN"]
    assert filing in row["reasons"][0]["message"] and "qwen2.5-7b" in row["reasons"][0]["message"]
    assert audit_actions(net, job_id)[-1] == "job.stop"
    assert net.job(private)["state"] == net.job(trainer)["state"] == "RUNNING", "only public services need filings"
    beat = net.heartbeat(AGENT_SITE, (job_id, 1), (private, 1), (trainer, 1))
    assert beat.cancel == [job_id], "its agent is told to stop it"
    assert net.cycle().placed == [], "and it is never placed again"


def test_a_second_approved_filing_of_the_model_keeps_the_service_running(net: Network) -> None:
    first = approve(net, "qwen2.5-7b")
    approve(net, "qwen2.5-7b")
    job_id = running_service(net, service_spec("chat"))
    reject(net, first)
    assert net.job(job_id)["state"] == "RUNNING"


def test_rejecting_a_pending_filing_stops_nothing(net: Network) -> None:
    approve(net, "qwen2.5-7b")
    job_id = running_service(net, service_spec("chat"))
    pending = admin.file_model(net.cp, net.principal("tenant_a"), FilingCreate(model="qwen2.5-7b"))
    reject(net, pending.id)
    assert net.job(job_id)["state"] == "RUNNING"


def test_held_services_wait_out_of_placement_until_a_filing_is_approved_again(holding: Network) -> None:
    net = holding
    filing = approve(net, "qwen2.5-7b")
    job_id = running_service(net, service_spec("chat"))
    waiting = net.submit("tenant_a", service_spec("chat-2"))  # submitted while approved, not yet placed
    reject(net, filing)

    row = net.job(job_id)
    assert (row["state"], [r["code"] for r in row["reasons"]]) == ("PREEMPTED", ["FILING_WITHDRAWN"])
    assert [r["code"] for r in net.job(waiting.id)["reasons"]] == ["FILING_WITHDRAWN"]
    assert "held until a filing" in row["reasons"][0]["message"]
    assert audit_actions(net, job_id)[-1] == "job.hold"
    for _ in range(3):
        assert net.cycle().placed == [], "held: 4 idle H800 and still not placed"
    assert [r["code"] for r in net.job(job_id)["reasons"]] == ["FILING_WITHDRAWN"], "the reason stays"
    assert net.heartbeat(AGENT_SITE, (job_id, 1)).cancel == [job_id]

    approve(net, "qwen2.5-7b")
    assert audit_actions(net, job_id)[-1] == "job.release"
    placed = {job for job, _, _ in net.cycle().placed}
    assert placed == {job_id, waiting.id}
    assert net.job(job_id)["attempt"] == 2
