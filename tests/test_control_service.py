"""The control plane's rules at the service level, on a SimClock, against SQLite and
PostgreSQL (the ``store`` fixture): fencing tokens, requeue of a silent site's jobs, the
leader lease, quotas, the filing gate, cancellation, the audit log and usage metering."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli import __version__
from suanli.clock import iso
from suanli.schemas import FilingCreate, QuotaIn
from suanli.service.control import admin, jobs
from suanli.service.control.errors import ConflictRefusal, ForbiddenRefusal
from suanli.service.control.live import LEADER_LEASE
from suanli.service.control.plane import Settings
from suanli.store import Store, open_store
from suanli.store import sites as site_rows
from tests.api_builders import AGENT_SITE, GENEROUS, TENANT_A, TENANT_B, Network, job_spec, service_spec
from tests.conftest import T0_S

INTERVAL_S = 5.0
"""The agents' heartbeat interval here; a site silent for 2 of them is lost (``missed_heartbeats``)."""
OTHER_SITE = "zhongwei"
"""A second catalogue site with H800s."""


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def running_at(net: Network, site: str = AGENT_SITE, checkpoint: str | None = None) -> str:
    """A job of tenant A placed at ``site`` (the only live site then) and reported RUNNING."""
    job = net.place("tenant_a", site)
    net.report(site, job.id, 1, state="RUNNING", checkpoint=checkpoint)
    return job.id


# -- fencing and requeue -----------------------------------------------------------------------


def leader_runs_through_the_silence(net: Network, silence_s: float) -> None:
    """Let ``silence_s`` pass with the leader cycling every interval (as the live loop does
    every second). A leader that itself went ``lease_ttl_s`` without a cycle takes the lease
    again under a new term, and then gives every site a full timeout first (``live``), as
    after a restart."""
    net.cycle()
    while silence_s > INTERVAL_S:
        net.advance(INTERVAL_S)
        net.cycle()
        silence_s -= INTERVAL_S
    net.advance(silence_s)


def test_a_placed_job_is_assigned_in_the_sites_heartbeat_under_fencing_token_1(net: Network) -> None:
    job = net.place("tenant_a", AGENT_SITE)
    beat = net.heartbeat(AGENT_SITE)
    assert [(a.id, a.fencing_token, a.attempt, a.resume_from) for a in beat.assignments] == [(job.id, 1, 1, None)]
    assert beat.cancel == []
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")
    assert net.job(job.id)["state"] == "RUNNING"
    assert net.heartbeat(AGENT_SITE, (job.id, 1)).assignments == [], "a job the agent runs is not sent again"


def test_at_1_9_heartbeat_intervals_of_silence_the_job_stays_and_past_2_it_moves_on_resuming(net: Network) -> None:
    job_id = running_at(net, AGENT_SITE, checkpoint="s3://ckpt/step-100")
    net.heartbeat(AGENT_SITE, (job_id, 1, "s3://ckpt/step-200"))

    net.advance(1.9 * INTERVAL_S)
    quiet = net.cycle()
    assert quiet.requeued == []
    assert (net.job(job_id)["state"], net.job(job_id)["site"]) == ("RUNNING", AGENT_SITE)

    net.advance(0.2 * INTERVAL_S)  # 2.1 intervals since the last heartbeat
    lost = net.cycle()
    assert lost.requeued == [job_id]
    row = net.job(job_id)
    assert row["state"] == "PREEMPTED"
    assert [r["code"] for r in row["reasons"]] == ["SITE_LOST"]
    with net.cp.store.engine.connect() as conn:
        assert site_rows.site(conn, AGENT_SITE)["state"] == "down"  # type: ignore[index]

    net.register(OTHER_SITE)
    moved = net.cycle()
    assert moved.placed == [(job_id, OTHER_SITE, "h800")]
    row = net.job(job_id)
    assert (row["state"], row["site"], row["fencing_token"], row["attempt"]) == ("PLACED", OTHER_SITE, 2, 2)
    [assignment] = net.heartbeat(OTHER_SITE).assignments
    assert (assignment.id, assignment.fencing_token, assignment.resume_from) == (job_id, 2, "s3://ckpt/step-200")


@pytest.mark.parametrize("down_s", [2.0, 5.0, 10.0, 60.0])
def test_after_a_server_restart_a_site_that_heartbeats_within_one_timeout_keeps_its_jobs(
    net: Network, down_s: float
) -> None:
    job_id = running_at(net)
    net.heartbeat(AGENT_SITE, (job_id, 1))
    net.advance(0.9 * INTERVAL_S)  # the server dies just before the next heartbeat
    net.restart()
    net.advance(down_s)  # down: the agent's heartbeats fail, it keeps retrying
    first = net.cycle()
    assert first.leader and first.requeued == [], "silence from before the leader started does not count"
    net.advance(1.9 * INTERVAL_S)
    assert net.cycle().requeued == []
    beat = net.heartbeat(AGENT_SITE, (job_id, 1))
    assert (beat.assignments, beat.cancel) == ([], [])
    net.advance(1.5 * INTERVAL_S)
    assert net.cycle().requeued == [], "the heartbeat counts from then on"
    row = net.job(job_id)
    assert (row["state"], row["attempt"], row["fencing_token"]) == ("RUNNING", 1, 1)


def test_after_a_server_restart_a_silent_site_is_lost_one_full_timeout_after_the_leader_started(
    net: Network,
) -> None:
    job_id = running_at(net)
    net.heartbeat(AGENT_SITE, (job_id, 1))
    net.restart()
    net.advance(30.0)
    assert net.cycle().requeued == []  # the leader starts here
    net.advance(1.9 * INTERVAL_S)
    assert net.cycle().requeued == []
    net.advance(0.2 * INTERVAL_S)
    assert net.cycle().requeued == [job_id], "an agent silent a full timeout under the new leader is gone"
    [reason] = net.job(job_id)["reasons"]
    assert reason["code"] == "SITE_LOST"
    assert "(40.5 s)" in reason["message"], "the message gives the silence since the last heartbeat"


def test_a_950_kb_spec_is_sent_once_per_lease_not_in_every_heartbeat(net: Network) -> None:
    blob = "x" * 950_000
    spec = job_spec("big", run={"command": ["python3", "train.py"], "env": {"BLOB": blob}})
    job = net.place("tenant_a", AGENT_SITE, spec)
    sizes = []
    for _ in range(3):  # the agent is slow to start it: the lease is listed each time
        beat = net.heartbeat(AGENT_SITE)
        [listed] = beat.assignments
        assert (listed.id, listed.fencing_token, listed.spec) == (job.id, 1, None)
        sizes.append(len(beat.model_dump_json()))
    assert max(sizes) < 2_000, f"heartbeat answers of {sizes} bytes"
    full = net.api.get(f"/v1/agents/jobs/{job.id}/assignment?fencing_token=1", headers=net.headers("agent"))
    assert full.status_code == 200, full.text
    assert full.json()["spec"]["run"]["env"]["BLOB"] == blob
    assert full.json()["fencing_token"] == 1

    stale = net.api.get(f"/v1/agents/jobs/{job.id}/assignment?fencing_token=2", headers=net.headers("agent"))
    assert (stale.status_code, stale.json()["code"]) == (409, "STALE_LEASE")
    net.agent_token(OTHER_SITE)
    other = net.api.get(
        f"/v1/agents/jobs/{job.id}/assignment?fencing_token=1", headers=net.headers(f"agent@{OTHER_SITE}")
    )
    assert (other.status_code, other.json()["code"]) == (409, "STALE_LEASE"), "another site's agent cannot read it"
    assert "BLOB" not in other.text
    tenant = net.api.get(f"/v1/agents/jobs/{job.id}/assignment?fencing_token=1", headers=net.headers("tenant_a"))
    assert tenant.status_code == 403
    missing = net.api.get("/v1/agents/jobs/j-nope/assignment?fencing_token=1", headers=net.headers("agent"))
    assert missing.status_code == 404


def test_a_log_report_sent_twice_or_overlapping_is_stored_once(net: Network) -> None:
    job_id = running_at(net)
    net.report(AGENT_SITE, job_id, 1, logs="step 1\n", log_offset=0)
    net.report(AGENT_SITE, job_id, 1, logs="step 1\n", log_offset=0)  # a retry whose answer was lost
    net.report(AGENT_SITE, job_id, 1, logs="step 1\nstep 2\n", log_offset=0)  # overlapping
    net.report(AGENT_SITE, job_id, 1, logs="step 3\n", log_offset=14)
    net.report(AGENT_SITE, job_id, 1, logs="step 9\n", log_offset=40)  # from past the end: stored as sent
    net.report(AGENT_SITE, job_id, 1, logs="no offset\n")  # an older agent: appended as sent
    text = jobs.logs(net.cp, net.principal("tenant_a"), job_id, 0).text
    assert text == "step 1\nstep 2\nstep 3\nstep 9\nno offset\n"


def test_the_old_sites_report_is_refused_as_a_stale_lease_and_its_heartbeat_says_stop(net: Network) -> None:
    job_id = running_at(net, AGENT_SITE)
    net.register(OTHER_SITE)
    leader_runs_through_the_silence(net, 2.1 * INTERVAL_S)
    net.heartbeat(OTHER_SITE)
    assert net.cycle().placed == [(job_id, OTHER_SITE, "h800")], "requeued and placed in one cycle"

    with pytest.raises(ConflictRefusal) as refused:
        net.report(AGENT_SITE, job_id, 1, state="SUCCEEDED", exit_code=0)
    assert refused.value.code == "STALE_LEASE"
    assert net.job(job_id)["state"] == "PLACED", "the stale report changed nothing"

    back = net.heartbeat(AGENT_SITE, (job_id, 1))
    assert back.cancel == [job_id]
    assert back.assignments == []
    net.report(OTHER_SITE, job_id, 2, state="RUNNING")
    assert net.job(job_id)["state"] == "RUNNING"


def test_a_report_with_a_token_from_the_future_or_for_another_site_is_stale(net: Network) -> None:
    job_id = running_at(net, AGENT_SITE)
    net.register(OTHER_SITE)
    for site, token in ((AGENT_SITE, 2), (AGENT_SITE, 0), (OTHER_SITE, 1)):
        with pytest.raises(ConflictRefusal) as refused:
            net.report(site, job_id, token, logs="x")
        assert refused.value.code == "STALE_LEASE", (site, token)


# -- the leader lease --------------------------------------------------------------------------


def test_only_one_of_two_replicas_leads_and_the_other_takes_over_after_the_ttl(net: Network) -> None:
    ttl_s = net.cp.settings.lease_ttl_s
    assert net.cycle("replica-a").leader
    assert not net.cycle("replica-b").leader

    net.advance(0.9 * ttl_s)
    assert net.cycle("replica-a").leader, "the holder renews"
    net.advance(0.9 * ttl_s)
    assert not net.cycle("replica-b").leader, "renewed: still valid"

    net.advance(0.2 * ttl_s)  # 1.1 TTLs after the last renewal
    assert net.cycle("replica-b").leader
    assert not net.cycle("replica-a").leader, "the old leader is out once another holds it"
    with net.cp.store.engine.connect() as conn:
        assert site_rows.lease_holder(conn, LEADER_LEASE, net.clock.now_s()) == "replica-b"


def test_health_says_whether_this_replica_leads(net: Network) -> None:
    assert net.api.get("/v1/health").json() == {"status": "ok", "version": __version__, "leader": False}
    net.cycle("test-replica")  # the app's replica name
    assert net.api.get("/v1/health").json()["leader"] is True
    net.advance(2 * net.cp.settings.lease_ttl_s)
    net.cycle("another")
    assert net.api.get("/v1/health").json()["leader"] is False


# -- quotas ------------------------------------------------------------------------------------


def test_max_concurrent_holds_back_a_second_job_with_quota_exceeded(net: Network) -> None:
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, "hopper", QuotaIn(max_concurrent=1))
    net.register(AGENT_SITE, {"h800": 8})
    first, second = net.submit(spec=job_spec("one")), net.submit(spec=job_spec("two"))
    other = net.submit("tenant_b", job_spec("theirs"))
    done = net.cycle()
    assert {job for job, _, _ in done.placed} == {first.id, other.id}, "the quota binds acme alone"
    assert [r["code"] for r in net.job(second.id)["reasons"]] == ["QUOTA_EXCEEDED"]
    assert "1 accelerators of hopper at once" in net.job(second.id)["reasons"][0]["message"]

    net.report(AGENT_SITE, first.id, 1, state="SUCCEEDED", exit_code=0)
    assert [job for job, _, _ in net.cycle().placed] == [second.id], "placed once the first one ended"


def test_used_up_accelerator_hours_hold_jobs_until_the_period_moves_on(net: Network) -> None:
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, "*", QuotaIn(accelerator_hours=1.0, period_h=24))
    job_id = running_at(net, AGENT_SITE)
    net.advance(1.5 * 3600)
    net.heartbeat(AGENT_SITE, (job_id, 1))
    net.report(AGENT_SITE, job_id, 1, state="SUCCEEDED", exit_code=0)
    [quota] = admin.quotas(net.cp, net.principal("tenant_a"), TENANT_A)
    assert quota.used_accelerator_hours == pytest.approx(1.5)

    held = net.submit(spec=job_spec("more"))
    assert net.cycle().placed == []
    assert [r["code"] for r in net.job(held.id)["reasons"]] == ["QUOTA_EXCEEDED"]

    net.advance(24 * 3600 + 60)
    net.heartbeat(AGENT_SITE)
    assert net.cycle().placed == [(held.id, AGENT_SITE, "h800")], "the used hours left the period"


# -- the filing gate ---------------------------------------------------------------------------


def test_a_public_service_needs_an_approved_filing_of_its_model_by_its_own_tenant(net: Network) -> None:
    spec = service_spec(model="qwen2.5-7b")
    with pytest.raises(ForbiddenRefusal) as refused:
        net.submit("tenant_a", spec)
    assert refused.value.code == "FILING_NOT_APPROVED"
    assert "qwen2.5-7b" in refused.value.message

    filing = admin.file_model(net.cp, net.principal("tenant_a"), _filing("qwen2.5-7b"))
    with pytest.raises(ForbiddenRefusal):
        net.submit("tenant_a", spec)  # pending
    admin.decide_filing(net.cp, net.principal("operator"), filing.id, approved=False, note="incomplete")
    with pytest.raises(ForbiddenRefusal):
        net.submit("tenant_a", spec)  # rejected

    approved = admin.file_model(net.cp, net.principal("tenant_a"), _filing("qwen2.5-7b"))
    admin.decide_filing(net.cp, net.principal("operator"), approved.id, approved=True, note=None)
    assert net.submit("tenant_a", spec).state == "PENDING"
    with pytest.raises(ForbiddenRefusal):
        net.submit("tenant_b", spec)  # acme's filing is acme's alone
    assert net.submit("tenant_b", service_spec(public=False)).state == "PENDING", "private services need none"


def _filing(model: str) -> FilingCreate:
    return FilingCreate(model=model, filing_number="Beijing-ChatGen-2025-0001")


# -- cancel ------------------------------------------------------------------------------------


def test_cancelling_a_running_job_tells_its_agent_to_stop_and_meters_the_run(net: Network) -> None:
    job_id = running_at(net, AGENT_SITE)
    net.advance(1800)
    cancelled = jobs.cancel(net.cp, net.principal("tenant_a"), job_id)
    assert cancelled.state == "CANCELLED"

    beat = net.heartbeat(AGENT_SITE, (job_id, 1))
    assert beat.cancel == [job_id]
    with pytest.raises(ConflictRefusal) as again:
        jobs.cancel(net.cp, net.principal("tenant_a"), job_id)
    assert again.value.code == "ALREADY_FINISHED"
    with pytest.raises(ConflictRefusal) as late:
        net.report(AGENT_SITE, job_id, 1, state="SUCCEEDED", exit_code=0)
    assert late.value.code == "STALE_LEASE"
    [usage] = jobs.usage(net.cp, net.principal("tenant_a"))
    assert usage.accelerator_hours == pytest.approx(0.5)
    assert usage.jobs == {"CANCELLED": 1}


def test_a_waiting_job_cancels_without_any_agent(net: Network) -> None:
    job = net.submit()
    assert jobs.cancel(net.cp, net.principal("operator"), job.id).state == "CANCELLED"
    assert net.cycle().placed == []


# -- audit -------------------------------------------------------------------------------------


def test_the_audit_log_records_who_did_what_when_and_from_where(net: Network) -> None:
    api, admin_h, op_h, tenant_h = net.api, net.headers("admin"), net.headers("operator"), net.headers("tenant_a")
    api.post("/v1/tenants", json={"name": "initech"}, headers=admin_h)
    net.advance(60)
    token = api.post("/v1/tokens", json={"role": "tenant", "tenant": TENANT_A}, headers=admin_h).json()
    quota = api.put(f"/v1/tenants/{TENANT_A}/quotas/*", json={"max_concurrent": 8}, headers=op_h)
    filing = api.post("/v1/filings", json={"model": "qwen2.5-7b"}, headers=tenant_h).json()
    api.post(f"/v1/filings/{filing['id']}/decision", json={"approved": True}, headers=op_h)
    job = api.post("/v1/jobs", json={"spec": job_spec()}, headers=tenant_h).json()
    net.advance(60)
    api.post(f"/v1/jobs/{job['id']}/cancel", headers=op_h)
    assert quota.status_code == 200

    entries = admin.audit(net.cp, net.principal("admin"), 100)
    seen = {(e.action, e.object): e for e in entries}
    ids = {who: net.principal(who).token_id for who in ("admin", "operator", "tenant_a")}
    expected = {
        ("tenant.create", "initech"): ("admin", ids["admin"], "initech", 0),
        ("token.create", token["id"]): ("admin", ids["admin"], TENANT_A, 60),
        ("quota.set", f"{TENANT_A}/*"): ("operator", ids["operator"], TENANT_A, 60),
        ("filing.create", filing["id"]): ("tenant", ids["tenant_a"], TENANT_A, 60),
        ("filing.approve", filing["id"]): ("operator", ids["operator"], TENANT_A, 60),
        ("job.submit", job["id"]): ("tenant", ids["tenant_a"], TENANT_A, 60),
        ("job.cancel", job["id"]): ("operator", ids["operator"], TENANT_A, 120),
    }
    for key, (role, actor, tenant, after_s) in expected.items():
        entry = seen.get(key)
        assert entry is not None, f"no audit entry {key}; have {sorted(seen)}"
        assert (entry.role, entry.actor, entry.tenant, entry.at) == (role, actor, tenant, iso(T0_S + after_s)), key
        assert entry.remote is not None and entry.remote.startswith("testclient:"), key
    assert seen[("quota.set", f"{TENANT_A}/*")].detail == {
        "accelerator_hours": None,
        "capacity_hours": None,
        "period_h": 720.0,
        "max_concurrent": 8,
    }
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True), "newest first"
    assert not any(t in str(e) for e in entries for t in net.tokens.values()), "no token value in the log"


# -- usage -------------------------------------------------------------------------------------


def test_usage_adds_up_run_by_run_across_a_requeue_and_per_tenant(net: Network) -> None:
    two = job_spec("two-gpus", resources={"accelerators": ["h800"], "count": 2})
    net.register(AGENT_SITE, {"h800": 4})
    one = net.submit("tenant_a")
    pair = net.submit("tenant_a", two)
    theirs = net.submit("tenant_b")
    assert len(net.cycle().placed) == 3
    for job in (one, pair, theirs):
        net.report(AGENT_SITE, job.id, 1, state="RUNNING")

    net.advance(3600)
    net.heartbeat(AGENT_SITE, (one.id, 1), (pair.id, 1), (theirs.id, 1))
    net.report(AGENT_SITE, one.id, 1, state="SUCCEEDED", exit_code=0)  # 1 x 1 h
    net.advance(1800)
    net.heartbeat(AGENT_SITE, (pair.id, 1), (theirs.id, 1))
    net.report(AGENT_SITE, theirs.id, 1, state="FAILED", exit_code=3)  # 1 x 1.5 h
    leader_runs_through_the_silence(net, 2.1 * INTERVAL_S)  # the site falls silent: pair's run of 2 x 1.5 h ends
    assert net.cycle().requeued == [pair.id]
    net.heartbeat(AGENT_SITE)
    assert net.cycle().placed == [(pair.id, AGENT_SITE, "h800")]
    net.report(AGENT_SITE, pair.id, 2, state="RUNNING")
    net.advance(900)
    net.report(AGENT_SITE, pair.id, 2, state="SUCCEEDED", exit_code=0)  # 2 x 0.25 h more

    silence_h = 2.1 * INTERVAL_S / 3600
    hours_a = 1 * 1.0 + 2 * (1.5 + silence_h) + 2 * 0.25
    by_tenant = {u.tenant: u for u in jobs.usage(net.cp, net.principal("admin"))}
    assert by_tenant[TENANT_A].accelerator_hours == pytest.approx(hours_a)
    assert by_tenant[TENANT_B].accelerator_hours == pytest.approx(1.5)
    assert by_tenant[TENANT_A].jobs == {"SUCCEEDED": 2}
    assert by_tenant[TENANT_B].jobs == {"FAILED": 1}

    def per_hour(job_id: str, field: str) -> float:
        estimate = jobs.get(net.cp, net.principal("admin"), job_id).estimate
        assert estimate is not None
        return float(getattr(estimate, field)) / estimate.duration_h

    run_h = {one.id: 1.0, pair.id: 1.5 + silence_h + 0.25}
    for field in ("energy_kwh", "carbon_kg", "cost_usd"):
        expected = sum(per_hour(job_id, field) * hours for job_id, hours in run_h.items())
        assert getattr(by_tenant[TENANT_A], field) == pytest.approx(expected), field
    [own] = jobs.usage(net.cp, net.principal("tenant_b"))
    assert own == by_tenant[TENANT_B], "a tenant sees its own usage only"


def test_a_job_running_past_its_estimate_does_not_hold_the_next_job_waiting_for_its_pool(tmp_path: Path) -> None:
    """suanli's policy may wait for a busy better pool when it frees soon; a job already past
    its estimated end must count as running on (OVERRUN_GRACE_S), not as ending at once."""
    settings = Settings(**{**GENEROUS.__dict__, "policy": "suanli"})
    net = Network.build(open_store(tmp_path / "s"), settings)
    for site in ("qingyang", "zhongwei"):
        net.register(site, {"h800": 1}, interval_s=3600.0)
    first = net.submit()
    placed = net.cycle().placed
    assert [p[0] for p in placed] == [first.id]
    busy_site = placed[0][1]
    net.report(busy_site, first.id, 1, state="RUNNING")
    net.advance(600.0)  # the tiny job's estimate is under a second: it is long overdue
    second = net.submit()
    placed = net.cycle().placed
    assert [(p[0], p[1]) for p in placed] == [(second.id, ({"qingyang", "zhongwei"} - {busy_site}).pop())]
