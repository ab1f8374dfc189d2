"""Microsoft Philly (Jeon et al., ATC'19) as processed by the Sia artifact (SOSP'23).

Columns ``timestamp,duration,num_gpus,gpu_time,cluster``: submit time
(``YYYY-MM-DD HH:MM:SS``), duration in seconds, GPUs, GPU-seconds, virtual-cluster hash
(used as the tenant). The trace has no final state and no GPU type; Philly's GPUs were
12 GB and 24 GB parts of 2017, so the default reference accelerator is ``p100``
(change it with ``--reference``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from suanli.traces import _csv
from suanli.traces.trace import Trace, build

DEFAULT_REFERENCE = "p100"
COLUMNS = ("timestamp", "duration", "num_gpus", "cluster")


def load_philly(path: str | Path, reference: str = DEFAULT_REFERENCE) -> Trace:
    source = Path(path)
    submit: list[float] = []
    work: list[float] = []
    gpus: list[int] = []
    tenants: list[int] = []
    vc = _csv.Interner()
    for line, row in _csv.rows(source, COLUMNS):
        submit.append(_csv.timestamp(row, "timestamp", source, line))
        work.append(_csv.number(row, "duration", source, line, minimum=0))
        count = _csv.number(row, "num_gpus", source, line, minimum=1)
        gpus.append(int(count))
        tenants.append(vc((row.get("cluster") or "").strip() or "unknown"))
    if not submit:
        raise _csv.TraceError("the trace has no jobs", source)
    return build(
        "philly",
        reference,
        np.asarray(submit),
        np.asarray(work),
        np.asarray(gpus),
        tenant=np.asarray(tenants),
        tenants=vc.names,
        source=str(source),
        notes=("Philly via Sia: no final state, no GPU type; timestamps read as UTC",),
    )
