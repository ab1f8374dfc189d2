"""``suanli simulate`` as a real process: the JSON contract, reproducibility, and one-line
errors (exit code 2, no traceback) for bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, run_suanli

SMALL = ("simulate", "--jobs", "300", "--capacity", "0.02", "-p", "fifo", "-p", "suanli", "--json")
POLICY_KEYS = {
    "jobs",
    "completed",
    "lost",
    "avg_jct_h",
    "median_jct_h",
    "p99_jct_h",
    "avg_queue_h",
    "makespan_h",
    "utilisation",
    "energy_kwh",
    "carbon_kg",
    "cost_usd",
    "deadline_misses",
}
TIMING_KEYS = {"wall_s", "jobs_per_s"}
VALID_POLICIES = ("backfill", "carbon", "cheapest", "fifo", "las", "gavel", "suanli")


@pytest.fixture(scope="module")
def small_runs() -> tuple[dict[str, Any], dict[str, Any]]:
    """The same small simulation, run twice."""
    outputs = []
    for _ in range(2):
        result = run_suanli(*SMALL)
        assert result.code == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    return outputs[0], outputs[1]


def test_simulate_json_has_every_policy_and_the_bounds(small_runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    out = small_runs[0]
    assert set(out["policies"]) == {"fifo", "suanli"}
    for name, metrics in out["policies"].items():
        missing = POLICY_KEYS - set(metrics)
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert metrics["jobs"] == 300
        assert metrics["completed"] + metrics["rejected"] == 300
        assert metrics["lost"] == 0
        for key in POLICY_KEYS:
            assert isinstance(metrics[key], int | float), (name, key)
            assert math.isfinite(metrics[key]), (name, key)
            assert metrics[key] >= 0, (name, key)
        assert 0 < metrics["utilisation"] <= 1
        assert metrics["median_jct_h"] <= metrics["p99_jct_h"]
        assert metrics["avg_queue_h"] <= metrics["avg_jct_h"]
    assert {"carbon_kg", "avg_jct_h"} <= set(out["bounds"])
    for key in ("carbon_kg", "avg_jct_h"):
        assert out["bounds"][key] > 0
        for metrics in out["policies"].values():
            assert out["bounds"][key] <= metrics[key] * (1 + 1e-9)
    assert isinstance(out["wall_s"], float)
    assert out["wall_s"] > 0


def test_the_same_seed_gives_the_same_metrics(small_runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, second = small_runs

    def without_timing(out: dict[str, Any]) -> dict[str, Any]:
        return {name: {k: v for k, v in m.items() if k not in TIMING_KEYS} for name, m in out["policies"].items()}

    assert without_timing(first) == without_timing(second)
    assert first["bounds"] == second["bounds"]


def test_another_seed_gives_another_trace(small_runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    result = run_suanli(*SMALL, "--seed", "1")
    assert result.code == 0, result.stderr
    other = json.loads(result.stdout)
    assert other["policies"]["fifo"]["avg_jct_h"] != small_runs[0]["policies"]["fifo"]["avg_jct_h"]


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.code == 2, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


PHILLY_HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"
GOOD_ROW = "2017-10-09 07:01:55,66.0,1,66.0,ab\n"

BAD_INPUTS: list[Any] = [
    pytest.param(lambda tmp: ("-p", "fastest"), ("unknown policy 'fastest'", *VALID_POLICIES), id="unknown policy"),
    pytest.param(
        lambda tmp: ("--network", "atlantis"), ("unknown network 'atlantis'", "national"), id="unknown network"
    ),
    pytest.param(
        lambda tmp: ("--trace", str(tmp / "missing.csv"), "--trace-format", "philly"),
        ("not found", "missing.csv"),
        id="a missing trace file",
    ),
    pytest.param(
        lambda tmp: ("--trace", "atlantis"), ("unknown trace 'atlantis'", "synthetic", "philly"), id="unknown trace"
    ),
    pytest.param(
        lambda tmp: ("--trace", "x.csv", "--trace-format", "parquet"),
        ("unknown trace format 'parquet'", "philly", "gavel"),
        id="unknown trace format",
    ),
    pytest.param(lambda tmp: ("--capacity", "0"), ("capacity",), id="capacity zero"),
    pytest.param(lambda tmp: ("--capacity", "-0.5"), ("capacity",), id="negative capacity"),
    pytest.param(lambda tmp: ("--load", "-1"), ("load",), id="negative load"),
    pytest.param(
        lambda tmp: ("--network", _write(tmp, "net.yaml", "schema_version: 1\nkind: sites\nitems: [ {id: x\n")),
        ("net.yaml", "YAML"),
        id="a network file that is not YAML",
    ),
    pytest.param(
        lambda tmp: ("--network", _write(tmp, "net.yaml", "schema_version: 1\nkind: sites\nitems:\n  - id: x\n")),
        ("net.yaml",),
        id="a network file with a site missing its fields",
    ),
    pytest.param(
        lambda tmp: (
            "--trace",
            _write(tmp, "bad.csv", PHILLY_HEADER + GOOD_ROW + "2017-10-09 07:02:00,abc,1,1,ab\n"),
            "--trace-format",
            "philly",
        ),
        ("bad.csv:3", "duration", "abc"),
        id="a Philly trace with a duration that is not a number",
    ),
    pytest.param(
        lambda tmp: (
            "--trace",
            _write(tmp, "bad.csv", PHILLY_HEADER + "2017-10-09 07:01:55,66.0,0,0,ab\n"),
            "--trace-format",
            "philly",
        ),
        ("bad.csv:2", "num_gpus"),
        id="a Philly trace with zero GPUs",
    ),
    pytest.param(
        lambda tmp: (
            "--trace",
            _write(tmp, "bad.csv", PHILLY_HEADER + "yesterday,66.0,1,66.0,ab\n"),
            "--trace-format",
            "philly",
        ),
        ("bad.csv:2", "timestamp"),
        id="a Philly trace with a bad timestamp",
    ),
    pytest.param(
        lambda tmp: (
            "--trace",
            _write(tmp, "bad.csv", "when,how_long\n2017-10-09 07:01:55,66.0\n"),
            "--trace-format",
            "philly",
        ),
        ("bad.csv", "missing column"),
        id="a Philly trace without its columns",
    ),
    pytest.param(
        lambda tmp: ("--trace", _write(tmp, "empty.csv", PHILLY_HEADER), "--trace-format", "philly"),
        ("empty.csv", "no jobs"),
        id="a Philly trace with no rows",
    ),
]


@pytest.mark.parametrize(("args", "fragments"), BAD_INPUTS)
def test_bad_input_fails_with_one_line(
    tmp_path: Path, args: Callable[[Path], tuple[str, ...]], fragments: tuple[str, ...]
) -> None:
    result = run_suanli("simulate", "--jobs", "20", "--capacity", "0.02", *args(tmp_path))
    assert_one_line_error(result, *fragments)


def test_bad_input_with_json_still_fails_with_one_line() -> None:
    result = run_suanli("simulate", "--jobs", "20", "-p", "fastest", "--json")
    assert_one_line_error(result, "unknown policy")
    assert result.stdout.strip() == ""
