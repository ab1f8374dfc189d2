"""Rendering of plans, estimates and catalogue tables for people (rich) and machines (JSON)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from suanli.cli import fmt
from suanli.cli.timeshow import show, zone_label
from suanli.model import Code, Estimate, Rejection
from suanli.placement import Plan

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

NEAR_MISS_CODES = (Code.DEADLINE_MISSED, Code.OVER_BUDGET, Code.OVER_CARBON_CAP, Code.DATA_TRANSFER_TOO_SLOW)
"""Rejections that failed only on the job's own limits: shown first as near misses."""


WIDE_COLUMNS = 130
"""Narrower than this, the plan table takes its compact layout (:func:`plan_table`)."""


PIPED_COLUMNS = 160
"""The width of output that goes to a file or a pipe, unless ``$COLUMNS`` says otherwise."""


def console() -> Console:
    """Rich's console: the terminal's width; when piped ``$COLUMNS`` if set (``COLUMNS=100
    suanli plan ... | less`` gets the compact plan table, as at a 100-column terminal), else
    :data:`PIPED_COLUMNS` (the wide tables)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else _piped_width())


def _piped_width() -> int:
    import os

    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and 20 <= int(value) <= 1000 else PIPED_COLUMNS


print_json = fmt.print_json
_money, _mass, _energy, _hours = fmt.money, fmt.mass, fmt.energy, fmt.hours


def plan_table(plan: Plan, limit: int, width: int = 160) -> Table:
    """The best ``limit`` options, one row per site x accelerator x count; below
    :data:`WIDE_COLUMNS` columns the compact layout (:func:`compact_plan_table`)."""
    if width < WIDE_COLUMNS:
        return compact_plan_table(plan, limit)
    from rich.table import Table

    table = Table(title=f"plan for {plan.job} (objective: {plan.objective})", title_justify="left")
    for name, justify in (
        ("#", "right"),
        ("site", "left"),
        ("accelerator", "left"),
        ("count", "right"),
        (f"start ({zone_label()})", "left"),
        (f"finish ({zone_label()})", "left"),
        ("duration", "right"),
        ("accel-hours", "right"),
        ("energy", "right"),
        ("carbon", "right"),
        ("cost", "right"),
        ("pareto", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    seen: set[tuple[str, str, int]] = set()
    shown = 0
    for option in plan.options:
        group = (option.site, option.accelerator, option.count)
        if group in seen:
            continue  # one row per site x accelerator x count; other starts are in --json
        seen.add(group)
        shown += 1
        if shown > limit:
            break
        table.add_row(
            "pick" if shown == 1 else str(shown),
            option.site,
            option.accelerator,
            str(option.count),
            show(option.start_s),
            show(option.finish_s),
            _hours(option.duration_h) + (f" +{option.transfer_h:.1f} h data" if option.transfer_h > 0 else ""),
            f"{option.accelerator_hours:,.0f}",
            _energy(option.energy_kwh),
            _mass(option.carbon_kg),
            _money(option.cost_usd),
            "*" if option.pareto else "",
        )
    return table


def compact_plan_table(plan: Plan, limit: int) -> Table:
    """The plan in seven columns for a terminal of 100 (energy and accelerator-hours are in
    ``--json`` and the wide table): where (``N x type @ site``), when (start to finish;
    the finish's day only when it is another), duration, cost, carbon, Pareto."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"plan for {plan.job} (objective: {plan.objective})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,  # two columns more for the figures at 100
    )
    for name, justify in (
        ("#", "right"),
        ("option", "left"),
        (f"start - finish ({zone_label()})", "left"),
        ("duration", "right"),
        ("cost", "right"),
        ("carbon", "right"),
        ("*", "center"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for shown, option in enumerate(_distinct(plan, limit), start=1):
        start, finish = show(option.start_s), show(option.finish_s)
        end = finish[11:] if finish[:10] == start[:10] else finish[5:]
        table.add_row(
            "pick" if shown == 1 else str(shown),
            f"{option.count} x {option.accelerator} @ {option.site}",
            f"{start[5:]} - {end}",
            _hours(option.duration_h + option.transfer_h),
            _money(option.cost_usd),
            _mass(option.carbon_kg),
            "*" if option.pareto else "",
        )
    return table


def _distinct(plan: Plan, limit: int) -> Iterable[Any]:
    """The first ``limit`` options of distinct (site, accelerator, count)."""
    seen: set[tuple[str, str, int]] = set()
    for option in plan.options:
        group = (option.site, option.accelerator, option.count)
        if group in seen:
            continue
        seen.add(group)
        yield option
        if len(seen) >= limit:
            return


def rejection_lines(rejected: Sequence[Rejection], near_misses: int = 5) -> Iterable[str]:
    """A near-miss list then a count by reason code, each with an example sentence."""
    near = sorted(
        (r for r in rejected if r.code in NEAR_MISS_CODES),
        key=lambda r: r.miss if r.miss is not None else float("inf"),
    )
    if near:
        yield "near misses:"
        for r in near[:near_misses]:
            yield f"  {_where(r)}: {r.code}: {r.message}"
        if len(near) > near_misses:
            yield f"  ... and {len(near) - near_misses} more (see --json)"
    counts = Counter(r.code for r in rejected)
    if counts:
        yield f"rejected {len(rejected)} option(s):"
        for code, n in counts.most_common():
            example = next(r for r in rejected if r.code == code)
            yield f"  {code} x{n}, e.g. {_where(example)}: {example.message}"


def _where(r: Rejection) -> str:
    parts = [p for p in (r.site, r.accelerator, f"x{r.count}" if r.count else None) if p]
    return " ".join(parts) if parts else "all"


def estimate_table(est: Estimate) -> Table:
    from rich.table import Table

    table = Table(
        title=f"{est.job}: {est.count} x {est.accelerator} at {est.site}, from {show(est.start_s)}",
        title_justify="left",
    )
    table.add_column("section")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("how")
    for section, lines in est.breakdown.items():
        for i, line in enumerate(lines):
            text = _figure(line.value)
            table.add_row(section if i == 0 else "", line.name, f"{text} {line.unit}".strip(), line.how)
    return table


def _figure(value: float | str | None) -> str:
    """Readable numbers: 1,311.5 / 2,685,894 / 3.286e+24 / 0.1717."""
    if not isinstance(value, float | int) or isinstance(value, bool):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e12:
        return f"{value:.4g}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def estimate_summary(est: Estimate) -> str:
    return (
        f"duration {_hours(est.duration_h)}, {est.accelerator_hours:,.0f} accelerator-hours, "
        f"{_energy(est.energy_kwh)}, {_mass(est.carbon_kg)} CO2, {_money(est.cost_usd)}"
    )
