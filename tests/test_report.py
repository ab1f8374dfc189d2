"""The HTML report of ``suanli simulate --report``: one self-contained, well-formed file with
what made it (version, date, command, seed), the metrics table, utilisation over the busy
window, cost by site, utilisation by type and the charts (the queue on a log scale when
one policy swamps the others), robust to empty and NaN results; and the CLI option."""

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

from suanli import __version__
from suanli.clock import SimClock
from suanli.service import context
from suanli.service.charts import Bars, Frame, Line, bar_chart, line_chart, linear_ticks, log1p_ticks, log_ticks
from suanli.service.report import (
    MAX_POINTS,
    ROWS,
    Provenance,
    cdf_points,
    provenance,
    queue_points,
    render_report,
    swamping,
    write_report,
)
from suanli.service.simulation import PolicyRun, SimulationRequest, SimulationResult, run_simulation
from suanli.traces.synthetic import SyntheticParams

MADE_BY = provenance(["simulate", "--jobs", "300", "--report", "my report.html"], SimClock(1_796_284_800.0))
"""2026-12-03 08:00 UTC, and a file name that needs quoting."""

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
        self.tables: dict[str, list[list[str]]] = {}
        """Every table with a caption, by caption: its rows of cells."""
        self.caption: list[str] | None = None
        self.current: list[list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "svg":
            self.svgs.append([])
        if tag == "g" and values.get("class") == "legend":
            self.legend_depth = len(self.stack)
        if tag == "table" and values.get("class") == "metrics":
            self.in_table = True
        if tag == "table":
            self.current = []
        if tag == "caption":
            self.caption = []
        if self.current is not None and tag == "tr":
            self.current.append([])
        if self.in_table and tag == "tr":
            self.table.append([])
        if tag in ("td", "th"):
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
            self.current = None
        if tag == "caption" and self.caption is not None and self.current is not None:
            self.tables["".join(self.caption).strip()] = self.current
            self.caption = None
        if tag in ("td", "th") and self.cell is not None:
            text = "".join(self.cell).strip()
            if self.in_table:
                self.table[-1].append(text)
            if self.current is not None and self.current:
                self.current[-1].append(text)
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.legend_depth is not None:
            self.svgs[-1].append(data)
        if self.cell is not None:
            self.cell.append(data)
        if self.caption is not None:
            self.caption.append(data)


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
    write_report(result, path, MADE_BY)
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
    text = render_report(replace(result, runs=runs), MADE_BY)
    checker = check(text)
    assert len(checker.svgs) >= 5
    assert "(no completed jobs)" in text
    assert "nan" not in text.lower().replace("font", "")
    rows = {row[0]: row[1:] for row in checker.table[1:]}
    assert rows["mean JCT (h)"][0] == "-"


def test_report_with_one_empty_policy_only(result: SimulationResult) -> None:
    only = _empty_run(result.runs["fifo"])
    text = render_report(replace(result, runs={"fifo": only}), MADE_BY)
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


# -- what made the report --------------------------------------------------------------------


def test_report_names_the_version_date_command_and_seed(report: str, result: SimulationResult) -> None:
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", report))
    assert facts["suanli version"] == __version__
    assert facts["generated"] == "2026-12-03 08:00:00 UTC"
    assert "suanli simulate --jobs 300 --report &#x27;my report.html&#x27;" in facts["command"]
    assert facts["seed"].startswith(f"{result.request.seed} ")


def test_provenance_quotes_the_command_so_it_can_be_pasted_back() -> None:
    made = provenance(["sweep", "a b.yaml", "--report", "r.html"], SimClock(0.0))
    assert made == Provenance(__version__, "suanli sweep 'a b.yaml' --report r.html", 0.0)
    assert made.generated == "1970-01-01 00:00:00 UTC"


# -- utilisation over the busy window, on a trace small enough to compute by hand -------------

LAB = """\
schema_version: 1
kind: sites
items:
  - id: lab
    name: One pool of 4
    hub: lab
    province: none
    zone: lab
    lat: 0
    lon: 0
    utc_offset_h: 0
    pue: 1.0
    grid_region: china
    electricity_usd_per_kwh: 0.1
    pricing:
      model: rental
      accelerator_usd_per_h: {a100-80g: 2.0}
    inventory: {a100-80g: 4}
    source: a test
"""
STRAGGLER = """\
submit_s,duration_s,gpus
0,1800,2
900,3600,4
3600,36000,1
"""


@pytest.fixture(scope="module")
def straggler(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """4 accelerators. Job 0 (2 of them) runs 0-1,800 s; job 1 (all 4) arrives at 900 s and
    runs 1,800-5,400 s; job 2 (1) arrives at 3,600 s, the last arrival, and runs alone
    5,400-41,400 s: a straggler.

    Busy window = first to last arrival = [0, 3,600 s]. Inside it: 2 x 1,800 (job 0) +
    4 x 1,800 (job 1) = 10,800 accelerator-s of 4 x 3,600 = 14,400: 75 %. Over the
    makespan (41,400 s): (3,600 + 14,400 + 36,000) / (4 x 41,400) = 54,000 / 165,600 = 32.6 %.
    Cost: 54,000 accelerator-s = 15 h at $2 = $30."""
    folder = tmp_path_factory.mktemp("straggler")
    (folder / "lab.yaml").write_text(LAB, encoding="utf-8")
    (folder / "trace.csv").write_text(STRAGGLER, encoding="utf-8")
    request = SimulationRequest(
        trace=str(folder / "trace.csv"), trace_format="csv", network=str(folder / "lab.yaml"), policies=("fifo",)
    )
    return run_simulation(context(), request)


def test_busy_window_utilisation_is_computed_by_hand(straggler: SimulationResult) -> None:
    m = straggler.runs["fifo"].metrics
    assert m["window_h"] == [0.0, 1.0]
    assert m["window_utilisation"] == pytest.approx(10_800 / 14_400)
    assert m["by_site"]["lab"]["window_utilisation"] == pytest.approx(0.75)
    assert m["window_utilisation_by_type"]["a100-80g"] == pytest.approx(0.75)
    assert m["makespan_h"] == pytest.approx(41_400 / 3600)
    assert m["utilisation"] == pytest.approx(54_000 / 165_600)
    assert m["cost_usd"] == pytest.approx(30.0)


def test_report_shows_both_utilisations_labelled_and_states_the_window(straggler: SimulationResult) -> None:
    text = render_report(straggler, MADE_BY)
    checker = check(text)
    rows = {row[0]: row[1:] for row in checker.table[1:]}
    assert rows["utilisation (busy window)"] == ["75.0%"]
    assert rows["utilisation (over makespan)"] == ["32.6%"]
    assert rows["makespan (h)"] == ["11.5"]
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", text))
    assert facts["busy window"] == "0.00 h to 1.00 h of simulated time (first to last arrival)"
    assert "first and last arrival" in text  # the definition, under "How to read this"
    by_type = checker.tables["utilisation by accelerator type (busy window)"]
    assert by_type == [["accelerator", "fifo"], ["a100-80g", "75.0%"]]


def test_report_has_cost_by_site_for_every_policy(report: str, result: SimulationResult) -> None:
    table = check(report).tables["cost by site (USD)"]
    assert table[0] == ["site", *result.runs]
    sites = list(result.network.pools.site_names)
    assert [row[0] for row in table[1:]] == sites
    for column, name in enumerate(result.runs, start=1):
        by_site = result.runs[name].metrics["by_site"]
        assert [row[column] for row in table[1:]] == [f"{by_site[s]['cost_usd']:,.0f}" for s in sites]
        total = sum(float(row[column].replace(",", "")) for row in table[1:])
        assert total == pytest.approx(result.runs[name].metrics["cost_usd"], abs=len(sites))
    assert "Cost by site" in report  # the chart too
    assert "utilisation by accelerator type (busy window)" in check(report).tables


# -- the log scale where one policy swamps the others --------------------------------------------


@pytest.mark.parametrize(
    ("peaks", "expected"),
    [
        ({"fifo": 500.0, "suanli": 10.0}, (50.0, "fifo", "suanli")),
        ({"fifo": 50.0, "suanli": 0.0}, (50.0, "fifo", "suanli")),
        ({"fifo": 9.0, "suanli": 1.0}, None),
        ({"fifo": 10.0, "suanli": 1.0}, None),
        ({"fifo": 5.0, "suanli": 0.0}, None),
        ({"fifo": 500.0}, None),
    ],
    ids=[
        "fifo-50x-suanli-goes-log",
        "a-peak-of-0-counts-as-1",
        "9x-stays-linear",
        "exactly-10x-stays-linear",
        "5-jobs-against-none-stays-linear",
        "one-policy-alone-stays-linear",
    ],
)
def test_the_log_scale_switches_on_above_ten_times(
    peaks: dict[str, float], expected: tuple[float, str, str] | None
) -> None:
    assert swamping(peaks) == expected


def _with_queues(result: SimulationResult, peaks: dict[str, int]) -> SimulationResult:
    runs = {}
    for name, peak in peaks.items():
        samples = [(0.0, 0, 0), (3600.0, peak, 1), (7200.0, peak // 2, 1), (10_800.0, 0, 0)]
        runs[name] = replace(result.runs[name], queue_samples=samples)
    return replace(result, runs=runs)


def _queue_svg(text: str) -> str:
    return next(svg for svg in re.findall(r"<svg.*?</svg>", text, re.S) if "Queue length over time" in svg)


def test_a_queue_that_swamps_the_others_goes_to_a_log_scale_and_says_so(result: SimulationResult) -> None:
    text = render_report(_with_queues(result, {"fifo": 2000, "suanli": 40}), MADE_BY)
    check(text)
    svg = _queue_svg(text)
    assert "log-y" in svg
    assert "log scale: fifo&#x27;s peak queue is 50x suanli&#x27;s" in svg
    assert "jobs waiting (log scale)" in svg
    for label in (">0<", ">1<", ">10<", ">100<", ">1,000<", ">10,000<"):
        assert label in svg, label
    assert "log scale" in text.split(svg)[1].split("</figcaption>")[0]  # the caption says so too


def test_queues_of_one_order_stay_on_a_linear_scale(result: SimulationResult) -> None:
    text = render_report(_with_queues(result, {"fifo": 60, "suanli": 40}), MADE_BY)
    svg = _queue_svg(text)
    assert "log-y" not in svg and "log scale" not in svg
    assert "jobs waiting (log scale)" not in svg


def test_a_log_y_axis_keeps_zero_and_places_decades_evenly() -> None:
    assert log1p_ticks(0.0) == (0.0, 10.0, [0.0, 1.0, 10.0])
    assert log1p_ticks(2000.0) == (0.0, 10_000.0, [0.0, 1.0, 10.0, 100.0, 1000.0, 10_000.0])
    svg = line_chart(Frame("q", "t", "n"), [Line("a", "#000", [0.0, 1.0, 2.0], [0.0, 99.0, -1.0])], log_y=True)
    check(svg)
    assert "nan" not in svg.lower()


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
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", text))
    assert facts["suanli version"] == __version__
    command = f"suanli simulate --jobs 200 --capacity 0.02 -p fifo -p suanli --report {target}"
    assert command in facts["command"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", facts["generated"])


@pytest.mark.parametrize("name", ["r.txt", "a-file/r.html"])
def test_cli_rejects_a_bad_report_path(tmp_path: Path, name: str) -> None:
    """Not .html, or a directory that cannot be made (a file is in the way); a missing
    directory is made (``--report out/report.html`` on a fresh clone, as README has it)."""
    (tmp_path / "a-file").write_text("")
    done = _simulate("--report", str(tmp_path / name))
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / name).exists()
