"""The Slurm executor: each job is a batch job, submitted with ``sbatch``.

For each launch it writes ``<workdir>/suanli-job.sbatch``, a script one can read and
resubmit by hand::

    #!/bin/bash
    #SBATCH --job-name=suanli-<job>-a<attempt>
    #SBATCH --output=<workdir>/suanli-job.log      (stdout and stderr)
    #SBATCH --chdir=<workdir>
    #SBATCH --export=NONE                          (the agent's environment stays out)
    #SBATCH --ntasks=1
    export NAME='value'                            (the job's env, each value shlex-quoted)
    trap 'suanli_signalled=1' TERM INT HUP
    'prog' 'arg' ...                               (shlex.join(command))
    suanli_exit_code=$?
    echo "$suanli_exit_code" > <workdir>/suanli-exit-code
    exit "$suanli_exit_code"

The command is not ``exec``-ed: the shell must outlive it to record its exit status in
the exit-code file, which is how :meth:`SlurmExecutor.poll` learns the outcome on
clusters without accounting (``sacct`` answers "accounting storage is disabled"). The
``TERM`` trap keeps the shell alive when ``scancel`` signals every process of the job (it
runs after the command ends, and children get the default handlers back); without it
the shell would die first and record nothing useful.

Polling: ``squeue -h -j ID -t all -o %T`` while the controller knows the job; once it
ends, ``sacct -n -X -j ID -o State,ExitCode -P`` when accounting is configured, else the
exit-code file. Stop: ``scancel ID`` (Slurm sends SIGTERM, then SIGKILL after the
cluster's ``KillWait``, 30 s by default).

Accelerators: ``--gres=gpu:<count>`` is requested only with ``gpu_gres=True``. A cluster
that defines no ``gpu`` GRES refuses such a job at submission ("Invalid generic
resource specification"), so the default asks for none; sites with GPU (or NPU, as
``gpu``) GRES configured turn it on.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from suanli.agents.executors.base import ExecutorError, Launch, Poll
from suanli.agents.executors.local import LOG_NAME, LogTail, job_env, signal_text

SCRIPT_NAME = "suanli-job.sbatch"
EXIT_CODE_NAME = "suanli-exit-code"
STOP_POLL_INTERVAL_S = 0.5
"""How often :meth:`SlurmExecutor.stop` asks whether a cancelled job has ended."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SBATCH_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/+@:,=-]+$")
"""Paths written on ``#SBATCH`` lines: no whitespace, quotes, newlines, or ``%`` (Slurm
expands ``%j`` and friends in ``--output``)."""
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_ACTIVE = frozenset(
    {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT"}
)
_REQUEUE_HOLD = frozenset({"REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "STOPPED"})


def batch_script(
    launch: Launch,
    *,
    gpu_gres: bool = False,
    partition: str | None = None,
    agent_env: Mapping[str, str] | None = None,
) -> str:
    """The sbatch script for ``launch`` (see the module docstring). Raises
    :class:`ExecutorError` for a workdir or variable name that cannot be written safely."""
    workdir = str(launch.workdir)
    if not _SBATCH_SAFE_PATH.match(workdir):
        raise ExecutorError(
            f"job {launch.job_id}: workdir {workdir!r} cannot go on an #SBATCH line (whitespace, quotes or %). "
            "To fix: use a run.workdir (and agent work root) made of letters, digits and ._/+@:,=-"
        )
    job = _NAME_UNSAFE.sub("_", launch.job_id)
    lines = [
        "#!/bin/bash",
        f"# suanli job {job} attempt {launch.attempt}; resubmit with: sbatch <this file>",
        f"#SBATCH --job-name=suanli-{job}-a{launch.attempt}",
        f"#SBATCH --output={workdir}/{LOG_NAME}",
        f"#SBATCH --chdir={workdir}",
        "#SBATCH --export=NONE",
        "#SBATCH --ntasks=1",
    ]
    if partition:
        lines.append(f"#SBATCH --partition={_NAME_UNSAFE.sub('_', partition)}")
    if gpu_gres and launch.count > 0:
        lines.append(f"#SBATCH --gres=gpu:{int(launch.count)}")
    for name, value in sorted(job_env(launch, agent_env).items()):
        if not _ENV_NAME.match(name):
            raise ExecutorError(
                f"job {launch.job_id}: {name!r} is not a valid environment variable name. "
                "To fix: use letters, digits and underscores in run.env names"
            )
        lines.append(f"export {name}={shlex.quote(value)}")
    lines += [
        "trap 'suanli_signalled=1' TERM INT HUP",
        shlex.join(launch.command),
        "suanli_exit_code=$?",
        f'echo "$suanli_exit_code" > {shlex.quote(str(launch.workdir / EXIT_CODE_NAME))}',
        'exit "$suanli_exit_code"',
        "",
    ]
    return "\n".join(lines)


@dataclass
class _Job:
    workdir: Path
    logs: LogTail


class SlurmExecutor:
    """Runs jobs as Slurm batch jobs through the ``sbatch``, ``squeue``, ``sacct`` and
    ``scancel`` commands (argv lists, never a shell).

    ``conf``: a ``slurm.conf`` to use (sets ``SLURM_CONF`` for those commands; default:
    the system's). ``bin_dir``: where the commands are (default: ``PATH``).
    ``command_timeout_s``: how long one Slurm command may take. ``grace_s``: how long
    :meth:`stop` waits for a cancelled job to leave the queue.
    """

    name = "slurm"

    def __init__(
        self,
        *,
        gpu_gres: bool = False,
        partition: str | None = None,
        conf: Path | None = None,
        bin_dir: Path | None = None,
        command_timeout_s: float = 30.0,
        grace_s: float = 10.0,
    ) -> None:
        self.gpu_gres = gpu_gres
        self.partition = partition
        self.bin_dir = bin_dir
        self.command_timeout_s = command_timeout_s
        self.grace_s = grace_s
        self._env = dict(os.environ)
        if conf is not None:
            self._env["SLURM_CONF"] = str(conf)
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def start(self, launch: Launch) -> str:
        script = launch.workdir / SCRIPT_NAME
        script.write_text(batch_script(launch, gpu_gres=self.gpu_gres, partition=self.partition), encoding="utf-8")
        (launch.workdir / EXIT_CODE_NAME).unlink(missing_ok=True)
        done = self._run(["sbatch", "--parsable", str(script)])
        if done.returncode != 0:
            raise ExecutorError(
                f"job {launch.job_id}: sbatch refused {script}: {done.stderr.strip() or done.stdout.strip()}. "
                "To fix: check the partition and GRES settings of the slurm executor, and `sinfo`"
            )
        handle = done.stdout.strip().split(";")[0]
        if not handle.isdigit():
            raise ExecutorError(f"job {launch.job_id}: sbatch answered {done.stdout.strip()!r}, not a job id")
        with self._lock:
            self._jobs[handle] = _Job(launch.workdir, LogTail(launch.workdir / LOG_NAME))
        return handle

    def poll(self, handle: str) -> Poll:
        workdir = self._job(handle).workdir
        queued = self._run(["squeue", "-h", "-j", handle, "-t", "all", "-o", "%T"])
        state = queued.stdout.strip().split("\n")[0].strip() if queued.returncode == 0 else ""
        if queued.returncode != 0 and "invalid job id" not in queued.stderr.lower():
            raise ExecutorError(f"Slurm job {handle}: squeue failed: {queued.stderr.strip()}")
        if state in _ACTIVE or state in _REQUEUE_HOLD:
            return Poll("RUNNING", message=None if state == "RUNNING" else f"Slurm state {state}")
        accounted = self._sacct(handle)
        if accounted is not None:
            return accounted
        code = _read_exit_code(workdir / EXIT_CODE_NAME)
        if code is not None and state in ("", "COMPLETED", "FAILED"):
            return Poll("SUCCEEDED", exit_code=0) if code == 0 else Poll("FAILED", code, signal_text(code))
        if state == "COMPLETED":
            return Poll("SUCCEEDED", exit_code=0)
        if state:
            detail = f" ({signal_text(code)})" if code else ""
            return Poll("FAILED", exit_code=code, message=f"Slurm job ended {state}{detail}")
        return Poll(
            "FAILED",
            message="the job left the Slurm queue without accounting or an exit-code file (node lost, or killed hard)",
        )

    def read_logs(self, handle: str, offset: int) -> tuple[str, int]:
        job = self._job(handle)
        return job.logs.read(offset, final=(job.workdir / EXIT_CODE_NAME).exists())

    def stop(self, handle: str) -> None:
        """``scancel`` the job, then wait up to ``grace_s`` for it to end."""
        done = self._run(["scancel", handle])
        if done.returncode != 0:
            raise ExecutorError(f"Slurm job {handle}: scancel failed: {done.stderr.strip()}")
        for _ in range(math.ceil(self.grace_s / STOP_POLL_INTERVAL_S)):
            if self.poll(handle).state != "RUNNING":
                return
            time.sleep(STOP_POLL_INTERVAL_S)

    def release(self, handle: str) -> None:
        """Forget a finished job (optional capability, as in the local executor)."""
        with self._lock:
            self._jobs.pop(handle, None)

    def close(self) -> None:
        """Nothing to release: each call runs one Slurm command."""

    def _job(self, handle: str) -> _Job:
        with self._lock:
            job = self._jobs.get(handle)
        if job is None:
            raise ExecutorError(f"no Slurm job with handle '{handle}' started by this agent")
        return job

    def _sacct(self, handle: str) -> Poll | None:
        """The outcome from accounting, or None where accounting is off or has no row yet."""
        done = self._run(["sacct", "-n", "-X", "-j", handle, "-o", "State,ExitCode", "-P"])
        row = done.stdout.strip().split("\n")[0] if done.returncode == 0 else ""
        if "|" not in row:
            return None
        state_text, exit_text = row.split("|", 1)
        state = state_text.split()[0] if state_text.split() else ""
        code_text, _, signal_part = exit_text.partition(":")
        code = int(code_text) if code_text.isdigit() else None
        if signal_part.isdigit() and int(signal_part) > 0:
            code = 128 + int(signal_part)
        if state == "COMPLETED":
            return Poll("SUCCEEDED", exit_code=code if code is not None else 0)
        if state in _ACTIVE:
            return Poll("RUNNING")
        detail = f" ({signal_text(code)})" if code else ""
        return Poll("FAILED", exit_code=code, message=f"Slurm job ended {state}{detail}")

    def _run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        program = str(self.bin_dir / argv[0]) if self.bin_dir is not None else argv[0]
        try:
            return subprocess.run(
                [program, *argv[1:]],
                capture_output=True,
                text=True,
                errors="replace",
                env=self._env,
                timeout=self.command_timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise ExecutorError(
                f"'{program}' was not found. To fix: install the Slurm client commands on the agent's host "
                "(Debian/Ubuntu: apt-get install slurm-client) or pass bin_dir"
            ) from None
        except subprocess.TimeoutExpired:
            raise ExecutorError(
                f"'{program}' did not answer within {self.command_timeout_s} s. To fix: check slurmctld (scontrol ping)"
            ) from None


def _read_exit_code(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
