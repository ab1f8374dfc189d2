"""Slurm-style job logs (Helios, Acme): one row per job with submit, start and end times.

Shared by :mod:`suanli.traces.helios` and :mod:`suanli.traces.acme`; each of those
modules documents its own published format. Rules common to both:

- jobs with ``gpu_num == 0`` (CPU jobs) are dropped, and counted in the notes;
- the job's work is the ``duration`` column (``end_time - start_time`` in seconds, as
  the publishers compute it); where ``duration`` is empty, ``end_time - start_time``;
  a job with neither (never started) is dropped and counted;
- Slurm final states map to :class:`FinalState`: ``COMPLETED``; ``FAILED``, ``TIMEOUT``,
  ``NODE_FAIL`` (both publishers count the last two as failed); ``CANCELLED`` (also
  Slurm's ``CANCELLED by <uid>``) as killed; anything else (``RUNNING``, ``SUSPENDED``,
  ``PENDING``, ...) as unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from suanli.traces import _csv
from suanli.traces.trace import FinalState, Trace, build

STATES = {
    "COMPLETED": FinalState.COMPLETED,
    "FAILED": FinalState.FAILED,
    "TIMEOUT": FinalState.FAILED,
    "NODE_FAIL": FinalState.FAILED,
    "OUT_OF_MEMORY": FinalState.FAILED,
    "CANCELLED": FinalState.KILLED,
}


@dataclass(frozen=True)
class LogFormat:
    """How one publisher's job log is read."""

    label: str
    required: tuple[str, ...]
    tenant_column: str
    class_column: str | None = None
    naive_utc_offset_s: float = 0.0
    """Seconds to subtract from a time written without a zone (UTC+8 -> 28,800)."""


def slurm_state(text: str) -> FinalState:
    word = text.strip().upper().split(" ")[0] if text.strip() else ""
    return STATES.get(word, FinalState.UNKNOWN)


def _time(row: dict[str, str], column: str, source: Path, line: int, fmt: LogFormat) -> float:
    moment = _csv.timestamp(row, column, source, line)
    naive = datetime.fromisoformat(row[column].strip().replace("Z", "+00:00")).tzinfo is None
    return moment - fmt.naive_utc_offset_s if naive else moment


def load_job_log(path: Path, name: str, reference: str, fmt: LogFormat, notes: tuple[str, ...]) -> Trace:
    submit: list[float] = []
    work: list[float] = []
    gpus: list[int] = []
    tenants: list[int] = []
    classes: list[int] = []
    states: list[int] = []
    tenant_codes = _csv.Interner()
    class_codes = _csv.Interner()
    dropped: Counter[str] = Counter()
    for line, row in _csv.rows(path, fmt.required):
        count = _csv.number(row, "gpu_num", path, line, minimum=0)
        if count != int(count):
            raise _csv.TraceError(f"{count:g} is not a whole number of GPUs", path, line, "gpu_num")
        submitted = _time(row, "submit_time", path, line, fmt)
        if count == 0:
            dropped["CPU-only (gpu_num 0)"] += 1
            continue
        if (row.get("duration") or "").strip():
            duration = _csv.number(row, "duration", path, line, minimum=0)
        elif (row.get("start_time") or "").strip() and (row.get("end_time") or "").strip():
            duration = _time(row, "end_time", path, line, fmt) - _time(row, "start_time", path, line, fmt)
            if duration < 0:
                raise _csv.TraceError("end_time is before start_time", path, line, "end_time")
        else:
            dropped["never started (no duration, start or end)"] += 1
            continue
        submit.append(submitted)
        work.append(duration)
        gpus.append(int(count))
        tenants.append(tenant_codes((row.get(fmt.tenant_column) or "").strip() or "unknown"))
        if fmt.class_column is not None:
            classes.append(class_codes((row.get(fmt.class_column) or "").strip() or "unknown"))
        states.append(slurm_state(row.get("state") or ""))
    if not submit:
        raise _csv.TraceError(f"the trace has no GPU jobs ({_dropped(dropped) or 'no rows'})", path)
    extra = (f"{fmt.label}: dropped {_dropped(dropped)}",) if dropped else ()
    return build(
        name,
        reference,
        np.asarray(submit),
        np.asarray(work),
        np.asarray(gpus),
        tenant=np.asarray(tenants),
        tenants=tenant_codes.names,
        job_class=np.asarray(classes) if fmt.class_column is not None else None,
        classes=class_codes.names,
        state=np.asarray(states),
        epoch_s=0.0,
        source=str(path),
        notes=(*notes, *extra),
    )


def _dropped(counts: Counter[str]) -> str:
    return ", ".join(f"{n:,} {why}" for why, n in counts.most_common())
