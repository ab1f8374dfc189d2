"""``explain``: each option's site marked live, degraded, down or catalogue-only (no agent
ever registered it), and a waiting job's queue position (the waiting jobs submitted before
it that could take the same live pools and are not held out of the queue). Real API
in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from suanli.cli.app import app
from suanli.store import Store
from tests.api_builders import AGENT_SITE, Network, job_spec
from tests.api_cli import point_cli_at

INTERVAL_S = 5.0


@pytest.fixture
def net(store: Store) -> Network:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 1}, INTERVAL_S)
    return net


def explain(net: Network, job_id: str) -> dict[str, Any]:
    answer = net.api.get(f"/v1/jobs/{job_id}/explain", headers=net.headers("tenant_a"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_each_options_site_is_live_or_catalogue_only(net: Network) -> None:
    job = explain(net, net.submit(spec=job_spec("anywhere")).id)
    states = job["site_states"]
    assert states[AGENT_SITE] == "live"
    others = {site for site in states if site != AGENT_SITE}
    assert others, "an H800 job has options at catalogue sites with no agent"
    assert {states[site] for site in others} == {"catalogue-only"}
    assert set(states) == {o["site"] for o in job["options"]}
    assert f"({len([o for o in job['options'] if o['site'] in others])} at catalogue-only sites" in job["summary"]


def test_a_site_whose_agent_went_silent_is_down(net: Network) -> None:
    job_id = net.submit(spec=job_spec("x")).id
    net.cycle()  # the leader takes the lease now: silence counts from here
    for _ in range(3):
        net.advance(INTERVAL_S)
        net.cycle()
    assert explain(net, job_id)["site_states"][AGENT_SITE] == "down"


def test_queue_position_counts_the_waiting_jobs_before_it_at_its_live_pools(net: Network) -> None:
    first = net.submit(spec=job_spec("first"))
    waiting = [net.submit(spec=job_spec(f"w{i}")) for i in range(3)]
    net.cycle()  # one H800: first runs, the others wait in submission order
    assert explain(net, first.id)["queue_position"] is None, "a placed job is not in the queue"
    positions = [explain(net, job.id)["queue_position"] for job in waiting]
    assert positions == [1, 2, 3]
    last = explain(net, waiting[2].id)
    assert last["queue"].startswith("2 waiting jobs submitted before it can take the same live site and accelerator")
    assert "policy fifo takes waiting jobs in that order" in last["queue"]
    assert "3rd in the queue at them" in last["summary"]


def test_a_job_held_for_its_dependency_is_not_in_the_queue_nor_counted_ahead(net: Network) -> None:
    first = net.submit(spec=job_spec("first"))
    held = net.api.post(
        "/v1/jobs", json={"spec": job_spec("after", depends_on=[first.id])}, headers=net.headers("tenant_a")
    ).json()["id"]
    behind = net.submit(spec=job_spec("behind"))
    net.cycle()
    mine = explain(net, held)
    assert mine["queue_position"] is None
    assert f"held out of the queue: waiting for {first.id} (first) to succeed" in mine["summary"]
    assert explain(net, behind.id)["queue_position"] == 1


@pytest.fixture
def cli(net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Network:
    return point_cli_at(net, monkeypatch, tmp_path / "config")


def test_suanli_explain_prints_the_queue_position_and_each_sites_state(cli: Network) -> None:
    cli.submit(spec=job_spec("first"))
    job = cli.submit(spec=job_spec("second"))
    cli.cycle()
    done = CliRunner().invoke(app, ["explain", job.id], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("  queue position 1: 0 waiting jobs submitted before it") for line in lines)
    header = next(line for line in lines if line.startswith("#"))
    assert header.split()[:4] == ["#", "SITE", "SITE", "STATE"]
    row = next(line for line in lines if f" {AGENT_SITE} " in line)
    assert row.split()[2] == "live"
    assert any(line.split()[2] == "catalogue-only" for line in lines[lines.index(header) + 1 :])
