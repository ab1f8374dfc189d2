"""Fair share on the live control plane (``suanli serve --fair-share``): the live scheduler
runs the ``suanli`` policy with ``fair_share`` on, each job carries its tenant, and each
tenant weighs its ``share_weight`` from the store (``PATCH /v1/tenants/{name}``, audited).
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suanli.cli.app import app
from suanli.service.control import admin
from suanli.store import Store
from tests.api_builders import AGENT_SITE, GENEROUS, TENANT_A, TENANT_B, Network, job_spec

FAIR = replace(GENEROUS, policy="suanli", fair_share=True)


def finish(net: Network, job_id: str) -> None:
    net.report(AGENT_SITE, job_id, 1, state="RUNNING")
    net.advance(3600)
    net.heartbeat(AGENT_SITE, (job_id, 1))
    net.report(AGENT_SITE, job_id, 1, state="SUCCEEDED", exit_code=0)


def served_order(net: Network, a_jobs: int = 4, b_jobs: int = 1) -> str:
    """Tenant A floods the one H800 with ``a_jobs`` jobs of an hour, then B submits
    ``b_jobs``: the tenants of the jobs in the order the H800 runs them."""
    net.register(AGENT_SITE, {"h800": 1})
    owner = {net.submit(spec=job_spec(f"a-{n}")).id: "a" for n in range(a_jobs)}
    owner |= {net.submit("tenant_b", job_spec(f"b-{n}")).id: "b" for n in range(b_jobs)}
    order = ""
    for _ in range(a_jobs + b_jobs):
        placed = net.cycle().placed
        assert len(placed) == 1, placed
        order += owner[placed[0][0]]
        finish(net, placed[0][0])
    return order


def test_without_fair_share_the_flood_is_served_first(store: Store) -> None:
    net = Network.build(store, replace(FAIR, fair_share=False))
    assert served_order(net) == "aaaab"


def test_with_fair_share_the_other_tenant_goes_next(store: Store) -> None:
    net = Network.build(store, FAIR)
    assert served_order(net) == "abaaa"


def test_with_fair_share_tenants_of_equal_weight_take_turns(store: Store) -> None:
    assert served_order(Network.build(store, FAIR), 3, 3) == "ababab"


def test_a_tenant_weight_set_over_the_api_is_audited_and_read_by_the_next_cycle(store: Store) -> None:
    net = Network.build(store, FAIR)
    answer = net.api.patch(f"/v1/tenants/{TENANT_A}", json={"share_weight": 8}, headers=net.headers("operator"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["share_weight"] == 8.0
    listed = net.api.get("/v1/tenants", headers=net.headers("operator")).json()["tenants"]
    assert {t["name"]: t["share_weight"] for t in listed} == {TENANT_A: 8.0, TENANT_B: 1.0}
    entry = next(e for e in admin.audit(net.cp, net.principal("admin"), 20) if e.action == "tenant.update")
    assert (entry.object, entry.detail) == (TENANT_A, {"share_weight": 8.0, "was": 1.0})
    # weighing 8 to 1: once each has had an hour, acme's tag (its capacity-hours over its
    # weight) is 1/8 of globex's, so acme's jobs go until its hours are 8 times globex's
    assert served_order(net, 3, 3) == "abaabb"


@pytest.mark.parametrize(
    ("who", "body", "status", "field"),
    [
        ("operator", {"share_weight": 0}, 422, "share_weight"),
        ("operator", {"share_weight": -1}, 422, "share_weight"),
        ("operator", {"share_weight": "heavy"}, 422, "share_weight"),
        ("operator", {"weight": 2}, 422, "weight"),
        ("tenant_a", {"share_weight": 2}, 403, None),
    ],
)
def test_bad_weights_and_callers_are_refused_naming_why(
    store: Store, who: str, body: dict[str, object], status: int, field: str | None
) -> None:
    net = Network.build(store, FAIR)
    answer = net.api.patch(f"/v1/tenants/{TENANT_A}", json=body, headers=net.headers(who))
    assert answer.status_code == status, answer.text
    if field is not None:
        assert field in answer.text
    missing = net.api.patch("/v1/tenants/nobody", json={"share_weight": 2}, headers=net.headers("operator"))
    assert missing.status_code == 404 and "no tenant 'nobody'" in missing.text


def test_the_cli_sets_weights_on_a_store_and_serve_refuses_a_policy_without_fair_share(tmp_path: Path) -> None:
    runner = CliRunner()
    store = ["--data-dir", str(tmp_path / "s")]
    made = runner.invoke(app, ["admin", "create-tenant", "acme", "--share-weight", "3", *store])
    assert made.exit_code == 0, made.output
    bad = runner.invoke(app, ["admin", "create-tenant", "zero", "--share-weight", "0", *store])
    assert bad.exit_code == 2 and "share_weight must be > 0" in bad.output
    changed = runner.invoke(app, ["admin", "set-share", "acme", "2.5", "--json", *store])
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.output)["share_weight"] == 2.5
    listed = runner.invoke(app, ["admin", "tenants", "--json", *store])
    assert [(t["name"], t["share_weight"]) for t in json.loads(listed.output)] == [("acme", 2.5)]
    missing = runner.invoke(app, ["admin", "set-share", "nobody", "2", *store])
    assert missing.exit_code != 0 and "no tenant 'nobody'" in missing.output
    refused = runner.invoke(app, ["serve", "--policy", "gavel", "--fair-share", *store])
    assert refused.exit_code == 2 and "policy gavel does not share by tenant" in refused.output
