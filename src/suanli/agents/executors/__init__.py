"""Executors (local subprocesses, Ray jobs, Slurm batch jobs) and their registry.

``register_builtins()`` fills an :class:`ExecutorRegistry` with ``local``, ``ray`` and
``slurm``; ``create(name, **options)`` builds one with the executor's own keyword
arguments (``grace_s=5``, ``address="http://..."``, ``gres_template="gpu:{count}"``), checked against
its constructor so a misspelt option fails with the list of valid ones. Ray and Slurm
are needed only when their executor is created, not to import this package.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from suanli.agents.executors.base import (
    EngineUnavailable,
    Executor,
    ExecutorError,
    Launch,
    LaunchRefused,
    Poll,
    RunState,
)
from suanli.agents.executors.local import LocalExecutor
from suanli.agents.executors.ray_exec import RayExecutor
from suanli.agents.executors.slurm import SlurmExecutor
from suanli.errors import InputError, UnknownNameError


@dataclass(frozen=True)
class ExecutorEntry:
    name: str
    factory: Callable[..., Executor]
    description: str

    def options(self) -> tuple[str, ...]:
        """The keyword arguments the factory takes."""
        parameters = inspect.signature(self.factory).parameters.values()
        return tuple(p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


class ExecutorRegistry:
    """Name -> executor factory. Unknown names raise :class:`UnknownNameError` listing the valid ones."""

    def __init__(self) -> None:
        self._entries: dict[str, ExecutorEntry] = {}

    def register(self, name: str, factory: Callable[..., Executor], description: str) -> None:
        if name in self._entries:
            raise ValueError(f"executor '{name}' is already registered")
        self._entries[name] = ExecutorEntry(name, factory, description)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> tuple[ExecutorEntry, ...]:
        return tuple(self._entries.values())

    def create(self, name: str, **options: Any) -> Executor:
        """Build executor ``name`` with ``options`` (its constructor's keyword arguments)."""
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownNameError("executor", name, self._entries)
        valid = entry.options()
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise InputError(
                f"executor '{name}' has no option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid)) or 'none'}"
            )
        try:
            return entry.factory(**options)
        except TypeError as exc:
            raise InputError(f"executor '{name}': {exc}") from None


def register_builtins(registry: ExecutorRegistry | None = None) -> ExecutorRegistry:
    """A registry holding every built-in executor."""
    registry = registry or ExecutorRegistry()
    registry.register("local", LocalExecutor, "subprocesses on the agent's host, one process group each")
    registry.register("ray", RayExecutor, "Ray jobs through the dashboard's job submission API (address=...)")
    registry.register("slurm", SlurmExecutor, "Slurm batch jobs through sbatch, squeue, sacct and scancel")
    return registry


__all__ = [
    "EngineUnavailable",
    "Executor",
    "ExecutorEntry",
    "ExecutorError",
    "ExecutorRegistry",
    "Launch",
    "LaunchRefused",
    "LocalExecutor",
    "Poll",
    "RayExecutor",
    "RunState",
    "SlurmExecutor",
    "register_builtins",
]
