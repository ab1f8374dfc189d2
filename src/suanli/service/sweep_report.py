"""The self-contained HTML report of a sweep (written by ``suanli sweep --report``).

The same kind of page as the simulation report (``suanli.service.report``): inline CSS and
SVG, nothing fetched, a head naming suanli's version, the date, the exact command and the
seed. Then the scenario grid (every axis, with what each inventory change and outage
schedule does), every scenario's metrics each read against its baseline scenario (a
ratio, or a delta for shares and counts; see ``suanli.service.sweep.COMPARED``), and
charts of the main ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from suanli.service.charts import Bars, Frame, bar_chart
from suanli.service.report import (
    WINDOW_DEFINITION,
    Provenance,
    facts_list,
    format_value,
    html_page,
    policy_colours,
    provenance_facts,
    write_html,
)
from suanli.service.sweep import (
    COMPARED,
    Scenario,
    SweepResult,
    SweepSpec,
    against_baseline,
    baseline_of,
    describe_inventory,
    describe_outages,
)

COLUMNS = (
    ("avg_jct_h", "mean JCT (h)", "{:.3f}"),
    ("p99_jct_h", "p99 JCT (h)", "{:.2f}"),
    ("avg_queue_h", "mean queueing (h)", "{:.3f}"),
    ("makespan_h", "makespan (h)", "{:,.1f}"),
    ("window_utilisation", "utilisation (busy window)", "{:.1%}"),
    ("energy_kwh", "energy (MWh)", "scale:1000:{:,.1f}"),
    ("carbon_kg", "carbon (t CO2)", "scale:1000:{:,.1f}"),
    ("cost_usd", "cost (USD)", "{:,.0f}"),
    ("deadline_misses", "deadline misses", "{:,}"),
    ("lost", "lost", "{:,}"),
    ("rejected", "rejected", "{:,}"),
)
"""(metric key, label, format) of the results table: every metric of ``COMPARED``."""

CHARTS = (("avg_jct_h", "mean JCT"), ("carbon_kg", "carbon"), ("cost_usd", "cost"))
"""The ratios charted, one bar chart each: conditions as groups, policies as bars."""

_KINDS = dict(COMPARED)


def write_sweep_report(result: SweepResult, path: Path, made_by: Provenance) -> None:
    """Write the report of ``result`` to ``path`` (replaced atomically)."""
    write_html(render_sweep_report(result, made_by), path)


def render_sweep_report(result: SweepResult, made_by: Provenance) -> str:
    """The report of ``result`` as one HTML document."""
    spec = result.spec
    relative = against_baseline(spec, result.rows)
    body = [
        f"<h1>{escape(f'Sweep: {spec.name}')}</h1>",
        _header(result, made_by),
        "<h2>Scenario grid</h2>",
        _grid_table(spec),
        "<h2>Each scenario against its baseline</h2>",
        f'<p class="note">{escape(_baseline_sentence(spec))} Ratios read x1.00 at the baseline; '
        "below 1 is less (better for times, carbon and cost). Utilisation, deadline misses, lost and "
        "rejected jobs show the difference instead (percentage points, or jobs).</p>",
        f'<div class="wide">{_results_table(result.rows, relative, spec)}</div>',
        "<h2>Charts</h2>",
        *(_ratio_figure(result.rows, relative, key, label) for key, label in CHARTS),
        "<h2>How to read this</h2>",
        _notes(spec),
    ]
    return html_page(f"Sweep: {spec.name}", body)


def format_relative(kind: str, key: str, value: float | None) -> str:
    """A ratio as x1.23, a share's delta in points (+3.1 pt), a count's delta (+12)."""
    if value is None or math.isnan(value):
        return "-"
    if kind == "ratio":
        return f"x{value:,.2f}"
    if key.endswith("utilisation"):
        points = value * 100.0
        return "+0.0 pt" if abs(points) < 0.05 else f"{points:+.1f} pt"
    return f"{value:+,.0f}"


# -- text ------------------------------------------------------------------------------------


def _header(result: SweepResult, made_by: Provenance) -> str:
    base = result.spec.base
    run = [f"trace {base.trace}"]
    if base.jobs is not None:
        run.append(f"{base.jobs:,} jobs")
    if base.rate_per_h is not None:
        run.append(f"{base.rate_per_h:g} arrivals/h")
    run.append(f"network {base.network}")
    run.append(f"capacity x {base.capacity:g}")
    if base.until_h is not None:
        run.append(f"stopped at {base.until_h:g} h")
    facts = [
        *provenance_facts(made_by),
        ("seed", escape(f"{base.seed} (the same in every scenario)")),
        ("base run", escape(", ".join(run))),
        ("scenarios", f"{len(result.rows):,}"),
    ]
    return facts_list(facts)


def _baseline_sentence(spec: SweepSpec) -> str:
    chosen = spec.baseline
    first = Scenario(spec.policies[0], 0.0, "", "", 0.0)
    base = baseline_of(spec, first)
    conditions = (
        f"load x {base.load:g}, inventory '{base.inventory}', outages '{base.outages}', "
        f"failure rate {base.failure_rate:g}"
    )
    if chosen.policy is None:
        return f"Each scenario is compared with the same policy at the baseline: {conditions}."
    return f"Each scenario is compared with one baseline scenario: policy {chosen.policy}, {conditions}."


def _grid_table(spec: SweepSpec) -> str:
    capacity = spec.base.capacity
    rows: list[tuple[str, str, str]] = [
        ("policies", ", ".join(spec.policies), "each scenario runs one"),
        ("load", ", ".join(f"x {v:g}" for v in spec.load), "arrival-rate scale"),
    ]
    for name, change in spec.inventory.items():
        rows.append(("inventory", name, describe_inventory(change, capacity)))
    for name, outages in spec.outages.items():
        rows.append(("outages", name, describe_outages(outages)))
    rows.append(
        ("failure rate", ", ".join(f"{v:g}" for v in spec.failure_rate), "node failures per 1,000 accelerators per day")
    )
    count = len(spec.policies) * len(spec.load) * len(spec.inventory) * len(spec.outages) * len(spec.failure_rate)
    body = "".join(
        f"<tr><th>{escape(axis)}</th><td>{escape(value)}</td><td>{escape(what)}</td></tr>" for axis, value, what in rows
    )
    return (
        f'<table class="metrics grid"><caption>{count:,} scenarios: every combination of the axes</caption>'
        f"<thead><tr><th>axis</th><th>value</th><th>what it does</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _results_table(rows: list[dict[str, Any]], relative: list[dict[str, float | None]], spec: SweepSpec) -> str:
    axes = ("policy", "load", "inventory", "outages", "failures")
    head = "".join(f"<th>{escape(a)}</th>" for a in axes) + "".join(f"<th>{escape(c[1])}</th>" for c in COLUMNS)
    lines = [f"<thead><tr>{head}</tr></thead><tbody>"]
    for row, rel in zip(rows, relative, strict=True):
        scenario = Scenario(row["policy"], row["load"], row["inventory"], row["outages"], row["failure_rate"])
        is_base = baseline_of(spec, scenario) == scenario
        cells = [
            f"<th>{escape(str(row['policy']))}</th>",
            f"<td>{row['load']:g}</td>",
            f"<td>{escape(str(row['inventory']))}</td>",
            f"<td>{escape(str(row['outages']))}</td>",
            f"<td>{row['failure_rate']:g}</td>",
        ]
        for key, _, fmt in COLUMNS:
            value = escape(format_value(fmt, row.get(key)))
            if is_base:
                cells.append(f'<td class="base">{value}<span class="rel">baseline</span></td>')
            else:
                shown = escape(format_relative(_KINDS[key], key, rel.get(key)))
                cells.append(f'<td>{value}<span class="rel">{shown}</span></td>')
        lines.append(f"<tr>{''.join(cells)}</tr>")
    lines.append("</tbody>")
    return f'<table class="metrics sweep">{"".join(lines)}</table>'


def _notes(spec: SweepSpec) -> str:
    items = [
        "Every scenario is one simulation of the base run with one value of each axis; all share the seed, "
        "so two scenarios differ only in what the grid varies.",
        "Inventory counts are the catalogue's full-scale counts, applied before the base run's capacity "
        f"scale (x {spec.base.capacity:g}): the grid table says about how many that is in the simulated network.",
        WINDOW_DEFINITION,
        "A dash (-) marks a comparison with no value: a baseline of 0 or a metric with no value.",
    ]
    return '<ul class="note">' + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


# -- charts ----------------------------------------------------------------------------------


def _ratio_figure(rows: list[dict[str, Any]], relative: list[dict[str, float | None]], key: str, label: str) -> str:
    conditions: list[str] = []
    policies: list[str] = []
    values: dict[tuple[str, str], float] = {}
    for row, rel in zip(rows, relative, strict=True):
        scenario = Scenario(row["policy"], row["load"], row["inventory"], row["outages"], row["failure_rate"])
        if scenario.conditions not in conditions:
            conditions.append(scenario.conditions)
        if scenario.policy not in policies:
            policies.append(scenario.policy)
        ratio = rel.get(key)
        values[(scenario.policy, scenario.conditions)] = math.nan if ratio is None else ratio
    colours = policy_colours(policies)
    bars = [Bars(p, colours[p], [values.get((p, c), math.nan) for c in conditions]) for p in policies]
    frame = Frame(f"{label} against the baseline", "scenario (load | inventory | outages | failure rate)", "ratio")
    svg = bar_chart(frame, _short(conditions), bars, unit="x", reference=1.0)
    caption = f"Each scenario's {label} over its baseline's (dashed line: 1, the baseline)."
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _short(conditions: Sequence[str]) -> list[str]:
    """Conditions without the failure rate when it is 0 (most sweeps vary none)."""
    return [c.removesuffix("|fail=0") for c in conditions]
