"""Trace loaders for published formats (openb, Helios, Acme, PAI) and the plain CSV.

Fixtures under tests/fixtures/traces/ are a few hand-written rows in each published
format (headers exactly as published), with edge cases: CPU-only jobs, empty optional
fields, failed/cancelled jobs, GPU-type constraints, unsorted submissions.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError
from suanli.traces import FinalState
from suanli.traces._csv import TraceError
from suanli.traces.acme import load_acme
from suanli.traces.csv_format import load_csv
from suanli.traces.helios import load_helios
from suanli.traces.openb import allowed_type, load_openb
from suanli.traces.pai import load_pai
from suanli.traces.registry import DATA_ENV, TraceOptions, register_builtins
from tests.conftest import SHARED_DATA, need_shared, run_suanli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "traces"
C, F, K, U = FinalState.COMPLETED, FinalState.FAILED, FinalState.KILLED, FinalState.UNKNOWN


def _states(values: np.ndarray) -> list[FinalState]:
    return [FinalState(int(v)) for v in values]


def _type_names(trace_types: tuple[str, ...], codes: np.ndarray) -> list[str | None]:
    return [None if c < 0 else trace_types[c] for c in codes.tolist()]


# -- openb (Alibaba GPU v2023) --------------------------------------------------------------------


def test_openb_fixture_parses_gpu_pods_in_creation_order() -> None:
    trace = load_openb(FIXTURES / "openb_pod_list.csv")
    assert (trace.name, trace.reference, len(trace)) == ("openb", "v100", 5)  # the CPU-only pod is dropped
    assert trace.submit_s.tolist() == [0.0, 50.0, 150.0, 250.0, 350.0]  # creation 50, 100, 200, 300, 400
    # deletion - scheduled; the Pending pod (no scheduled_time): deletion - creation
    assert trace.work_s.tolist() == [590.0, 8900.0, 270.0, 120.0, 8600.0]
    assert trace.gpus.tolist() == [1, 1, 8, 2, 4]  # the gpu_milli=460 pod counts as one accelerator
    assert _states(trace.state) == [C, U, F, U, U]
    # V100M16|V100M32 -> V100; P100|T4 -> T4 (preferred); G2 kept; empty -> any
    assert _type_names(trace.types, trace.gpu_type) == [None, None, "V100", "T4", "G2"]
    assert trace.tenants == ("default",)
    assert trace.epoch_s == 0.0
    notes = " ".join(trace.notes)
    assert "1 GPU-sharing" in notes and "1 CPU-only dropped" in notes and "narrowed" in notes
    assert "2 of 2 Running pods" in notes


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", (None, False)),
        ("nan", (None, False)),
        ("V100M16|V100M32", ("V100", False)),
        ("V100M16|V100M32|V100M32", ("V100", False)),
        ("A10|G2|T4|V100M16|V100M32", ("T4", True)),
        ("G2|P100", ("P100", True)),
        ("G3", ("G3", False)),
        ("X1|Y2", ("X1", True)),
    ],
)
def test_openb_gpu_spec_rule(spec: str, expected: tuple[str | None, bool]) -> None:
    assert allowed_type(spec) == expected


def test_openb_real_default_pod_list_matches_its_manifest() -> None:
    path = need_shared("traces", "openb", "csv", "openb_pod_list_default.csv")
    trace = load_openb(path)
    assert len(trace) == 6989 + 16 + 15 + 44  # 8,152 pods less 1,088 CPU-only
    counts = dict(zip(*np.unique(trace.gpus, return_counts=True), strict=True))
    assert {int(k): int(v) for k, v in counts.items()} == {1: 6989, 2: 16, 4: 15, 8: 44}
    assert trace.submit_s[0] == 0.0 and (np.diff(trace.submit_s) >= 0).all()
    assert (trace.work_s >= 0).all()
    assert any("1,088 CPU-only dropped" in note for note in trace.notes)


def test_named_openb_resolves_the_default_pod_list(monkeypatch: pytest.MonkeyPatch) -> None:
    need_shared("traces", "openb", "csv", "openb_pod_list_default.csv")
    monkeypatch.setenv(DATA_ENV, str(SHARED_DATA))
    trace = register_builtins().load("openb", None, TraceOptions(reference="t4"))
    assert (len(trace), trace.reference) == (7064, "t4")


# -- Helios (SenseTime) ---------------------------------------------------------------------------


def test_helios_fixture() -> None:
    trace = load_helios(FIXTURES / "helios_cluster_log.csv")
    assert (trace.name, trace.reference, len(trace)) == ("helios", "v100", 6)  # CPU job and unstarted job dropped
    assert trace.submit_s.tolist() == [0.0, 661.0, 687.0, 688.0, 1200.0, 2400.0]
    assert trace.work_s.tolist() == [600.0, 36848.0, 249.0, 600.0, 3600.0, 600.0]  # TIMEOUT row: end - start
    assert trace.gpus.tolist() == [8, 1, 4, 1, 16, 2]
    assert _states(trace.state) == [F, C, F, K, F, U]  # NODE_FAIL, COMPLETED, FAILED, CANCELLED, TIMEOUT, SUSPENDED
    assert [trace.tenants[t] for t in trace.tenant.tolist()] == ["vcBBB", "vcAAA", "vcBBB", "vcCCC", "vcAAA", "vcAAA"]
    assert (trace.gpu_type == -1).all()
    assert trace.epoch_s == 1591698600.0  # 2020-06-09 18:30:00 read as UTC+8
    assert any("1 CPU-only" in n and "1 never started" in n for n in trace.notes)


def test_helios_names_the_cluster_from_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "Venus" / "cluster_log.csv"
    target.parent.mkdir()
    shutil.copy(FIXTURES / "helios_cluster_log.csv", target)
    assert load_helios(target, reference="p100").name == "helios-venus"
    assert load_helios(target, reference="p100").reference == "p100"


# -- Acme (Shanghai AI Lab) -----------------------------------------------------------------------


def test_acme_seren_fixture() -> None:
    trace = load_acme(FIXTURES / "trace_seren.csv")
    assert (trace.name, trace.reference, len(trace)) == ("acme-seren", "a100-80g", 4)
    assert trace.submit_s.tolist() == [0.0, 502.0, 838.0, 1200.0]
    assert trace.work_s.tolist() == [7200.0, 117.0, 2693.0, 300.0]  # empty duration: end - start
    assert trace.gpus.tolist() == [32, 8, 8, 1]
    assert _states(trace.state) == [C, F, C, K]
    assert [trace.classes[c] for c in trace.job_class.tolist()] == ["Pretrain", "Other", "Other", "Evaluation"]
    assert [trace.tenants[t] for t in trace.tenant.tolist()] == ["u1234", "u0042", "u0042", "u4321"]
    assert trace.epoch_s == 1677600600.0  # 2023-03-01 00:10:00+08:00


def test_acme_kalos_fixture_with_its_extra_columns() -> None:
    trace = load_acme(FIXTURES / "trace_kalos.csv")
    assert (trace.name, len(trace)) == ("acme-kalos", 3)
    assert trace.submit_s.tolist() == [0.0, 3658.0, 5322.0]
    assert trace.work_s.tolist() == [1800.0, 18.0, 82.0]
    assert trace.gpus.tolist() == [8, 64, 64]
    assert _states(trace.state) == [C, F, K]


# -- PAI (Alibaba GPU v2020) ----------------------------------------------------------------------


def test_pai_task_table_with_job_table_beside_it() -> None:
    trace = load_pai(FIXTURES / "pai" / "pai_task_table.csv")
    assert (trace.name, trace.reference, len(trace)) == ("pai", "v100", 4)  # no-GPU job and unlaunched job dropped
    assert trace.submit_s.tolist() == [0.0, 140.0, 250.0, 540.0]  # the job table's submission times
    # last task end - first task launch; job_d (Running, no end) censored at the last time stamp 1739950
    assert trace.work_s.tolist() == [38.0, 650.0, 150.0, 250.0]
    assert trace.gpus.tolist() == [1, 2, 5, 1]  # 1 x 50 % -> 1; 2 x 100 %; 4 x 100 % + 1 x 100 %
    assert _type_names(trace.types, trace.gpu_type) == ["MISC", "V100", "T4", "T4"]  # largest GPU task's type
    assert [trace.tenants[t] for t in trace.tenant.tolist()] == ["user_x", "user_x", "user_y", "user_y"]
    assert _states(trace.state) == [C, C, F, U]
    assert trace.epoch_s == 1739150.0


def test_pai_without_job_table_uses_task_launches(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "pai" / "pai_task_table.csv", tmp_path / "pai_task_table.csv")
    trace = load_pai(tmp_path / "pai_task_table.csv")
    assert trace.submit_s.tolist() == [0.0, 138.0, 338.0, 538.0]  # first task launch
    assert trace.tenants == ("default",)
    assert _states(trace.state) == [C, C, F, U]  # from task statuses


def test_pai_accepts_a_header_line(tmp_path: Path) -> None:
    header = (FIXTURES / "pai" / "pai_task_table.csv").read_text(encoding="utf-8")
    path = tmp_path / "tasks.csv"
    path.write_text(
        "job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type\n" + header,
        encoding="utf-8",
    )
    assert len(load_pai(path)) == 4


# -- plain CSV ------------------------------------------------------------------------------------


def test_csv_with_iso_times_and_optional_columns() -> None:
    trace = load_csv(FIXTURES / "jobs.csv")
    assert (trace.name, trace.reference, len(trace)) == ("jobs", "a100-80g", 3)
    assert trace.submit_s.tolist() == [0.0, 1800.0, 3600.0]  # 08:00+08:00 = 00:00Z, 00:30Z, 01:00 (UTC)
    assert trace.work_s.tolist() == [3600.0, 600.0, 1800.0]
    assert trace.gpus.tolist() == [8, 1, 2]
    assert _type_names(trace.types, trace.gpu_type) == ["h100", None, "A100"]
    assert [None if c < 0 else trace.classes[c] for c in trace.job_class.tolist()] == ["pretrain", None, "eval"]
    assert [trace.tenants[t] for t in trace.tenant.tolist()] == ["team-a", "default", "team-b"]
    assert trace.deadlines[0] == 7200.0 and math.isnan(trace.deadlines[1]) and math.isnan(trace.deadlines[2])
    assert trace.epoch_s == 1740787200.0  # 2025-03-01T00:00:00Z


def test_csv_with_seconds_sorts_and_keeps_relative_deadlines(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("gpus,duration_s,submit_s,deadline_s\n2,100,500,50\n1,10,200,\n", encoding="utf-8")
    trace = load_csv(path, reference="h100")
    assert trace.reference == "h100"
    assert trace.submit_s.tolist() == [0.0, 300.0]
    assert trace.gpus.tolist() == [1, 2]
    assert math.isnan(trace.deadlines[0]) and trace.deadlines[1] == 350.0
    assert trace.epoch_s == 0.0
    assert _states(trace.state) == [U, U]


# -- malformed input ------------------------------------------------------------------------------

HELIOS_HEADER = "job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue\n"
HELIOS_OK = "1,u,vc,1,1,1,COMPLETED,2020-06-09 18:41:01,2020-06-09 18:41:01,2020-06-09 18:42:01,60,0\n"
SEREN_HEADER = (
    "job_id,user,node_num,gpu_num,cpu_num,type,state,submit_time,start_time,end_time,duration,queue,gpu_time\n"
)
OPENB_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
)
PAI_OK = "j1,worker,1.0,Terminated,100.0,200.0,600.0,20.0,100.0,T4\n"
CSV_HEADER = "submit_s,duration_s,gpus\n"

MALFORMED = [
    ("helios", HELIOS_HEADER + HELIOS_OK + "2,u,vc,two,1,1,FAILED,2020-06-09 18:41:01,,,5,0\n", 3, "gpu_num"),
    ("helios", HELIOS_HEADER + "2,u,vc,1,1,1,FAILED,2020-06-09 18:41:01,,,-5,0\n", 2, "duration"),
    ("helios", HELIOS_HEADER + "2,u,vc,1,1,1,FAILED,2020-13-09 18:41:01,,,5,0\n", 2, "submit_time"),
    ("helios", HELIOS_HEADER.replace(",vc,", ",") + HELIOS_OK.replace(",vc,", ","), 1, None),
    ("acme", SEREN_HEADER + "1,u,1,8,1,Other,FAILED,yesterday,,,5,0,40\n", 2, "submit_time"),
    ("acme", SEREN_HEADER + "1,u,1,8,1,Other,FAILED,2023-03-01 00:18:22+08:00,,,abc,0,40\n", 2, "duration"),
    ("openb", OPENB_HEADER + "p0,1,1,1,1000,,LS,Succeeded,100,150,160\n", 2, "deletion_time"),
    ("openb", OPENB_HEADER + "p0,1,1,1,1000,,LS,Succeeded,100,150,90\n", 2, "scheduled_time"),
    ("openb", OPENB_HEADER + "p0,1,1,1,1000,,LS,Gone,100,150,100\n", 2, "pod_phase"),
    ("openb", OPENB_HEADER + "p0,1,1,x,1000,,LS,Succeeded,100,150,100\n", 2, "num_gpu"),
    ("openb", OPENB_HEADER + "p0,1,1,1,1000,,LS,Succeeded,day 1,150,100\n", 2, "creation_time"),
    ("openb", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1,1,1,1000\n", 1, None),
    ("pai", PAI_OK + "j2,worker,1.0,Terminated,100.0,200.0\n", 2, None),
    ("pai", PAI_OK + "j2,worker,1.0,Terminated,100.0,200.0,600.0,20.0,lots,T4\n", 2, "plan_gpu"),
    ("pai", PAI_OK + "j2,worker,1.0,Terminated,300.0,200.0,600.0,20.0,100.0,T4\n", 2, "end_time"),
    ("csv", CSV_HEADER + "0,10,1\n5,ten,1\n", 3, "duration_s"),
    ("csv", CSV_HEADER + "0,-10,1\n", 2, "duration_s"),
    ("csv", CSV_HEADER + "0,10,0\n", 2, "gpus"),
    ("csv", "submit_time,duration_s,gpus\n2025-02-30 10:00,10,1\n", 2, "submit_time"),
    ("csv", "submit_s,duration_s\n0,10\n", 1, None),
    ("csv", "duration_s,gpus\n10,1\n", 1, None),
]


@pytest.mark.parametrize(("fmt", "text", "line", "column"), MALFORMED)
def test_malformed_rows_name_file_line_and_column(
    tmp_path: Path, fmt: str, text: str, line: int, column: str | None
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError) as caught:
        register_builtins().load(str(path), fmt, TraceOptions())
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    if column is not None:
        assert f"column '{column}'" in message
    assert isinstance(caught.value, InputError)


# -- registry and command line --------------------------------------------------------------------


def test_every_format_is_registered() -> None:
    assert set(register_builtins().formats()) >= {"philly", "gavel", "openb", "helios", "acme", "pai", "csv"}


def test_simulate_replays_a_helios_file() -> None:
    fixture = str(FIXTURES / "helios_cluster_log.csv")
    args = ("simulate", "--trace", fixture, "--trace-format", "helios", "--jobs", "50", "--capacity", "0.05")
    done = run_suanli(*args, "-p", "fifo", "--json")
    assert done.code == 0, done.stderr
    data = json.loads(done.stdout)
    fifo = data["policies"]["fifo"]
    assert data["trace"]["jobs"] == fifo["jobs"] == 6
    assert fifo["completed"] + fifo["rejected"] == fifo["jobs"]


def test_simulate_with_an_unknown_format_lists_the_valid_ones() -> None:
    done = run_suanli("simulate", "--trace", str(FIXTURES / "jobs.csv"), "--trace-format", "nope", "--json")
    assert done.code == 2
    for name in ("acme", "csv", "helios", "openb", "pai"):
        assert name in done.stderr
