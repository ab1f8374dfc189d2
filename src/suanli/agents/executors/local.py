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
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from suanli.agents.executors.base import EngineUnavailable, ExecutorError, Launch, LaunchRefused, Poll

LOG_NAME = "suanli-job.log"
"""The job's combined stdout and stderr, in its workdir."""
MAX_READ_BYTES = 4 * 1024 * 1024
"""Bytes one :meth:`LogTail.read` reads at most (so a huge log is shipped in pieces)."""
PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal a process gets when its parent dies (``<linux/prctl.h>``)."""


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
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._bytes)
                data = handle.read(MAX_READ_BYTES)
                at_end = len(data) < MAX_READ_BYTES
        except FileNotFoundError:
            return ""
        self._bytes += len(data)
        text = self._decoder.decode(data, final=final and at_end)
        self._chars += len(text)
        return text


@dataclass
class _Job:
    process: subprocess.Popen[bytes]
    logs: LogTail


class LocalExecutor:
    """Runs each job as a local subprocess in its own session (process group), which
    dies with the agent (see the module docstring).

    ``grace_s`` is how long :meth:`stop` waits after SIGTERM before SIGKILL; :meth:`stop`
    blocks for at most that long. Safe to use from several threads: the job table is
    guarded by a lock, and each job's log reader by its own.
    """

    name = "local"

    def __init__(self, grace_s: float = 10.0) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {grace_s}")
        self.grace_s = grace_s
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def check(self, work_root: Path) -> str:
        """Local processes need nothing but a work root the agent can create (it creates the
        job directories under it)."""
        try:
            work_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineUnavailable(
                f"cannot create the work dir {work_root}: {exc.strerror}. To fix: pass a --work-dir the agent may write"
            ) from None
        return f"local processes on {socket.gethostname()}, under {work_root}"

    def start(self, launch: Launch) -> str:
        """Start the job; the handle is ``"<pid>-<sequence>"`` (unique even if a pid is reused)."""
        program = launch.command[0]
        if not launch.workdir.is_dir():
            raise ExecutorError(
                f"job {launch.job_id}: workdir {launch.workdir} does not exist. "
                "To fix: create it (the agent creates one per job and attempt)"
            )
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
        handle = f"{process.pid}-{next(self._seq)}"
        with self._lock:
            self._jobs[handle] = _Job(process, LogTail(log_path))
        return handle

    def _job(self, handle: str) -> _Job:
        with self._lock:
            job = self._jobs.get(handle)
        if job is None:
            raise ExecutorError(f"no local job with handle '{handle}' (the agent restarted, or it was released)")
        return job

    def poll(self, handle: str) -> Poll:
        code = self._job(handle).process.poll()
        if code is None:
            return Poll("RUNNING")
        if code == 0:
            return Poll("SUCCEEDED", exit_code=0)
        status = 128 - code if code < 0 else code  # Popen reports signal n as -n
        return Poll("FAILED", exit_code=status, message=signal_text(status))

    def read_logs(self, handle: str, offset: int) -> tuple[str, int]:
        job = self._job(handle)
        return job.logs.read(offset, final=job.process.poll() is not None)

    def stop(self, handle: str) -> None:
        """SIGTERM the job's process group, wait up to ``grace_s`` for its main process,
        then SIGKILL the group (stragglers included). Stopping a finished job is a no-op."""
        process = self._job(handle).process
        if process.poll() is not None:
            return  # its pid (the group id) may belong to someone else by now
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self.grace_s)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()

    def release(self, handle: str) -> None:
        """Forget a finished job (optional capability: the agent calls it once it has
        reported the job's end, so a long-lived agent does not keep every job it ran)."""
        with self._lock:
            self._jobs.pop(handle, None)

    def close(self) -> None:
        """Forget finished jobs; running jobs keep running until stopped or until the agent's
        process ends (they die with it)."""
        with self._lock:
            for handle in [h for h, job in self._jobs.items() if job.process.poll() is not None]:
                del self._jobs[handle]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(pgid, sig)
