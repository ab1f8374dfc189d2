"""Fluent builders for scheduler and simulator tests (in the style of Kueue's test wrappers).

::

    net = pools().pool("a/v100", capacity=8, speed=1.0, usd=2.0, kw=0.5, intensity=500).pool("b/k80", capacity=4)
    net = net.build()
    table = jobs().job(submit=0, work=3600, gpus=2).job(submit=60, work=600, gpus=1).only(0).build(net)
    data = sim_input(net, table)

A pool's name is ``SITE/TYPE``: one site per distinct prefix, one type per distinct suffix.
A site's grid intensity is flat over the 24 hours unless a 24-value profile is given (by
any one of its pools; pools of one site must agree). Jobs are unconstrained unless
``.only(pool, ...)`` follows them, and use the pools' generic speeds unless
``speeds=[...]`` (one per pool) gives them a measured speed class.

:func:`state` builds a :class:`ClusterState` (a real policy :class:`View`) with chosen
jobs running and waiting at a chosen time; :func:`run` simulates and summarises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suanli.policy import Policy, PoolTable
from suanli.scheduler import ClusterState, JobTable
from suanli.sim.engine import SimInput, SimOutput, fastest_runtime_s, simulate
from suanli.sim.metrics import summarise

Intensity = float | Sequence[float]


def _profile(intensity: Intensity) -> tuple[float, ...]:
    if isinstance(intensity, int | float):
        return (float(intensity),) * 24
    values = tuple(float(v) for v in intensity)
    if len(values) != 24:
        raise ValueError(f"an intensity profile has 24 hourly values, got {len(values)}")
    return values


def profile(base: float, **hours: float) -> tuple[float, ...]:
    """A 24-h profile at ``base`` with some hours changed: ``profile(500, h3=100)``."""
    values = [float(base)] * 24
    for key, value in hours.items():
        values[int(key.removeprefix("h"))] = float(value)
    return tuple(values)


@dataclass
class _Pool:
    name: str
    capacity: int
    speed: float
    usd: float
    kw: float
    intensity: tuple[float, ...] | None
    utc_offset_h: float | None


@dataclass
class PoolsBuilder:
    _pools: list[_Pool] = field(default_factory=list)

    def pool(
        self,
        name: str,
        capacity: int,
        speed: float = 1.0,
        usd: float = 1.0,
        kw: float = 0.5,
        intensity: Intensity | None = None,
        utc_offset_h: float | None = None,
    ) -> PoolsBuilder:
        if "/" not in name:
            raise ValueError(f"pool names are SITE/TYPE, got {name!r}")
        self._pools.append(
            _Pool(name, capacity, speed, usd, kw, None if intensity is None else _profile(intensity), utc_offset_h)
        )
        return self

    def build(self) -> PoolTable:
        site_names: list[str] = []
        type_names: list[str] = []
        intensity: dict[str, tuple[float, ...]] = {}
        offset: dict[str, float] = {}
        site, kind = [], []
        for p in self._pools:
            site_name, type_name = p.name.split("/", 1)
            if site_name not in site_names:
                site_names.append(site_name)
            if type_name not in type_names:
                type_names.append(type_name)
            site.append(site_names.index(site_name))
            kind.append(type_names.index(type_name))
            for known, value, what in ((intensity, p.intensity, "intensity"), (offset, p.utc_offset_h, "utc offset")):
                if value is None:
                    continue
                if site_name in known and known[site_name] != value:
                    raise ValueError(f"pools of site {site_name} disagree on its {what}")
                known[site_name] = value  # type: ignore[assignment]
        return PoolTable(
            names=tuple(p.name for p in self._pools),
            site=tuple(site),
            type=tuple(kind),
            capacity=tuple(p.capacity for p in self._pools),
            speed=tuple(p.speed for p in self._pools),
            usd_per_accel_h=tuple(p.usd for p in self._pools),
            kw_per_accel=tuple(p.kw for p in self._pools),
            site_names=tuple(site_names),
            type_names=tuple(type_names),
            intensity_g_per_kwh=tuple(intensity.get(s, _profile(500.0)) for s in site_names),
            utc_offset_h=tuple(offset.get(s, 0.0) for s in site_names),
            zone=tuple("test" for _ in site_names),
        )


def pools() -> PoolsBuilder:
    return PoolsBuilder()


@dataclass
class _Job:
    submit: float
    work: float
    gpus: int
    deadline: float | None
    speeds: tuple[float, ...] | None
    only: frozenset[int] | None = None
    tenant: int = 0


@dataclass
class JobsBuilder:
    _jobs: list[_Job] = field(default_factory=list)
    _weights: tuple[float, ...] = ()

    def job(
        self,
        submit: float = 0.0,
        work: float = 3600.0,
        gpus: int = 1,
        deadline: float | None = None,
        speeds: Sequence[float] | None = None,
        tenant: int = 0,
    ) -> JobsBuilder:
        self._jobs.append(_Job(submit, work, gpus, deadline, None if speeds is None else tuple(speeds), tenant=tenant))
        return self

    def weights(self, *weights: float) -> JobsBuilder:
        """Tenants' fair-share weights, by tenant index (tenants ``t0``, ``t1``, ...)."""
        self._weights = tuple(float(w) for w in weights)
        return self

    def only(self, *pool_indices: int | Iterable[int]) -> JobsBuilder:
        """Constrain the last job to these pools."""
        if not self._jobs:
            raise ValueError("only() follows a job()")
        members: set[int] = set()
        for item in pool_indices:
            members.update([item] if isinstance(item, int) else item)
        self._jobs[-1].only = frozenset(members)
        return self

    def __len__(self) -> int:
        return len(self._jobs)

    def build(self, table: PoolTable | None = None) -> JobTable:
        """The job table; with ``table``, checks pool indices and speed rows against it."""
        allowed_sets: list[frozenset[int] | None] = [None]
        class_speed: list[list[float]] = []
        allowed_class, speed_class = [], []
        for j in self._jobs:
            if table is not None:
                if j.only is not None and not j.only <= set(range(len(table))):
                    raise ValueError(f"only({sorted(j.only)}) names a pool the network lacks")
                if j.speeds is not None and len(j.speeds) != len(table):
                    raise ValueError("speeds=[...] needs one value per pool")
            if j.only is None:
                allowed_class.append(0)
            else:
                if j.only not in allowed_sets:
                    allowed_sets.append(j.only)
                allowed_class.append(allowed_sets.index(j.only))
            if j.speeds is None:
                speed_class.append(-1)
            else:
                row = list(j.speeds)
                if row not in class_speed:
                    class_speed.append(row)
                speed_class.append(class_speed.index(row))
        tenants = max([j.tenant for j in self._jobs] + [len(self._weights) - 1, 0]) + 1
        weights = list(self._weights) + [1.0] * (tenants - len(self._weights))
        return JobTable(
            tenant=[j.tenant for j in self._jobs] if any(j.tenant for j in self._jobs) else [],
            tenant_names=[f"t{i}" for i in range(tenants)] if tenants > 1 else ["default"],
            tenant_weights=weights,
            submit_s=[float(j.submit) for j in self._jobs],
            work_s=[float(j.work) for j in self._jobs],
            gpus=[int(j.gpus) for j in self._jobs],
            deadline_s=[j.deadline for j in self._jobs],
            speed_class=speed_class,
            class_speed=class_speed,
            allowed_class=allowed_class,
            allowed_sets=allowed_sets,
        )


def jobs() -> JobsBuilder:
    return JobsBuilder()


def sim_input(table: PoolTable | PoolsBuilder, job_table: JobTable | JobsBuilder, epoch_s: float = 0.0) -> SimInput:
    """The simulator's input; jobs must be in submit order (as every loaded trace is)."""
    net = table.build() if isinstance(table, PoolsBuilder) else table
    built = job_table.build(net) if isinstance(job_table, JobsBuilder) else job_table
    if list(built.submit_s) != sorted(built.submit_s):
        raise ValueError("jobs must be listed in submit order")
    return SimInput(pools=net, jobs=built, epoch_s=epoch_s)


def state(
    table: PoolTable,
    job_table: JobTable | JobsBuilder,
    now: float = 0.0,
    running: Sequence[tuple[int, int]] | dict[int, int] = (),
    started: float = 0.0,
    pending: Iterable[int] | None = None,
) -> ClusterState:
    """A cluster at ``now``: ``running`` (job -> pool) started at ``started``; every other job
    waiting (or only ``pending``), admitted in job-id order."""
    built = job_table.build(table) if isinstance(job_table, JobsBuilder) else job_table
    cluster = ClusterState(table, built)
    pairs = list(running.items()) if isinstance(running, dict) else list(running)
    running_jobs = {job for job, _ in pairs}
    waiting = set(range(len(built.submit_s))) - running_jobs if pending is None else set(pending)
    cluster.now_s = started
    for job, pool in pairs:
        cluster.admit(job)
        cluster.start(job, pool)
    for job in sorted(waiting):
        cluster.admit(job)
    cluster.now_s = now
    return cluster


@dataclass(frozen=True)
class Run:
    output: SimOutput
    metrics: dict[str, Any]

    def jct_s(self, job: int, data: SimInput) -> float:
        return self.output.recorder.finish_s[job] - data.jobs.submit_s[job]

    def queue_s(self, job: int, data: SimInput) -> float:
        return self.output.recorder.first_start_s[job] - data.jobs.submit_s[job]


def run(data: SimInput, policy: Policy, until_s: float | None = None, **kwargs: Any) -> Run:
    """Simulate ``policy`` on ``data`` and summarise as ``suanli simulate`` does (wall_s = 0)."""
    output = simulate(data, policy, until_s=until_s, **kwargs)
    deadlines = np.asarray([math.nan if d is None else d for d in data.jobs.deadline_s], dtype=np.float64)
    metrics = summarise(
        output.recorder,
        np.asarray(data.jobs.submit_s, dtype=np.float64),
        fastest_runtime_s(data),
        deadlines,
        len(output.rejected),
        0.0,
        data.jobs,
    )
    return Run(output, metrics)
