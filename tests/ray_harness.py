"""A local Ray head for the tests that run jobs through Ray, started and stopped without
touching anyone else's Ray processes.

``ray start --head --block`` with 2 CPUs, every port chosen free and a temp dir of its own;
stopped by SIGTERM to that process (which stops the Ray processes it started), then every
process of its session. Never ``ray stop --force``: that kills every Ray process on the
machine, the other xdist worker's head and ``tests/test_sweep.py``'s ``ray.init()`` included.

Ready means a job has run, not that the dashboard answers: the dashboard's HTTP server
comes up seconds before the node's job agent, and a submission in between is refused with
"No available agent to submit job, please try again later" (seen in CI under load). And a
head can die under a loaded machine (its raylet exits when the dashboard agent fails to
start in time), so :class:`RayHeads` checks before each test and starts a new one once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.control_harness import Proc, free_port, kill_session, start_process

#: seconds for a head to start and run its first job, on a loaded 2-core machine
READY_TIMEOUT_S = 180.0


def ray_unavailable() -> str | None:
    """Why a local Ray head with its job submission API cannot be started (None when it can)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (it comes with the dev extra)"
    try:
        import aiohttp  # noqa: F401
        import requests  # noqa: F401
    except ImportError:
        return (
            "the Ray job submission API needs ray[default] (aiohttp, requests); this environment has minimal ray. "
            "To run it: pip install 'ray[default]'"
        )
    if not (Path(sys.executable).parent / "ray").exists():
        return f"no `ray` command next to {sys.executable}"
    return None


def _http_json(url: str, body: dict[str, object] | None = None) -> Any:
    """GET ``url`` (or POST ``body`` as JSON to it) and return the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


class RayHead:
    """One ``ray start --head --block`` process and its dashboard URL."""

    def __init__(self) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="suanli-ray-", dir="/tmp"))  # socket paths must fit 107 bytes
        dashboard_port = free_port()
        ports = {
            name: free_port()
            for name in (
                "port",
                "node-manager-port",
                "object-manager-port",
                "dashboard-agent-listen-port",
                "dashboard-agent-grpc-port",
                "runtime-env-agent-port",
                "metrics-export-port",
            )
        }
        argv = [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            "--block",
            "--num-cpus=2",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}",
            *[f"--{name}={port}" for name, port in ports.items()],
            "--min-worker-port=0",
            "--max-worker-port=0",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]
        # a loopback-only test cluster: without RAY_AUTH_MODE=disabled, recent Ray answers the
        # dashboard API with 401 unless each client sends the token the head made (Ray 2.60 does)
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
        self.proc: Proc = start_process("ray-head", argv, self.temp_dir, env, self.temp_dir)
        self.url = f"http://127.0.0.1:{dashboard_port}"

    def answers(self) -> bool:
        """The head process lives and its job API answers."""
        if not self.proc.alive():
            return False
        try:
            _http_json(f"{self.url}/api/jobs/")
        except (OSError, ValueError):
            return False
        return True

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until a probe job (``true``) has run to SUCCEEDED; RuntimeError with the head's
        log when the head dies or the time runs out."""
        deadline = time.monotonic() + timeout_s
        submission: str | None = None
        last = "the dashboard does not answer yet"
        while time.monotonic() < deadline:
            if not self.proc.alive():
                break
            try:
                if submission is None:
                    answer = _http_json(f"{self.url}/api/jobs/", {"entrypoint": "true"})
                    submission = str(answer["submission_id"]) if isinstance(answer, dict) else None
                else:
                    answer = _http_json(f"{self.url}/api/jobs/{submission}")
                    status = answer.get("status") if isinstance(answer, dict) else None
                    if status == "SUCCEEDED":
                        return
                    if status in ("FAILED", "STOPPED"):
                        last, submission = f"the probe job ended {status}: {answer.get('message')}", None
                    else:
                        last = f"the probe job is {status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read(300).decode(errors='replace')}"
            except (OSError, ValueError, KeyError) as exc:
                last = str(exc)
            time.sleep(0.5)
        state = "alive" if self.proc.alive() else f"exited {self.proc.popen.returncode}"
        raise RuntimeError(
            f"the Ray head at {self.url} ran no job within {timeout_s:.0f} s ({last}; head {state}):\n"
            f"{self.proc.output(3000)}"
        )

    def stop(self) -> None:
        # --block: on SIGTERM `ray start` stops what it started, but may take its time (or
        # never finish while Ray's workers linger); then every process of its session goes
        if self.proc.alive():
            self.proc.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.popen.wait(timeout=5.0)
        kill_session(self.proc.pid)
        self.proc.popen.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class RayHeads:
    """A live, ready head on demand: the same one while it answers, a new one (once per
    call) after it died. What the dead one printed goes to standard error."""

    def __init__(self) -> None:
        self._head: RayHead | None = None

    def url(self) -> str:
        if self._head is not None and self._head.answers():
            return self._head.url
        if self._head is not None:
            died = self._head.proc.output(3000)
            print(f"the Ray head at {self._head.url} died; starting another:\n{died}", file=sys.stderr)
            self._head.stop()
        self._head = RayHead()
        try:
            self._head.wait_ready()
        except RuntimeError:
            self._head.stop()
            self._head = None
            raise
        return self._head.url

    def close(self) -> None:
        if self._head is not None:
            self._head.stop()
            self._head = None


@contextlib.contextmanager
def ray_head() -> Iterator[str]:
    """One ready head for the block; its dashboard URL."""
    heads = RayHeads()
    try:
        yield heads.url()
    finally:
        heads.close()
