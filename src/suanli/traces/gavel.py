"""Gavel's trace formats (Narayanan et al., OSDI'20; stanford-futuredata/gavel).

Tab-separated, no header, one job per line:

- current (10 fields, ``scheduler/utils.py: parse_trace``): job_type, command,
  working_directory, num_steps_arg, needs_data_dir, total_steps, scale_factor,
  priority_weight, SLO, arrival_time;
- legacy (7 fields, ``traces/msr``): job_type, command, num_steps_arg, needs_data_dir,
  total_steps, arrival_time, scale_factor.

A job's work is ``total_steps`` of its job type on ``scale_factor`` GPUs; its reference
duration is ``total_steps / throughput[reference][(job_type, scale_factor)]``, so a
Gavel trace needs Gavel's throughput file (``--profiles``), and the simulator then uses
the measured throughput of each job type on each GPU type, as Gavel's own simulator does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from suanli.catalog import ThroughputTable
from suanli.traces._csv import Interner, TraceError
from suanli.traces.trace import Trace, build

DEFAULT_REFERENCE = "v100"


def load_gavel_trace(
    path: str | Path, throughputs: ThroughputTable | None, reference: str = DEFAULT_REFERENCE
) -> Trace:
    source = Path(path)
    if throughputs is None:
        raise TraceError(
            "a Gavel trace needs Gavel's throughput file: add --profiles simulation_throughputs.json", source
        )
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"cannot read trace: {exc}", source) from None
    submit: list[float] = []
    work: list[float] = []
    gpus: list[int] = []
    steps: list[float] = []
    classes: list[int] = []
    names = Interner()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) == 10:
            job_type, total, scale, arrival = fields[0], fields[5], fields[6], fields[9]
        elif len(fields) == 7:
            job_type, total, arrival, scale = fields[0], fields[4], fields[5], fields[6]
        else:
            raise TraceError(f"expected 10 (or legacy 7) tab-separated fields, got {len(fields)}", source, number)
        try:
            total_steps = float(total)
            scale_factor = int(float(scale))
            arrival_s = float(arrival)
        except ValueError:
            raise TraceError("total_steps, scale_factor and arrival_time must be numbers", source, number) from None
        if not (math.isfinite(total_steps) and total_steps > 0 and scale_factor >= 1 and math.isfinite(arrival_s)):
            raise TraceError("total_steps must be > 0, scale_factor >= 1, arrival_time finite", source, number)
        measured = throughputs.measurements.get(job_type, {}).get(reference, {}).get(scale_factor)
        if not measured:
            raise TraceError(
                f"no {reference} throughput for ('{job_type}', {scale_factor}) in {throughputs.source}", source, number
            )
        submit.append(arrival_s)
        work.append(total_steps / measured)
        gpus.append(scale_factor)
        steps.append(total_steps)
        classes.append(names(job_type))
    if not submit:
        raise TraceError("the trace has no jobs", source)
    return build(
        source.stem,
        reference,
        np.asarray(submit),
        np.asarray(work),
        np.asarray(gpus),
        job_class=np.asarray(classes),
        steps=np.asarray(steps),
        classes=names.names,
        source=str(source),
        notes=("Gavel trace: work = total_steps / measured throughput on the reference GPU",),
    )
