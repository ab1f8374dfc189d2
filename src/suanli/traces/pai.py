"""Alibaba PAI GPU cluster trace v2020 (Weng et al., "MLaaS in the Wild: Workload Analysis
and Scheduling in Large-Scale Heterogeneous GPU Clusters", NSDI'22).

Source: github.com/alibaba/clusterdata, ``cluster-trace-gpu-v2020/README.md`` (schema)
and ``cluster-trace-gpu-v2020/data/pai_{task,job}_table.header`` (column names). The
released ``pai_task_table.csv`` and ``pai_job_table.csv`` have NO header line; their
columns, in order, are::

    pai_task_table: job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type
    pai_job_table:  job_name,inst_id,user,status,start_time,end_time

- a job has one or more tasks (roles: ``worker``, ``ps``, ``evaluator``, ...), each of
  ``inst_num`` instances requesting ``plan_gpu`` percent of a GPU each (50 = half);
- ``gpu_type`` (task): the type of GPU *assigned* to the task: ``V100``, ``P100``,
  ``T4``, ``MISC`` (older generations: K40m, K80, M60);
- times are seconds, shifted by a constant for anonymity (same time of day in UTC+8);
  ``job.start_time`` is the job's submission, ``task.start_time`` its launch;
- ``status``: ``Terminated`` (the only success), ``Failed``, ``Running``, ``Waiting``.

How it is read (the path given is the task table):

- the job table is read from ``pai_job_table.csv`` beside it when present, for the job's
  user, status and submission time; without it, submission is the job's first task
  launch (queueing before launch is lost), the tenant is ``default``, and the state
  comes from the tasks (all ``Terminated`` -> completed, any ``Failed`` -> failed);
- a header line is accepted if present (first field ``job_name``), else columns are
  taken in the published order; a row must have exactly that many fields;
- a job's GPUs = sum over its tasks of ``inst_num x plan_gpu / 100``, rounded UP to a
  whole accelerator (the simulator has no fractional GPUs: a 50 % job counts as one);
  jobs with no GPU (empty or zero ``plan_gpu``) are dropped and counted;
- a job's work = last task end - first task launch. A task with no ``end_time`` (still
  running or waiting when the trace ended) is censored at the latest time stamp in the
  task table; a job none of whose tasks launched is dropped and counted;
- the job's type constraint is the ``gpu_type`` of its task with the most GPUs (the
  first such task on a tie); an assignment, replayed as a constraint. ``MISC`` keeps its
  name and matches no catalogue accelerator unless the simulator's TYPE_MAP maps it;
- job status: ``Terminated`` -> completed, ``Failed`` -> failed, others -> unknown;
- ``epoch_s`` is the first submission read as Unix time: per the README that gives the
  true time of day and day of week (in UTC+8) on a fake date.

Default reference accelerator: ``v100``, the newest type in the trace and the one the
NSDI'22 paper treats as the high-end training GPU. A job that ran on a T4, P100 or MISC
GPU has its measured duration taken as reference work all the same (the trace has one
reference); pass ``--reference`` to change it.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from suanli.traces import _csv
from suanli.traces.trace import FinalState, Trace, build

DEFAULT_REFERENCE = "v100"
TASK_COLUMNS = (
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
)
JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")
JOB_TABLE = "pai_job_table.csv"
STATUS = {"terminated": FinalState.COMPLETED, "failed": FinalState.FAILED}


@dataclass
class _Job:
    gpus: float = 0.0
    start: float = math.inf
    end: float = -math.inf
    open_ended: bool = False
    type_gpus: float = 0.0
    gpu_type: str = ""
    statuses: set[str] = field(default_factory=set)


def table(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) of a headerless (or headed) CSV whose columns are ``columns``."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise _csv.TraceError(f"cannot read trace: {exc.strerror or exc}", path) from None
    with handle:
        reader = csv.reader(handle)
        try:
            for fields in reader:
                line = reader.line_num
                if not fields or (line == 1 and fields[0].strip() == columns[0]):
                    continue
                if len(fields) != len(columns):
                    raise _csv.TraceError(
                        f"expected {len(columns)} fields ({','.join(columns)}), got {len(fields)}", path, line
                    )
                yield line, dict(zip(columns, fields, strict=True))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _csv.TraceError(f"malformed CSV: {exc}", path, reader.line_num) from None


def _optional(row: dict[str, str], column: str, path: Path, line: int) -> float | None:
    return _csv.number(row, column, path, line) if row[column].strip() else None


def load_pai(path: str | Path, reference: str = DEFAULT_REFERENCE) -> Trace:
    source = Path(path)
    jobs: dict[str, _Job] = {}
    latest = -math.inf
    for line, row in table(source, TASK_COLUMNS):
        name = row["job_name"].strip()
        if not name:
            raise _csv.TraceError("empty job_name", source, line, "job_name")
        job = jobs.setdefault(name, _Job())
        job.statuses.add(row["status"].strip().lower())
        start = _optional(row, "start_time", source, line)
        end = _optional(row, "end_time", source, line)
        if start is not None and end is not None and end < start:
            raise _csv.TraceError(f"end {end:g} s precedes start {start:g} s", source, line, "end_time")
        latest = max(latest, start if start is not None else -math.inf, end if end is not None else -math.inf)
        if start is not None:
            job.start = min(job.start, start)
            if end is None:
                job.open_ended = True
            else:
                job.end = max(job.end, end)
        plan = _optional(row, "plan_gpu", source, line)
        if plan is None or plan == 0:
            continue
        if plan < 0:
            raise _csv.TraceError(f"{plan:g} is below the minimum 0", source, line, "plan_gpu")
        task_gpus = _csv.number(row, "inst_num", source, line, minimum=0) * plan / 100
        job.gpus += task_gpus
        if task_gpus > job.type_gpus:
            job.type_gpus, job.gpu_type = task_gpus, row["gpu_type"].strip()
    if not jobs:
        raise _csv.TraceError("the task table has no rows", source)
    meta = _job_table(source.parent / JOB_TABLE)
    submit: list[float] = []
    work: list[float] = []
    gpus: list[int] = []
    types: list[int] = []
    tenants: list[int] = []
    states: list[int] = []
    type_names = _csv.Interner()
    users = _csv.Interner()
    dropped: Counter[str] = Counter()
    censored = 0
    for name, job in jobs.items():
        if job.gpus <= 0:
            dropped["without GPUs"] += 1
            continue
        if not math.isfinite(job.start):
            dropped["never launched"] += 1
            continue
        end = latest if job.open_ended or not math.isfinite(job.end) else job.end
        censored += end == latest and job.open_ended
        user, status, submitted = meta.get(name, ("default" if not meta else "unknown", "", job.start))
        submit.append(min(submitted, job.start))
        work.append(end - job.start)
        gpus.append(max(1, math.ceil(job.gpus - 1e-9)))
        types.append(type_names(job.gpu_type) if job.gpu_type else -1)
        tenants.append(users(user))
        states.append(STATUS.get(status, FinalState.UNKNOWN) if meta else _task_state(job.statuses))
    if not submit:
        raise _csv.TraceError(f"the trace has no GPU jobs ({_counts(dropped)})", source)
    notes = [
        "PAI: GPUs = ceil(sum inst_num x plan_gpu / 100); work = last task end - first task launch; "
        "type = gpu_type of the job's largest GPU task (assigned type replayed as a constraint)",
        f"job table {'read: submit, user, status from it' if meta else 'absent: submit = first launch, no users'}",
    ]
    if dropped:
        notes.append(f"dropped jobs: {_counts(dropped)}")
    if censored:
        notes.append(f"{censored:,} jobs with unfinished tasks censored at the last time stamp")
    return build(
        "pai",
        reference,
        np.asarray(submit),
        np.asarray(work),
        np.asarray(gpus),
        gpu_type=np.asarray(types),
        tenant=np.asarray(tenants),
        state=np.asarray(states),
        types=type_names.names,
        tenants=users.names,
        source=str(source),
        notes=tuple(notes),
    )


def _job_table(path: Path) -> dict[str, tuple[str, str, float]]:
    """job_name -> (user, status, submit time; inf when empty), or empty when absent."""
    if not path.exists():
        return {}
    meta: dict[str, tuple[str, str, float]] = {}
    for line, row in table(path, JOB_COLUMNS):
        submitted = _optional(row, "start_time", path, line)
        submitted = math.inf if submitted is None else submitted
        meta[row["job_name"].strip()] = (row["user"].strip() or "unknown", row["status"].strip().lower(), submitted)
    return meta


def _task_state(statuses: set[str]) -> FinalState:
    if "failed" in statuses:
        return FinalState.FAILED
    return FinalState.COMPLETED if statuses == {"terminated"} else FinalState.UNKNOWN


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{n:,} {why}" for why, n in counts.most_common()) or "no rows"
