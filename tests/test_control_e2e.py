"""The control plane end to end, as real processes: ``suanli serve`` and ``suanli agent``
started as subprocesses (``tests/control_harness.py``), a tenant submitting real jobs (the
Python scripts of ``examples/jobs/``) that write checkpoints and results.

- two local-executor agents as two sites run a tenant's jobs to SUCCEEDED, with their
  logs back at the server (SDK and CLI);
- the agent of the site running a job is killed (SIGKILL) mid-job: its job process dies
  with it, the site is declared lost, and the job finishes at the other site, resuming
  from its last checkpoint, with the correct result;
- a job pinned to a Ray-executor agent's site runs through a real local Ray head.

Each test runs on SQLite and on a fresh PostgreSQL database (skipped when PostgreSQL is
not reachable; see ``tests/conftest.py``). Sites heartbeat every 0.5 s and are lost after
four missed heartbeats; the scheduler cycles every 0.2 s.
"""

from __future__ import annotations

import json
import string
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.client import Client
from suanli.schemas import JobOut
from tests.conftest import EXAMPLES
from tests.control_harness import ControlNetwork, pid_alive, report_on_failure, wait_until

JOBS = EXAMPLES / "jobs"
PY = sys.executable
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
JOB_TIMEOUT_S = 90.0
QINGYANG, ZHONGWEI, RAY_SITE = "qingyang", "zhongwei", "helinger"
"""Catalogue sites with H800s (in Gansu, Ningxia, Inner Mongolia)."""


def spec(
    name: str,
    *command: str,
    regions: list[str] | None = None,
    checkpoint_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A tiny FineTuning spec (plans in milliseconds on one H800) that runs ``command``."""
    run: dict[str, Any] = {"command": list(command)}
    if checkpoint_dir is not None:
        run["checkpoint_dir"] = str(checkpoint_dir)
    if env:
        run["env"] = env
    data: dict[str, Any] = {
        "apiVersion": "suanli/v1",
        "kind": "FineTuning",
        "name": name,
        "model": {"params_b": 0.001},
        "tokens_b": 0.0001,
        "resources": {"accelerators": ["h800"], "count": 1},
        "run": run,
    }
    if regions:
        data["constraints"] = {"regions": regions}
    return data


def train(steps: int, step_s: float, result: Path, *extra: str) -> tuple[str, ...]:
    return (
        PY,
        str(JOBS / "train.py"),
        "--steps",
        str(steps),
        "--step-seconds",
        str(step_s),
        "--result",
        str(result),
        *extra,
    )


def wait_for_end(client: Client, job_id: str, timeout_s: float = JOB_TIMEOUT_S) -> JobOut:
    def ended() -> JobOut | None:
        job = client.job(job_id)
        return job if job.state in TERMINAL else None

    return wait_until(ended, timeout_s, f"job {job_id} to end", every_s=0.2)


def succeeded(client: Client, job: JobOut) -> JobOut:
    """``job`` once it ended; fails with its state, message and logs unless it succeeded."""
    done = wait_for_end(client, job.id)
    assert done.state == "SUCCEEDED", (
        f"job {job.name} ({job.id}) ended {done.state} at {done.site}: {done.message}\n"
        f"reasons: {done.reasons}\nlogs:\n{client.logs(job.id).text}"
    )
    return done


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def step_of(checkpoint: str | None) -> int:
    """The step a ``train.py`` checkpoint holds (-1 for none)."""
    return -1 if not checkpoint else int(read_json(Path(checkpoint))["step"])


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_tenants_real_jobs_run_at_two_sites_and_succeed_with_their_logs(
    control_db: str | None, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        net.start_server("--shared-root", str(shared))  # the checkpoints
        tenant = net.create_tenant("acme", cli=True)
        net.start_agents((QINGYANG, {"h800": 2}), (ZHONGWEI, {"h800": 2}))
        client = net.client(tenant)

        trainer = client.submit(
            spec(
                "trainer",
                *train(4, 0.1, shared / "trainer.json"),
                regions=[QINGYANG],
                checkpoint_dir=shared / "ckpt-trainer",
            )
        )
        greeter = client.submit(
            spec("greeter", PY, str(JOBS / "hello.py"), "3", regions=[ZHONGWEI], env={"GREETING": "hi"})
        )
        by_cli = tmp_path / "anywhere.yaml"
        by_cli.write_text(
            yaml.safe_dump(
                spec("anywhere", *train(3, 0.1, shared / "anywhere.json"), checkpoint_dir=shared / "ckpt-any")
            )
        )
        submitted = json.loads(net.suanli("submit", str(by_cli), "--json", token=tenant).stdout)
        assert set(submitted) == {"id", "state"}
        assert submitted["state"] in ("PENDING", "PLACED")
        anywhere = client.job(submitted["id"])

        trainer, greeter, anywhere = (succeeded(client, job) for job in (trainer, greeter, anywhere))
        assert (trainer.site, greeter.site) == (QINGYANG, ZHONGWEI), "each job ran at the site its constraint allows"
        assert anywhere.site in (QINGYANG, ZHONGWEI)
        for job in (trainer, greeter, anywhere):
            assert (job.attempt, job.exit_code, job.accelerator, job.count) == (1, 0, "h800", 1)
            assert job.started_at is not None
            assert job.finished_at is not None

        # the results and checkpoints the jobs wrote, as the server saw them
        result = read_json(shared / "trainer.json")
        assert result["total"] == result["expected"] == sum(i * i for i in range(4))
        assert (result["resumed_from_step"], result["attempts"], result["job"]) == (0, [1], trainer.id)
        assert trainer.checkpoint == str(shared / "ckpt-trainer" / "step-000003.json")
        assert read_json(shared / "anywhere.json")["total"] == sum(i * i for i in range(3))

        # logs come back to the server: stdout and stderr, through the SDK and the CLI
        text = client.logs(greeter.id).text
        assert f"hi from job {greeter.id}, attempt 1" in text, "the spec's run.env reaches the job"
        assert "line 3/3" in text
        assert "bye" in text, "stderr is shipped too"
        assert client.logs(greeter.id, offset=len(text)).done
        with ThreadPoolExecutor(max_workers=3) as pool:  # each command is a Python start-up
            logs, status, listed = pool.map(
                lambda args: net.suanli(*args, token=tenant).stdout,
                [("logs", anywhere.id), ("status", anywhere.id, "--json"), ("jobs", "--json")],
            )
        assert "attempt 1: starting from step 0" in logs
        assert "done: total=5 (expected 5)" in logs
        assert json.loads(status)["state"] == "SUCCEEDED"
        assert json.loads(status)["site"] == anywhere.site
        assert {job["id"]: job["state"] for job in json.loads(listed)["jobs"]} == {
            trainer.id: "SUCCEEDED",
            greeter.id: "SUCCEEDED",
            anywhere.id: "SUCCEEDED",
        }


@pytest.mark.slow
def test_a_killed_sites_job_finishes_at_the_other_site_from_its_checkpoint(
    control_db: str | None, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    steps = 20
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        net.start_server("--shared-root", str(shared))  # the checkpoints
        tenant = net.create_tenant("acme")
        net.start_agents((QINGYANG, {"h800": 2}), (ZHONGWEI, {"h800": 2}))
        client = net.client(tenant)
        job = client.submit(
            spec(
                "resumable",
                *train(steps, 0.25, shared / "result.json", "--pid-file", "job.pid"),
                checkpoint_dir=shared / "checkpoints",
            )
        )

        # mid-job: running, with a checkpoint the server knows of (step >= 2 of 20)
        def checkpointed() -> JobOut | None:
            seen = client.job(job.id)
            assert seen.state not in TERMINAL, f"the job ended before the kill: {seen}"
            return seen if seen.state == "RUNNING" and step_of(seen.checkpoint) >= 2 else None

        first = wait_until(checkpointed, 30, "the job to run and report a checkpoint")
        assert first.attempt == 1
        assert first.site is not None
        killed = first.site
        other = ZHONGWEI if killed == QINGYANG else QINGYANG
        pid = int((net.work_dirs[killed] / job.id / "1" / "job.pid").read_text())
        assert pid_alive(pid)

        net.agents[killed].kill()  # SIGKILL: no goodbye, no stopping its jobs
        wait_until(lambda: not pid_alive(pid), 5, f"the killed agent's job process {pid} to die with it")

        done = succeeded(client, job)
        assert done.site == other, f"the job finished at {done.site}, not at the surviving site {other}"
        assert done.attempt >= 2
        assert {site.id: site.state for site in client.sites()}[killed] == "down"

        # it resumed from a checkpoint, not from step 0, and counted every step once
        result = read_json(shared / "result.json")
        assert result["total"] == result["expected"] == sum(i * i for i in range(steps))
        assert result["resumed_from_step"] > step_of(first.checkpoint) >= 2
        assert result["attempts"][0] == 1
        assert result["attempts"][-1] == done.attempt
        assert result["attempt"] == done.attempt
        assert done.checkpoint == str(shared / "checkpoints" / f"step-{steps - 1:06d}.json")
        second_pid = int((net.work_dirs[other] / job.id / str(done.attempt) / "job.pid").read_text())
        assert second_pid != pid

        logs = client.logs(job.id).text
        assert "attempt 1: starting from step 0" in logs
        assert f"attempt {done.attempt}: resumed from step {result['resumed_from_step']} (" in logs
        assert f"done: total={result['expected']}" in logs


@pytest.mark.slow
def test_a_job_pinned_to_the_ray_sites_agent_runs_through_ray(
    control_db: str | None, ray_dashboard: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    # a Ray submission can take seconds, and the agent's loop (heartbeats too) waits for it
    with ControlNetwork(tmp_path / "net", control_db, missed_heartbeats=30) as net, report_on_failure(net):
        net.start_server("--shared-root", str(shared))  # the checkpoints
        tenant = net.create_tenant("acme")
        net.start_agents((QINGYANG, {"h800": 2}))
        net.start_agent(RAY_SITE, {"h800": 2}, executor="ray", ray_address=ray_dashboard)
        client = net.client(tenant)

        job = client.submit(
            spec("on-ray", *train(3, 0.1, shared / "ray.json"), regions=[RAY_SITE], checkpoint_dir=shared / "ckpt")
        )
        done = succeeded(client, job)
        assert (done.site, done.attempt, done.exit_code) == (RAY_SITE, 1, 0)
        result = read_json(shared / "ray.json")
        assert result["total"] == result["expected"] == sum(i * i for i in range(3))
        assert result["job"] == job.id
        assert done.checkpoint == str(shared / "ckpt" / "step-000002.json")

        logs = client.logs(job.id).text
        assert "attempt 1: starting from step 0" in logs
        assert "done: total=5 (expected 5)" in logs

        # the Ray head ran it (its job submission API lists the attempt)
        with urllib.request.urlopen(f"{ray_dashboard}/api/jobs/", timeout=10) as answer:
            ray_jobs = json.loads(answer.read())
        mine = [j for j in ray_jobs if (j.get("metadata") or {}).get("suanli_job_id") == job.id]
        assert [(j["status"], j["metadata"]["suanli_site"]) for j in mine] == [("SUCCEEDED", RAY_SITE)]


# -- the demo's job specs ------------------------------------------------------------------------


def test_the_demo_job_specs_are_valid_once_their_paths_are_filled_in(tmp_path: Path) -> None:
    from suanli.service import context, read_spec

    ctx = context()
    specs = sorted(JOBS.glob("*.yaml"))
    assert {path.stem for path in specs} >= {"train", "hello", "western"}
    for path in specs:
        text = string.Template(path.read_text(encoding="utf-8")).safe_substitute(JOBS=str(JOBS), SHARED=str(tmp_path))
        filled = tmp_path / path.name
        filled.write_text(text, encoding="utf-8")
        job = read_spec(ctx, filled)
        assert job.run is not None, f"{path.name} has no run: section"
        program = job.run.command[1]
        assert Path(program).is_file(), f"{path.name} runs {program}, which does not exist"


AGREE_SITES = (QINGYANG, ZHONGWEI, RAY_SITE)


def test_plan_and_submit_agree_on_an_idle_network_for_every_objective(tmp_path: Path) -> None:
    """A server and three local agents (8 idle H800 each), started from the CLI: for each
    objective, the site ``suanli submit`` runs the job at is the one ``suanli plan`` ranks
    first among the live sites (SQLite; the rule is the scheduler's, not the store's)."""
    with ControlNetwork(tmp_path / "net", None) as net, report_on_failure(net):
        net.start_server()
        tenant = net.create_tenant("acme", cli=True)
        net.start_agents(*((site, {"h800": 8}) for site in AGREE_SITES))
        client = net.client(tenant)
        for objective in ("time", "cost", "carbon"):
            data = {
                **spec(f"lora-{objective}", PY, "-c", "pass"),
                "model": "qwen2.5-7b",
                "method": "lora",
                "tokens_b": 0.5,
                "resources": {"accelerators": ["h800"], "count": 8},
                "objective": objective,
            }
            path = tmp_path / f"{objective}.yaml"
            path.write_text(yaml.safe_dump(data))
            planned = json.loads(net.suanli("plan", str(path), "--json").stdout)
            live = [o for o in planned["options"] if o["site"] in AGREE_SITES and o["count"] == 8]
            submitted = json.loads(net.suanli("submit", str(path), "--json", token=tenant).stdout)
            ran = succeeded(client, client.job(submitted["id"]))
            assert ran.site == live[0]["site"], f"{objective}: plan ranks {live[0]['site']} first, ran at {ran.site}"
