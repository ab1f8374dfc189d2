"""Shanghai AI Lab Acme (Hu et al., "Characterization of Large Language Model Development
in the Datacenter", NSDI'24): ``trace_seren.csv`` and ``trace_kalos.csv``.

Source: github.com/InternLM/AcmeTrace, ``README.md`` ("Schema and Description", 1. Job
Trace) and ``data/job_trace/trace_{seren,kalos}.csv``. Comma-separated with a header;
the two clusters' headers differ (checked against the README's example tables)::

    seren: job_id,user,node_num,gpu_num,cpu_num,type,state,submit_time,start_time,
           end_time,duration,queue,gpu_time
    kalos: job_id,user,node_num,gpu_num,cpu_num,mem_per_pod_GB,shared_mem_per_pod,type,
           state,submit_time,start_time,end_time,fail_time,stop_time,duration,queue,gpu_time

- times are ISO 8601 with an offset (``2023-03-01 00:18:22+08:00`` in Seren,
  ``2023-05-17 11:00:58+00:00`` in Kalos); a time without an offset is read as UTC;
- ``duration``: ``end_time - start_time`` in seconds; ``queue``: ``start_time -
  submit_time``; ``gpu_time``: ``duration x gpu_num``;
- ``type``: the workload type in LLM development (e.g. ``Pretrain``, ``Evaluation``,
  ``SFT``, ``Debug``, ``Other``);
- ``state``: ``COMPLETED``, ``CANCELLED``, ``FAILED``, ``TIMEOUT``, ``NODE_FAIL`` (the
  README counts the last two as failed).

How it is read (rules shared with Helios in :mod:`suanli.traces._joblog`): a job's work
is ``duration`` (``end_time - start_time`` where empty); CPU jobs (``gpu_num == 0``) and
jobs that never started are dropped and counted in the notes; the tenant is ``user``
(Acme publishes no virtual cluster); ``type`` becomes the job class (no throughput table
knows these classes, so they only label jobs); ``COMPLETED`` -> completed,
``FAILED``/``TIMEOUT``/``NODE_FAIL`` -> failed, ``CANCELLED`` -> killed, others unknown;
no GPU type column: jobs are unconstrained. Only the columns both files share are
required, so either file (or one with the Kalos-only columns removed) loads.

Default reference accelerator: ``a100-80g``. The paper describes Seren and Kalos as two
homogeneous clusters of 8-GPU NVIDIA A100 (80 GB, SXM) servers; that is the authors'
statement, not re-checked here against the paper's text.
"""

from __future__ import annotations

from pathlib import Path

from suanli.traces._joblog import LogFormat, load_job_log
from suanli.traces.trace import Trace

DEFAULT_REFERENCE = "a100-80g"
SEREN_COLUMNS = (
    "job_id",
    "user",
    "node_num",
    "gpu_num",
    "cpu_num",
    "type",
    "state",
    "submit_time",
    "start_time",
    "end_time",
    "duration",
    "queue",
    "gpu_time",
)
KALOS_ONLY = ("mem_per_pod_GB", "shared_mem_per_pod", "fail_time", "stop_time")
FORMAT = LogFormat(
    label="Acme",
    required=("user", "gpu_num", "type", "state", "submit_time", "start_time", "end_time", "duration"),
    tenant_column="user",
    class_column="type",
)


def load_acme(path: str | Path, reference: str = DEFAULT_REFERENCE) -> Trace:
    source = Path(path)
    stem = source.stem.lower()
    cluster = stem.removeprefix("trace_")
    name = f"acme-{cluster}" if cluster in ("seren", "kalos") else "acme"
    notes = (
        "Acme: work = duration (end - start); tenant = user; job class = workload type; no GPU type; "
        "CANCELLED -> killed, TIMEOUT/NODE_FAIL -> failed",
    )
    return load_job_log(source, name, reference, FORMAT, notes)
