"""The scheduler's state: pools, waiting and running jobs. It implements the policy
:class:`~suanli.policy.View` and is changed only through :meth:`admit`, :meth:`start`,
:meth:`finish` and :meth:`preempt`, each of which checks its invariants (a pool is
never over-allocated, a job never runs twice at once).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass

from suanli.errors import SuanliError
from suanli.policy import PoolTable


class SchedulerError(SuanliError):
    """A policy asked for something impossible (a bug in the policy, never user input)."""


@dataclass(frozen=True)
class JobTable:
    """Per-job facts the scheduler needs, as lists indexed by job id.

    ``speed_class[j]`` selects a row of ``class_speed`` (speed of each pool for jobs of
    that class, relative to the reference) or -1 for the pools' generic speed.
    ``allowed_class[j]`` selects an entry of ``allowed_sets`` (None = every pool).
    """

    submit_s: Sequence[float]
    work_s: Sequence[float]
    gpus: Sequence[int]
    deadline_s: Sequence[float | None]
    speed_class: Sequence[int]
    class_speed: Sequence[Sequence[float]]
    allowed_class: Sequence[int]
    allowed_sets: Sequence[frozenset[int] | None]


@dataclass
class Running:
    pool: int
    start_s: float
    end_s: float
    run: int
    """Increments at every (re)start: events of an earlier run are stale."""


class ClusterState:
    """Mutable scheduler state over a fixed :class:`PoolTable` and :class:`JobTable`."""

    def __init__(self, pools: PoolTable, jobs: JobTable) -> None:
        self._pools = pools
        self._jobs = jobs
        self._free = list(pools.capacity)
        self._pending: dict[int, None] = {}
        self._pending_list: list[int] | None = []
        self._running: dict[int, Running] = {}
        self._by_pool: list[dict[int, Running]] = [{} for _ in range(len(pools))]
        self._releases: list[list[tuple[float, int, int]]] = [[] for _ in range(len(pools))]
        self._versions = [0] * len(pools)
        self._down = [0] * len(pools)
        self._remaining = list(jobs.work_s)
        self._attained = [0.0] * len(jobs.work_s)
        self._runs = [0] * len(jobs.work_s)
        self.now_s = 0.0

    # -- View ------------------------------------------------------------------

    @property
    def pools(self) -> PoolTable:
        return self._pools

    @property
    def free(self) -> Sequence[int]:
        return self._free

    @property
    def pending(self) -> Sequence[int]:
        if self._pending_list is None:
            self._pending_list = list(self._pending)
        return self._pending_list

    def gpus(self, job: int) -> int:
        return self._jobs.gpus[job]

    def submit_s(self, job: int) -> float:
        return self._jobs.submit_s[job]

    def remaining_work_s(self, job: int) -> float:
        return self._remaining[job]

    def attained_s(self, job: int) -> float:
        return self._attained[job]

    def allowed(self, job: int) -> frozenset[int] | None:
        return self._jobs.allowed_sets[self._jobs.allowed_class[job]]

    def speed(self, job: int, pool: int) -> float:
        klass = self._jobs.speed_class[job]
        if klass < 0:
            return self._pools.speed[pool]
        return self._jobs.class_speed[klass][pool]

    def speed_key(self, job: int) -> int:
        return self._jobs.speed_class[job]

    def runtime_s(self, job: int, pool: int) -> float:
        return self._remaining[job] / self.speed(job, pool)

    def deadline_s(self, job: int) -> float | None:
        return self._jobs.deadline_s[job]

    def running_releases(self, pool: int) -> Sequence[tuple[float, int, int]]:
        return self._releases[pool]

    def pool_version(self, pool: int) -> int:
        return self._versions[pool]

    def started_s(self, job: int) -> float:
        return self._running[job].start_s

    def running(self) -> Sequence[int]:
        return list(self._running)

    def pool_of(self, job: int) -> int:
        return self._running[job].pool

    # -- changes -----------------------------------------------------------------

    def admit(self, job: int) -> None:
        """A job arrives (or returns after preemption) and waits."""
        if job in self._pending or job in self._running:
            raise SchedulerError(f"job {job} is already known")
        self._pending[job] = None
        self._pending_list = None

    def start(self, job: int, pool: int) -> Running:
        """Start a waiting job on ``pool``; returns its run (with its expected end)."""
        if job not in self._pending:
            raise SchedulerError(f"job {job} is not waiting")
        allowed = self.allowed(job)
        if allowed is not None and pool not in allowed:
            raise SchedulerError(f"job {job} may not use pool {self._pools.names[pool]}")
        gpus = self._jobs.gpus[job]
        if self._free[pool] < gpus:
            raise SchedulerError(f"pool {self._pools.names[pool]} has {self._free[pool]} idle, job {job} needs {gpus}")
        self._free[pool] -= gpus
        del self._pending[job]
        self._pending_list = None
        self._runs[job] += 1
        run = Running(pool, self.now_s, self.now_s + self.runtime_s(job, pool), self._runs[job])
        self._running[job] = run
        self._by_pool[pool][job] = run
        insort(self._releases[pool], (run.end_s, gpus, job))
        self._versions[pool] += 1
        return run

    def finish(self, job: int, run: int) -> Running | None:
        """The run ``run`` of ``job`` ends now; None when that run is stale."""
        current = self._running.get(job)
        if current is None or current.run != run:
            return None
        self._release(job, current)
        self._remaining[job] = 0.0
        return current

    def preempt(self, job: int, checkpoint_s: float = 0.0, restart_s: float = 0.0) -> Running:
        """Stop a running job. Work done since the last checkpoint (taken every
        ``checkpoint_s`` of its run, 0 = continuously) is lost; ``restart_s`` of reference
        work is added for reloading. The job waits again in its arrival place."""
        current = self._running.get(job)
        if current is None:
            raise SchedulerError(f"job {job} is not running")
        self._release(job, current)
        elapsed = self.now_s - current.start_s
        kept = elapsed if checkpoint_s <= 0 else (elapsed // checkpoint_s) * checkpoint_s
        self._remaining[job] = max(0.0, self._remaining[job] - kept * self.speed(job, current.pool)) + restart_s
        self._pending[job] = None
        self._pending = dict(sorted(self._pending.items(), key=lambda item: (self._jobs.submit_s[item[0]], item[0])))
        self._pending_list = None
        return current

    def take_down(self, pool: int, accelerators: int) -> None:
        """Remove idle ``accelerators`` from service (an outage or a failed node); the
        caller first preempts the jobs that ran on them."""
        if accelerators > self._free[pool]:
            raise SchedulerError(
                f"pool {self._pools.names[pool]}: cannot take down {accelerators}, only {self._free[pool]} idle"
            )
        self._free[pool] -= accelerators
        self._down[pool] += accelerators

    def bring_up(self, pool: int, accelerators: int) -> None:
        """Return repaired accelerators to service."""
        if accelerators > self._down[pool]:
            raise SchedulerError(f"pool {self._pools.names[pool]}: only {self._down[pool]} are down")
        self._down[pool] -= accelerators
        self._free[pool] += accelerators

    def down(self, pool: int) -> int:
        return self._down[pool]

    def running_in(self, pool: int) -> list[int]:
        return list(self._by_pool[pool])

    def _release(self, job: int, run: Running) -> None:
        gpus = self._jobs.gpus[job]
        self._free[run.pool] += gpus
        if self._free[run.pool] + self._down[run.pool] > self._pools.capacity[run.pool]:
            raise SchedulerError(f"pool {self._pools.names[run.pool]} would exceed its capacity")
        self._attained[job] += (self.now_s - run.start_s) * gpus
        del self._running[job]
        del self._by_pool[run.pool][job]
        releases = self._releases[run.pool]
        del releases[bisect_left(releases, (run.end_s, gpus, job))]
        self._versions[run.pool] += 1

    @property
    def idle(self) -> bool:
        return not self._pending and not self._running

    def count_running(self) -> int:
        return len(self._running)

    def count_pending(self) -> int:
        return len(self._pending)
