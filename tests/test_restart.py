"""A server restart is a non-event for running work, and a lost site's job resumes from
the newest checkpoint on storage, as real processes on both stores.

Two local agents run four jobs; ``suanli serve`` is killed with SIGKILL (no shutdown, no
lease release) ten times and kept down 2, 5 and 10 s in turn before it is restarted on
the same port. Production heartbeat settings (every 5 s, a site lost after 8 missed, so
agents fence their jobs 30 s after their last answered heartbeat): a 10 s outage, which
before the leader's grace period and the agents' short retries restarted every job
(issue 15), must not trip the agents' fences either (docs/control-plane.md, *Self-fencing
agents*). Again with ``serve --workers 2``, killing the supervisor, three times (2, 5, 10 s).

After each restart the test waits until both agents have heartbeated to the new server
(so the next kill never hides a silence the leader would have punished), and after the
last one a full site timeout more. Then no job was preempted or started twice (attempt
1, one process start each, no ``site.down`` in the audit log), and released, every job
succeeds where it ran.

A site's agent killed mid-job: its job resumes at the other site from the newest
checkpoint in the job's ``checkpoint_dir`` on shared storage, which the test makes sure
is newer than the last one the dead agent reported (agents report once per heartbeat).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from suanli.client import Client
from suanli.store import sites as site_rows
from suanli.store.tables import audit
from tests.control_harness import ControlNetwork, free_port, pid_alive, report_on_failure, wait_until
from tests.test_control_e2e import spec, step_of, succeeded, train

QINGYANG, ZHONGWEI = "qingyang", "zhongwei"
HEARTBEAT_S = 5.0
MISSED = 8.0
TIMEOUT_S = HEARTBEAT_S * MISSED
DOWNTIMES_S = (2.0, 5.0, 10.0) * 3 + (2.0,)
"""Ten kills, each outage up to 10 s (the fence deadline, 30 s, allows some 20 s)."""
WORKER_DOWNTIMES_S = (2.0, 5.0, 10.0)
"""With ``--workers 2`` (the workers die with their supervisor, see test_serve_workers),
one of each."""
JOBS = 4

HOLD = """
import os, pathlib, sys, time
here = pathlib.Path(sys.argv[1])
with open(here / ("starts-" + os.environ["SUANLI_JOB_ID"]), "a") as f:
    f.write(f"{os.getpid()} attempt {os.environ['SUANLI_ATTEMPT']}\\n")
while not (here / "release").exists():
    time.sleep(0.2)
"""


def hold_spec(name: str, shared: Path) -> dict[str, Any]:
    """A tiny FineTuning job that records its start and runs until ``shared/release`` exists."""
    return spec(name, sys.executable, "-c", HOLD, str(shared))


def heartbeats_after(net: ControlNetwork, since_s: float) -> bool:
    with net.plane().store.engine.connect() as conn:
        rows = {row["id"]: row for row in site_rows.list_sites(conn)}
    return all((rows[site]["last_heartbeat_at"] or 0.0) > since_s for site in (QINGYANG, ZHONGWEI))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("serve_args", "downtimes_s"), [((), DOWNTIMES_S), (("--workers", "2"), WORKER_DOWNTIMES_S)], ids=["1", "workers2"]
)
def test_server_kills_of_up_to_a_site_timeout_restart_no_running_job(
    control_db: str | None, tmp_path: Path, serve_args: tuple[str, ...], downtimes_s: tuple[float, ...]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    port = free_port()
    with (
        ControlNetwork(tmp_path / "net", control_db, heartbeat_interval_s=HEARTBEAT_S, missed_heartbeats=MISSED) as net,
        report_on_failure(net),
    ):
        net.start_server(*serve_args, port=port)
        tenant = net.create_tenant("acme")
        net.start_agents((QINGYANG, {"h800": 2}), (ZHONGWEI, {"h800": 2}))
        client = net.client(tenant)
        ids = [client.submit(hold_spec(f"hold-{i}", shared)).id for i in range(JOBS)]

        def all_running() -> bool:
            return all(client.job(i).state == "RUNNING" for i in ids) and all(
                (shared / f"starts-{i}").exists() for i in ids
            )

        wait_until(all_running, 60, "the four jobs to run")
        sites = {i: client.job(i).site for i in ids}
        assert set(sites.values()) == {QINGYANG, ZHONGWEI}, f"two jobs per site: {sites}"
        assert all("self-fencing on:" in net.agents[site].output() for site in (QINGYANG, ZHONGWEI))

        for down_s in downtimes_s:
            assert net.server is not None
            net.server.kill()
            time.sleep(down_s)
            restarted_s = time.time()
            net.start_server(*serve_args, port=port)
            wait_until(
                lambda since_s=restarted_s: heartbeats_after(net, since_s), 3 * HEARTBEAT_S, "both agents to reach it"
            )
        time.sleep(TIMEOUT_S + 2.0)  # the last leader's grace is over: silence would be punished now

        with Client(net.url, tenant, retries=5) as fresh:
            seen = {i: fresh.job(i) for i in ids}
        moved = {i: (j.state, j.attempt, j.site) for i, j in seen.items() if (j.state, j.attempt) != ("RUNNING", 1)}
        assert not moved, f"jobs preempted or restarted by the restarts: {moved}"
        assert {i: j.site for i, j in seen.items()} == sites
        starts = {i: (shared / f"starts-{i}").read_text().splitlines() for i in ids}
        assert all(len(lines) == 1 for lines in starts.values()), f"a job's process started twice: {starts}"
        with net.plane().store.engine.connect() as conn:
            downs = conn.execute(select(audit.c.object, audit.c.at).where(audit.c.action == "site.down")).all()
        assert downs == [], f"sites declared down: {downs}"

        (shared / "release").touch()

        def ended() -> bool:
            return all(client.job(i).state in ("SUCCEEDED", "FAILED", "CANCELLED") for i in ids)

        wait_until(ended, 60, "the jobs to end once released", every_s=0.5)
        final = {i: (client.job(i).state, client.job(i).attempt) for i in ids}
        assert final == dict.fromkeys(ids, ("SUCCEEDED", 1)), final


def newest_step(directory: Path) -> int:
    """The step of the newest ``train.py`` checkpoint in ``directory`` (by name: one per step)."""
    names = sorted(p.name for p in directory.glob("step-*.json"))
    return int(names[-1][len("step-") : -len(".json")]) if names else -1


@pytest.mark.slow
def test_a_lost_sites_job_resumes_elsewhere_from_the_newest_checkpoint_on_storage_not_the_last_reported(
    control_db: str | None, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    checkpoints = shared / "checkpoints"
    steps, step_s = 40, 0.2
    # heartbeats every 2 s: a report lags the newest checkpoint by up to ten steps
    with (
        ControlNetwork(tmp_path / "net", control_db, heartbeat_interval_s=2.0, missed_heartbeats=2.0) as net,
        report_on_failure(net),
    ):
        net.start_server("--shared-root", str(shared))
        tenant = net.create_tenant("acme")
        net.start_agents((QINGYANG, {"h800": 1}), (ZHONGWEI, {"h800": 1}))
        client = net.client(tenant)
        job = client.submit(
            spec(
                "resumable",
                *train(steps, step_s, shared / "result.json", "--pid-file", "job.pid"),
                checkpoint_dir=checkpoints,
            )
        )

        def storage_ahead() -> tuple[str, int] | None:
            seen = client.job(job.id)
            assert seen.state not in ("SUCCEEDED", "FAILED", "CANCELLED"), f"ended before the kill: {seen}"
            reported = step_of(seen.checkpoint)
            ahead = seen.state == "RUNNING" and reported >= 1 and newest_step(checkpoints) >= reported + 2
            return (seen.site, reported) if ahead and seen.site else None

        site, _ = wait_until(storage_ahead, 40, "storage to hold newer checkpoints than the last reported", 0.05)
        pid = int((net.work_dirs[site] / job.id / "1" / "job.pid").read_text())
        net.agents[site].kill()  # SIGKILL: the job process dies with it
        wait_until(lambda: not pid_alive(pid), 5, f"the killed agent's job process {pid} to die with it")
        on_storage = newest_step(checkpoints)
        reported_at_death = step_of(client.job(job.id).checkpoint)
        assert on_storage > reported_at_death, "the test needs storage ahead of the report"

        done = succeeded(client, job)
        assert done.site != site and done.attempt >= 2
        result = read_result(shared / "result.json")
        assert result["resumed_from_step"] == on_storage + 1, (
            f"resumed from step {result['resumed_from_step']}: the newest on storage was {on_storage}, "
            f"the last reported {reported_at_death}"
        )
        assert result["total"] == result["expected"], "every step counted once"
        assert f"resuming from {checkpoints / f'step-{on_storage:06d}.json'}" in net.agents[done.site or ""].output()


def read_result(path: Path) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
