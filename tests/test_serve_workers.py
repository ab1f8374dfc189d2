"""``suanli serve --workers 2``: two processes answer on one port, one of them schedules
(the leader lease), and a tenant's jobs submitted through either run and succeed. Real
processes, on SQLite and on PostgreSQL (skipped when PostgreSQL is not reachable)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.control_harness import ControlNetwork, report_on_failure, wait_until
from tests.test_control_e2e import JOBS, PY, QINGYANG, spec, succeeded

pytestmark = pytest.mark.slow

JOBS_PER_CLIENT = 2
CLIENTS = 3
HEALTH_PROBES = 200
"""Fresh connections to ``/v1/health`` at most before both workers have answered."""


def _leaders_seen(url: str) -> set[bool]:
    """``leader`` as answered over fresh connections (each may reach either worker)."""
    seen: set[bool] = set()
    for _ in range(HEALTH_PROBES):
        with httpx.Client(base_url=url, timeout=10) as http:  # a new connection each time
            seen.add(bool(http.get("/v1/health").json()["leader"]))
        if len(seen) == 2:
            break
    return seen


def test_two_worker_processes_share_the_port_one_schedules_and_every_job_succeeds(
    control_db: str | None, tmp_path: Path
) -> None:
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        net.start_server("--workers", "2")
        assert net.server is not None and "2 worker processes" in net.server.output()
        tenant = net.create_tenant("acme")
        net.start_agent(QINGYANG, {"h800": 2})
        wait_until(lambda: True in _leaders_seen(net.url) or None, 30, "a worker to take the leader lease")
        assert _leaders_seen(net.url) == {True, False}, "two processes answer: the leader and the other worker"

        clients = [net.client(tenant) for _ in range(CLIENTS)]  # one connection each
        submitted = [
            client.submit(spec(f"hello-{c}-{n}", PY, str(JOBS / "hello.py"), "1"))
            for c, client in enumerate(clients)
            for n in range(JOBS_PER_CLIENT)
        ]
        finished = [succeeded(clients[0], job) for job in submitted]
        assert {job.site for job in finished} == {QINGYANG}
        assert all(job.attempt == 1 for job in finished), "no job ran twice"
        listed = json.loads(net.suanli("jobs", "--json", token=tenant).stdout)["jobs"]
        assert sorted(job["id"] for job in listed) == sorted(job.id for job in submitted)
