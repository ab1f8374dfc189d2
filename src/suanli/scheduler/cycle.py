"""One scheduling cycle, the same under the simulated and the wall clock.

1. snapshot: the :class:`ClusterState` is the snapshot the policy reads;
2. decide: the policy returns preemptions, starts and an optional wake-up time;
3. preempt: stop the chosen jobs gracefully (they checkpoint as they stop, pay the
   restart cost, and return to the queue); only faults lose work since a checkpoint;
4. admit: start the chosen jobs; the state refuses over-allocation;
5. report: what started, what stopped, when to call again, and how long it took.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.clock import Clock
from suanli.policy import Policy
from suanli.scheduler.state import ClusterState, Running


@dataclass(frozen=True)
class CycleResult:
    started: tuple[tuple[int, Running], ...]
    preempted: tuple[tuple[int, Running], ...]
    wake_at_s: float | None
    took_s: float


def run_cycle(
    state: ClusterState,
    policy: Policy,
    timer: Clock | None = None,
    restart_s: float = 0.0,
) -> CycleResult:
    """Run one cycle of ``policy`` over ``state``; ``timer`` measures its latency."""
    t0 = timer.now_s() if timer is not None else 0.0
    decisions = policy.schedule(state)
    # a policy's preemption is graceful: the job checkpoints as it stops (checkpoint_s=0)
    preempted = tuple((p.job, state.preempt(p.job, 0.0, restart_s)) for p in decisions.preempts)
    started = tuple((s.job, state.start(s.job, s.pool)) for s in decisions.starts)
    took = (timer.now_s() - t0) if timer is not None else 0.0
    return CycleResult(started, preempted, decisions.wake_at_s, took)
