"""Quotas in normalised capacity (H800-equivalent hours) beside accelerator-hours, on SQLite
and PostgreSQL: usage in both, admission holding a tenant's waiting jobs when a capacity
limit is used up, the API and CLI showing it, bad input refused naming the field, and
migration 0007 on a store with quotas from before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from suanli.capacity import capacity_table
from suanli.cli.app import app
from suanli.schemas import QuotaIn
from suanli.service.control import admin
from suanli.service.control.plane import control_plane
from suanli.store import Store
from suanli.store.migrate import _config, upgrade
from tests.api_builders import AGENT_SITE, TENANT_A, TENANT_B, Network, job_spec


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def l20_spec(name: str) -> dict[str, Any]:
    return job_spec(name, resources={"accelerators": ["l20"], "count": 8})


def run_for(net: Network, spec: dict[str, Any], inventory: dict[str, int], hours: float) -> str:
    """Tenant A's job, placed on ``inventory`` at the agent's site, run ``hours`` and finished."""
    net.register(AGENT_SITE, inventory)
    job = net.submit(spec=spec)
    placed = net.cycle().placed
    assert [j for j, _, _ in placed] == [job.id], placed
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")
    net.advance(hours * 3600)
    net.heartbeat(AGENT_SITE, (job.id, 1))
    net.report(AGENT_SITE, job.id, 1, state="SUCCEEDED", exit_code=0)
    return job.id


def set_quota(net: Network, key: str = "*", **limits: Any) -> None:
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, key, QuotaIn(**limits))


# -- usage in both units -------------------------------------------------------------------


def test_an_hour_on_8_l20s_is_8_accelerator_hours_and_1_2_h800_hours(net: Network) -> None:
    set_quota(net, capacity_hours=100, accelerator_hours=100, period_h=24)
    run_for(net, l20_spec("on-l20"), {"l20": 8}, 1.0)
    [quota] = admin.quotas(net.cp, net.principal("tenant_a"), TENANT_A)
    value = capacity_table(net.cp.planning.catalog).per_accelerator_hour("l20")
    assert quota.used_accelerator_hours == pytest.approx(8.0)
    assert quota.used_capacity_hours == pytest.approx(8.0 * value)
    assert 0.9 < quota.used_capacity_hours < 1.6, "an L20 is worth 0.1-0.2 of an H800"
    assert quota.capacity_unit == "H800-equivalent hours"


def test_a_running_job_counts_its_part_so_far_in_both_units(net: Network) -> None:
    set_quota(net, key="hopper", capacity_hours=10)
    net.register(AGENT_SITE, {"h800": 2})
    job = net.submit(spec=job_spec("running", resources={"accelerators": ["h800"], "count": 2}))
    net.cycle()
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")
    net.advance(1800)
    [quota] = admin.quotas(net.cp, net.principal("admin"), TENANT_A)
    assert (quota.used_accelerator_hours, quota.used_capacity_hours, quota.in_use) == pytest.approx((1.0, 1.0, 2))


# -- admission --------------------------------------------------------------------------------


def test_used_up_capacity_hours_hold_the_tenants_jobs_with_a_clear_reason(net: Network) -> None:
    set_quota(net, capacity_hours=1.0, period_h=24)
    run_for(net, job_spec("first"), {"h800": 1}, 1.5)
    held = net.submit(spec=job_spec("more"))
    theirs = net.submit("tenant_b", job_spec("theirs"))
    placed = net.cycle().placed
    assert [j for j, _, _ in placed] == [theirs.id], "the quota binds acme alone"
    [reason] = net.job(held.id)["reasons"]
    assert reason["code"] == "QUOTA_EXCEEDED"
    assert "capacity quota is used up" in reason["message"]
    assert "*: 1.5 of 1 H800-equivalent hours used" in reason["message"]
    assert "To fix:" in reason["message"]

    net.report(AGENT_SITE, theirs.id, 1, state="SUCCEEDED", exit_code=0)
    net.advance(24 * 3600 + 60)
    net.heartbeat(AGENT_SITE)
    assert net.cycle().placed == [(held.id, AGENT_SITE, "h800")], "the used capacity left the period"


def test_the_same_use_is_held_by_an_accelerator_hour_quota_but_not_by_an_equal_capacity_quota(net: Network) -> None:
    """8 L20-hours: over 2 accelerator-hours, within 2 H800-equivalent hours (about 1.2)."""
    set_quota(net, capacity_hours=2.0, period_h=24)
    run_for(net, l20_spec("first"), {"l20": 8}, 1.0)
    second = net.submit(spec=l20_spec("second"))
    assert [j for j, _, _ in net.cycle().placed] == [second.id], "1.2 of 2 capacity-hours: room left"

    net.report(AGENT_SITE, second.id, 1, state="SUCCEEDED", exit_code=0)
    set_quota(net, accelerator_hours=2.0, period_h=24)
    third = net.submit(spec=l20_spec("third"))
    assert net.cycle().placed == []
    [reason] = net.job(third.id)["reasons"]
    assert reason["code"] == "QUOTA_EXCEEDED"
    assert "accelerator-hour quota is used up" in reason["message"]
    assert "of 2 accelerator-hours" in reason["message"]


def test_a_capacity_quota_on_one_family_leaves_jobs_that_can_run_elsewhere(net: Network) -> None:
    set_quota(net, key="hopper", capacity_hours=0.5, period_h=24)
    run_for(net, job_spec("first"), {"h800": 1, "l20": 8}, 1.0)
    anywhere = net.submit(spec=job_spec("anywhere", resources={"accelerators": ["h800", "l20"], "count": 1}))
    hopper_only = net.submit(spec=job_spec("hopper-only"))
    placed = net.cycle().placed
    assert [(j, a) for j, _, a in placed] == [(anywhere.id, "l20")]
    [reason] = net.job(hopper_only.id)["reasons"]
    assert "hopper: 1.0 of 0.5 H800-equivalent hours used" in reason["message"]


# -- the API ------------------------------------------------------------------------------------


def test_the_quota_endpoints_answer_both_limits_and_both_usages(net: Network) -> None:
    put = net.api.put(
        f"/v1/tenants/{TENANT_A}/quotas/ascend",
        json={"capacity_hours": 400, "accelerator_hours": 1000, "max_concurrent": 64},
        headers=net.headers("operator"),
    )
    assert put.status_code == 200, put.text
    expected = {
        "tenant": TENANT_A,
        "family": "ascend",
        "accelerator_hours": 1000.0,
        "capacity_hours": 400.0,
        "period_h": 720.0,
        "max_concurrent": 64,
        "used_accelerator_hours": 0.0,
        "used_capacity_hours": 0.0,
        "capacity_unit": "H800-equivalent hours",
        "in_use": 0,
    }
    assert put.json() == expected
    own = net.api.get(f"/v1/tenants/{TENANT_A}/quotas", headers=net.headers("tenant_a")).json()
    assert own == {"quotas": [expected]}
    admin.set_quota(net.cp, net.principal("admin"), TENANT_B, "*", QuotaIn(capacity_hours=5))
    every = net.api.get("/v1/quotas", headers=net.headers("operator")).json()["quotas"]
    assert [(q["tenant"], q["family"], q["capacity_hours"]) for q in every] == [
        (TENANT_A, "ascend", 400.0),
        (TENANT_B, "*", 5.0),
    ]
    mine = net.api.get("/v1/quotas", headers=net.headers("tenant_b")).json()["quotas"]
    assert [(q["tenant"], q["family"]) for q in mine] == [(TENANT_B, "*")], "a tenant sees its own only"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        pytest.param({"capacity_hours": -1}, "capacity_hours", "greater than or equal to 0", id="negative"),
        pytest.param({"capacity_hours": "lots"}, "capacity_hours", "number", id="text"),
        pytest.param({"capacity_hours": True}, "capacity_hours", "number", id="a boolean"),
        pytest.param({"capacity_hours": 1e12}, "capacity_hours", "less than or equal", id="absurd"),
        pytest.param({"capacity_h": 10}, "capacity_h", "Extra inputs", id="a misspelt field"),
    ],
)
def test_a_bad_capacity_limit_is_a_422_naming_the_field(net: Network, body: Any, field: str, words: str) -> None:
    answer = net.api.put(f"/v1/tenants/{TENANT_A}/quotas/*", json=body, headers=net.headers("admin"))
    assert answer.status_code == 422, answer.text
    assert f"body.{field}" in answer.text and words in answer.text


# -- the CLI -------------------------------------------------------------------------------------


def test_the_cli_sets_and_shows_capacity_hours(net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Over the API with an operator's token (the SDK's Client, in-process)."""
    from suanli.client import Client

    for name in ("SUANLI_TOKEN", "SUANLI_TOKEN_FILE", "SUANLI_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUANLI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SUANLI_SERVER", str(net.api.base_url))

    def in_process(server: str | None, token: str | None, profile: str | None = None) -> Client:
        return Client(server, token, profile=profile, transport=net.api._transport)

    monkeypatch.setattr("suanli.client.Client", in_process)  # the admin backend imports it when it runs
    runner = CliRunner()
    auth = ("--token", net.tokens["operator"])
    done = runner.invoke(app, ["admin", "set-quota", TENANT_A, "hopper", "--capacity-hours", "250", *auth])
    assert done.exit_code == 0, done.output
    assert "acme/hopper: unlimited accelerator-hours, 250 H800-equivalent hours per 720 h, unlimited at once" in (
        done.output
    )
    shown = runner.invoke(app, ["admin", "quotas", TENANT_A, *auth])
    assert shown.exit_code == 0, shown.output
    header, row = shown.output.splitlines()
    assert "H800-EQUIVALENT HOURS" in header
    assert row.split() == ["acme/hopper", "0.0", "/", "unlimited", "0.0", "/", "250", "720h", "0", "/", "unlimited"]
    listed = json.loads(runner.invoke(app, ["admin", "quotas", *auth, "--json"]).output)
    assert [(q["tenant"], q["capacity_hours"], q["capacity_unit"]) for q in listed] == [
        (TENANT_A, 250.0, "H800-equivalent hours")
    ]
    refused = runner.invoke(app, ["admin", "set-quota", TENANT_A, "*", "--capacity-hours", "-3", *auth])
    assert refused.exit_code == 2 and "--capacity-hours" in refused.output


def test_the_sdk_sends_capacity_hours_only_when_set(net: Network) -> None:
    from suanli.client import Client

    with Client(str(net.api.base_url), net.tokens["admin"], transport=net.api._transport) as client:
        made = client.set_quota(TENANT_A, "*", capacity_hours=12.5)
        assert (made.capacity_hours, made.accelerator_hours) == (12.5, None)
        kept = client.set_quota(TENANT_A, "*", accelerator_hours=3)
        assert (kept.capacity_hours, kept.accelerator_hours) == (None, 3.0), "a PUT replaces the quota"
        assert [q.family for q in client.quotas()] == ["*"]


# -- migration 0007 ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store at revision 0006 holding a tenant and an accelerator-hour quota."""
    from suanli.store.db import make_engine, sqlite_url

    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_url")
    store = Store(make_engine(url), url)
    command.upgrade(_config(store), "0006")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, created_at, schema_version) VALUES ('t-1', 'acme', 1, 1)"))
        conn.execute(
            text(
                "INSERT INTO quotas (tenant_id, family, accelerator_hours, period_h, max_concurrent, updated_at)"
                " VALUES ('t-1', 'hopper', 100, 720, 8, 1)"
            )
        )
    yield store
    store.dispose()


def test_0007_keeps_old_quotas_with_no_capacity_limit(old_store: Store) -> None:
    from suanli.service.control.auth import LOCAL_ADMIN

    upgrade(old_store)
    cp = control_plane(old_store)
    [quota] = admin.quotas(cp, LOCAL_ADMIN, "acme")
    assert (quota.accelerator_hours, quota.max_concurrent, quota.capacity_hours) == (100.0, 8, None)
    changed = admin.set_quota(cp, LOCAL_ADMIN, "acme", "hopper", QuotaIn(accelerator_hours=100, capacity_hours=40))
    assert changed.capacity_hours == 40.0


def test_0007_downgrades_without_losing_quotas(old_store: Store) -> None:
    upgrade(old_store)
    command.downgrade(_config(old_store), "0006")
    with old_store.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM quotas")).mappings().one()
    assert "capacity_hours" not in row
    assert (row["family"], row["accelerator_hours"]) == ("hopper", 100)


def test_admin_capacity_prints_each_types_value_as_the_unit_computes_it(catalog: Any) -> None:
    done = CliRunner().invoke(app, ["admin", "capacity", "--json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    table = capacity_table(catalog)
    assert (answer["unit"], answer["reference"]) == ("H800-equivalent hours", "h800")
    values = {v["accelerator"]: v["per_accelerator_hour"] for v in answer["values"]}
    assert values == {k: v.per_accelerator_hour for k, v in table.values.items()}
    assert list(values)[:2] == ["b200", "h200"], "fastest first"
    text = CliRunner().invoke(app, ["admin", "capacity"]).output.splitlines()
    assert text[0].split()[:3] == ["ACCELERATOR", "H800-EQUIVALENT", "HOURS"]
    assert any(line.split()[:2] == ["l20", f"{table.per_accelerator_hour('l20'):.3f}"] for line in text)


# -- invariants of the usage sums -----------------------------------------------------------------

RUN = st.fixed_dictionaries(
    {
        "accelerator": st.sampled_from(["h800", "l20", "b200", "ascend-910b", "a800", "k80"]),
        "start_s": st.floats(0, 100 * 3600),
        "ran_s": st.floats(0, 50 * 3600),
        "count": st.integers(1, 64),
    }
)


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(RUN, max_size=20), period_h=st.floats(1, 200))
def test_capacity_used_is_the_sum_of_each_types_hours_times_its_value_and_families_add_up_to_all(
    catalog: Any, runs: list[dict[str, Any]], period_h: float
) -> None:
    from types import SimpleNamespace

    from suanli.service.control.quotas import _usage

    cp: Any = SimpleNamespace(planning=SimpleNamespace(catalog=catalog))
    table = capacity_table(catalog)
    now = 150 * 3600.0
    rows = [
        {
            "accelerator": r["accelerator"],
            "start_s": r["start_s"],
            "end_s": r["start_s"] + r["ran_s"],
            "accelerator_s": r["ran_s"] * r["count"],
        }
        for r in runs
    ]
    whole = _usage(cp, table, rows, [], "*", period_h, now)
    by_type = {a: _usage(cp, table, rows, [], a, period_h, now) for a in {r["accelerator"] for r in runs}}
    assert whole.accelerator_hours == pytest.approx(sum(u.accelerator_hours for u in by_type.values()), abs=1e-6)
    assert whole.capacity_hours == pytest.approx(
        sum(u.accelerator_hours * table.per_accelerator_hour(a) for a, u in by_type.items()), rel=1e-9, abs=1e-6
    )
    families = {catalog.accelerator(a).family for a in by_type}
    by_family = [_usage(cp, table, rows, [], f, period_h, now) for f in families]
    assert whole.capacity_hours == pytest.approx(sum(u.capacity_hours for u in by_family), rel=1e-9, abs=1e-6)
    longer = _usage(cp, table, rows, [], "*", period_h * 2, now)
    assert longer.capacity_hours >= whole.capacity_hours - 1e-9, "a longer period never counts less"
