"""The local executor: each job is a subprocess of the agent, in its own process group.

``start`` runs ``launch.command`` with ``shell=False`` in ``launch.workdir``; stdout and
stderr go to ``<workdir>/suanli-job.log`` (a file, not a pipe, so a job that writes a lot
never blocks on a full pipe and its output survives the agent). ``stop`` sends SIGTERM to
the job's process group, waits ``grace_s``, then sends SIGKILL to whatever is left of it.

A job dies with its agent: on Linux each job asks the kernel (``prctl(PR_SET_PDEATHSIG,
SIGKILL)``) to be killed when the agent goes, even by ``kill -9``. Otherwise the job, in
a session of its own, would live on as an orphan while the server, having heard no
heartbeat, runs it again at another site: two copies writing the same checkpoints. The
kernel ties this to the *thread* that started the job, so start jobs from a thread that
lives as long as the agent (its loop does).

:class:`LogTail` reads a growing log file by *character* offset (the unit of
``AgentReport.logs`` and of ``GET /v1/jobs/{id}/logs``); the Slurm executor uses it too.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import itertools
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from suanli.agents.executors.base import EngineUnavailable, ExecutorError, Launch, LaunchRefused, Poll
from suanli.agents.sandbox import Cgroups, Sandbox, SandboxConfig

LOG_NAME = "suanli-job.log"
"""The job's combined stdout and stderr, in its workdir."""
MAX_READ_BYTES = 4 * 1024 * 1024
"""Bytes one :meth:`LogTail.read` reads at most (so a huge log is shipped in pieces)."""
PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal a process gets when its parent dies (``<linux/prctl.h>``)."""
DISK_CHECK_INTERVAL_S = 5.0
"""How often a running job's workdir is measured against the disk cap (Kubernetes' kubelet
evicts pods over their ephemeral-storage limit the same way, checking every 10 s)."""


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process (strictly: the
    calling thread) dies, or None where the kernel has no such option (not Linux).

    The race where the parent dies between ``fork`` and ``prctl`` is closed by checking
    the parent pid afterwards. ``prctl`` is looked up here, before the fork: the child
    only calls it.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the agent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def job_env(launch: Launch, agent_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a job runs with: ``launch.env`` plus the agent's ``PATH``
    (so that ``python3`` resolves) unless ``launch.env`` sets ``PATH`` itself."""
    env = dict(launch.env)
    agent_path = (os.environ if agent_env is None else agent_env).get("PATH")
    if "PATH" not in env and agent_path is not None:
        env["PATH"] = agent_path
    return env


def signal_text(code: int) -> str:
    """``"exited with code 3"`` or ``"killed by signal SIGKILL (9)"`` for a shell-style
    exit status (``128 + n`` means signal ``n``)."""
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"killed by signal {name} ({code - 128})"
    return f"exited with code {code}"


@dataclass
class LogTail:
    """Incremental reader of a growing UTF-8 log file by character offset.

    Reading from the offset the previous call returned costs only the new bytes (the
    byte position of that character offset is remembered); any other offset re-reads the
    file from the start. Undecodable bytes become U+FFFD (``errors="replace"``); a
    multi-byte character split across two reads is held back until it is complete.
    """

    path: Path
    fd: int | None = None
    """An open descriptor of the log to read instead of opening ``path`` each time: the
    sandbox's jobs own their workdir and could put a link to another file at ``path``."""
    _chars: int = 0
    _bytes: int = 0
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, offset_chars: int, final: bool = False) -> tuple[str, int]:
        """Text from character ``offset_chars`` (at most :data:`MAX_READ_BYTES` of it) and
        the offset after it. ``final``: the writer is done, flush any partial character."""
        with self._lock:
            if offset_chars != self._chars:
                self._rewind()
                while self._chars < offset_chars:
                    text = self._advance(final)
                    if not text:
                        return "", self._chars
                    if self._chars > offset_chars:
                        return text[len(text) - (self._chars - offset_chars) :], self._chars
            return self._advance(final), self._chars

    def _rewind(self) -> None:
        self._chars = self._bytes = 0
        self._decoder.reset()

    def _advance(self, final: bool) -> str:
        if self.fd is not None:
            data = os.pread(self.fd, MAX_READ_BYTES, self._bytes)
        else:
            try:  # never through a link: the job may own the directory, and this reader is root
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                return ""
            except OSError as exc:  # ELOOP: a link where the log should be
                raise ExecutorError(f"cannot read the log {self.path}: {exc.strerror}") from None
            try:
                data = os.pread(fd, MAX_READ_BYTES, self._bytes)
            finally:
                os.close(fd)
        at_end = len(data) < MAX_READ_BYTES
        self._bytes += len(data)
        text = self._decoder.decode(data, final=final and at_end)
        self._chars += len(text)
        return text


@dataclass
class _Job:
    process: subprocess.Popen[bytes]
    logs: LogTail
    cgroup: Path | None = None
    workdir: Path | None = None
    disk_checked_s: float = -math.inf
    evicted: str | None = None
    """Why the agent stopped it (over its disk cap), once it has."""
    kill_at_s: float = math.inf

    def ended(self) -> None:
        """The job's main process has ended: kill what is left in its cgroup, remove it."""
        if self.cgroup is not None:
            Cgroups.remove(self.cgroup)
            self.cgroup = None

    def close(self) -> None:
        """Close the log descriptor and remove the job's cgroup (once it has ended)."""
        if self.logs.fd is not None:
            os.close(self.logs.fd)
            self.logs.fd = None
        self.ended()


class LocalExecutor:
    """Runs each job as a local subprocess in its own session (process group), which
    dies with the agent (see the module docstring).

    ``grace_s`` is how long :meth:`stop` waits after SIGTERM before SIGKILL; :meth:`stop`
    blocks for at most that long. ``sandbox``: run each job as an unprivileged user in its
    own namespaces and cgroup (:mod:`suanli.agents.sandbox`); None runs jobs as the agent's
    own user, with its ``PATH``. ``disk_cap_bytes``: the most a job's workdir may hold
    (its log included; not its checkpoint directory), measured every
    :data:`DISK_CHECK_INTERVAL_S` as Kubernetes' kubelet measures ``emptyDir`` volumes; a
    job over it is stopped (SIGTERM, SIGKILL after the grace) and fails saying so. Safe to
    use from several threads: the job table is guarded by a lock, and each job's log reader
    by its own.
    """

    name = "local"

    def __init__(
        self, grace_s: float = 10.0, sandbox: SandboxConfig | None = None, disk_cap_bytes: int | None = None
    ) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {grace_s}")
        if disk_cap_bytes is not None and disk_cap_bytes <= 0:
            raise ValueError(f"disk_cap_bytes must be > 0, got {disk_cap_bytes}")
        self.grace_s = grace_s
        self.disk_cap_bytes = disk_cap_bytes
        self.sandbox_config = sandbox
        self._sandbox: Sandbox | None = None
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def check(self, work_root: Path) -> str:
        """Local processes need a work root the agent can create (it creates the job
        directories under it), and with a sandbox a host that can make one (root, unshare)."""
        try:
            work_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineUnavailable(
                f"cannot create the work dir {work_root}: {exc.strerror}. To fix: pass a --work-dir the agent may write"
            ) from None
        found = f"local processes on {socket.gethostname()}, under {work_root}"
        if self.sandbox_config is None:
            return found + ", as the agent's own user (no sandbox)"
        self._sandbox = Sandbox(self.sandbox_config, work_root)
        return f"{found}, {self._sandbox.check()}"

    def start(self, launch: Launch) -> str:
        """Start the job; the handle is ``"<pid>-<sequence>"`` (unique even if a pid is reused)."""
        program = launch.command[0]
        if not launch.workdir.is_dir():
            raise ExecutorError(
                f"job {launch.job_id}: workdir {launch.workdir} does not exist. "
                "To fix: create it (the agent creates one per job and attempt)"
            )
        if self.sandbox_config is not None:
            return self._start_sandboxed(launch)
        log_path = launch.workdir / LOG_NAME
        try:
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    list(launch.command),
                    shell=False,
                    cwd=launch.workdir,
                    env=job_env(launch),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent(),  # noqa: PLW1509 (only prctl runs in the child)
                )
        except FileNotFoundError:
            raise LaunchRefused(
                f"job {launch.job_id}: program '{program}' was not found (PATH={job_env(launch).get('PATH', '')!r}, "
                f"workdir {launch.workdir}). To fix: install it on this site, or give its absolute path "
                "as the first element of run.command"
            ) from None
        except PermissionError:
            raise LaunchRefused(
                f"job {launch.job_id}: program '{program}' is not executable. "
                f"To fix: chmod +x it, or run it through an interpreter (e.g. ['python3', '{program}'])"
            ) from None
        except OSError as exc:
            raise ExecutorError(
                f"job {launch.job_id}: cannot start '{program}': {exc}. To fix: check run.command"
            ) from None
        return self._keep(_Job(process, LogTail(log_path), workdir=launch.workdir))

    def _keep(self, job: _Job) -> str:
        handle = f"{job.process.pid}-{next(self._seq)}"
        with self._lock:
            self._jobs[handle] = job
        return handle

    def _start_sandboxed(self, launch: Launch) -> str:
        """Start ``launch`` in the sandbox: ``unshare`` runs our init as the namespace's PID
        1, which reads its orders from a pipe (the spec's secrets never reach a command
        line) and runs the job as its user. The agent keeps the log's descriptor and reads
        through it."""
        sandbox = self._sandbox
        if sandbox is None:
            raise ExecutorError("the sandbox was not checked: call check(work_root) before start")
        prepared = sandbox.prepare(launch)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            log_fd = os.open(launch.workdir / LOG_NAME, flags, 0o600)
        except OSError as exc:
            raise ExecutorError(f"job {launch.job_id}: cannot open its log in {launch.workdir}: {exc}") from None
        try:
            process = subprocess.Popen(
                list(prepared.argv),
                shell=False,
                cwd="/",
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                stdin=subprocess.PIPE,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # noqa: PLW1509 (only prctl runs in the child)
            )
            read_fd = os.open(launch.workdir / LOG_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise ExecutorError(f"job {launch.job_id}: cannot start its sandbox: {exc}") from None
        finally:
            os.close(log_fd)
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died at once: poll() says how
            process.stdin.write(prepared.orders)
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        logs = LogTail(launch.workdir / LOG_NAME, fd=read_fd)
        return self._keep(_Job(process, logs, prepared.cgroup, workdir=launch.workdir))

    def _job(self, handle: str) -> _Job:
        with self._lock:
            job = self._jobs.get(handle)
        if job is None:
            raise ExecutorError(f"no local job with handle '{handle}' (the agent restarted, or it was released)")
        return job

    def poll(self, handle: str) -> Poll:
        job = self._job(handle)
        code = job.process.poll()
        if code is None:
            self._police_disk(job)
            return Poll("RUNNING")
        job.ended()
        status = 128 - code if code < 0 else code  # Popen reports signal n as -n
        if job.evicted is not None:
            return Poll("FAILED", exit_code=status, message=job.evicted)
        if code == 0:
            return Poll("SUCCEEDED", exit_code=0)
        return Poll("FAILED", exit_code=status, message=signal_text(status))

    def _police_disk(self, job: _Job) -> None:
        """Stop a job whose workdir holds more than the cap: SIGTERM now, SIGKILL once the
        grace is over (at a later poll: the agent's loop never waits here)."""
        now_s = time.monotonic()
        if job.evicted is not None:
            if now_s >= job.kill_at_s:
                _signal_group(job.process.pid, signal.SIGKILL)
            return
        if self.disk_cap_bytes is None or job.workdir is None or now_s - job.disk_checked_s < DISK_CHECK_INTERVAL_S:
            return
        job.disk_checked_s = now_s
        used = disk_usage_bytes(job.workdir)
        if used > self.disk_cap_bytes:
            job.evicted = (
                f"stopped by the agent: its workdir held {used / 2**30:.2f} GiB, over the site's cap of "
                f"{self.disk_cap_bytes / 2**30:.2f} GiB (suanli agent --job-disk-cap). To fix: write less there "
                "(checkpoints go to SUANLI_CHECKPOINT_DIR), or ask the site's operator for a larger cap"
            )
            job.kill_at_s = now_s + self.grace_s
            _signal_group(job.process.pid, signal.SIGTERM)

    def read_logs(self, handle: str, offset: int) -> tuple[str, int]:
        job = self._job(handle)
        return job.logs.read(offset, final=job.process.poll() is not None)

    def stop(self, handle: str) -> None:
        """SIGTERM the job's process group, wait up to ``grace_s`` for its main process,
        then SIGKILL the group (stragglers included). Stopping a finished job is a no-op."""
        job = self._job(handle)
        process = job.process
        if process.poll() is not None:
            return  # its pid (the group id) may belong to someone else by now
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self.grace_s)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        job.ended()

    def release(self, handle: str) -> None:
        """Forget a finished job (optional capability: the agent calls it once it has
        reported the job's end, so a long-lived agent does not keep every job it ran)."""
        with self._lock:
            job = self._jobs.pop(handle, None)
        if job is not None:
            job.close()

    def close(self) -> None:
        """Forget finished jobs; running jobs keep running until stopped or until the agent's
        process ends (they die with it)."""
        with self._lock:
            for handle in [h for h, job in self._jobs.items() if job.process.poll() is not None]:
                self._jobs.pop(handle).close()


def disk_usage_bytes(root: Path) -> int:
    """Bytes the files under ``root`` take on disk (allocated blocks, as ``du`` counts;
    links are not followed, so a link to a big file elsewhere costs nothing)."""
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return total


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(pgid, sig)
