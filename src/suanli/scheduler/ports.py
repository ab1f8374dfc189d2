"""What a scheduling cycle reaches outside the scheduler: the protocols its feeders
implement (DESIGN.md, "The scheduler object").

The simulator's feeder is :class:`NoPorts` (its engine changes the state between cycles
itself); the control plane's reads and writes its store (``suanli.service.control``).
Feeders translate, never decide: every choice of where and when is the policy's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from suanli.policy import Wait
from suanli.scheduler.state import ClusterState, Running


class Ports(Protocol):
    def snapshot(self, state: ClusterState, now_s: float) -> ClusterState:
        """Bring ``state`` up to date with the world at ``now_s`` (arrivals, ends, cancels);
        returns it, or a new state over the same job ids when the pools changed."""
        ...

    def requeue(self, state: ClusterState, now_s: float) -> Sequence[int]:
        """Running jobs lost since the snapshot (their site stopped answering); the
        scheduler returns them to the queue."""
        ...

    def admit(self, state: ClusterState, job: int, pool: int) -> Wait | None:
        """Admission under quota: None to let ``job`` start on ``pool``, else the refusal.
        Called in the policy's order; an admitted start counts against later ones."""
        ...

    def apply(
        self,
        state: ClusterState,
        preempted: Sequence[tuple[int, Running]],
        started: Sequence[tuple[int, Running]],
    ) -> None:
        """Carry out what the cycle changed in the state (stop and start the runs)."""
        ...

    def explain(self, state: ClusterState, waits: Mapping[int, Wait]) -> None:
        """Record why waiting jobs wait: ``waits`` has the policy's and admission's own
        reasons and the scheduler's behind-higher-priority ones; every other waiting job
        waits for capacity."""
        ...

    def label(self, job: int) -> str:
        """How a reason names ``job`` (the control plane: its job id)."""
        ...


class NoPorts:
    """A feeder whose engine keeps the state itself (the simulator): every port is a no-op."""

    def snapshot(self, state: ClusterState, now_s: float) -> ClusterState:
        return state

    def requeue(self, state: ClusterState, now_s: float) -> Sequence[int]:
        return ()

    def admit(self, state: ClusterState, job: int, pool: int) -> Wait | None:
        return None

    def apply(
        self,
        state: ClusterState,
        preempted: Sequence[tuple[int, Running]],
        started: Sequence[tuple[int, Running]],
    ) -> None:
        return None

    def explain(self, state: ClusterState, waits: Mapping[int, Wait]) -> None:
        return None

    def label(self, job: int) -> str:
        return f"job {job}"
