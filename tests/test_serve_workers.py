"""``suanli serve --workers 2``: two processes answer on one port, one of them schedules
(the leader lease), and a tenant's jobs submitted through either run and succeed. Real
processes, on SQLite and on PostgreSQL (skipped when PostgreSQL is not reachable)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.control_harness import ControlNetwork, pid_alive, report_on_failure, wait_until
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


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _is_worker(pid: int) -> bool:
    """A uvicorn worker: multiprocessing's spawned interpreter (not its resource tracker)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _workers_of(supervisor_pid: int, expected: int) -> list[int] | None:
    """The supervisor's worker pids, when there are ``expected`` of them."""
    found = [pid for pid in _children(supervisor_pid) if _is_worker(pid)]
    return found if len(found) == expected else None


def _health_answers(url: str) -> bool:
    """``/v1/health`` answers 200 over a fresh connection."""
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            return http.get("/v1/health").status_code == 200
    except httpx.TransportError:
        return False


WORKERS_GONE_S = 5.0
"""How long the workers may outlive a kill -9 of their supervisor: the parent-death signal
arrives at once and uvicorn closes its socket within ~0.1 s; the watchdog's fallback needs
WATCHDOG_INTERVAL_S (0.5 s) to notice."""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers in /proc (Linux)")
def test_workers_exit_when_their_supervisor_is_killed_and_a_restart_on_the_port_binds(
    control_db: str | None, tmp_path: Path
) -> None:
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        first = net.start_server("--workers", "2")
        port = int(net.url.rsplit(":", 1)[1])
        workers = wait_until(lambda: _workers_of(first.pid, 2), 30, "the supervisor's two worker processes")

        first.kill()  # SIGKILL: the supervisor cannot pass anything on to its workers
        second = net.start_server("--workers", "2", port=port)  # at once, on the same port
        wait_until(lambda: not any(pid_alive(pid) for pid in workers), WORKERS_GONE_S, "the old workers to exit")
        # start_server's first answer may have come from an old worker: ask the new ones
        survivors = wait_until(lambda: _workers_of(second.pid, 2), 30, "the new supervisor's two workers")
        assert not set(survivors) & set(workers)
        wait_until(lambda: _health_answers(net.url), 30, "the restarted server to answer on the port")
        assert second.alive() and "Address already in use" not in second.output(), "it bound the port and serves"
        tenant = net.create_tenant("acme")
        assert net.client(tenant).jobs() == [], "the restarted server answers on the port"
