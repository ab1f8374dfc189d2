"""The executor protocol: how an agent hands a job to its site's engine.

An executor is small: ``start`` a launch and return a handle (a string the executor can
find the job by again: a process id, a Ray submission id, a Slurm job id), ``poll`` it,
read its log output from an offset, ``stop`` it. The agent owns everything else (leases,
fencing tokens, checkpoints, reporting). Executors never run a shell string: the
command is an argv list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from suanli.errors import SuanliError

RunState = Literal["RUNNING", "SUCCEEDED", "FAILED"]


@dataclass(frozen=True)
class Launch:
    """One attempt of one job, ready to run.

    ``env`` is the job's whole environment (the spec's ``run.env`` plus the agent's
    ``SUANLI_*`` variables); executors add nothing from the agent's own environment
    except ``PATH`` (so that ``python3`` resolves) unless the spec sets it.
    ``workdir`` exists already (the agent creates one per job and attempt).
    """

    job_id: str
    attempt: int
    command: tuple[str, ...]
    env: Mapping[str, str]
    workdir: Path
    accelerator: str
    count: int
    runtime_env: Mapping[str, Any] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Poll:
    state: RunState
    exit_code: int | None = None
    message: str | None = None


class Executor(Protocol):
    """What every executor implements."""

    name: str

    def start(self, launch: Launch) -> str:
        """Start the job; return its handle. Raises :class:`ExecutorError` with a reason."""
        ...

    def poll(self, handle: str) -> Poll: ...

    def read_logs(self, handle: str, offset: int) -> tuple[str, int]:
        """Output since character ``offset``, and the offset after it."""
        ...

    def stop(self, handle: str) -> None:
        """Stop the job (gracefully first: SIGTERM, then SIGKILL after a grace period)."""
        ...

    def close(self) -> None:
        """Release the executor's resources (connections, threads)."""
        ...


class ExecutorError(SuanliError):
    """The engine refused or failed to start a job; the message says why and how to fix it."""
