"""``/metrics``: Prometheus figures that follow the network's state, behind a staff token."""

from __future__ import annotations

import re
from pathlib import Path

from suanli.scheduler import PHASES
from suanli.server import create_app
from suanli.service.control.plane import Settings
from suanli.store import open_store
from tests.api_builders import AGENT_SITE, GENEROUS, Network, TestClient
from tests.control_harness import wait_until


def _value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name}{labels} not in /metrics"
    return float(match.group(1))


def test_metrics_follow_jobs_and_sites_and_need_a_staff_token(tmp_path: Path) -> None:
    net = Network.build(open_store(tmp_path / "s"))
    assert net.api.get("/metrics").status_code == 401
    assert net.api.get("/metrics", headers=net.headers("tenant_a")).status_code == 403
    net.submit()
    net.submit()
    text = net.api.get("/metrics", headers=net.headers("operator")).text
    assert _value(text, "suanli_queue_length") == 2
    assert _value(text, "suanli_running_jobs") == 0
    net.register(AGENT_SITE, {"h800": 1})
    net.cycle()
    text = net.api.get("/metrics", headers=net.headers("admin")).text
    assert _value(text, "suanli_queue_length") == 1
    assert _value(text, "suanli_running_jobs") == 1
    assert _value(text, "suanli_accelerators_in_use", f'{{accelerator="h800",site="{AGENT_SITE}"}}') == 1
    assert _value(text, "suanli_site_up", f'{{site="{AGENT_SITE}"}}') == 1
    assert _value(text, "suanli_scheduling_cycle_seconds_count") >= 0  # histogram present (this replica)


def test_public_metrics_serves_without_a_token(tmp_path: Path) -> None:
    settings = Settings(**{**GENEROUS.__dict__, "public_metrics": True})
    net = Network.build(open_store(tmp_path / "s"), settings)
    response = net.api.get("/metrics")
    assert response.status_code == 200
    assert "suanli_queue_length 0.0" in response.text


def test_the_scheduler_loop_reports_each_phase_of_its_cycles(tmp_path: Path) -> None:
    settings = Settings(**{**GENEROUS.__dict__, "cycle_interval_s": 0.05})
    net = Network.build(open_store(tmp_path / "s"), settings)
    net.register(AGENT_SITE, {"h800": 1}, interval_s=3600.0)
    job = net.submit()
    with TestClient(create_app(net.cp, replica="test-replica", scheduler=True)) as api:
        wait_until(lambda: net.job(job.id)["state"] == "PLACED" or None, 30.0, "the loop to place the job")
        text = api.get("/metrics", headers=net.headers("operator")).text
    for phase in PHASES:
        assert _value(text, "suanli_scheduling_phase_seconds_count", f'{{phase="{phase}"}}') >= 1, phase
    assert _value(text, "suanli_scheduling_phase_seconds_sum", '{phase="decide"}') > 0


def test_each_quota_reports_its_use_and_the_limits_that_are_set(tmp_path: Path) -> None:
    from suanli.schemas import QuotaIn
    from suanli.service.control import admin
    from tests.api_builders import TENANT_A, job_spec

    net = Network.build(open_store(tmp_path / "s"))
    quota = QuotaIn(capacity_hours=10, accelerator_hours=100, max_concurrent=4, period_h=24)
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, "*", quota)
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, "hopper", QuotaIn(max_concurrent=8))
    net.register(AGENT_SITE, {"h800": 2})
    job = net.submit(spec=job_spec("two", resources={"accelerators": ["h800"], "count": 2}))
    net.cycle()
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")
    net.advance(1800)
    text = net.api.get("/metrics", headers=net.headers("operator")).text

    def sample(name: str, key: str, limit: str) -> float:
        return _value(text, name, f'{{key="{key}",limit="{limit}",tenant="{TENANT_A}"}}')  # labels sorted

    assert sample("suanli_quota_used", "*", "accelerator_hours") == 1.0, "2 H800 for half an hour"
    assert sample("suanli_quota_used", "*", "capacity_hours") == 1.0, "an H800-hour is the unit"
    assert sample("suanli_quota_used", "*", "accelerators") == 2
    assert (sample("suanli_quota_limit", "*", "capacity_hours"), sample("suanli_quota_limit", "*", "accelerators")) == (
        10,
        4,
    )
    assert sample("suanli_quota_used", "hopper", "accelerators") == 2
    assert 'suanli_quota_limit{tenant="acme",key="hopper",limit="capacity_hours"}' not in text, (
        "no limit set, no sample"
    )
