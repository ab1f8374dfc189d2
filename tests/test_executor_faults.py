"""Executor faults: a site's engine that cannot start a job (the agent reports
``EXECUTOR_FAULT``) is the operator's problem, not the tenant's. The job goes back to the
queue (nothing metered), the site is degraded and the scheduler avoids it for a back-off
that doubles with each fault in a row, and the operator sees why (``GET /v1/sites``, the
audit log, ``/metrics``). Through the service layer and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from suanli.clock import iso
from suanli.service.control import admin, jobs
from suanli.service.control.network import list_sites
from suanli.store import Store
from tests.api_builders import AGENT_SITE, Network
from tests.conftest import T0_S

OTHER_SITE = "zhongwei"
SBATCH_MISSING = "slurm executor: 'sbatch' was not found. To fix: install the Slurm client commands"
BACKOFF_S = 60.0
"""``Settings.fault_backoff_s``: the first fault's back-off."""


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def fault(net: Network, job_id: str, site: str = AGENT_SITE, message: str = SBATCH_MISSING) -> None:
    token = net.job(job_id)["fencing_token"]
    net.report(site, job_id, token, state="EXECUTOR_FAULT", message=message)


def site_view(net: Network, site: str = AGENT_SITE) -> dict[str, object]:
    [found] = [s for s in list_sites(net.cp, net.principal("operator")) if s.id == site]
    return found.model_dump()


def test_a_start_the_engine_refused_puts_the_job_back_in_the_queue_and_degrades_the_site(net: Network) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    fault(net, job.id)

    row = net.job(job.id)
    assert (row["state"], row["exit_code"], row["finished_at"], row["start_faults"]) == ("PREEMPTED", None, None, 1)
    [reason] = row["reasons"]
    assert reason["code"] == "EXECUTOR_FAULT"
    assert SBATCH_MISSING in reason["message"]
    assert "not the job's fault" in reason["message"]
    assert f"avoided until {iso(T0_S + BACKOFF_S)}" in reason["message"]
    [usage] = jobs.usage(net.cp, net.principal("tenant_a"))
    assert (usage.accelerator_hours, usage.cost_usd) == (0.0, 0.0), "nothing is charged to the tenant"

    site = site_view(net)
    assert (site["state"], site["faults"], site["fault"]) == ("degraded", 1, SBATCH_MISSING)
    assert (site["fault_at"], site["degraded_until"]) == (iso(T0_S), iso(T0_S + BACKOFF_S))
    [entry] = [e for e in admin.audit(net.cp, net.principal("operator"), 20) if e.action == "site.fault"]
    assert entry.object == AGENT_SITE
    assert entry.detail == {
        "job": job.id,
        "message": SBATCH_MISSING,
        "faults_in_a_row": 1,
        "degraded_until": iso(T0_S + BACKOFF_S),
    }


def test_the_scheduler_places_the_job_at_another_site_while_the_faulty_one_is_degraded(net: Network) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    fault(net, job.id)
    net.register(OTHER_SITE)
    placed = net.cycle().placed
    assert placed == [(job.id, OTHER_SITE, "h800")]
    assert (net.job(job.id)["attempt"], net.job(job.id)["fencing_token"]) == (2, 2)


def test_with_every_live_site_degraded_the_job_waits_saying_why_and_returns_after_the_backoff(net: Network) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    fault(net, job.id)
    net.advance(1.0)
    net.heartbeat(AGENT_SITE)
    assert net.cycle().placed == []
    row = net.job(job.id)
    assert row["state"] == "PREEMPTED"
    assert row["reasons"][0]["code"] == "EXECUTOR_FAULT", "the job keeps saying why it went back"
    explained = jobs.explain(net.cp, net.principal("tenant_a"), job.id)
    assert explained.summary.startswith("waiting: none of its"), explained.summary

    net.advance(BACKOFF_S)
    net.heartbeat(AGENT_SITE)
    assert net.cycle().placed == [(job.id, AGENT_SITE, "h800")]
    assert site_view(net)["state"] == "up"


def test_a_fresh_job_waiting_on_a_degraded_only_site_names_the_fault(net: Network) -> None:
    first = net.place("tenant_a", AGENT_SITE)
    fault(net, first.id)
    net.cycle()
    later = net.submit("tenant_b")
    net.cycle()
    [reason] = net.job(later.id)["reasons"]
    assert reason["code"] == "NO_LIVE_SITE"
    assert f"{AGENT_SITE} until {iso(T0_S + BACKOFF_S)}" in reason["message"]
    assert SBATCH_MISSING in reason["message"]


def test_the_backoff_doubles_with_each_fault_in_a_row_and_a_job_starting_there_ends_it(net: Network) -> None:
    net.register(AGENT_SITE, {"h800": 8}, interval_s=3600.0)
    placed = []
    for _ in range(3):
        placed.append(net.submit())
    net.cycle()
    for n, job in enumerate(placed[:2], start=1):
        fault(net, job.id)
        assert site_view(net)["faults"] == n
    assert site_view(net)["degraded_until"] == iso(T0_S + 2 * BACKOFF_S)
    net.report(AGENT_SITE, placed[2].id, 1, state="RUNNING")  # the engine works again
    site = site_view(net)
    assert (site["state"], site["faults"], site["degraded_until"]) == ("up", 0, None)
    assert site["fault"] == SBATCH_MISSING, "the last fault stays on record"


def test_the_backoff_stops_growing_at_its_maximum(net: Network) -> None:
    net.register(AGENT_SITE, {"h800": 8}, interval_s=3600.0)
    for in_a_row in range(1, 8):
        job = net.submit()
        net.advance(net.cp.settings.max_fault_backoff_s + 1.0)
        net.cycle()
        fault(net, job.id)
        expected_s = min(BACKOFF_S * 2 ** (in_a_row - 1), net.cp.settings.max_fault_backoff_s)
        assert site_view(net)["degraded_until"] == iso(net.clock.now_s() + expected_s), in_a_row


def test_the_agent_registering_again_ends_the_degradation(net: Network) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    fault(net, job.id)
    net.register(AGENT_SITE)  # the operator fixed the engine and restarted the agent
    assert (site_view(net)["state"], site_view(net)["faults"]) == ("up", 0)
    assert net.cycle().placed == [(job.id, AGENT_SITE, "h800")]


def test_a_job_the_engines_refused_max_start_faults_times_fails_saying_so(net: Network) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    for attempt in range(1, 4):
        assert net.job(job.id)["attempt"] == attempt
        fault(net, job.id, message=f"ray executor: Ray refused the submission (try {attempt})")
        if attempt < 3:
            net.register(AGENT_SITE)  # clears the site's back-off, so the next cycle places it again
            net.cycle()
    row = net.job(job.id)
    assert (row["state"], row["start_faults"], row["finished_at"]) == ("FAILED", 3, T0_S)
    assert row["reasons"][0]["code"] == "EXECUTOR_FAULT"
    assert "failed to start it 3 times" in row["message"]
    assert "(try 3)" in row["message"]
    assert "To fix:" in row["message"]


def test_an_old_agents_failed_start_still_fails_the_job(net: Network) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    net.report(AGENT_SITE, job.id, 1, state="FAILED", message="could not start")
    assert net.job(job.id)["state"] == "FAILED"
    assert site_view(net)["state"] == "up"


# -- through the API -----------------------------------------------------------------------------


def test_through_the_api_the_tenant_sees_the_job_waiting_and_the_operator_sees_the_degraded_site(
    net: Network,
) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    report = {"site": AGENT_SITE, "fencing_token": 1, "state": "EXECUTOR_FAULT", "message": SBATCH_MISSING}
    answer = net.api.post(f"/v1/agents/jobs/{job.id}/report", json=report, headers=net.headers("agent"))
    assert answer.status_code == 204, answer.text

    seen = net.api.get(f"/v1/jobs/{job.id}", headers=net.headers("tenant_a")).json()
    assert (seen["state"], seen["exit_code"]) == ("PREEMPTED", None)
    assert seen["reasons"][0]["code"] == "EXECUTOR_FAULT"

    sites = net.api.get("/v1/sites", headers=net.headers("operator")).json()["sites"]
    [site] = [s for s in sites if s["id"] == AGENT_SITE]
    assert (site["state"], site["fault"], site["degraded_until"]) == (
        "degraded",
        SBATCH_MISSING,
        iso(T0_S + BACKOFF_S),
    )
    metrics = net.api.get("/metrics", headers=net.headers("operator")).text
    assert re.search(rf'^suanli_site_degraded{{site="{AGENT_SITE}"}} 1\.0$', metrics, re.MULTILINE)
    assert re.search(rf'^suanli_site_up{{site="{AGENT_SITE}"}} 1\.0$', metrics, re.MULTILINE)

    again = net.api.post(f"/v1/agents/jobs/{job.id}/report", json=report, headers=net.headers("agent"))
    assert (again.status_code, again.json()["code"]) == (409, "STALE_LEASE"), "a fault is reported once"
