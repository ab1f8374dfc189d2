"""Alibaba GPU cluster trace v2023, "openb" (Weng et al., "Beware of Fragmentation:
Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent", ATC'23): pod lists.

Source: github.com/alibaba/clusterdata, ``cluster-trace-gpu-v2023/README.md`` and
``cluster-trace-gpu-v2023/csv/openb_pod_list_*.csv``. Comma-separated with this header
(checked against the README and the released ``openb_pod_list_default.csv``)::

    name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time

- ``num_gpu``: GPUs requested, 0 to 8; ``gpu_milli``: thousandths of one GPU for a
  GPU-sharing pod (``num_gpu == 1``), 1000 otherwise;
- ``gpu_spec``: GPU types the pod may run on, ``|``-separated (``V100M16|V100M32``);
  empty (``nan`` in the README) = any type;
- ``qos``: ``LS``, ``BE``, ``Burstable``, ``Guaranteed``;
  ``pod_phase``: ``Succeeded``, ``Failed``, ``Running``, ``Pending``;
- ``creation_time``, ``deletion_time``, ``scheduled_time``: seconds relative to the
  start of the trace; ``scheduled_time`` is empty for a pod never scheduled.

The ``multigpu*`` variants publish only the first five columns and cannot be replayed.

How it is read:

- only GPU pods (``num_gpu >= 1``) are kept; CPU-only pods are dropped and counted;
- a GPU-sharing pod (``num_gpu == 1``, ``gpu_milli < 1000``) counts as one whole
  accelerator: the simulator has no fractional GPUs, so it over-states such pods'
  demand (3,078 of the default list's 7,064 GPU pods share a GPU); noted with the count;
- submission is ``creation_time``; the duration is ``deletion_time - scheduled_time``,
  or ``deletion_time - creation_time`` when ``scheduled_time`` is empty (a ``Pending``
  pod: that is time spent waiting before deletion, not running — replayed as work);
- ``pod_phase`` (the phase in which the pod was last seen): ``Succeeded`` -> completed,
  ``Failed`` -> failed, ``Running`` and ``Pending`` -> unknown. A ``Running`` pod whose
  ``deletion_time`` is the trace's last time stamp was still running when observation
  ended: its duration is censored (a lower bound); counted in the notes (32 of the
  default list's 4,149 Running GPU pods; the others were deleted while running);
- ``gpu_spec`` -> a type constraint. The trace keeps one allowed type per job, so the
  rule is: drop Alibaba's memory suffix (``V100M16`` and ``V100M32`` are both ``V100``);
  one family left -> constrain to it; several -> constrain to the preferred one, in the
  order ``T4, V100, P100, A10, G2, G3`` (disclosed types first, each ordered by its GPU
  count in ``openb_node_list_all_node.csv``: T4 842, V100 399, P100 265, A10 2; then the
  undisclosed G2 4,392 and G3 312), then unknown names as written. This narrows a
  multi-family constraint (counted in the notes); the type names are the trace's
  (``V100``, ``T4``, ...), mapped to catalogue accelerators by the simulator's TYPE_MAP;
  ``G2``/``G3`` are undisclosed and match no catalogue accelerator;
- the trace has no user or virtual cluster: every pod is tenant ``default``; ``qos`` is
  not used; times are relative to an undisclosed origin, so ``epoch_s`` is 0.

Default reference accelerator: ``v100``. The most common GPU in the node list is the
undisclosed ``G2`` (549 nodes, 4,392 of ~6.2 k GPUs). G2 nodes are 8-GPU, 96-core
servers, the shape of the cluster's V100M32 training servers (8 GPUs, 96 cores), not of
its T4 nodes (2 or 4 GPUs each), so V100 is the closest disclosed stand-in.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from suanli.traces import _csv
from suanli.traces.trace import FinalState, Trace, build

DEFAULT_REFERENCE = "v100"
COLUMNS = (
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)
REQUIRED = ("num_gpu", "gpu_milli", "gpu_spec", "pod_phase", "creation_time", "deletion_time", "scheduled_time")
PHASES = {
    "succeeded": FinalState.COMPLETED,
    "failed": FinalState.FAILED,
    "running": FinalState.UNKNOWN,
    "pending": FinalState.UNKNOWN,
    "": FinalState.UNKNOWN,
}
PREFERENCE = ("T4", "V100", "P100", "A10", "G2", "G3")
_MEMORY_SUFFIX = re.compile(r"^(.*\d)M\d+$")


def gpu_family(name: str) -> str:
    """``V100M32`` -> ``V100``: Alibaba's memory-size suffix dropped."""
    match = _MEMORY_SUFFIX.match(name.strip().upper())
    return match.group(1) if match else name.strip().upper()


def allowed_type(spec: str) -> tuple[str | None, bool]:
    """The one GPU family a ``gpu_spec`` is constrained to (None = any), and whether
    several families were allowed (so the constraint was narrowed)."""
    families: list[str] = []
    for raw in spec.split("|"):
        part = raw.strip()
        if part and part.lower() != "nan":
            family = gpu_family(part)
            if family not in families:
                families.append(family)
    if not families:
        return None, False
    rank = {name: i for i, name in enumerate(PREFERENCE)}
    chosen = min(families, key=lambda f: (rank.get(f, len(PREFERENCE)), families.index(f)))
    return chosen, len(families) > 1


def load_openb(path: str | Path, reference: str = DEFAULT_REFERENCE) -> Trace:
    source = Path(path)
    submit: list[float] = []
    work: list[float] = []
    gpus: list[int] = []
    types: list[int] = []
    states: list[int] = []
    running: list[bool] = []
    deletions: list[float] = []
    names = _csv.Interner()
    counts: Counter[str] = Counter()
    for line, row in _csv.rows(source, REQUIRED):
        count = _csv.number(row, "num_gpu", source, line, minimum=0)
        if count != int(count):
            raise _csv.TraceError(f"{count:g} is not a whole number of GPUs", source, line, "num_gpu")
        if count == 0:
            counts["cpu"] += 1
            continue
        created = _csv.number(row, "creation_time", source, line)
        deleted = _csv.number(row, "deletion_time", source, line)
        if (row.get("scheduled_time") or "").strip():
            started = _csv.number(row, "scheduled_time", source, line)
            if started < created:
                raise _csv.TraceError("scheduled before creation", source, line, "scheduled_time")
        else:
            started = created
            counts["unscheduled"] += 1
        if deleted < started:
            message = f"deletion at {deleted:g} s precedes start at {started:g} s"
            raise _csv.TraceError(message, source, line, "deletion_time")
        phase = (row.get("pod_phase") or "").strip()
        if phase.lower() not in PHASES:
            message = f"unknown pod_phase '{phase}' (Succeeded, Failed, Running, Pending)"
            raise _csv.TraceError(message, source, line, "pod_phase")
        if (row.get("gpu_milli") or "").strip():
            milli = _csv.number(row, "gpu_milli", source, line, minimum=0)
            if count == 1 and milli < 1000:
                counts["shared"] += 1
        family, narrowed = allowed_type(row.get("gpu_spec") or "")
        counts["narrowed"] += narrowed
        running.append(phase.lower() == "running")
        deletions.append(deleted)
        submit.append(created)
        work.append(deleted - started)
        gpus.append(int(count))
        types.append(-1 if family is None else names(family))
        states.append(PHASES[phase.lower()])
    if not submit:
        raise _csv.TraceError(f"the trace has no GPU pods ({counts['cpu']:,} CPU-only)", source)
    end = max(deletions)
    censored = sum(1 for r, d in zip(running, deletions, strict=True) if r and d >= end)
    notes = [
        f"openb: {len(submit):,} GPU pods kept, {counts['cpu']:,} CPU-only dropped; no tenant (qos unused)",
        f"{counts['shared']:,} GPU-sharing pods (gpu_milli < 1000) count as one whole accelerator",
        f"{censored:,} of {sum(running):,} Running pods still ran at the end of observation: durations censored",
    ]
    if counts["unscheduled"]:
        notes.append(f"{counts['unscheduled']:,} never-scheduled pods: duration = deletion - creation (time pending)")
    if counts["narrowed"]:
        order = ", ".join(PREFERENCE)
        notes.append(f"{counts['narrowed']:,} multi-type gpu_spec constraints narrowed to one type ({order})")
    return build(
        "openb",
        reference,
        np.asarray(submit),
        np.asarray(work),
        np.asarray(gpus),
        gpu_type=np.asarray(types),
        state=np.asarray(states),
        types=names.names,
        epoch_s=-min(submit),
        source=str(source),
        notes=tuple(notes),
    )
