"""The scheduler object: one long-lived :class:`Scheduler` per simulation run or per
leading control-plane replica. It owns the policy instance (round-based policies keep
their rounds and what they have seen) and the :class:`ClusterState`, whose per-job
history (attained service, work left, runs, preemptions) lives as long as the job.

A cycle is a numbered recipe, each phase a method timed with the injected timer:

1. snapshot: the feeder brings the state up to date at ``now_s`` (:class:`Ports`);
2. requeue: running jobs the feeder lost (silent sites) return to the queue, paying
   the restart cost;
3. decide: the policy reads the state (its own order) and returns starts, preemptions,
   a wake-up time and its reasons for the jobs it holds back;
4. admit: each start passes admission under quota, in the policy's order;
5. apply: preemptions (graceful: the job checkpoints as it stops, then pays the restart
   cost) and admitted starts change the state; the feeder carries them out;
6. explain: the policy's and admission's reasons, and for every other waiting job that
   others are served before on its pools, BEHIND_HIGHER_PRIORITY with how many and which
   (:mod:`suanli.scheduler.explain`), go to the feeder.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from suanli.clock import Clock
from suanli.policy import Decisions, Policy, Wait
from suanli.scheduler.explain import behind_higher_priority
from suanli.scheduler.ports import NoPorts, Ports
from suanli.scheduler.state import ClusterState, Running

PHASES = ("snapshot", "requeue", "decide", "admit", "apply", "explain")
_NONE: Mapping[int, Wait] = MappingProxyType({})
_NO_TIMES: Mapping[str, float] = MappingProxyType({})


class CycleResult(NamedTuple):
    """What one cycle did (a named tuple: a simulation makes ~10^5 of them)."""

    started: tuple[tuple[int, Running], ...]
    preempted: tuple[tuple[int, Running], ...]
    wake_at_s: float | None
    took_s: float
    """Timer seconds of the whole cycle (0 without a timer)."""
    requeued: tuple[tuple[int, Running], ...] = ()
    waits: Mapping[int, Wait] = _NONE
    phase_s: Mapping[str, float] = _NO_TIMES
    """Timer seconds per phase (empty without a timer)."""


class Scheduler:
    """Drives ``policy`` over ``state`` cycle after cycle (see the module docstring)."""

    def __init__(
        self,
        policy: Policy,
        state: ClusterState,
        restart_s: float = 0.0,
        timer: Clock | None = None,
        ports: Ports | None = None,
        explain: bool = True,
    ) -> None:
        self.policy = policy
        self.state = state
        self.restart_s = restart_s
        self.timer = timer
        self.explains = explain
        """Whether phase 6 gives waiting jobs their BEHIND_HIGHER_PRIORITY reasons: a pass
        over the queue each cycle, for a reader of ``CycleResult.waits`` (the live plane,
        ``suanli explain``). The simulator's engine and the forecasts read no reasons and
        turn it off: over 10,000 waiting jobs a forecast took 27 s with it, 1.3 s without."""
        state.explains = explain  # the policy may leave its own reasons out too
        self.ports: Ports = ports or NoPorts()
        self._bare = type(self.ports) is NoPorts
        """No feeder to consult (the simulator): phases 1, 2, 4 and 6 have nothing to do,
        and the cycle runs decide and apply alone (a simulation runs ~10^5 cycles)."""
        self.cycles = 0

    def cycle(self, now_s: float) -> CycleResult:
        """Run one cycle at ``now_s`` (seconds on the state's clock)."""
        self.cycles += 1
        timer = self.timer
        if timer is None and self._bare:
            return self._decide_and_apply(now_s)
        phase_s: dict[str, float] = {}
        t0 = last = timer.now_s() if timer is not None else 0.0

        def lap(name: str) -> None:
            nonlocal last
            if timer is not None:
                now = timer.now_s()
                phase_s[name] = now - last
                last = now

        state = self.snapshot(now_s)
        lap("snapshot")
        requeued = self.requeue(state, now_s)
        lap("requeue")
        decisions = self.decide(state)
        lap("decide")
        admitted, waits = self.admit(state, decisions)
        lap("admit")
        preempted, started = self.apply(state, decisions, admitted)
        lap("apply")
        waits = self.explain(state, waits, started)
        lap("explain")
        return CycleResult(started, preempted, decisions.wake_at_s, last - t0, requeued, waits, phase_s)

    def _decide_and_apply(self, now_s: float) -> CycleResult:
        """The cycle without a feeder or a timer (the simulator's): decide and apply only."""
        state = self.state
        state.now_s = now_s
        decisions = self.policy.schedule(state)
        restart_s = self.restart_s
        preempts, starts = decisions.preempts, decisions.starts
        preempted = tuple([(p.job, state.preempt(p.job, 0.0, restart_s)) for p in preempts]) if preempts else ()
        started = tuple([(s.job, state.start(s.job, s.pool)) for s in starts]) if starts else ()
        waits = {w.job: w for w in decisions.waits} if decisions.waits else {}
        if state.count_pending():
            self._add_behind(state, waits, started)
        if waits:
            return CycleResult(started, preempted, decisions.wake_at_s, 0.0, (), waits)
        return CycleResult(started, preempted, decisions.wake_at_s, 0.0)

    # -- the phases ----------------------------------------------------------------------

    def snapshot(self, now_s: float) -> ClusterState:
        self.state = self.ports.snapshot(self.state, now_s)
        self.state.now_s = now_s
        self.state.explains = self.explains
        return self.state

    def requeue(self, state: ClusterState, now_s: float) -> tuple[tuple[int, Running], ...]:
        lost = self.ports.requeue(state, now_s)
        return tuple((job, state.preempt(job, 0.0, self.restart_s)) for job in lost)

    def decide(self, state: ClusterState) -> Decisions:
        return self.policy.schedule(state)

    def admit(self, state: ClusterState, decisions: Decisions) -> tuple[list[tuple[int, int]], dict[int, Wait]]:
        waits = {w.job: w for w in decisions.waits}
        admitted: list[tuple[int, int]] = []
        for start in decisions.starts:
            refusal = self.ports.admit(state, start.job, start.pool)
            if refusal is None:
                admitted.append((start.job, start.pool))
            else:
                waits[start.job] = refusal
        return admitted, waits

    def apply(
        self, state: ClusterState, decisions: Decisions, admitted: list[tuple[int, int]]
    ) -> tuple[tuple[tuple[int, Running], ...], tuple[tuple[int, Running], ...]]:
        # a policy's preemption is graceful: the job checkpoints as it stops (checkpoint_s=0)
        preempted = tuple((p.job, state.preempt(p.job, 0.0, self.restart_s)) for p in decisions.preempts)
        started = tuple((job, state.start(job, pool)) for job, pool in admitted)
        self.ports.apply(state, preempted, started)
        return preempted, started

    def explain(
        self, state: ClusterState, waits: dict[int, Wait], started: tuple[tuple[int, Running], ...]
    ) -> dict[int, Wait]:
        self._add_behind(state, waits, started)
        self.ports.explain(state, waits)
        return waits

    def _add_behind(
        self, state: ClusterState, waits: dict[int, Wait], started: tuple[tuple[int, Running], ...]
    ) -> None:
        """Phase 6's own reasons (BEHIND_HIGHER_PRIORITY), where this scheduler gives them."""
        if self.explains:
            waits.update(behind_higher_priority(state, waits, started, self.ports.label, self.policy.name))
