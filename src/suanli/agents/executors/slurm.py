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

Accelerators: a GRES is requested only with ``gres_template`` (``"gpu:{count}"``,
``"gpu:h100:{count}"``, ``"npu:{count}"``; ``{accelerator}`` is the catalogue type), or
``gpu_gres=True``, the same as ``"gpu:{count}"``. A cluster that defines no such GRES
refuses the job at submission ("Invalid generic resource specification"), so the default
asks for none; sites with GPU (or NPU) GRES configured turn it on. ``partition`` and
``account`` go on ``#SBATCH`` lines as given.

Whose jobs: Slurm runs a batch job as the user who submitted it, so an agent running as
root would run every tenant's job as root. With ``user`` (``suanli agent --slurm-user``)
the agent, as root, runs every Slurm command as that unprivileged account (which must
exist on the cluster's nodes) and hands it the job's workdir and checkpoint directory; the
agent refuses to start as root without one. The commands get the agent's environment less
its ``SUANLI_TOKEN``; the job gets none of it (``--export=NONE``).

Before the agent registers, :meth:`SlurmExecutor.check` makes sure the site can take jobs
at all: the five commands are there, ``sinfo`` answers (so slurmctld does), the partition
exists (or the cluster has a default one), the GRES the template names is on one of its
nodes, and the agent's work root can go on an ``#SBATCH`` line.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from suanli.agents.executors.base import EngineUnavailable, ExecutorError, Launch, LaunchRefused, Poll
from suanli.agents.executors.local import LOG_NAME, LogTail, job_env, signal_text
from suanli.agents.sandbox import JobUser, existing_user, give_to_job
from suanli.errors import InputError

SCRIPT_NAME = "suanli-job.sbatch"
COMMANDS = ("sbatch", "squeue", "sacct", "scancel", "sinfo")
"""The Slurm client commands the executor runs (Debian/Ubuntu: the slurm-client package)."""
EXIT_CODE_NAME = "suanli-exit-code"
STOP_POLL_INTERVAL_S = 0.5
"""How often :meth:`SlurmExecutor.stop` asks whether a cancelled job has ended."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SBATCH_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/+@:,=-]+$")
"""Paths written on ``#SBATCH`` lines: no whitespace, quotes, newlines, or ``%`` (Slurm
expands ``%j`` and friends in ``--output``)."""
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_GRES_SAFE = re.compile(r"^[A-Za-z0-9_.:,-]+$")
_GRES_NAME = re.compile(r"(?:^|,)\s*([A-Za-z][A-Za-z0-9_]*)")
"""The GRES names in a ``sinfo -o %G`` field such as ``gpu:h100:8(S:0-1),npu:4``."""
_ACTIVE = frozenset(
    {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT"}
)
_REQUEUE_HOLD = frozenset({"REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "STOPPED"})


def gres_of(template: str, launch: Launch) -> str:
    """The ``--gres`` value for ``launch``: ``template`` with ``{count}`` and ``{accelerator}``
    filled in. Raises :class:`~suanli.errors.InputError` for a template that names another
    field or makes characters a ``#SBATCH`` line cannot hold."""
    try:
        value = template.format(count=int(launch.count), accelerator=launch.accelerator)
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(
            f"GRES template {template!r} is invalid ({exc}). To fix: use {{count}} and {{accelerator}} only, "
            "e.g. gpu:{count} or gpu:h100:{count}"
        ) from None
    if not _GRES_SAFE.match(value):
        raise InputError(
            f"GRES template {template!r} gives {value!r}, which cannot go on an #SBATCH line. "
            "To fix: use letters, digits and ._:,- (e.g. gpu:{count})"
        )
    return value


def batch_script(
    launch: Launch,
    *,
    gpu_gres: bool = False,
    gres_template: str | None = None,
    partition: str | None = None,
    account: str | None = None,
    agent_env: Mapping[str, str] | None = None,
) -> str:
    """The sbatch script for ``launch`` (see the module docstring). Raises
    :class:`LaunchRefused` for a workdir or variable name that cannot be written safely."""
    workdir = str(launch.workdir)
    if not _SBATCH_SAFE_PATH.match(workdir):
        raise LaunchRefused(
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
    if account:
        lines.append(f"#SBATCH --account={_NAME_UNSAFE.sub('_', account)}")
    template = gres_template or ("gpu:{count}" if gpu_gres else None)
    if template and launch.count > 0:
        lines.append(f"#SBATCH --gres={gres_of(template, launch)}")
    for name, value in sorted(job_env(launch, agent_env).items()):
        if not _ENV_NAME.match(name):
            raise LaunchRefused(
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

    ``partition``, ``account``: ``sbatch --partition`` and ``--account`` (default: the
    cluster's default partition, the user's default account). ``gres_template``: the
    ``--gres`` each job asks for (``"gpu:{count}"``; see the module docstring);
    ``gpu_gres=True`` is ``"gpu:{count}"``. ``conf``: a ``slurm.conf`` to use (sets
    ``SLURM_CONF`` for those commands; default: the system's). ``bin_dir``: where the
    commands are (default: ``PATH``). ``command_timeout_s``: how long one Slurm command may
    take. ``grace_s``: how long :meth:`stop` waits for a cancelled job to leave the queue.
    ``user``: the unprivileged account that submits (and so runs) the jobs, for an agent
    running as root (see the module docstring).
    """

    name = "slurm"

    def __init__(
        self,
        *,
        gpu_gres: bool = False,
        gres_template: str | None = None,
        partition: str | None = None,
        account: str | None = None,
        conf: Path | None = None,
        bin_dir: Path | None = None,
        command_timeout_s: float = 30.0,
        grace_s: float = 10.0,
        user: str | None = None,
    ) -> None:
        if gpu_gres and gres_template and gres_template != "gpu:{count}":
            raise InputError(f"give gpu_gres or gres_template ({gres_template!r}), not both")
        self.gres_template = gres_template or ("gpu:{count}" if gpu_gres else None)
        if self.gres_template is not None:  # a bad template is refused now, not at the first job
            gres_of(self.gres_template, Launch("probe", 1, ("true",), {}, Path("/"), "h800", 1))
        self.gpu_gres = self.gres_template is not None
        self.partition = partition or None
        self.account = account or None
        self.bin_dir = bin_dir
        self.command_timeout_s = command_timeout_s
        self.grace_s = grace_s
        self.user_name = user
        self.user: JobUser | None = None
        self._work_root = Path("suanli-work").absolute()
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("SUANLI_TOKEN")}
        if conf is not None:
            self._env["SLURM_CONF"] = str(conf)
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def check(self, work_root: Path) -> str:
        """The commands are there, ``sinfo`` answers, the partition exists (or there is a
        default one), the template's GRES is on some node, and ``work_root`` can go on an
        ``#SBATCH`` line; raises :class:`EngineUnavailable` saying which is not so."""
        self._work_root = work_root.absolute()
        if self.user_name is not None:
            self.user = _submitting_user(self.user_name)
        for command in COMMANDS:
            program = self.bin_dir / command if self.bin_dir is not None else None
            found = program.is_file() if program is not None else shutil.which(command, path=self._env.get("PATH"))
            if not found:
                where = f"in {self.bin_dir}" if self.bin_dir is not None else f"on PATH ({self._env.get('PATH', '')})"
                raise EngineUnavailable(
                    f"the slurm executor needs '{command}', which is not {where}. To fix: install the Slurm client "
                    "commands on the agent's host (Debian/Ubuntu: apt-get install slurm-client), or run the agent "
                    "on a host that submits to the cluster"
                )
        if not _SBATCH_SAFE_PATH.match(str(work_root)):
            raise EngineUnavailable(
                f"the work dir {str(work_root)!r} cannot go on an #SBATCH line (whitespace, quotes or %). "
                "To fix: pass a --work-dir made of letters, digits and ._/+@:,=-"
            )
        listed = self._sinfo(["-h", "-o", "%P|%a|%D"])
        partitions: dict[str, tuple[str, int]] = {}
        default = None
        for line in listed.splitlines():
            name, _, rest = line.strip().partition("|")
            avail, _, nodes = rest.partition("|")
            if not name:
                continue
            if name.endswith("*"):
                name = default = name[:-1]
            count = int(nodes) if nodes.strip().isdigit() else 0
            partitions[name] = (avail.strip(), partitions.get(name, ("", 0))[1] + count)
        names = ", ".join(f"{p}{' (default)' if p == default else ''}" for p in sorted(partitions)) or "none"
        partition = self.partition or default
        if partition is None:
            raise EngineUnavailable(
                f"the Slurm cluster has no default partition (partitions: {names}). "
                "To fix: pass --partition NAME (suanli agent --partition)"
            )
        if partition not in partitions:
            raise EngineUnavailable(
                f"Slurm has no partition '{partition}' (partitions: {names}). To fix: pass --partition with one of them"
            )
        state, node_count = partitions[partition]
        summary = f"Slurm answers: partition {partition} ({state}, {node_count} node{'s' if node_count != 1 else ''})"
        if self.gres_template is not None:
            wanted = self.gres_template.split(":", 1)[0]
            offered = set(_GRES_NAME.findall(self._sinfo(["-h", "-p", partition, "-o", "%G"]).replace("\n", ",")))
            if wanted not in offered:
                raise EngineUnavailable(
                    f"no node of Slurm partition '{partition}' has GRES '{wanted}' "
                    f"(sinfo %G: {', '.join(sorted(offered)) or 'none'}), so sbatch would refuse every job asking for "
                    f"--gres={self.gres_template}. To fix: pass --gres-template with a GRES the partition has, "
                    "or none"
                )
            summary += f", GRES {self.gres_template}"
        return summary + (f", account {self.account}" if self.account else "")

    def _sinfo(self, arguments: list[str]) -> str:
        try:
            done = self._run(["sinfo", *arguments])
        except ExecutorError as exc:
            raise EngineUnavailable(str(exc)) from None
        if done.returncode != 0:
            reason = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise EngineUnavailable(
                f"sinfo failed ({reason[-1] if reason else f'exit code {done.returncode}'}). "
                "To fix: check that slurmctld runs and answers (scontrol ping) and that SLURM_CONF names its slurm.conf"
            )
        return done.stdout

    def start(self, launch: Launch) -> str:
        if self.user is not None:
            job_dir = self._work_root / launch.job_id
            checkpoints = launch.env.get("SUANLI_CHECKPOINT_DIR")
            for target in (launch.workdir, *([Path(checkpoints)] if checkpoints else [])):
                give_to_job(job_dir, target, self.user, launch.made_dirs)
        script = launch.workdir / SCRIPT_NAME
        text = batch_script(launch, gres_template=self.gres_template, partition=self.partition, account=self.account)
        script.write_text(text, encoding="utf-8")
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
                user=self.user.uid if self.user else None,
                group=self.user.gid if self.user else None,
                extra_groups=[] if self.user else None,
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


def _submitting_user(name: str) -> JobUser:
    """The account Slurm commands run as: an existing, unprivileged one, and only an agent
    running as root can switch to it."""
    user = existing_user(name)
    if user is None:
        raise EngineUnavailable(
            f"--slurm-user {name}: no such user on this host. To fix: give an account that exists here and on "
            "the cluster's nodes"
        )
    if user.uid == 0:
        raise EngineUnavailable(
            f"--slurm-user {name} is root; jobs never run as root. To fix: give an unprivileged account"
        )
    if os.geteuid() not in (0, user.uid):
        raise EngineUnavailable(
            f"--slurm-user {name}: only an agent running as root can submit as another user. "
            "To fix: run the agent as root, or as that user without --slurm-user"
        )
    return user


def _read_exit_code(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
