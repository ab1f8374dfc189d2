"""The outcome gates (``bench/bench_check.py``) fail where a policy got worse than its pin
beyond the tolerance, pass where it holds, and skip a scenario whose inputs are absent.
A small synthetic scenario of their own keeps these runs to seconds; the real pins are in
``bench/outcomes.json`` and ``make test`` checks them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "bench" / "bench_check.py"


def pins(tmp_path: Path, pinned: dict[str, Any] | None = None, **extra: Any) -> Path:
    scenario: dict[str, Any] = {
        "simulate": {"trace": "synthetic", "jobs": 150, "rate": 300, "capacity": 0.03, "seed": 1},
        "policies": ["fifo", "suanli"],
    }
    if pinned is not None:
        scenario["pinned"] = pinned
    body = {
        "tolerance": {"avg_jct_h": 0.03, "carbon_kg": 0.02, "cost_usd": 0.02},
        "scenarios": {"tiny": scenario, **extra},
    }
    path = tmp_path / "outcomes.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--pins", str(path), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def test_pinned_figures_pass_and_a_worse_policy_fails_naming_the_figure(tmp_path: Path) -> None:
    path = pins(tmp_path)
    assert run(path, "--update").returncode == 0
    pinned = json.loads(path.read_text())["scenarios"]["tiny"]["pinned"]
    assert set(pinned) == {"fifo", "suanli"} and pinned["fifo"]["avg_jct_h"] > 0

    held = run(path)
    assert held.returncode == 0, held.stdout + held.stderr
    assert "WORSE" not in held.stdout

    stricter = {**pinned, "suanli": {**pinned["suanli"], "carbon_kg": pinned["suanli"]["carbon_kg"] / 1.1}}
    worse = run(pins(tmp_path, stricter))
    assert worse.returncode == 1
    [line] = [row for row in worse.stdout.splitlines() if "WORSE" in row]
    assert line.split()[:3] == ["tiny", "suanli", "carbon_kg"] and "+10.0%" in line
    assert "1 figure(s) worse" in worse.stderr


def test_a_policy_better_than_its_pin_is_reported_and_passes(tmp_path: Path) -> None:
    path = pins(tmp_path)
    assert run(path, "--update").returncode == 0
    pinned = json.loads(path.read_text())["scenarios"]["tiny"]["pinned"]
    looser = {**pinned, "fifo": {**pinned["fifo"], "avg_jct_h": pinned["fifo"]["avg_jct_h"] * 1.5}}
    better = run(pins(tmp_path, looser))
    assert better.returncode == 0
    assert any("fifo" in row and "better: re-pin" in row for row in better.stdout.splitlines())


def test_a_scenario_whose_inputs_are_absent_is_skipped_with_the_reason(tmp_path: Path) -> None:
    absent = {"simulate": {"trace": "{data}/no-such-trace.csv", "trace_format": "philly"}}
    tolerance = {"avg_jct_h": 0.03, "carbon_kg": 0.02, "cost_usd": 0.02}
    path = tmp_path / "outcomes.json"
    path.write_text(json.dumps({"tolerance": tolerance, "scenarios": {"absent": absent}}))
    done = run(path)
    assert done.returncode == 0
    assert "absent: skipped, its inputs are not here" in done.stdout and "no-such-trace.csv" in done.stdout


def test_an_unknown_scenario_or_an_unreadable_pins_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run(pins(tmp_path), "--scenario", "nope")
    assert done.returncode == 2 and "no scenario nope" in done.stdout + done.stderr
    done = run(tmp_path / "missing.json")
    assert done.returncode == 2 and "cannot read the pins file" in done.stderr


def test_the_repositorys_pins_name_every_policy_of_every_scenario() -> None:
    """bench/outcomes.json pins all seven policies per scenario, each metric positive."""
    body = json.loads((ROOT / "bench" / "outcomes.json").read_text())
    for name, scenario in body["scenarios"].items():
        assert set(scenario["pinned"]) == {"fifo", "backfill", "cheapest", "carbon", "las", "gavel", "suanli"}, name
        for policy, figures in scenario["pinned"].items():
            assert all(figures[m] > 0 for m in ("avg_jct_h", "carbon_kg", "cost_usd")), (name, policy)
