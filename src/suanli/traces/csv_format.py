"""A plain CSV trace for users' own job logs (``--trace-format csv``).

This is suanli's own format (not a published trace). Comma-separated, UTF-8, with a
header; one row per job; columns in any order, unknown columns ignored:

=============== ========= ==================================================================
column          required  meaning
=============== ========= ==================================================================
``submit_s``    one of    submission, seconds from any origin (number)
``submit_time`` the two   submission, ISO 8601 (``2025-03-01T08:00:00+08:00``; no zone = UTC)
``duration_s``  yes       run time in seconds on the reference accelerator, >= 0
``gpus``        yes       accelerators, whole number >= 1
``gpu_type``    no        accelerator the job must run on (trace name such as ``V100`` or a
                          catalogue id such as ``h100``); empty = any
``job_class``   no        a label, or a job class of a throughput table (``--profiles``)
``tenant``      no        user, team or virtual cluster (fair sharing); empty = ``default``
``deadline_s``  no        completion deadline, seconds after the job's OWN submission; empty
                          = none
=============== ========= ==================================================================

If both ``submit_s`` and ``submit_time`` are present, ``submit_s`` is used. Submission
times are shifted so that the first is 0; with ``submit_time`` the trace's ``epoch_s``
is the first submission (calendar alignment for carbon intensity). Rows may come in any
order; they are sorted by submission (stably). There is no final-state column: every
job's state is unknown.

Reference accelerator: the one given with ``--reference`` (``TraceOptions.reference``),
else ``a100-80g``, a common training GPU; say which GPU your durations were measured on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from suanli.traces import _csv
from suanli.traces.trace import Trace, build

DEFAULT_REFERENCE = "a100-80g"
REQUIRED = ("duration_s", "gpus")
OPTIONAL = ("gpu_type", "job_class", "tenant", "deadline_s")


def _text(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def load_csv(path: str | Path, reference: str = DEFAULT_REFERENCE) -> Trace:
    source = Path(path)
    submit: list[float] = []
    work: list[float] = []
    gpus: list[int] = []
    deadline: list[float] = []
    types: list[int] = []
    classes: list[int] = []
    tenants: list[int] = []
    type_names = _csv.Interner()
    class_names = _csv.Interner()
    tenant_names = _csv.Interner()
    by_time: bool | None = None
    for line, row in _csv.rows(source, REQUIRED):
        if by_time is None:
            if "submit_s" not in row and "submit_time" not in row:
                raise _csv.TraceError("missing column submit_s (or submit_time)", source, 1)
            by_time = "submit_s" not in row
        if by_time:
            submitted = _csv.timestamp(row, "submit_time", source, line)
        else:
            submitted = _csv.number(row, "submit_s", source, line)
        submit.append(submitted)
        work.append(_csv.number(row, "duration_s", source, line, minimum=0))
        count = _csv.number(row, "gpus", source, line, minimum=1)
        if count != int(count):
            raise _csv.TraceError(f"{count:g} is not a whole number of accelerators", source, line, "gpus")
        gpus.append(int(count))
        relative = _csv.number(row, "deadline_s", source, line, minimum=0) if _text(row, "deadline_s") else np.nan
        deadline.append(submitted + relative)
        types.append(type_names(_text(row, "gpu_type")) if _text(row, "gpu_type") else -1)
        classes.append(class_names(_text(row, "job_class")) if _text(row, "job_class") else -1)
        tenants.append(tenant_names(_text(row, "tenant") or "default"))
    if not submit:
        raise _csv.TraceError("the trace has no jobs", source)
    submit_arr = np.asarray(submit, dtype=np.float64)
    trace = build(
        source.stem,
        reference,
        submit_arr,
        np.asarray(work),
        np.asarray(gpus),
        gpu_type=np.asarray(types),
        job_class=np.asarray(classes),
        tenant=np.asarray(tenants),
        types=type_names.names,
        classes=class_names.names,
        tenants=tenant_names.names,
        epoch_s=0.0 if by_time else -float(submit_arr.min()),
        source=str(source),
        notes=("plain CSV: durations on the reference accelerator; no final state",),
    )
    order = np.argsort(submit_arr, kind="stable")
    return trace.with_deadlines(np.asarray(deadline, dtype=np.float64)[order] - submit_arr.min())
