"""The executor protocol: how an agent hands a job to its site's engine.

An executor is small: ``check`` that its engine can take jobs at all (before the agent
registers), ``start`` a launch and return a handle (a string the executor can find the
job by again: a process id, a Ray submission id, a Slurm job id), ``poll`` it, read its
log output from an offset, ``stop`` it. The agent owns everything else (leases, fencing
tokens, checkpoints, reporting). Executors never run a shell string: the command is an
argv list.

Whose fault a failed start is decides what happens to the job::

    ExecutorError                 the engine refused or failed (sbatch missing or refusing,
     |                            Ray down, the work dir unwritable): an *executor fault*;
     |                            the job goes back to the queue and the site is degraded
     +-- EngineUnavailable        ``check`` found the engine unusable: the agent refuses to
     |                            start (exit code 2)
     +-- LaunchRefused            the job itself cannot run as written (its program is not
                                  there, a workdir or variable name no batch script can hold):
                                  the job FAILS, as it would on any site
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
    made_dirs: frozenset[Path] = frozenset()
    """Of ``workdir`` and the checkpoint directory, those the agent made for this launch: a
    sandbox or a Slurm account may be handed these, never a directory that was there."""


@dataclass(frozen=True)
class Poll:
    state: RunState
    exit_code: int | None = None
    message: str | None = None


class Executor(Protocol):
    """What every executor implements."""

    name: str

    def check(self, work_root: Path) -> str:
        """Whether the engine can take jobs whose directories are under ``work_root``:
        returns one line saying what was found (logged by the agent), or raises
        :class:`EngineUnavailable` saying what is wrong and how to fix it. Called once,
        before the agent registers its site; it must not start anything."""
        ...

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


class EngineUnavailable(ExecutorError):
    """The site's engine cannot take jobs at all (its commands are missing, its controller
    or dashboard does not answer, the partition does not exist): the agent refuses to
    register, with this message and exit code 2."""

    exit_code = 2


class LaunchRefused(ExecutorError):
    """This launch cannot run as written (its program is missing or not executable here,
    its workdir or a variable name cannot go into a batch script): the job's fault, not the
    engine's, so the agent reports the job FAILED instead of an executor fault."""
