"""Turn a trace and a network into the simulator's input.

- GPU-type constraints in the trace are mapped to catalogue accelerators by
  :data:`TYPE_MAP` (Alibaba's ``V100M16``/``V100M32`` -> ``v100``, ``T4`` -> ``t4``,
  ...); a constraint naming no type present in the network makes the job unschedulable
  (rejected, with the reason counted).
- Jobs of a class measured in a throughput table (Gavel's job types) get that class's
  measured speed on each pool's accelerator type, relative to the trace's reference;
  unmeasured types fall back to the generic speed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from suanli.catalog import ThroughputTable
from suanli.errors import UnknownNameError
from suanli.scheduler.snapshot import JobRows
from suanli.sim.engine import SimInput
from suanli.sim.network import Network
from suanli.traces import Trace

TYPE_MAP: Mapping[str, str] = {
    "v100": "v100",
    "v100m16": "v100",
    "v100m32": "v100",
    "p100": "p100",
    "k80": "k80",
    "t4": "t4",
    "a100": "a100-80g",
    "a10": "l20",
    "misc": "k80",
    "g2": "v100",
    "g3": "v100",
}
"""Trace GPU names (lower-case) -> catalogue accelerators. ``a10`` has no catalogue entry;
the L20 (same Ada generation, PCIe, 48 GB) stands in for it. Alibaba PAI's ``MISC`` is
K40m/K80/M60 (the v2020 README): the K80 is the catalogue's one of them. Alibaba openb's
``G2``/``G3`` are undisclosed models in 8-GPU servers of the V100M32 nodes' shape: mapped
to ``v100``, a judgement, not a fact."""


def prepare(
    trace: Trace,
    network: Network,
    profiles: ThroughputTable | None = None,
    tenant_weights: Mapping[str, float] | None = None,
) -> SimInput:
    """The trace's jobs as the scheduler's job table, through the one snapshot builder
    (:class:`~suanli.scheduler.snapshot.JobRows`, which the control plane's feeder uses too).
    Each job keeps its trace tenant (the user or virtual-cluster column, or the synthetic
    generator's); ``tenant_weights`` gives tenants by name their fair-share weight (1 for
    the others)."""
    pools = network.pools
    rows = JobRows()
    type_allowed = []
    for name in trace.types:
        accel = TYPE_MAP.get(name.lower(), name.lower())
        type_allowed.append(
            rows.allowed_set(frozenset(p for p in range(len(pools)) if pools.type_names[pools.type[p]] == accel))
        )
    gpu_type = trace.gpu_type.astype(np.int64)
    allowed_class = np.zeros(len(trace), dtype=np.int64)
    constrained = gpu_type >= 0
    if constrained.any():
        allowed_class[constrained] = np.asarray(type_allowed, dtype=np.int64)[gpu_type[constrained]]
    speed_class = _class_speeds(trace, network, profiles, rows)
    return SimInput(
        pools=pools,
        jobs=rows.table(
            submit_s=trace.submit_s.tolist(),
            work_s=trace.work_s.tolist(),
            gpus=trace.gpus.tolist(),
            deadline_s=[None if math.isnan(d) else d for d in trace.deadlines.tolist()],
            speed_class=speed_class,
            allowed_class=allowed_class.tolist(),
            tenant=trace.tenant.tolist(),
            tenant_names=trace.tenants,
            tenant_weights=_weights(trace, tenant_weights or {}),
        ),
        epoch_s=trace.epoch_s,
    )


def _weights(trace: Trace, weights: Mapping[str, float]) -> list[float]:
    unknown = sorted(set(weights) - set(trace.tenants))
    if unknown:
        raise UnknownNameError("tenant (in --tenant-weights)", unknown[0], trace.tenants)
    return [float(weights.get(name, 1.0)) for name in trace.tenants]


def _class_speeds(trace: Trace, network: Network, profiles: ThroughputTable | None, rows: JobRows) -> list[int]:
    """Each job's speed row: its class's (and scale's) measured speed on each pool relative
    to the reference, or -1 (the pools' generic speed) where nothing was measured."""
    if profiles is None or not trace.classes:
        return [-1] * len(trace)
    row_of: dict[tuple[int, int], int] = {}
    speed_class = [-1] * len(trace)
    classes = trace.job_class.tolist()
    counts = trace.gpus.tolist()
    for j, klass in enumerate(classes):
        if klass < 0:
            continue
        key = (klass, counts[j])
        if key not in row_of:
            measured = _measured_row(profiles, trace.classes[klass], counts[j], network)
            row_of[key] = rows.speed_row(measured) if measured is not None else -1
        speed_class[j] = row_of[key]
    return speed_class


def _measured_row(profiles: ThroughputTable, job_class: str, count: int, network: Network) -> list[float] | None:
    by_accel = profiles.measurements.get(job_class)
    if not by_accel or network.reference not in by_accel:
        return None
    reference = by_accel[network.reference].get(count)
    if not reference:
        return None
    pools = network.pools
    row = []
    for p in range(len(pools)):
        accel = pools.type_names[pools.type[p]]
        measured = by_accel.get(accel, {}).get(count)
        row.append(measured / reference if measured else pools.speed[p])
    return row
