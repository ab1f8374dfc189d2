"""The Ray executor: each job is a Ray job, submitted through Ray's job submission API.

The agent talks HTTP to the cluster's dashboard (``address`` such as
``http://127.0.0.1:8265``); the job's entrypoint runs on the cluster's head node under
Ray's job supervisor, which starts it with a shell, so the argv list is quoted with
:func:`shlex.join` and never reaches the shell unquoted.

What it passes to Ray, and why:

- ``runtime_env``: the spec's ``run.runtime_env`` as given (a ``working_dir`` there is
  the user's choice: Ray uploads it), with ``env_vars`` = that section's ``env_vars``
  overlaid by the job's environment (``run.env`` and the ``SUANLI_*`` variables). The
  agent's per-attempt workdir is *not* uploaded: the cluster may be another machine, and
  jobs find their data through ``SUANLI_CHECKPOINT_DIR`` and their own paths. The
  agent's ``PATH`` is not passed either: it means nothing on the cluster's nodes.
- ``submission_id``: ``suanli-<job>-a<attempt>-<6 hex>``: readable, one per attempt,
  and unique even when a restarted agent submits the same attempt again (Ray refuses a
  reused id).
- accelerators: none are requested unless ``request_accelerators=True``. Ray only
  schedules an entrypoint that asks for GPUs on a node that advertises them; on a
  cluster without them (a CPU-only test head, or one whose accelerators Ray does not
  detect) such a job would wait forever. With the flag, ``count`` GPUs are requested
  (``entrypoint_num_gpus``), or ``count`` units of ``accelerator_resource`` (for
  example ``"NPU"`` for Ascend nodes) when that is set.
- ``metadata``: the launch's labels plus ``suanli_job_id`` and ``suanli_attempt``.

Before the client is made (and again in :meth:`RayExecutor.check`, before the agent
registers), ``GET <address>/api/version`` must answer within ``connect_timeout_s``: Ray's
own client waits for the operating system's TCP timeout (minutes) on an address that drops
packets. Ray is imported lazily (``import suanli.agents.executors`` works without it).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import shlex
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from suanli.agents.executors.base import EngineUnavailable, ExecutorError, Launch, Poll

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
STOP_POLL_INTERVAL_S = 0.2
"""How often :meth:`RayExecutor.stop` asks whether a stopped job has ended."""
AGENT_NOT_READY = "No available agent to submit job"
"""What Ray's dashboard answers (HTTP 500, "please try again later") while the node's job
agent is not up: a head that started seconds ago, or one whose dashboard agent died."""
NOT_READY_RETRY_S = 1.0
"""The wait before the one retry of a submission refused with :data:`AGENT_NOT_READY`."""


def submission_id(launch: Launch, suffix: str | None = None) -> str:
    """``suanli-<job>-a<attempt>-<suffix>``, with characters Ray ids do not allow replaced by ``_``."""
    tail = suffix if suffix is not None else secrets.token_hex(3)
    return _ID_UNSAFE.sub("_", f"suanli-{launch.job_id}-a{launch.attempt}-{tail}")


def submit_arguments(
    launch: Launch, *, request_accelerators: bool = False, accelerator_resource: str | None = None
) -> dict[str, Any]:
    """Keyword arguments of ``JobSubmissionClient.submit_job`` for a launch (without the id)."""
    runtime_env = dict(launch.runtime_env or {})
    env_vars = {str(k): str(v) for k, v in dict(runtime_env.get("env_vars") or {}).items()}
    env_vars.update(launch.env)
    runtime_env["env_vars"] = env_vars
    arguments: dict[str, Any] = {
        "entrypoint": shlex.join(launch.command),
        "runtime_env": runtime_env,
        "metadata": {**launch.labels, "suanli_job_id": launch.job_id, "suanli_attempt": str(launch.attempt)},
    }
    if request_accelerators and launch.count > 0:
        if accelerator_resource:
            arguments["entrypoint_resources"] = {accelerator_resource: float(launch.count)}
        else:
            arguments["entrypoint_num_gpus"] = launch.count
    return arguments


class RayExecutor:
    """Runs jobs on a Ray cluster through its dashboard's job submission API.

    ``address``: the dashboard's URL (``http://host:8265``). ``request_accelerators``:
    ask Ray for the job's accelerators (``count`` GPUs, or ``count`` units of
    ``accelerator_resource`` such as ``"NPU"``; see the module docstring). ``grace_s``:
    how long :meth:`stop` waits for the job to end after asking Ray to stop it (Ray itself
    sends SIGTERM, then SIGKILL after ``RAY_JOB_STOP_WAIT_TIME_S``, 3 s by default).
    ``connect_timeout_s``: how long the dashboard may take to answer the version probe.
    The client is made in the constructor, so a wrong address fails when the agent starts
    (:class:`EngineUnavailable`), not at its first job.
    """

    name = "ray"

    def __init__(
        self,
        address: str,
        *,
        request_accelerators: bool = False,
        accelerator_resource: str | None = None,
        grace_s: float = 10.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.address = address
        self.request_accelerators = request_accelerators
        self.accelerator_resource = accelerator_resource
        self.grace_s = grace_s
        self.connect_timeout_s = connect_timeout_s
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError:
            raise EngineUnavailable("the ray executor needs Ray. To fix: pip install 'ray[default]'") from None
        self._probe()
        try:
            self._client: Any = JobSubmissionClient(address)
        except Exception as exc:
            if "ray[default]" in str(exc):  # the minimal `ray` lacks the SDK's aiohttp and requests
                raise EngineUnavailable(
                    "the ray executor needs Ray's job submission SDK. To fix: pip install 'ray[default]'"
                ) from None
            raise EngineUnavailable(self._unreachable(exc)) from None

    def check(self, work_root: Path) -> str:
        """The dashboard answers (jobs' directories are the cluster's business, not ``work_root``)."""
        version = self._probe()
        wanted = (self.accelerator_resource or "GPU") if self.request_accelerators else None
        return f"Ray {version or '(version unknown)'} answers at {self.address}" + (
            f"; each job asks for its count of {wanted}" if wanted else "; jobs ask Ray for no accelerators"
        )

    def _probe(self) -> str | None:
        """``GET /api/version`` within ``connect_timeout_s``: the Ray version, or None where
        the address is not an http(s) URL (Ray's client resolves those itself) or the answer
        has none. Any HTTP answer (a 401 from a dashboard with authentication) counts as
        answering; no answer raises :class:`EngineUnavailable`."""
        if not self.address.startswith(("http://", "https://")):
            return None
        url = self.address.rstrip("/") + "/api/version"
        try:
            with urllib.request.urlopen(url, timeout=self.connect_timeout_s) as answer:
                body = answer.read(65536)
        except urllib.error.HTTPError:
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EngineUnavailable(self._unreachable(reason)) from None
        try:
            found = json.loads(body).get("ray_version")
        except (ValueError, AttributeError):
            return None
        return str(found) if found else None

    def _unreachable(self, reason: object) -> str:
        return (
            f"the Ray dashboard at {self.address} does not answer ({reason}). To fix: start the cluster "
            "(ray start --head --include-dashboard=true) and pass its dashboard URL with --ray-address, "
            "e.g. http://127.0.0.1:8265"
        )

    def start(self, launch: Launch) -> str:
        arguments = submit_arguments(
            launch, request_accelerators=self.request_accelerators, accelerator_resource=self.accelerator_resource
        )
        try:
            return str(self._client.submit_job(submission_id=submission_id(launch), **arguments))
        except Exception as exc:
            if AGENT_NOT_READY not in str(exc):
                raise self._refusal(launch, exc) from None
        time.sleep(NOT_READY_RETRY_S)
        try:
            return str(self._client.submit_job(submission_id=submission_id(launch), **arguments))
        except Exception as exc:
            raise self._refusal(launch, exc) from None

    def _refusal(self, launch: Launch, exc: Exception) -> ExecutorError:
        if AGENT_NOT_READY in str(exc):
            return ExecutorError(
                f"job {launch.job_id}: Ray at {self.address} has no job agent to take the submission "
                f"(asked twice, {NOT_READY_RETRY_S:g} s apart): its head started moments ago or its "
                "dashboard agent died. To fix: wait, or see `ray status` and the head's dashboard_agent.log"
            )
        return ExecutorError(
            f"job {launch.job_id}: Ray at {self.address} refused the submission: {exc}. "
            "To fix: check run.runtime_env and that the cluster is up (ray status)"
        )

    def poll(self, handle: str) -> Poll:
        status = str(self._call("get_job_status", handle).value)
        if status in ("PENDING", "RUNNING"):
            return Poll("RUNNING", message="pending on the cluster" if status == "PENDING" else None)
        info = self._call("get_job_info", handle)
        exit_code = getattr(info, "driver_exit_code", None)
        if status == "SUCCEEDED":
            return Poll("SUCCEEDED", exit_code=0 if exit_code is None else exit_code)
        reason = "stopped" if status == "STOPPED" else "failed"
        detail = getattr(info, "message", None)
        message = f"Ray job {reason}" + (f": {detail}" if detail else "")
        return Poll("FAILED", exit_code=exit_code, message=message)

    def read_logs(self, handle: str, offset: int) -> tuple[str, int]:
        """Ray returns the whole log each time; this slices it at ``offset`` characters."""
        text = str(self._call("get_job_logs", handle))
        return text[offset:], max(offset, len(text))

    def stop(self, handle: str) -> None:
        """Ask Ray to stop the job, then wait up to ``grace_s`` for it to end."""
        self._call("stop_job", handle)
        for _ in range(math.ceil(self.grace_s / STOP_POLL_INTERVAL_S)):
            if self.poll(handle).state != "RUNNING":
                return
            time.sleep(STOP_POLL_INTERVAL_S)

    def close(self) -> None:
        """Nothing to release: the client opens one HTTP request per call."""

    def _call(self, method: str, handle: str) -> Any:
        try:
            return getattr(self._client, method)(handle)
        except Exception as exc:
            raise ExecutorError(f"Ray job {handle}: {method} failed at {self.address}: {exc}") from None
