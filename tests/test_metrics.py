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
