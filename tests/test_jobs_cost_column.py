"""What a job has used so far: ``cost_so_far`` and ``co2_kg_so_far`` (with energy and
accelerator-hours) on ``GET /v1/jobs`` and ``GET /v1/jobs/{id}``, from the usage rows of its
closed runs plus its open run at the rates the server meters it at; and ``suanli jobs``
showing them in every output, its table within 100 columns on a 100-column terminal. Real
API in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.cli import control
from suanli.cli.job_tables import jobs_table
from suanli.store import Store
from tests.api_builders import AGENT_SITE, Network, job_spec
from tests.api_cli import invoke, point_cli_at

INTERVAL_S = 5.0


@pytest.fixture
def net(store: Store) -> Network:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 2}, INTERVAL_S)
    return net


def api_job(net: Network, job_id: str) -> dict[str, Any]:
    answer = net.api.get(f"/v1/jobs/{job_id}", headers=net.headers("tenant_a"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def hourly(job: dict[str, Any], field: str) -> float:
    est = job["estimate"]
    return float(est[field]) / float(est["duration_h"])


def test_a_waiting_job_has_used_nothing(net: Network) -> None:
    job = api_job(net, net.submit(spec=job_spec("idle", resources={"accelerators": ["h800"], "count": 4})).id)
    assert (job["cost_so_far"], job["co2_kg_so_far"], job["accelerator_hours_so_far"]) == (0.0, 0.0, 0.0)


def test_a_running_job_has_used_its_hourly_rate_times_the_time_it_has_run(net: Network) -> None:
    job_id = net.submit(spec=job_spec("run")).id
    net.cycle()
    net.report(AGENT_SITE, job_id, 1, state="RUNNING")
    net.advance(1800)
    job = api_job(net, job_id)
    assert job["cost_so_far"] == pytest.approx(0.5 * hourly(job, "cost_usd"))
    assert job["co2_kg_so_far"] == pytest.approx(0.5 * hourly(job, "carbon_kg"))
    assert job["energy_kwh_so_far"] == pytest.approx(0.5 * hourly(job, "energy_kwh"))
    assert job["accelerator_hours_so_far"] == pytest.approx(0.5)


def test_a_finished_jobs_use_is_its_metered_runs_and_stops_growing(net: Network) -> None:
    job_id = running_job(net, "done")
    net.report(AGENT_SITE, job_id, 1, state="SUCCEEDED", exit_code=0)
    net.advance(7200)
    job = api_job(net, job_id)
    assert job["cost_so_far"] == pytest.approx(hourly(job, "cost_usd"))
    assert job["co2_kg_so_far"] == pytest.approx(hourly(job, "carbon_kg"))
    listed = net.api.get("/v1/jobs", headers=net.headers("tenant_a")).json()["jobs"]
    assert listed[0]["cost_so_far"] == pytest.approx(job["cost_so_far"])
    usage = net.api.get("/v1/usage", headers=net.headers("tenant_a")).json()
    rows = usage["usage"] if isinstance(usage, dict) else usage
    assert rows[0]["cost_usd"] == pytest.approx(job["cost_so_far"]), "the same metering as suanli usage"


def test_a_requeued_job_adds_its_closed_run_to_its_new_one(net: Network) -> None:
    job_id = net.submit(spec=job_spec("again")).id
    net.cycle()
    net.report(AGENT_SITE, job_id, 1, state="RUNNING")
    for _ in range(3):  # the site falls silent (the leader cycling meanwhile): its run ends, the job waits again
        net.advance(INTERVAL_S)
        lost = net.cycle()
    assert lost.requeued == [job_id]
    net.heartbeat(AGENT_SITE)
    net.cycle()
    net.report(AGENT_SITE, job_id, 2, state="RUNNING")
    net.advance(3600)
    net.heartbeat(AGENT_SITE, (job_id, 2))
    job = api_job(net, job_id)
    assert job["accelerator_hours_so_far"] == pytest.approx(1 + 3 * INTERVAL_S / 3600)


# -- suanli jobs ----------------------------------------------------------------------------------


@pytest.fixture
def cli(net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Network:
    return point_cli_at(net, monkeypatch, tmp_path / "config")


def running_job(net: Network, name: str = "qwen-7b-support") -> str:
    """A job placed and running for an hour, its agent's heartbeat at the end of it."""
    job_id = net.submit(spec=job_spec(name)).id
    net.cycle()
    net.report(AGENT_SITE, job_id, 1, state="RUNNING")
    net.advance(3600)
    net.heartbeat(AGENT_SITE, (job_id, 1))
    return job_id


def test_jobs_shows_spent_and_co2_in_every_output(cli: Network) -> None:
    job_id = running_job(cli)
    job = api_job(cli, job_id)
    table = invoke("jobs").stdout.splitlines()
    header = table[1].split()
    assert "SPENT" in header and "CO2" in header
    assert f"${job['cost_so_far']:,.2f}" in table[2]
    assert f"{job['co2_kg_so_far']:,.1f} kg" in table[2]
    as_json = json.loads(invoke("jobs", "-o", "json").stdout)["jobs"][0]
    as_yaml = yaml.safe_load(invoke("jobs", "-o", "yaml").stdout)["jobs"][0]
    as_csv = next(csv.DictReader(io.StringIO(invoke("jobs", "-o", "csv").stdout)))
    for field in ("cost_so_far", "co2_kg_so_far"):
        assert as_json[field] == pytest.approx(job[field]) == as_yaml[field] == pytest.approx(float(as_csv[field]))
    status = invoke("status", job_id).stdout
    assert re.search(rf"used so far +\${job['cost_so_far']:,.2f}, ", status), status


def test_jobs_on_a_100_column_terminal_fits_it_and_keeps_spent_and_co2(
    cli: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    running_job(cli)
    cli.submit(spec=job_spec("llama-3.1-70b-green-training"))
    monkeypatch.setattr(control, "_terminal_width", lambda: 100)  # a terminal of 100 columns
    lines = invoke("jobs").stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    assert lines[1].split()[:3] == ["ID", "NAME", "STATE"]
    assert {"ELAPSED", "SPENT", "CO2"} <= set(lines[1].split())
    monkeypatch.setattr(control, "_terminal_width", lambda: None)  # a pipe
    wide = invoke("jobs").stdout
    assert "KIND" in wide and "CREATED" in wide, "a pipe gets every column"


def test_the_compact_table_keeps_what_fits_in_order() -> None:
    job = {
        "id": "j-3f9a1c2b7d4e",
        "name": "qwen-7b-support",
        "kind": "FineTuning",
        "state": "RUNNING",
        "site": "qingyang",
        "count": 8,
        "accelerator": "ascend-910b",
        "started_at": "2026-01-02T03:04:05Z",
        "created_at": "2026-01-02T03:00:05Z",
        "estimate": {"duration_h": 3.2, "cost_usd": 1234.5},
        "cost_so_far": 1234.5,
        "co2_kg_so_far": 1234.0,
    }
    full = jobs_table([job], tenants=False)
    assert "CREATED (UTC)" in full and "EST. COST" in full
    compact = jobs_table([job], tenants=False, width=100).splitlines()
    assert max(len(line) for line in compact) <= 100
    assert compact[1].split() == ["ID", "NAME", "STATE", "SITE", "ACCELERATORS", "ELAPSED", "SPENT", "CO2"]
    assert compact[2].split()[-3:] == ["$1.2k", "1.2", "t"]
