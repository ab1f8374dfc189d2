"""What a policy sees: the pools of accelerators, the waiting jobs, the time.

Policies are pure functions of this view (L2): they read it and return decisions; the
scheduler (L3) applies them. The same view is built by the simulator from its in-memory
state and by the control plane from its store, so a policy proved in simulation is the
policy that runs.

A *pool* is one accelerator type at one site; a job's accelerators (its *gang*) all
come from one pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from suanli.model.reasons import ReasonCode

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class PoolTable:
    """Static facts about every pool, by pool index (lists for fast scalar access).

    - ``speed``: work per second relative to the reference accelerator (reference = 1);
    - ``usd_per_accel_h``: what one accelerator-hour costs there (rental price, or
      amortised capital plus energy at training load, for ownership sites);
    - ``kw_per_accel``: facility power of one busy accelerator, (TDP x load + host) x PUE;
    - ``intensity_g_per_kwh[site][hour]``: grid intensity by local hour of day;
    - ``utc_offset_h[site]``: local time - UTC.
    """

    names: tuple[str, ...]
    site: tuple[int, ...]
    type: tuple[int, ...]
    capacity: tuple[int, ...]
    speed: tuple[float, ...]
    usd_per_accel_h: tuple[float, ...]
    kw_per_accel: tuple[float, ...]
    site_names: tuple[str, ...]
    type_names: tuple[str, ...]
    intensity_g_per_kwh: tuple[tuple[float, ...], ...]
    utc_offset_h: tuple[float, ...]
    zone: tuple[str, ...] = ()
    """Residency zone of each site."""
    epoch_s: float = 0.0
    """UTC time (epoch seconds) of the view's time 0: 0 for the wall clock, the trace's
    first submission for a simulation, so hours of day line up with the grid's."""
    series_start_s: tuple[float | None, ...] = ()
    """Per site: None when ``intensity_g_per_kwh`` is a 24-hour profile by local hour;
    else the UTC start of a measured hourly series (repeating after its end)."""
    capacity_value: tuple[float, ...] = ()
    """Per pool: capacity-hours (:mod:`suanli.capacity`'s unit, H800-equivalent hours) per
    accelerator-hour of its type, for fair share and quotas; empty: the pools' ``speed``
    stands in (hours of the reference accelerator)."""

    def __len__(self) -> int:
        return len(self.names)

    def intensity_at(self, pool: int, t_s: float) -> float:
        """Grid intensity (gCO2/kWh) at pool ``pool``'s site at view time ``t_s``."""
        site = self.site[pool]
        values = self.intensity_g_per_kwh[site]
        start = self.series_start_s[site] if self.series_start_s else None
        if start is None:
            hour = int(((self.epoch_s + t_s) / 3600.0 + self.utc_offset_h[site]) % 24)
        else:
            hour = int(((self.epoch_s + t_s - start) // 3600.0) % len(values))
        return values[hour]


class PendingTable(NamedTuple):
    """The waiting jobs as arrays, in arrival order (the order of ``View.pending``): ids,
    accelerators, submission, deadline (NaN for none), work left (reference seconds) and
    profile (:meth:`View.profile`). The arrays are the scheduler's: read them, do not keep
    them across cycles."""

    ids: np.ndarray
    gpus: np.ndarray
    submit_s: np.ndarray
    deadline_s: np.ndarray
    remaining_s: np.ndarray
    profile: np.ndarray


class View(Protocol):
    """The scheduler's state as a policy reads it. Job ids are dense integers."""

    @property
    def explains(self) -> bool:
        """Whether anyone reads the policy's reasons (``Decisions.waits``): False in the
        simulator and in forecasts, where a policy may leave them out."""
        ...

    @property
    def now_s(self) -> float: ...

    @property
    def pools(self) -> PoolTable: ...

    @property
    def free(self) -> Sequence[int]:
        """Idle accelerators per pool."""
        ...

    @property
    def pending(self) -> Sequence[int]:
        """Waiting jobs, in arrival order (preempted jobs keep their original place)."""
        ...

    def gpus(self, job: int) -> int: ...

    def submit_s(self, job: int) -> float: ...

    def remaining_work_s(self, job: int) -> float:
        """Work left, as seconds on the reference accelerator."""
        ...

    def attained_s(self, job: int) -> float:
        """Accelerator-seconds of service the job has received so far."""
        ...

    def allowed(self, job: int) -> frozenset[int] | None:
        """Pools the job may use (type constraint, region, residency); None = every pool."""
        ...

    def speed(self, job: int, pool: int) -> float:
        """Work per second of ``job`` on ``pool`` relative to the reference (measured for
        profiled job classes, else the pool's generic speed)."""
        ...

    def speed_key(self, job: int) -> int:
        """Jobs with equal keys have equal speeds on every pool (for caching rankings)."""
        ...

    def runtime_s(self, job: int, pool: int) -> float:
        """Seconds the job's remaining work takes on ``pool``."""
        ...

    def deadline_s(self, job: int) -> float | None: ...

    def figures(self, job: int) -> Sequence[tuple[float, float]] | None:
        """(cost USD, carbon kg) of the whole job on each pool as the planner priced it
        (the numbers ``suanli plan`` shows), or None: derive them from the pools' rates.
        Jobs with equal :meth:`speed_key` have equal figures."""
        ...

    def objective(self, job: int) -> str | None:
        """The job's own objective (``time``, ``cost``, ``carbon``, ``balanced``), or None
        for the policy's default (trace jobs)."""
        ...

    def running_releases(self, pool: int) -> Sequence[tuple[float, int, int]]:
        """(expected end time, accelerators, job) of the jobs running in ``pool``, by end
        time. The sequence is the scheduler's own: read it, do not keep it across cycles."""
        ...

    def release_curve(self, pool: int) -> tuple[np.ndarray, np.ndarray]:
        """(expected end times ascending then ``inf``, accelerators released by each end,
        cumulated) of the jobs running in ``pool``: :meth:`running_releases` as arrays,
        kept across cycles (``ends[bisect(cumulative, n)]`` is when ``n`` more are idle).
        The arrays are the scheduler's: read them, do not keep them across cycles."""
        ...

    def pending_table(self) -> PendingTable:
        """The waiting jobs as arrays (see :class:`PendingTable`)."""
        ...

    def profile(self, job: int) -> int:
        """Jobs with equal profiles have equal accelerators, speeds, allowed pools, figures
        and objective (they differ in submission, deadline and work)."""
        ...

    def pool_version(self, pool: int) -> int:
        """Changes whenever a job starts or stops in ``pool`` (for caching per pool)."""
        ...

    def started_s(self, job: int) -> float:
        """When a running job's current run began."""
        ...

    def running(self) -> Sequence[int]:
        """Jobs running now."""
        ...

    def pool_of(self, job: int) -> int:
        """The pool a running job is in."""
        ...

    def tenant(self, job: int) -> int:
        """The job's tenant (user, team or virtual cluster), an index of ``tenant_weights``."""
        ...

    @property
    def tenant_weights(self) -> Sequence[float]:
        """Each tenant's fair-share weight, by tenant index (past its end: 1)."""
        ...

    def tenants_of(self, ids: np.ndarray) -> np.ndarray:
        """The tenants of the jobs ``ids`` (an array, as ``PendingTable.ids``)."""
        ...

    def tenant_service_h(self, half_life_h: float = 0.0) -> np.ndarray:
        """Each tenant's attained service so far in capacity-hours (``PoolTable.capacity_value``
        x accelerator-hours, runs going now counted to now), by tenant index; with
        ``half_life_h`` > 0, each hour of service counting half as much every half-life
        since; kept from the first read on (:mod:`suanli.scheduler.tenants`)."""
        ...


@dataclass(frozen=True)
class Start:
    """Start (or resume) ``job`` on ``gpus`` accelerators of ``pool``."""

    job: int
    pool: int


@dataclass(frozen=True)
class Preempt:
    """Stop ``job``, keeping its last checkpoint; it goes back to the queue."""

    job: int


@dataclass(frozen=True)
class Wait:
    """Why the policy left a waiting job waiting, in its own words: a code, a sentence,
    and where it applies the time it waits for (view seconds) and the pool it wants."""

    job: int
    code: ReasonCode
    message: str
    until_s: float | None = None
    pool: int | None = None


@dataclass(frozen=True)
class Decisions:
    starts: tuple[Start, ...] = ()
    preempts: tuple[Preempt, ...] = ()
    waits: tuple[Wait, ...] = ()
    """Reasons for waiting jobs the policy held back on purpose (not for every waiting job:
    a job without one waits for capacity)."""
    wake_at_s: float | None = None
    """Ask to be called again at this time even if nothing else happens (deferrals)."""
