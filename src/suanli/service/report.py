"""The self-contained HTML report of a simulation (written by ``suanli simulate --report``).

One file, no JavaScript and nothing fetched: inline CSS and inline SVG charts (see
``suanli.service.charts``), so it opens offline and can be mailed or archived as is. Its
head says what made it (:class:`Provenance`: suanli's version, the date, the exact
command) and the seed, so a reader can rerun it. The output is deterministic apart from
the date and the measured wall times.

The page's frame (:func:`html_page`, :func:`facts_list`, :data:`CSS`) is shared with the
sweep report (``suanli.service.sweep_report``).
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from suanli import __version__
from suanli.clock import Clock, WallClock, iso
from suanli.service.charts import PALETTE, Bars, Frame, Line, bar_chart, line_chart
from suanli.service.simulation import PolicyRun, SimulationResult

ROWS = (
    ("jobs", "jobs", "{:,}"),
    ("completed", "completed", "{:,}"),
    ("lost", "lost", "{:,}"),
    ("rejected", "rejected (fit nowhere)", "{:,}"),
    ("avg_jct_h", "mean JCT (h)", "{:.3f}"),
    ("median_jct_h", "median JCT (h)", "{:.3f}"),
    ("p99_jct_h", "p99 JCT (h)", "{:.2f}"),
    ("avg_queue_h", "mean queueing (h)", "{:.3f}"),
    ("p99_queue_h", "p99 queueing (h)", "{:.2f}"),
    ("makespan_h", "makespan (h)", "{:,.1f}"),
    ("window_utilisation", "utilisation (busy window)", "{:.1%}"),
    ("utilisation", "utilisation (over makespan)", "{:.1%}"),
    ("energy_kwh", "energy (MWh)", "scale:1000:{:,.1f}"),
    ("carbon_kg", "carbon (t CO2)", "scale:1000:{:,.1f}"),
    ("cost_usd", "cost (USD)", "{:,.0f}"),
    ("deadline_misses", "deadline misses", "{:,}"),
    ("wall_s", "wall time (s)", "{:.2f}"),
    ("jobs_per_s", "simulated jobs/s", "{:,.0f}"),
)
"""(metric key, label, format): the rows of the metrics table, in the report and in the
CLI's table (``suanli.cli.sim_views`` uses these)."""

MAX_POINTS = 400
"""Most points drawn per line."""

JCT_MARKERS = ((1 / 60, "1 min"), (1.0, "1 h"), (24.0, "1 day"), (168.0, "1 week"))

LOG_SCALE_RATIO = 10.0
"""A chart of several policies goes to a log scale when the largest policy's peak is more
than this many times the smallest's (a peak under 1 counts as 1): below it, a linear
axis shows every curve; above it, the largest flattens the others into the axis."""

WINDOW_BASIS = "first to last arrival"
WINDOW_DEFINITION = (
    "Utilisation (busy window) = accelerator-hours busy between the trace's first and last arrival, "
    "over accelerators x that span: the period when load arrives, the same for every policy compared "
    "(when every job arrives at once, the window runs to the last finish). Utilisation (over makespan) "
    "divides all busy accelerator-hours by accelerators x the makespan (first arrival to last finish), "
    "which one straggler running alone at the end can halve."
)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1d;
       max-width: 1000px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
table.metrics { border-collapse: collapse; margin: 8px 0; }
table.metrics th, table.metrics td { padding: 3px 12px; border-bottom: 1px solid #eee; }
table.metrics th { text-align: left; }
table.metrics td { text-align: right; font-variant-numeric: tabular-nums; }
table.metrics thead th { border-bottom: 2px solid #999; text-align: right; }
table.metrics thead th:first-child { text-align: left; }
table.metrics tr.gap th, table.metrics tr.gap td { background: #f6f6f6; }
figure { margin: 18px 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
.note { color: #444; }
code.command { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; background: #f4f4f4;
               padding: 1px 4px; word-break: break-all; }
table.metrics caption { text-align: left; font-weight: 600; padding: 6px 0; }
table.metrics td.base { color: #777; }
div.wide { overflow-x: auto; }
table.sweep { font-size: 12px; }
table.metrics span.rel { color: #666; font-size: 12px; margin-left: 4px; }
"""


@dataclass(frozen=True)
class Provenance:
    """What made a report: suanli's version, the date it was made and the exact command."""

    version: str
    command: str
    generated_at_s: float

    @property
    def generated(self) -> str:
        return iso(self.generated_at_s).replace("T", " ").replace("Z", " UTC")


def provenance(argv: Sequence[str], clock: Clock | None = None) -> Provenance:
    """The provenance of a report made now by ``suanli ARGV...`` (``argv`` without the
    program name; quoted so that the line can be pasted back into a shell)."""
    return Provenance(__version__, shlex.join(["suanli", *argv]), (clock or WallClock()).now_s())


def write_html(text: str, path: Path) -> None:
    """Write ``text`` to ``path``, replacing it atomically."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_report(result: SimulationResult, path: Path, made_by: Provenance) -> None:
    """Write the report of ``result`` to ``path`` (replaced atomically)."""
    write_html(render_report(result, made_by), path)


def html_page(title: str, body: Sequence[str]) -> str:
    """One self-contained HTML document: the shared CSS inline, nothing fetched."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def provenance_facts(made_by: Provenance) -> list[tuple[str, str]]:
    """The head of every report, as (name, HTML) pairs for :func:`facts_list`."""
    return [
        ("suanli version", escape(made_by.version)),
        ("generated", escape(made_by.generated)),
        ("command", f'<code class="command">{escape(made_by.command)}</code>'),
    ]


def facts_list(facts: Sequence[tuple[str, str]]) -> str:
    """A definition list of (name, already escaped HTML) pairs."""
    items = "".join(f"<dt>{escape(name)}</dt><dd>{value}</dd>" for name, value in facts)
    return f'<dl class="facts">{items}</dl>'


def render_report(result: SimulationResult, made_by: Provenance) -> str:
    """The report of ``result`` as one HTML document."""
    data = result.as_dict()
    colours = policy_colours(list(result.runs))
    title = f"Simulation: {data['trace']['name']} on {data['network']['name']}"
    queue_svg, queue_caption = _queue_chart(result, colours)
    body = [
        f"<h1>{escape(title)}</h1>",
        _header(result, data, colours, made_by),
        "<h2>Metrics</h2>",
        _metrics_table(data),
        "<h2>Charts</h2>",
        _figure(_jct_chart(result, colours), _JCT_CAPTION),
        _figure(queue_svg, queue_caption),
        _figure(_utilisation_chart(result, colours), _UTILISATION_CAPTION),
        _figure(_type_utilisation_chart(result, colours), _TYPE_CAPTION),
        _figure(_cost_site_chart(result, colours), "Cost (USD) of the accelerator-hours used at each site."),
        _figure(_carbon_site_chart(result, colours), "Operational carbon emitted at each site."),
        _figure(_carbon_hour_chart(result, colours), _HOUR_CAPTION),
        "<h2>By site and by accelerator type</h2>",
        _breakdown_table(
            "cost by site (USD)",
            "site",
            _sites(result),
            data,
            lambda m, site: m["by_site"].get(site, {}).get("cost_usd"),
            "{:,.0f}",
        ),
        _breakdown_table(
            "utilisation by site (busy window)",
            "site",
            _sites(result),
            data,
            lambda m, site: m["by_site"].get(site, {}).get("window_utilisation"),
            "{:.1%}",
        ),
        _breakdown_table(
            "utilisation by accelerator type (busy window)",
            "accelerator",
            list(result.network.pools.type_names),
            data,
            lambda m, kind: m["window_utilisation_by_type"].get(kind),
            "{:.1%}",
        ),
        "<h2>How to read this</h2>",
        _notes(data),
    ]
    return html_page(title, body)


def policy_colours(names: Sequence[str]) -> dict[str, str]:
    """A fixed palette colour per policy, in order (cycling past the palette's length)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


# -- text ------------------------------------------------------------------------------------


def format_value(spec: str, value: object) -> str:
    """A metric as the CLI shows it; "-" for missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if spec.startswith("scale:"):
        _, divisor, rest = spec.split(":", 2)
        return rest.format(float(value) / float(divisor))  # type: ignore[arg-type]
    return spec.format(value)


def format_gap(value: float | None) -> str:
    # a negative gap is shown as it is: it means a run cut short (--until) or jobs lost
    if value is None:
        return "-"
    return "+0%" if abs(value) < 0.005 else f"{value:+.0%}"


def busy_window_h(result: SimulationResult) -> tuple[float, float]:
    """The busy window of ``result``'s trace, in simulated hours (the same for every policy)."""
    for run in result.runs.values():
        start, end = run.metrics["window_h"]
        return float(start), float(end)
    return 0.0, 0.0


def _header(result: SimulationResult, data: dict[str, Any], colours: dict[str, str], made_by: Provenance) -> str:
    request = result.request
    trace, network = data["trace"], data["network"]
    swatches = ", ".join(
        f'<span class="swatch" style="background:{colour}"></span>{escape(name)}' for name, colour in colours.items()
    )
    start_h, end_h = busy_window_h(result)
    facts = [
        *provenance_facts(made_by),
        ("seed", escape(f"{data['seed']} (fixes synthetic arrivals, FIFO's random choices and failures)")),
        ("trace", escape(f"{trace['name']} (reference accelerator {trace['reference']})")),
        ("jobs", f"{trace['jobs']:,}"),
        ("network", escape(str(network["name"]))),
        ("sites", f"{network['sites']:,}"),
        ("accelerators", f"{network['accelerators']:,}"),
        ("busy window", escape(f"{start_h:,.2f} h to {end_h:,.2f} h of simulated time ({WINDOW_BASIS})")),
        ("policies compared", swatches),
        ("wall time", f"{result.wall_s:.2f} s"),
    ]
    if request.capacity_scale != 1.0 or request.load_scale != 1.0:
        facts.append(("scaling", escape(f"capacity x {request.capacity_scale:g}, load x {request.load_scale:g}")))
    if request.until_h is not None:
        facts.append(("stopped at", escape(f"{request.until_h:g} simulated hours")))
    return facts_list(facts)


def _metrics_table(data: dict[str, Any]) -> str:
    policies: dict[str, dict[str, Any]] = data["policies"]
    names = list(policies)
    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    rows = [f"<thead><tr><th>metric</th>{head}</tr></thead><tbody>"]
    for key, label, spec in ROWS:
        cells = "".join(f"<td>{escape(format_value(spec, policies[n].get(key)))}</td>" for n in names)
        rows.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    for key, label in (("avg_jct", "gap to JCT bound"), ("carbon", "gap to carbon bound")):
        cells = "".join(f"<td>{escape(format_gap(policies[n]['gap_to_bounds'][key]))}</td>" for n in names)
        rows.append(f'<tr class="gap"><th>{escape(label)}</th>{cells}</tr>')
    rows.append("</tbody>")
    return f'<table class="metrics">{"".join(rows)}</table>'


def _sites(result: SimulationResult) -> list[str]:
    return list(result.network.pools.site_names)


def _breakdown_table(
    caption: str,
    label: str,
    keys: Sequence[str],
    data: dict[str, Any],
    value: Callable[[dict[str, Any], str], object],
    spec: str,
) -> str:
    """A table of one figure per ``keys`` entry (rows) and policy (columns);
    ``value(metrics, key)`` reads it."""
    policies: dict[str, dict[str, Any]] = data["policies"]
    names = list(policies)
    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    rows = [f"<caption>{escape(caption)}</caption><thead><tr><th>{escape(label)}</th>{head}</tr></thead><tbody>"]
    for key in keys:
        cells = "".join(f"<td>{escape(format_value(spec, value(policies[n], key)))}</td>" for n in names)
        rows.append(f"<tr><th>{escape(key)}</th>{cells}</tr>")
    rows.append("</tbody>")
    return f'<table class="metrics breakdown">{"".join(rows)}</table>'


def _notes(data: dict[str, Any]) -> str:
    bounds = data["bounds"]
    jct = format_value("{:.3f}", bounds["avg_jct_h"])
    carbon = format_value("scale:1000:{:,.3f}", bounds["carbon_kg"])
    items = [
        "Every policy replays the same trace on the same network; only the scheduling differs.",
        "JCT (job completion time) = finish - submit; queueing = first start - submit. Lower is better.",
        WINDOW_DEFINITION,
        f"Lower bounds: mean JCT {jct} h, carbon {carbon} t CO2 (method: {bounds['method']}). "
        "The gap rows say how far above these bounds each policy lands; no schedule can beat a bound, "
        "but a bound need not be reachable.",
        "Carbon is operational only (energy x the grid's hourly intensity at each site); "
        "embodied carbon is not counted.",
        "A dash (-) marks a metric with no value, e.g. the JCT of a policy that completed no job.",
    ]
    return '<ul class="note">' + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


_JCT_CAPTION = (
    "Share of all jobs finished within a given completion time (log scale). A curve that ends below "
    "100 % lost or rejected jobs; further left is better."
)
_QUEUE_CAPTION = (
    f"Jobs waiting to start over simulated time. Long runs are thinned to at most {MAX_POINTS} points, "
    "keeping the largest queue of each interval."
)
_UTILISATION_CAPTION = (
    "Busy accelerator-hours within the busy window (first to last arrival) over accelerators x the window, per site."
)
_TYPE_CAPTION = (
    "Busy accelerator-hours within the busy window over accelerators x the window, per accelerator type "
    "(all sites together)."
)
_HOUR_CAPTION = (
    "Carbon by local hour of day at the emitting site, summed over the run; each point covers one hour "
    "and sits at its middle."
)


# -- data for the charts ---------------------------------------------------------------------


def cdf_points(jct_h: np.ndarray, total: int, limit: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """The empirical CDF of ``jct_h`` as (hours, % of ``total`` jobs), at most ``limit``
    points: half spread evenly over the jobs, half evenly over log hours (the tail)."""
    values = np.sort(np.asarray(jct_h, dtype=float)[np.isfinite(jct_h)])
    n = values.size
    if n == 0 or total <= 0:
        return [], []
    picks = np.linspace(0, n - 1, min(n, limit // 2)).round().astype(int)
    positive = values[values > 0]
    if positive.size:
        grid = np.logspace(np.log10(positive[0]), np.log10(positive[-1]), limit // 2)
        by_time = np.clip(np.searchsorted(values, grid, side="right") - 1, 0, n - 1)
        picks = np.concatenate([picks, by_time])
    picks = np.unique(np.append(picks, n - 1))[:limit]
    shares = (picks + 1) / total * 100.0
    return values[picks].tolist(), shares.tolist()


def queue_points(samples: Sequence[tuple[float, int, int]], limit: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """Waiting jobs over time (hours) as a step line of at most ``limit`` points; past
    ``limit / 2`` samples, consecutive samples are merged keeping their maximum."""
    if not samples:
        return [], []
    times = np.array([s[0] for s in samples], dtype=float) / 3600.0
    waiting = np.array([s[1] for s in samples], dtype=float)
    buckets = max(limit // 2, 1)
    if times.size > buckets:
        starts = np.unique(np.linspace(0, times.size, buckets, endpoint=False).astype(int))
        waiting = np.maximum.reduceat(waiting, starts)
        times = times[starts]
    xs = np.repeat(times, 2)[1:]
    ys = np.repeat(waiting, 2)[:-1]
    return xs.tolist(), ys.tolist()


def _site_values(run: PolicyRun, sites: Sequence[str], key: str, scale: float) -> list[float]:
    by_site: dict[str, dict[str, float]] = run.metrics.get("by_site", {})
    return [float(by_site.get(site, {}).get(key, math.nan)) * scale for site in sites]


# -- charts ----------------------------------------------------------------------------------


def _jct_chart(result: SimulationResult, colours: dict[str, str]) -> str:
    total = len(result.trace)
    lines = []
    for name, run in result.runs.items():
        xs, ys = cdf_points(run.jct_h, total)
        lines.append(Line(name, colours[name], xs, ys, "" if xs else "(no completed jobs)"))
    frame = Frame("Job completion time (CDF)", "job completion time (hours, log scale)", "jobs finished (%)")
    return line_chart(frame, lines, log_x=True, y_max=100.0, markers=JCT_MARKERS)


def swamping(peaks: dict[str, float]) -> tuple[float, str, str] | None:
    """(ratio, largest, smallest) of the series' peaks when the largest is more than
    :data:`LOG_SCALE_RATIO` times the smallest (a peak under 1 counts as 1), else None."""
    finite = {name: peak for name, peak in peaks.items() if math.isfinite(peak)}
    if len(finite) < 2:
        return None
    largest = max(finite, key=lambda n: finite[n])
    smallest = min(finite, key=lambda n: finite[n])
    ratio = finite[largest] / max(finite[smallest], 1.0)
    return (ratio, largest, smallest) if ratio > LOG_SCALE_RATIO else None


def _queue_chart(result: SimulationResult, colours: dict[str, str]) -> tuple[str, str]:
    """The queue chart and its caption: on a log scale, said on the chart and in the
    caption, when one policy's peak swamps another's."""
    lines = []
    for name, run in result.runs.items():
        xs, ys = queue_points(run.queue_samples)
        lines.append(Line(name, colours[name], xs, ys, "" if xs else "(no samples)"))
    peaks = {line.name: max(line.ys) for line in lines if line.ys}
    swamp = swamping(peaks)
    if swamp is None:
        frame = Frame("Queue length over time", "simulated time (hours)", "jobs waiting")
        return line_chart(frame, lines), _QUEUE_CAPTION
    ratio, largest, smallest = swamp
    why = f"{largest}'s peak queue is {ratio:,.0f}x {smallest}'s"
    frame = Frame("Queue length over time", "simulated time (hours)", "jobs waiting (log scale)")
    svg = line_chart(frame, lines, log_y=True, note=f"log scale: {why}")
    caption = (
        f"{_QUEUE_CAPTION} The y axis is on a log scale (of 1 + jobs waiting, so that 0 stays on the axis) "
        f"because {why}; on a linear axis the smaller curves would lie flat along it."
    )
    return svg, caption


def _utilisation_chart(result: SimulationResult, colours: dict[str, str]) -> str:
    sites = list(result.network.pools.site_names)
    bars = [Bars(n, colours[n], _site_values(r, sites, "window_utilisation", 100.0)) for n, r in result.runs.items()]
    frame = Frame("Utilisation by site (busy window)", "site", "utilisation (%)")
    return bar_chart(frame, sites, bars, unit=" %")


def _type_utilisation_chart(result: SimulationResult, colours: dict[str, str]) -> str:
    kinds = list(result.network.pools.type_names)
    bars = []
    for name, run in result.runs.items():
        by_type: dict[str, float] = run.metrics.get("window_utilisation_by_type", {})
        bars.append(Bars(name, colours[name], [float(by_type.get(k, math.nan)) * 100.0 for k in kinds]))
    frame = Frame("Utilisation by accelerator type (busy window)", "accelerator type", "utilisation (%)")
    return bar_chart(frame, kinds, bars, unit=" %")


def _cost_site_chart(result: SimulationResult, colours: dict[str, str]) -> str:
    sites = list(result.network.pools.site_names)
    bars = [Bars(n, colours[n], _site_values(r, sites, "cost_usd", 1.0)) for n, r in result.runs.items()]
    frame = Frame("Cost by site", "site", "cost (USD)")
    return bar_chart(frame, sites, bars, unit=" USD")


def _carbon_site_chart(result: SimulationResult, colours: dict[str, str]) -> str:
    sites = list(result.network.pools.site_names)
    bars = [Bars(n, colours[n], _site_values(r, sites, "carbon_kg", 1e-3)) for n, r in result.runs.items()]
    frame = Frame("Carbon by site", "site", "carbon (t CO2)")
    return bar_chart(frame, sites, bars, unit=" t")


def _carbon_hour_chart(result: SimulationResult, colours: dict[str, str]) -> str:
    lines = []
    for name, run in result.runs.items():
        tonnes = [kg / 1000.0 for kg in run.carbon_by_hour_kg]
        lines.append(Line(name, colours[name], [h + 0.5 for h in range(len(tonnes))], tonnes))
    frame = Frame("Carbon by local hour of day", "local hour of day at the emitting site", "carbon (t CO2)")
    return line_chart(frame, lines, x_ticks=[float(h) for h in range(0, 25, 3)])
