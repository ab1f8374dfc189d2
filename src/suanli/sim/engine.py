"""The discrete-event simulator: replays a trace on a network under one policy.

Events are kept in a heap keyed ``(time, priority, seq)``: at equal times, finishes
(priority 0) come before wake-ups (1); arrivals are merged in from the sorted trace
after the events of their instant, so freed capacity is visible to the new jobs; then
one cycle of the run's :class:`~suanli.scheduler.Scheduler` runs (the object the
control plane's leader runs, here on the trace's clock; it keeps the policy and every
job's history for the whole run). Time is the trace's (seconds from its first submission); nothing reads the wall
clock, and a seed fixes everything, so a run is reproducible.

A job's runtime on a pool is its remaining reference work / the pool's speed (or its
class's measured speed there). A job larger than every pool it may use can never run:
it is *rejected* at arrival and counted apart; every other job completes unless
``until_s`` stops the run first (jobs still queued or running then are not "lost", they
are reported as unfinished).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from suanli.clock import Clock
from suanli.policy import Policy, PoolTable
from suanli.scheduler import ClusterState, JobTable, Scheduler
from suanli.sim.faults import FaultEvent, Faults, fault_events
from suanli.sim.metrics import Recorder

FINISH, FAULT, WAKE = 0, 1, 2

Progress = Callable[[int, int], None]
"""progress(jobs finished or rejected, jobs in the trace)."""


@dataclass(frozen=True)
class SimInput:
    """Everything one run needs; build it with :func:`suanli.sim.workload.prepare`."""

    pools: PoolTable
    jobs: JobTable
    epoch_s: float
    """UTC time of simulated time 0 (aligns hours of day with the grid's profiles)."""


@dataclass(frozen=True)
class SimOutput:
    recorder: Recorder
    rejected: tuple[int, ...]
    unfinished: int
    end_s: float
    """When the run stopped: its last event, or ``until_s`` when that cut it short."""


def simulate(
    data: SimInput,
    policy: Policy,
    until_s: float | None = None,
    progress: Progress | None = None,
    timer: Clock | None = None,
    checkpoint_s: float = 0.0,
    restart_s: float = 0.0,
    faults: Faults | None = None,
    cycle_interval_s: float = 0.0,
) -> SimOutput:
    """Run ``policy`` over ``data`` until every job has finished (or ``until_s``).

    Jobs a policy preempts checkpoint as they stop; jobs a fault stops keep the work up to
    their last checkpoint (every ``checkpoint_s`` of a run; 0 = continuous). Both pay
    ``restart_s`` of reference work to resume. ``cycle_interval_s`` > 0 batches
    scheduling: after a cycle, the next one waits at least that long (as Slurm's
    ``sched_interval`` and Kueue's batching do), which matters only when the queue is long.
    """
    jobs = data.jobs
    # the policies read hours of day through the pool table: give it the run's epoch
    pools = data.pools if data.pools.epoch_s == data.epoch_s else replace(data.pools, epoch_s=data.epoch_s)
    n = len(jobs.submit_s)
    state = ClusterState(pools, jobs)
    scheduler = Scheduler(policy, state, restart_s, timer, explain=False)  # nothing here reads reasons
    recorder = Recorder(pools, n, epoch_s=data.epoch_s)
    largest = largest_allowed(pools, jobs)
    heap: list[tuple[float, int, int, int, int]] = []
    seq = 0
    next_job = 0
    done = 0
    rejected: list[int] = []
    submit = jobs.submit_s
    gpus = jobs.gpus
    stop = float("inf") if until_s is None else until_s
    report_every = max(1, n // 200)
    span_s = (submit[-1] - submit[0]) if n else 0.0
    sample_every_s = max(1.0, span_s / 400.0)
    next_sample_s = 0.0
    wake_pending: float | None = None
    now = 0.0
    last_s = 0.0
    next_cycle_s = 0.0
    injector = _FaultInjector(faults, pools, state, recorder, checkpoint_s, restart_s) if faults else None
    fault_list = injector.schedule(float(submit[-1]) if n else 0.0) if injector else []
    for index, event in enumerate(fault_list):
        seq += 1
        heapq.heappush(heap, (event[0], FAULT, seq, index, 0))
    while True:
        t_event = heap[0][0] if heap else float("inf")
        t_arrival = submit[next_job] if next_job < n else float("inf")
        now = min(t_event, t_arrival)
        if now == float("inf") or now > stop:
            break
        last_s = now
        state.now_s = now
        changed = False
        while heap and heap[0][0] <= now:
            _, kind, _, job, run_id = heapq.heappop(heap)
            if kind == WAKE:
                wake_pending = None
                changed = True
                continue
            if kind == FAULT:
                assert injector is not None
                repair = injector.apply(fault_list[job], now)
                if repair is not None:
                    fault_list.append(repair)
                    seq += 1
                    heapq.heappush(heap, (repair[0], FAULT, seq, len(fault_list) - 1, 0))
                changed = True
                if not state.count_running() and not state.count_pending() and next_job >= n:
                    heap = [e for e in heap if e[1] != FAULT]  # nothing left to fail
                    heapq.heapify(heap)
                continue
            ended = state.finish(job, run_id)
            if ended is None:
                continue  # a run that was preempted earlier
            recorder.ran(ended.pool, gpus[job], ended.start_s, now, job)
            recorder.finished(job, now)
            done += 1
            changed = True
        while next_job < n and submit[next_job] <= now:
            job = next_job
            next_job += 1
            if gpus[job] > largest[jobs.allowed_class[job]]:
                rejected.append(job)
                done += 1
                continue
            state.admit(job)
            changed = True
        if changed and state.count_pending() and now < next_cycle_s:
            if wake_pending is None or next_cycle_s < wake_pending:
                wake_pending = next_cycle_s
                seq += 1
                heapq.heappush(heap, (next_cycle_s, WAKE, seq, -1, 0))
            changed = False
        if changed and state.count_pending():
            next_cycle_s = now + cycle_interval_s
            result = scheduler.cycle(now)
            recorder.cycles += 1
            recorder.cycle_s += result.took_s
            for job, stopped in result.preempted:
                recorder.ran(stopped.pool, gpus[job], stopped.start_s, now, job)
                recorder.preemptions += 1
            for job, begun in result.started:
                recorder.started(job, now)
                seq += 1
                heapq.heappush(heap, (begun.end_s, FINISH, seq, job, begun.run))
            if (
                result.wake_at_s is not None
                and result.wake_at_s > now
                and (wake_pending is None or result.wake_at_s < wake_pending)
            ):
                wake_pending = result.wake_at_s
                seq += 1
                heapq.heappush(heap, (result.wake_at_s, WAKE, seq, -1, 0))
        if now >= next_sample_s:
            recorder.queue_samples.append((now, state.count_pending(), state.count_running()))
            next_sample_s = now + sample_every_s
        if progress is not None and done % report_every == 0:
            progress(done, n)
    if progress is not None:
        progress(done, n)
    unfinished = n - done
    end_s = stop if until_s is not None and unfinished else last_s
    return SimOutput(recorder, tuple(rejected), unfinished, end_s)


def largest_allowed(pools: PoolTable, jobs: JobTable) -> list[int]:
    """Per allowed-class, the largest pool capacity a job of that class may use."""
    out = []
    for allowed in jobs.allowed_sets:
        candidates = range(len(pools)) if allowed is None else allowed
        out.append(max((pools.capacity[p] for p in candidates), default=0))
    return out


def fastest_runtime_s(data: SimInput) -> np.ndarray:
    """Each job's runtime on the fastest pool it may use, with no queueing."""
    pools, jobs = data.pools, data.jobs
    best: dict[tuple[int, int], float] = {}
    allowed_class = np.asarray(jobs.allowed_class, dtype=np.int64)
    speed_class = np.asarray(jobs.speed_class, dtype=np.int64)
    fastest = np.empty(len(jobs.submit_s))
    for a, k in set(zip(allowed_class.tolist(), speed_class.tolist(), strict=True)):
        allowed = jobs.allowed_sets[a]
        candidates = range(len(pools)) if allowed is None else allowed
        speeds = pools.speed if k < 0 else jobs.class_speed[k]
        best[(a, k)] = max((speeds[p] for p in candidates), default=0.0)
        mask = (allowed_class == a) & (speed_class == k)
        fastest[mask] = best[(a, k)]
    work = np.asarray(jobs.work_s, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(fastest > 0, work / np.where(fastest > 0, fastest, 1.0), np.inf)


class _FaultInjector:
    """Applies outages and node failures to the scheduler's state."""

    def __init__(
        self,
        faults: Faults,
        pools: PoolTable,
        state: ClusterState,
        recorder: Recorder,
        checkpoint_s: float,
        restart_s: float,
    ) -> None:
        self.faults, self.pools, self.state, self.recorder = faults, pools, state, recorder
        self.checkpoint_s, self.restart_s = checkpoint_s, restart_s
        self.rng = np.random.default_rng(faults.seed + 1)
        self.taken: dict[int, dict[int, int]] = {}
        """site -> pool -> accelerators its outage took down"""

    def schedule(self, last_submit_s: float) -> list[FaultEvent]:
        horizon = last_submit_s + 30 * 86400.0  # failures keep coming while the tail runs
        return fault_events(self.faults, self.pools, horizon)

    def _evict(self, job: int, now: float) -> None:
        stopped = self.state.preempt(job, self.checkpoint_s, self.restart_s)
        self.recorder.ran(stopped.pool, self.state.gpus(job), stopped.start_s, now, job)
        self.recorder.preemptions += 1

    def apply(self, event: FaultEvent, now: float) -> FaultEvent | None:
        """Apply one event; returns the repair event a node failure schedules."""
        _, what, index, amount = event
        state, pools = self.state, self.pools
        if what == "down":
            taken: dict[int, int] = {}
            for pool in range(len(pools)):
                if pools.site[pool] != index:
                    continue
                for job in state.running_in(pool):
                    self._evict(job, now)
                taken[pool] = state.free[pool]
                state.take_down(pool, taken[pool])
            self.taken[index] = taken
            return None
        if what == "up":
            for pool, count in self.taken.pop(index, {}).items():
                state.bring_up(pool, count)
            return None
        if what == "repair":
            state.bring_up(index, amount)
            return None
        running = state.running_in(index)
        if running:
            weights = np.asarray([state.gpus(j) for j in running], dtype=np.float64)
            victim = running[int(self.rng.choice(len(running), p=weights / weights.sum()))]
            self._evict(victim, now)
        node = min(self.faults.node_size, state.free[index])
        if node <= 0:
            return None
        state.take_down(index, node)
        self.recorder.failures += 1
        return (now + self.faults.repair_h * 3600.0, "repair", index, node)
