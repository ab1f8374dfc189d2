"""SenseTime Helios (Hu et al., "Characterization and Prediction of Deep Learning Workloads
in Large-Scale GPU Datacenters", SC'21), one cluster's ``cluster_log.csv``.

Source: github.com/S-Lab-System-Group/HeliosData, ``README.md`` (schema) and
``data/{Earth,Saturn,Uranus,Venus}/cluster_log.csv``. Comma-separated with this header
(checked against the README's example table and schema)::

    job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue

- ``submit_time``, ``start_time``, ``end_time``: ``YYYY-MM-DD HH:MM:SS``, no time zone;
- ``duration``: ``end_time - start_time`` in seconds; ``queue``: ``start_time - submit_time``;
- ``state``: ``COMPLETED``, ``CANCELLED``, ``FAILED``, ``TIMEOUT``, ``NODE_FAIL`` (the
  README counts the last two as failed; one ``SUSPENDED`` job in Uranus);
- ``vc``: hashed virtual cluster (``vc...``), ``user``: hashed user (``u...``).

How it is read (rules shared with Acme in :mod:`suanli.traces._joblog`):

- a job's work is ``duration`` (``end_time - start_time`` where ``duration`` is empty);
  jobs with ``gpu_num == 0`` (about half of the 3.36 M jobs are CPU jobs) and jobs that
  never started are dropped and counted in the notes;
- the tenant is the virtual cluster (``vc``): Helios allocates GPU quotas per VC, as
  Philly does; ``user`` is not used;
- states: ``COMPLETED`` -> completed; ``FAILED``/``TIMEOUT``/``NODE_FAIL`` -> failed;
  ``CANCELLED`` -> killed; others -> unknown;
- times without a zone are read as China Standard Time (UTC+8), where SenseTime's
  clusters run; the README does not say (assumption; it only shifts ``epoch_s``);
- no GPU type column: jobs are unconstrained;
- the trace is named ``helios-<cluster>`` when the file sits in a folder named after a
  cluster (``Venus/cluster_log.csv``), else ``helios``.

Default reference accelerator: ``v100``. The Helios datacenter node described in the
authors' artifact (S-Lab-System-Group/HeliosArtifact, ``enviornment/env_datacenter_node.txt``)
carries 8 x Tesla V100-SXM2 32 GB, and the paper describes Volta and Pascal clusters; for
a Pascal cluster pass ``--reference p100``.
"""

from __future__ import annotations

from pathlib import Path

from suanli.traces._joblog import LogFormat, load_job_log
from suanli.traces.trace import Trace

DEFAULT_REFERENCE = "v100"
COLUMNS = (
    "job_id",
    "user",
    "vc",
    "gpu_num",
    "cpu_num",
    "node_num",
    "state",
    "submit_time",
    "start_time",
    "end_time",
    "duration",
    "queue",
)
CLUSTERS = ("earth", "saturn", "uranus", "venus")
FORMAT = LogFormat(
    label="Helios",
    required=("vc", "gpu_num", "state", "submit_time", "start_time", "end_time", "duration"),
    tenant_column="vc",
    naive_utc_offset_s=8 * 3600.0,
)


def load_helios(path: str | Path, reference: str = DEFAULT_REFERENCE) -> Trace:
    source = Path(path)
    cluster = source.parent.name.lower()
    name = f"helios-{cluster}" if cluster in CLUSTERS else "helios"
    notes = (
        "Helios: work = duration (end - start); tenant = virtual cluster; no GPU type; "
        "times read as UTC+8; CANCELLED -> killed, TIMEOUT/NODE_FAIL -> failed",
    )
    return load_job_log(source, name, reference, FORMAT, notes)
