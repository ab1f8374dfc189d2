"""The HTML report of ``suanli simulate --report``: one self-contained, well-formed file with
the metrics table and the charts, robust to empty and NaN results; and the CLI option."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from suanli.service import context
from suanli.service.charts import Bars, Frame, Line, bar_chart, line_chart, linear_ticks, log_ticks
from suanli.service.report import MAX_POINTS, ROWS, cdf_points, queue_points, render_report, write_report
from suanli.service.simulation import PolicyRun, SimulationRequest, SimulationResult, run_simulation
from suanli.traces.synthetic import SyntheticParams

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "wbr", "source", "track", "embed"}
SVG_XMLNS = 'xmlns="http://www.w3.org/2000/svg"'


class Checker(HTMLParser):
    """Parses a document, recording nesting errors, each chart's legend text and the
    metrics table's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.svgs: list[list[str]] = []
        self.legend_depth: int | None = None
        self.table: list[list[str]] = []
        self.in_table = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "svg":
            self.svgs.append([])
        if tag == "g" and values.get("class") == "legend":
            self.legend_depth = len(self.stack)
        if tag == "table" and values.get("class") == "metrics":
            self.in_table = True
        if self.in_table and tag == "tr":
            self.table.append([])
        if self.in_table and tag in ("td", "th"):
            self.cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <rect/>, <line/>: self-closed, nothing to balance

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "g" and self.legend_depth == len(self.stack):
            self.legend_depth = None
        if tag == "table":
            self.in_table = False
        if tag in ("td", "th") and self.cell is not None:
            self.table[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.legend_depth is not None:
            self.svgs[-1].append(data)
        if self.cell is not None:
            self.cell.append(data)


def check(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], checker.stack
    return checker


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    request = SimulationRequest(
        policies=("fifo", "suanli"), capacity_scale=0.02, synthetic=SyntheticParams(jobs=300, rate_per_h=200)
    )
    return run_simulation(context(), request)


@pytest.fixture(scope="module")
def report(result: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(result, path)
    return path.read_text(encoding="utf-8")


def test_report_is_well_formed_html(report: str) -> None:
    assert report.startswith("<!DOCTYPE html>")
    check(report)


def test_report_is_self_contained(report: str) -> None:
    assert "http://" not in report.replace(SVG_XMLNS, "")
    assert "https://" not in report
    lowered = report.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "url(" not in lowered


def test_every_chart_has_every_policy_in_its_legend(report: str, result: SimulationResult) -> None:
    legends = check(report).svgs
    assert len(legends) >= 5
    assert report.count("<svg") == len(legends)
    for legend in legends:
        text = " ".join(legend)
        for name in result.runs:
            assert name in text, (name, text)


def test_metrics_table_shows_each_policy_mean_jct(report: str, result: SimulationResult) -> None:
    table = check(report).table
    header = table[0]
    assert header[1:] == list(result.runs)
    rows = {row[0]: row[1:] for row in table[1:]}
    policies = result.as_dict()["policies"]
    expected = [f"{policies[name]['avg_jct_h']:.3f}" for name in result.runs]
    assert rows["mean JCT (h)"] == expected
    assert {"gap to JCT bound", "gap to carbon bound"} <= set(rows)


def test_report_shows_the_header_facts_and_bounds_method(report: str, result: SimulationResult) -> None:
    for fact in ("synthetic", "national", f"{sum(result.network.pools.capacity):,}", "seed", "wall time"):
        assert fact in report
    assert "How to read this" in report
    assert result.bounds.method.split(";")[0] in report


def test_the_cli_table_shows_the_report_rows(result: SimulationResult) -> None:
    from io import StringIO

    from rich.console import Console

    from suanli.cli.sim_views import print_result

    buffer = StringIO()
    print_result(Console(file=buffer, width=300), result)
    for _, label, _ in ROWS:
        assert label in buffer.getvalue()


def _empty_run(run: PolicyRun) -> PolicyRun:
    """``run`` as if the policy had completed no job: NaN times, zero carbon, no samples."""
    metrics = dict(run.metrics)
    for key in ("avg_jct_h", "median_jct_h", "p99_jct_h", "avg_queue_h", "p99_queue_h", "jobs_per_s"):
        metrics[key] = math.nan
    metrics.update(completed=0, lost=metrics["jobs"], makespan_h=0.0, carbon_kg=0.0, energy_kwh=0.0)
    metrics["by_site"] = {site: dict.fromkeys(values, 0.0) for site, values in metrics["by_site"].items()}
    return replace(run, metrics=metrics, jct_h=np.array([]), queue_samples=[], carbon_by_hour_kg=[0.0] * 24)


def test_report_survives_a_policy_with_no_completed_jobs(result: SimulationResult) -> None:
    runs = dict(result.runs)
    runs["fifo"] = _empty_run(runs["fifo"])
    text = render_report(replace(result, runs=runs))
    checker = check(text)
    assert len(checker.svgs) >= 5
    assert "(no completed jobs)" in text
    assert "nan" not in text.lower().replace("font", "")
    rows = {row[0]: row[1:] for row in checker.table[1:]}
    assert rows["mean JCT (h)"][0] == "-"


def test_report_with_one_empty_policy_only(result: SimulationResult) -> None:
    only = _empty_run(result.runs["fifo"])
    text = render_report(replace(result, runs={"fifo": only}))
    checker = check(text)
    assert len(checker.svgs) >= 5
    assert all("fifo" in " ".join(legend) for legend in checker.svgs)
    assert "no data to plot" in text
    assert "all values are 0" in text


def test_cdf_points_are_thinned_and_end_at_the_completed_share() -> None:
    jct = np.random.default_rng(0).lognormal(0, 3, 50_000)
    xs, ys = cdf_points(jct, total=60_000)
    assert len(xs) <= MAX_POINTS
    assert xs == sorted(xs) and ys == sorted(ys)
    assert xs[0] == pytest.approx(jct.min()) and xs[-1] == pytest.approx(jct.max())
    assert ys[-1] == pytest.approx(100 * 50_000 / 60_000)
    assert cdf_points(np.array([]), total=10) == ([], [])


def test_queue_points_are_thinned_keeping_the_peak() -> None:
    samples = [(float(i), i % 97, 1) for i in range(100_000)]
    xs, ys = queue_points(samples)
    assert len(xs) <= MAX_POINTS
    assert xs == sorted(xs)
    assert max(ys) == 96
    assert queue_points([]) == ([], [])


def test_ticks_enclose_the_data() -> None:
    lo, hi, ticks = linear_ticks(0.0, 0.37)
    assert lo == 0.0 and hi >= 0.37 and ticks[0] == lo and ticks[-1] == hi
    lo, hi, ticks = log_ticks(0.0004, 66.0)
    assert lo == pytest.approx(1e-4) and hi == pytest.approx(100.0) and len(ticks) == 7


def test_charts_escape_text_and_skip_bad_values() -> None:
    frame = Frame("a <b> & c", "x", "y")
    lines = [Line("<p>", "#000", [0.0, 1.0, math.nan, -1.0], [1.0, math.inf, 2.0, 3.0])]
    svg = line_chart(frame, lines, log_x=True)
    assert "<b>" not in svg and "<p>" not in svg and "&lt;b&gt;" in svg
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    bars = bar_chart(frame, ["s1", "s2"], [Bars("q&a", "#000", [math.nan, 0.0])])
    assert "q&amp;a" in bars and "nan" not in bars.lower()
    check(svg)
    check(bars)


# -- the CLI ---------------------------------------------------------------------------------


def _simulate(*extra: str) -> subprocess.CompletedProcess[str]:
    args = ["simulate", "--jobs", "200", "--capacity", "0.02", "-p", "fifo", "-p", "suanli", *extra]
    return subprocess.run(
        [sys.executable, "-m", "suanli.cli", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_cli_writes_the_report(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    done = _simulate("--report", str(target))
    assert done.returncode == 0, done.stderr
    assert target.exists()
    assert str(target) in done.stdout
    text = target.read_text(encoding="utf-8")
    check(text)
    assert len(re.findall("<svg", text)) >= 5
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("name", ["r.txt", "missing/r.html"])
def test_cli_rejects_a_bad_report_path(tmp_path: Path, name: str) -> None:
    done = _simulate("--report", str(tmp_path / name))
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / name).exists()
