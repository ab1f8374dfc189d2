"""The Ray executor: submission arguments without Ray, then real jobs on a real local Ray head.

The head is started once per test session (per xdist worker that runs tests of it) by
``tests/ray_harness.py``, and started again where it died.
"""

from __future__ import annotations

import http.server
import json
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from suanli.agents.executors import EngineUnavailable, ExecutorError, Launch, Poll, RayExecutor
from suanli.agents.executors.ray_exec import submission_id, submit_arguments
from tests.control_harness import free_port

PY = sys.executable
JOB_TIMEOUT_S = 90.0


def launch_of(*command: str, env: dict[str, str] | None = None, count: int = 1, **extra: Any) -> Launch:
    return Launch(
        job_id="job-1",
        attempt=2,
        command=tuple(command),
        env=env or {},
        workdir=Path("/nonexistent/on/the/cluster"),
        accelerator="h800",
        count=count,
        **extra,
    )


# -- submission arguments (no Ray needed) ---------------------------------------------------


def test_the_argv_is_quoted_into_one_entrypoint_that_splits_back_to_it() -> None:
    command = (PY, "-c", "print(1)", "$(rm -rf /)", "'; echo pwned", "a\nb", "`id`", "*")
    entrypoint = submit_arguments(launch_of(*command))["entrypoint"]
    assert shlex.split(entrypoint) == list(command)


def test_the_jobs_env_overlays_the_runtime_envs_env_vars_and_nothing_is_uploaded() -> None:
    launch = launch_of(
        "true",
        env={"LR": "0.1", "SUANLI_JOB_ID": "job-1"},
        runtime_env={"env_vars": {"LR": "9", "HF_HOME": "/data/hf"}, "pip": ["numpy"]},
    )
    runtime_env = submit_arguments(launch)["runtime_env"]
    assert runtime_env == {"env_vars": {"LR": "0.1", "HF_HOME": "/data/hf", "SUANLI_JOB_ID": "job-1"}, "pip": ["numpy"]}
    assert "working_dir" not in runtime_env
    assert "PATH" not in runtime_env["env_vars"], "the agent's PATH means nothing on the cluster"


def test_the_agents_credentials_never_reach_a_ray_jobs_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_TOKEN", "sl_agent_secret")
    monkeypatch.setenv("SUANLI_TOKEN_FILE", "/etc/suanli/agent.token")
    arguments = submit_arguments(launch_of("true", env={"LR": "0.1"}, labels={"suanli_tenant": "t-1"}))
    assert arguments["runtime_env"]["env_vars"] == {"LR": "0.1"}, "the job's own variables only"
    assert "sl_agent_secret" not in repr(arguments) and "agent.token" not in repr(arguments)


@pytest.mark.parametrize(
    ("options", "count", "expected"),
    [
        ({}, 8, {}),
        ({"request_accelerators": True}, 8, {"entrypoint_num_gpus": 8}),
        ({"request_accelerators": True, "accelerator_resource": "NPU"}, 4, {"entrypoint_resources": {"NPU": 4.0}}),
        ({"request_accelerators": True}, 0, {}),
    ],
    ids=["none-by-default", "gpus-when-asked", "a-named-resource-when-given", "none-for-zero"],
)
def test_accelerators_are_requested_only_when_the_cluster_is_said_to_have_them(
    options: dict[str, Any], count: int, expected: dict[str, object]
) -> None:
    arguments = submit_arguments(launch_of("true", count=count), **options)
    requested = {k: v for k, v in arguments.items() if k in ("entrypoint_num_gpus", "entrypoint_resources")}
    assert requested == expected


def test_submission_ids_name_the_job_and_attempt_and_never_repeat() -> None:
    launch = Launch("jobs/é 1", 3, ("true",), {}, Path("/w"), "cpu", 1)
    assert submission_id(launch, "abc123") == "suanli-jobs___1-a3-abc123"
    assert len({submission_id(launch) for _ in range(50)}) == 50


def test_the_labels_and_job_go_into_the_metadata() -> None:
    metadata = submit_arguments(launch_of("true", labels={"suanli_site": "qingyang"}))["metadata"]
    assert metadata == {"suanli_site": "qingyang", "suanli_job_id": "job-1", "suanli_attempt": "2"}


def test_an_unreachable_dashboard_is_an_error_saying_how_to_fix_it() -> None:
    pytest.importorskip("ray", reason="Ray is installed with the dev extra; this machine lacks it")
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EngineUnavailable, match=rf"the Ray dashboard at {address} does not answer .*To fix: ") as e:
        RayExecutor(address)
    assert e.value.exit_code == 2, "the agent refuses to start"


def test_a_dashboard_that_never_answers_is_given_up_on_after_the_connect_timeout() -> None:
    """Ray's own client would wait for the kernel's TCP timeout (minutes)."""
    pytest.importorskip("ray", reason="Ray is installed with the dev extra; this machine lacks it")
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(EngineUnavailable, match="does not answer"):
            RayExecutor(address, connect_timeout_s=0.5)
        assert time.monotonic() - started < 5.0


class _NotReadyDashboard(http.server.BaseHTTPRequestHandler):
    """Ray's dashboard as it answers while its job agent is not up: the version, then a
    500 "No available agent" to the first ``refusals`` submissions (a boundary we fake:
    a real head in that state lasts seconds and cannot be held there)."""

    refusals = 1
    submissions: ClassVar[list[str]] = []

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        import ray

        self._answer(200, json.dumps({"ray_version": ray.__version__, "version": "4"}).encode())

    def do_POST(self) -> None:
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.submissions.append(asked["submission_id"])
        if len(self.submissions) <= self.refusals:
            self._answer(500, b"No available agent to submit job, please try again later.")
        else:
            sid = asked["submission_id"]
            self._answer(200, json.dumps({"job_id": sid, "submission_id": sid}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("refusals", [1, 2])
def test_a_submission_refused_for_want_of_a_job_agent_is_asked_once_more(refusals: int) -> None:
    pytest.importorskip("requests", reason="Ray's job submission client needs ray[default]")
    pytest.importorskip("ray", reason="Ray is installed with the dev extra; this machine lacks it")
    fields = {"refusals": refusals, "submissions": []}
    handler: type[_NotReadyDashboard] = type("Handler", (_NotReadyDashboard,), fields)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        executor = RayExecutor(f"http://127.0.0.1:{server.server_address[1]}")
        try:
            if refusals == 1:
                handle = executor.start(launch_of("true"))
                assert handle == handler.submissions[-1]
            else:
                with pytest.raises(ExecutorError, match=r"has no job agent .*asked twice, 1 s apart.*To fix: wait"):
                    executor.start(launch_of("true"))
        finally:
            executor.close()
            server.shutdown()
    assert len(handler.submissions) == 2, "asked twice, never more"
    assert len(set(handler.submissions)) == 2, "each submission has an id of its own (Ray refuses a reused one)"


# -- a real Ray head (tests/ray_harness.py, through conftest's ray_dashboard) ---------------


@pytest.fixture
def ray_head(ray_dashboard: str) -> str:
    return ray_dashboard


@pytest.fixture
def executor(ray_head: str) -> Iterator[RayExecutor]:
    made = RayExecutor(ray_head, grace_s=30.0)
    yield made
    made.close()


def wait_until_done(executor: RayExecutor, handle: str) -> Poll:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        poll = executor.poll(handle)
        if poll.state != "RUNNING":
            return poll
        time.sleep(0.25)
    raise AssertionError(f"Ray job {handle} still running after {JOB_TIMEOUT_S} s")


@pytest.mark.slow
def test_the_check_of_a_live_head_names_its_version_and_what_jobs_ask_for(ray_head: str, tmp_path: Path) -> None:
    import ray

    found = RayExecutor(ray_head).check(tmp_path)
    assert found == f"Ray {ray.__version__} answers at {ray_head}; jobs ask Ray for no accelerators"
    npu = RayExecutor(ray_head, request_accelerators=True, accelerator_resource="NPU").check(tmp_path)
    assert npu.endswith("; each job asks for its count of NPU")


@pytest.mark.slow
def test_a_ray_job_gets_its_argv_verbatim_and_its_env_and_ships_its_logs(executor: RayExecutor, tmp_path: Path) -> None:
    hostile = [f"$(touch {tmp_path}/pwned)", f"'; touch {tmp_path}/pwned; echo '", "a\nb"]
    code = (
        "import json, os, sys; "
        "print('RESULT ' + json.dumps({'argv': sys.argv[1:], 'lr': os.environ.get('LR'),"
        " 'hf': os.environ.get('HF_HOME'), 'job': os.environ.get('SUANLI_JOB_ID')}))"
    )
    launch = Launch(
        job_id="ray-ok",
        attempt=1,
        command=(PY, "-c", code, *hostile),
        env={"LR": "0.1", "SUANLI_JOB_ID": "ray-ok"},
        workdir=tmp_path,
        accelerator="cpu",
        count=1,
        runtime_env={"env_vars": {"HF_HOME": "/data/hf"}},
    )
    handle = executor.start(launch)
    assert handle.startswith("suanli-ray-ok-a1-")
    assert wait_until_done(executor, handle) == Poll("SUCCEEDED", exit_code=0)
    text, offset = executor.read_logs(handle, 0)
    line = next(line for line in text.splitlines() if line.startswith("RESULT "))
    assert json.loads(line.removeprefix("RESULT ")) == {"argv": hostile, "lr": "0.1", "hf": "/data/hf", "job": "ray-ok"}
    assert not (tmp_path / "pwned").exists()
    assert executor.read_logs(handle, 5) == (text[5:], offset)
    assert executor.read_logs(handle, offset) == ("", offset)


@pytest.mark.slow
def test_a_failing_ray_job_is_failed_with_its_exit_code(executor: RayExecutor, tmp_path: Path) -> None:
    launch = Launch("ray-bad", 1, (PY, "-c", "import sys; print('boom'); sys.exit(3)"), {}, tmp_path, "cpu", 1)
    handle = executor.start(launch)
    poll = wait_until_done(executor, handle)
    assert poll.state == "FAILED"
    assert poll.exit_code == 3
    assert poll.message is not None
    assert poll.message.startswith("Ray job failed")
    assert "boom" in executor.read_logs(handle, 0)[0]


@pytest.mark.slow
def test_stopping_a_ray_job_ends_it_as_stopped(executor: RayExecutor, tmp_path: Path) -> None:
    code = "import time; print('started', flush=True); time.sleep(120)"
    handle = executor.start(Launch("ray-stop", 1, (PY, "-c", code), {}, tmp_path, "cpu", 1))
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while "started" not in executor.read_logs(handle, 0)[0]:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.25)
    executor.stop(handle)
    poll = executor.poll(handle)
    assert poll.state == "FAILED"
    assert poll.message is not None
    assert "stopped" in poll.message


@pytest.mark.slow
def test_an_unknown_ray_job_is_an_executor_error(executor: RayExecutor) -> None:
    with pytest.raises(ExecutorError, match="no-such-submission"):
        executor.poll("no-such-submission")
