"""The scheduler's state: pools, waiting and running jobs. It implements the policy
:class:`~suanli.policy.View` and is changed only through :meth:`admit`, :meth:`start`,
:meth:`finish` and :meth:`preempt`, each of which checks its invariants (a pool is
never over-allocated, a job never runs twice at once).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from suanli.errors import SuanliError
from suanli.policy import PoolTable
from suanli.policy.view import PendingTable
from suanli.scheduler.arrays import JobArrays, ReleaseCurve
from suanli.scheduler.tenants import DecayedService, Service, TenantService

GRID_PER_S = 1000
"""Run ends are kept on a millisecond grid, rounded up (:func:`on_grid`). A run's end is a sum of float
durations, and two sums of the same durations taken in different orders differ in their
last bits; a simulation takes each such end for an instant of its own and runs a cycle at
each. A forecast over 10,000 waiting jobs on 10 sites ran 2,452 cycles where its runs
ended at 213 distinct milliseconds (``bench/bench_eta.py``: 4.6 s, 1.1 s on the grid)."""


GRID_SLACK = 1e-6
"""Grid steps within which a time counts as on a grid point already (float noise)."""


def on_grid(t_s: float) -> float:
    """``t_s`` rounded up to the next 1 / :data:`GRID_PER_S` second (never earlier: a run
    does not end before its work is done), unless it is within :data:`GRID_SLACK` of a
    step above one; the double nearest k / 1000, so equal for every sum that rounds to the
    same k. Infinities as they are."""
    return math.ceil(t_s * GRID_PER_S - GRID_SLACK) / GRID_PER_S if math.isfinite(t_s) else t_s


NewJob = tuple[float, float, int, int, int, float | None, str | None]
"""A job as :meth:`ClusterState.add_jobs` takes it: submission (s), reference work (s),
accelerators, speed row, allowed set, deadline (s or None), objective (or None)."""


class SchedulerError(SuanliError):
    """A policy asked for something impossible (a bug in the policy, never user input)."""


@dataclass(frozen=True)
class JobTable:
    """Per-job facts the scheduler needs, as lists indexed by job id.

    ``speed_class[j]`` selects a row of ``class_speed`` (speed of each pool for jobs of
    that class, relative to the reference) or -1 for the pools' generic speed.
    ``allowed_class[j]`` selects an entry of ``allowed_sets`` (None = every pool).
    ``objective[j]`` is the job's own objective (``time``, ``cost``, ``carbon``,
    ``balanced``) or None for the policy's default; an empty list means None for all.
    ``tenant[j]`` indexes ``tenant_names`` and ``tenant_weights``; an empty list means
    tenant 0 (``default``) for all.

    The lists grow through :meth:`ClusterState.add_jobs` (the control plane meets its jobs
    as it reads them); the simulator builds them whole from a trace.
    """

    submit_s: list[float]
    work_s: list[float]
    gpus: list[int]
    deadline_s: list[float | None]
    speed_class: list[int]
    class_speed: list[list[float]]
    allowed_class: list[int]
    allowed_sets: list[frozenset[int] | None]
    objective: list[str | None] = field(default_factory=list)
    class_figures: list[list[tuple[float, float]] | None] = field(default_factory=list)
    """Parallel to ``class_speed``: the job's whole cost (USD) and carbon (kg) on each pool
    as the planner priced them (the control plane's jobs), or None (derive them from the
    pools' rates, as for trace jobs); shorter than ``class_speed`` means None."""
    tenant: list[int] = field(default_factory=list)
    tenant_names: list[str] = field(default_factory=lambda: ["default"])
    tenant_weights: list[float] = field(default_factory=lambda: [1.0])
    """Each tenant's fair-share weight (its share of the capacity is its weight over the sum
    of the weights of the tenants that want some); a tenant past the list weighs 1."""


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
        self._preemptions = [0] * len(jobs.work_s)
        self.now_s = 0.0
        self.explains = True
        """Whether the policy's reasons are read (the scheduler sets it; see ``View.explains``)."""
        self._arrays = JobArrays(jobs.gpus, jobs.submit_s, jobs.deadline_s)
        self._arrays.remaining_s[:] = jobs.work_s
        objectives = jobs.objective or [None] * len(jobs.gpus)
        profile_of = self._arrays.profile_of
        self._arrays.profile[:] = [
            profile_of(*row) for row in zip(jobs.speed_class, jobs.allowed_class, jobs.gpus, objectives, strict=True)
        ]
        self._curves: list[ReleaseCurve | None] = [None] * len(pools)
        """Each pool's release curve (:meth:`release_curve`), made when a policy first reads
        it, None before and after too many changes unread: most policies never read one
        (keeping them on every start and stop was 14 % of fifo's Philly replay)."""
        self._table: PendingTable | None = None
        self._values = pools.capacity_value or pools.speed
        """Capacity-hours per accelerator-hour of each pool (the pools' speeds where the
        table has no capacity values)"""
        self._services: dict[float, Service] = {}
        """Tenants' attained service by half-life (0: none), each kept from a policy's first
        read of it (:meth:`tenant_service_h`)"""
        self._tenant_array: np.ndarray | None = None

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

    def figures(self, job: int) -> Sequence[tuple[float, float]] | None:
        klass = self._jobs.speed_class[job]
        figures = self._jobs.class_figures
        return figures[klass] if 0 <= klass < len(figures) else None

    def objective(self, job: int) -> str | None:
        objectives = self._jobs.objective
        return objectives[job] if objectives else None

    def preemptions(self, job: int) -> int:
        return self._preemptions[job]

    def running_releases(self, pool: int) -> Sequence[tuple[float, int, int]]:
        return self._releases[pool]

    def release_curve(self, pool: int) -> tuple[np.ndarray, np.ndarray]:
        curve = self._curves[pool]
        if curve is None:
            curve = self._curves[pool] = ReleaseCurve.of(self._releases[pool])
        elif curve.ops:
            curve.settle()
        return curve.ends, curve.cumulative()

    def pending_table(self) -> PendingTable:
        if self._table is None:
            ids = np.fromiter(self._pending, dtype=np.int64, count=len(self._pending))
            self._table = self._arrays.table(ids)
        return self._table

    def profile(self, job: int) -> int:
        return int(self._arrays.profile[job])

    def pool_version(self, pool: int) -> int:
        return self._versions[pool]

    def started_s(self, job: int) -> float:
        return self._running[job].start_s

    def running(self) -> Sequence[int]:
        return list(self._running)

    def pool_of(self, job: int) -> int:
        return self._running[job].pool

    def tenant(self, job: int) -> int:
        tenants = self._jobs.tenant
        return tenants[job] if tenants else 0

    @property
    def tenant_weights(self) -> Sequence[float]:
        return self._jobs.tenant_weights

    def tenants_of(self, ids: np.ndarray) -> np.ndarray:
        tenants = self._jobs.tenant
        if not tenants:
            return np.zeros(len(ids), dtype=np.int64)
        if self._tenant_array is None or len(self._tenant_array) != len(tenants):
            self._tenant_array = np.asarray(tenants, dtype=np.int64)
        found: np.ndarray = self._tenant_array[ids]
        return found

    def tenant_service_h(self, half_life_h: float = 0.0) -> np.ndarray:
        service = self._services.get(half_life_h)
        if service is None:
            tenants = len(self._jobs.tenant_names)
            service = TenantService(tenants) if half_life_h == 0 else DecayedService(tenants, half_life_h)
            self._services[half_life_h] = service
            values = self._values
            for job, run in self._running.items():
                service.start(self.tenant(job), self._jobs.gpus[job] * values[run.pool], run.start_s)
        return service.read(self.now_s)

    # -- for feeders ---------------------------------------------------------------

    @property
    def jobs(self) -> JobTable:
        """The job table (feeders append speed rows and allowed sets to it)."""
        return self._jobs

    def is_running(self, job: int) -> bool:
        return job in self._running

    def is_pending(self, job: int) -> bool:
        return job in self._pending

    def run_of(self, job: int) -> Running:
        """A running job's current run."""
        return self._running[job]

    # -- changes -----------------------------------------------------------------

    def add_job(
        self,
        submit_s: float,
        work_s: float,
        gpus: int,
        speed_class: int,
        allowed_class: int,
        deadline_s: float | None = None,
        objective: str | None = None,
    ) -> int:
        """Append a job to the table (not yet waiting: :meth:`admit` it); returns its id.
        ``speed_class`` and ``allowed_class`` index rows the caller added to the table's
        ``class_speed`` and ``allowed_sets`` (see :mod:`suanli.scheduler.snapshot`)."""
        return self.add_jobs([(submit_s, work_s, gpus, speed_class, allowed_class, deadline_s, objective)])[0]

    def add_jobs(self, rows: Sequence[NewJob], tenants: Sequence[int] | None = None) -> range:
        """Append jobs, one :data:`NewJob` each, as :meth:`add_job` does (a control plane
        that restarts meets 10,000 jobs at once: one pass, not one call per job); returns
        their ids, in the order given. ``tenants``: each job's tenant (None: tenant 0)."""
        jobs = self._jobs
        speed_rows, set_count = len(jobs.class_speed), len(jobs.allowed_sets)
        for row in rows:
            if not -1 <= row[3] < speed_rows or not 0 <= row[4] < set_count:
                raise SchedulerError(f"job rows name speed row {row[3]} or allowed set {row[4]} not in the table")
        first, n = len(jobs.submit_s), len(rows)
        if not n:
            return range(first, first)
        columns = (list(column) for column in zip(*rows, strict=True))
        submit_s, work_s, gpus, speed_class, allowed_class, deadline_s, objective = columns
        if jobs.objective or any(o is not None for o in objective):
            jobs.objective.extend([None] * (first - len(jobs.objective)))
            jobs.objective.extend(objective)
        if tenants is not None and len(tenants) != n:
            raise SchedulerError(f"{len(tenants)} tenants for {n} jobs")
        if jobs.tenant or (tenants is not None and any(tenants)):
            jobs.tenant.extend([0] * (first - len(jobs.tenant)))
            jobs.tenant.extend(tenants if tenants is not None else [0] * n)
        jobs.submit_s.extend(submit_s)
        jobs.work_s.extend(work_s)
        jobs.gpus.extend(gpus)
        jobs.deadline_s.extend(deadline_s)
        jobs.speed_class.extend(speed_class)
        jobs.allowed_class.extend(allowed_class)
        self._remaining.extend(work_s)
        profile_of = self._arrays.profile_of
        profiles = [profile_of(*key) for key in zip(speed_class, allowed_class, gpus, objective, strict=True)]
        self._arrays.extend(gpus, submit_s, deadline_s, work_s, profiles)
        self._attained.extend([0.0] * n)
        self._runs.extend([0] * n)
        self._preemptions.extend([0] * n)
        return range(first, first + n)

    def replan(
        self,
        job: int,
        work_s: float,
        speed_class: int,
        allowed_class: int,
        deadline_s: float | None = None,
        objective: str | None = None,
    ) -> None:
        """A waiting job's options changed (re-planned: the network changed): new speeds,
        allowed pools, deadline and objective; the work it has left keeps its fraction of
        the whole."""
        if job not in self._pending:
            raise SchedulerError(f"job {job} is not waiting")
        jobs = self._jobs
        if not -1 <= speed_class < len(jobs.class_speed) or not 0 <= allowed_class < len(jobs.allowed_sets):
            raise SchedulerError(
                f"job rows name speed row {speed_class} or allowed set {allowed_class} not in the table"
            )
        old = jobs.work_s[job]
        fraction = self._remaining[job] / old if old > 0 else 1.0
        jobs.work_s[job] = work_s
        jobs.speed_class[job] = speed_class
        jobs.allowed_class[job] = allowed_class
        jobs.deadline_s[job] = deadline_s
        if jobs.objective or objective is not None:
            jobs.objective.extend([None] * (len(jobs.submit_s) - len(jobs.objective)))
            jobs.objective[job] = objective
        self._remaining[job] = work_s * fraction
        arrays = self._arrays
        arrays.remaining_s[job] = self._remaining[job]
        arrays.set_deadline(job, deadline_s)
        arrays.profile[job] = arrays.profile_of(speed_class, allowed_class, jobs.gpus[job], self.objective(job))
        self._table = None

    def withdraw(self, job: int) -> None:
        """A waiting job leaves (cancelled or failed outside the scheduler)."""
        if job not in self._pending:
            raise SchedulerError(f"job {job} is not waiting")
        del self._pending[job]
        self._pending_list = self._table = None

    def extend(self, job: int, end_s: float) -> None:
        """A running job is now expected to end at ``end_s`` (it ran past its estimate)."""
        current = self._running.get(job)
        if current is None:
            raise SchedulerError(f"job {job} is not running")
        releases = self._releases[current.pool]
        gpus = self._jobs.gpus[job]
        index = bisect_left(releases, (current.end_s, gpus, job))
        del releases[index]
        self._curve_change(current.pool, index, math.nan, 0)
        current.end_s = end_s = on_grid(end_s)
        index = bisect_left(releases, (end_s, gpus, job))
        releases.insert(index, (end_s, gpus, job))
        self._curve_change(current.pool, index, end_s, gpus)
        self._versions[current.pool] += 1

    def inherit(self, old: ClusterState, jobs: Sequence[int]) -> None:
        """Carry ``jobs``' scheduling history (attained service, work left, runs,
        preemptions) over from ``old``, a state over the same job ids (before a new pool
        table). Call before the jobs are admitted here."""
        for job in jobs:
            self._remaining[job] = old._remaining[job]
            self._arrays.remaining_s[job] = old._remaining[job]
            self._attained[job] = old._attained[job]
            self._runs[job] = old._runs[job]
            self._preemptions[job] = old._preemptions[job]
        if old._services and not self._services:
            # ended runs carry over; running ones count again as the feeder restarts them here
            self._services = {h: service.ended() for h, service in old._services.items()}

    def admit(self, job: int) -> None:
        """A job arrives (or returns after preemption) and waits."""
        if job in self._pending or job in self._running:
            raise SchedulerError(f"job {job} is already known")
        last = next(reversed(self._pending), None)
        self._pending[job] = None
        self._pending_list = self._table = None
        if last is not None and (self._jobs.submit_s[job], job) < (self._jobs.submit_s[last], last):
            self._sort_pending()  # a job returning to the queue takes its arrival place

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
        self._pending_list = self._table = None
        self._runs[job] += 1
        run = Running(pool, self.now_s, on_grid(self.now_s + self.runtime_s(job, pool)), self._runs[job])
        self._running[job] = run
        self._by_pool[pool][job] = run
        releases = self._releases[pool]
        index = bisect_left(releases, (run.end_s, gpus, job))
        releases.insert(index, (run.end_s, gpus, job))
        if self._curves[pool] is not None:
            self._curve_change(pool, index, run.end_s, gpus)
        self._versions[pool] += 1
        if self._services:
            for service in self._services.values():
                service.start(self.tenant(job), gpus * self._values[pool], run.start_s)
        return run

    def finish(self, job: int, run: int) -> Running | None:
        """The run ``run`` of ``job`` ends now; None when that run is stale."""
        current = self._running.get(job)
        if current is None or current.run != run:
            return None
        self._release(job, current)
        self._remaining[job] = 0.0
        self._arrays.remaining_s[job] = 0.0
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
        self._arrays.remaining_s[job] = self._remaining[job]
        self._preemptions[job] += 1
        self._pending[job] = None
        self._sort_pending()
        return current

    def _sort_pending(self) -> None:
        submit = self._jobs.submit_s
        self._pending = dict.fromkeys(sorted(self._pending, key=lambda job: (submit[job], job)))
        self._pending_list = self._table = None

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
        if self._services:
            for service in self._services.values():
                service.stop(self.tenant(job), gpus * self._values[run.pool], run.start_s, self.now_s)
        del self._running[job]
        del self._by_pool[run.pool][job]
        releases = self._releases[run.pool]
        index = bisect_left(releases, (run.end_s, gpus, job))
        del releases[index]
        if self._curves[run.pool] is not None:
            self._curve_change(run.pool, index, math.nan, 0)
        self._versions[run.pool] += 1

    def _curve_change(self, pool: int, index: int, end_s: float, count: int) -> None:
        """Log a change of ``pool``'s releases on its curve, if it has one (see :class:`ReleaseCurve`)."""
        curve = self._curves[pool]
        if curve is not None and not curve.log(index, end_s, count):
            self._curves[pool] = None

    def fork(self, stretch: float = 1.0) -> ClusterState:
        """An independent copy to run forward (a forecast) while this state goes on: the
        pool and job tables are shared (read-only to a forecast), everything a cycle
        changes is copied. ``stretch`` scales every job's work left, and a running job's
        time to its expected end, by that factor (a pessimistic forecast)."""
        copy = ClusterState.__new__(ClusterState)
        copy._pools, copy._jobs = self._pools, self._jobs
        copy._free, copy._down, copy._versions = list(self._free), list(self._down), list(self._versions)
        copy._pending, copy._pending_list = dict(self._pending), None
        copy._attained, copy._runs = list(self._attained), list(self._runs)
        copy._preemptions = list(self._preemptions)
        copy._remaining = [w * stretch for w in self._remaining] if stretch != 1.0 else list(self._remaining)
        copy.now_s = now = self.now_s
        copy.explains = self.explains
        copy._arrays = self._arrays.copy()
        copy._arrays.remaining_s[: len(copy._remaining)] = copy._remaining
        copy._table = None
        copy._running = {}
        copy._by_pool = [{} for _ in self._by_pool]
        copy._releases = [[] for _ in self._releases]
        for job, run in self._running.items():
            end_s = on_grid(now + (run.end_s - now) * stretch) if run.end_s > now else run.end_s
            moved = Running(run.pool, run.start_s, end_s, run.run)
            copy._running[job] = moved
            copy._by_pool[run.pool][job] = moved
            insort(copy._releases[run.pool], (end_s, self._jobs.gpus[job], job))
        copy._curves = [None] * len(self._releases)  # its ends are its own (stretched)
        copy._values, copy._tenant_array = self._values, self._tenant_array
        copy._services = {h: service.copy() for h, service in self._services.items()}
        return copy

    @property
    def idle(self) -> bool:
        return not self._pending and not self._running

    def count_running(self) -> int:
        return len(self._running)

    def count_pending(self) -> int:
        return len(self._pending)
