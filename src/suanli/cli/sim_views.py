"""Rendering of simulation results and the progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from suanli.service.simulation import SimulationResult


def _format(spec: str, value: object) -> str:
    from suanli.service.report import format_value

    return format_value(spec, value)


def print_result(out: Console, result: SimulationResult) -> None:
    from rich.table import Table

    from suanli.service.report import ROWS, format_gap

    data = result.as_dict()
    title = (
        f"{data['trace']['name']} ({data['trace']['jobs']:,} jobs, reference {data['trace']['reference']}) on "
        f"{data['network']['name']} ({data['network']['sites']} sites, "
        f"{data['network']['accelerators']:,} accelerators)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    names = list(data["policies"])
    for name in names:
        table.add_column(name, justify="right")
    for key, label, spec in ROWS:
        table.add_row(label, *(_format(spec, data["policies"][n].get(key)) for n in names))
    bounds = data["bounds"]
    table.add_row("gap to JCT bound", *(format_gap(data["policies"][n]["gap_to_bounds"]["avg_jct"]) for n in names))
    table.add_row("gap to carbon bound", *(format_gap(data["policies"][n]["gap_to_bounds"]["carbon"]) for n in names))
    out.print(table)
    out.print(
        f"lower bounds ({bounds['method']}): mean JCT {bounds['avg_jct_h']:.3f} h, "
        f"carbon {bounds['carbon_kg'] / 1000:,.1f} t"
    )


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr while a simulation runs (silent when stderr is no terminal)."""
    if not sys.stderr.isatty():
        yield lambda name, done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:

        def update(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"simulating {name}", total=total)
            bar.update(tasks[name], completed=done)

        yield update


SWEEP_COLUMNS = (
    ("avg_jct_h", "mean JCT h", "{:.3f}"),
    ("avg_queue_h", "queue h", "{:.3f}"),
    ("window_utilisation", "util (busy window)", "{:.1%}"),
    ("carbon_kg", "carbon t", "scale:1000:{:,.1f}"),
    ("cost_usd", "cost USD", "{:,.0f}"),
    ("lost", "lost", "{:,}"),
)


def print_sweep(out: Console, name: str, rows: list[dict[str, object]]) -> None:
    from rich.table import Table

    table = Table(title=f"sweep {name}: {len(rows)} scenarios", title_justify="left")
    for column in ("policy", "load", "inventory", "outages", "failures"):
        table.add_column(column)
    for _, label, _ in SWEEP_COLUMNS:
        table.add_column(label, justify="right")
    for row in rows:
        table.add_row(
            str(row["policy"]),
            f"{row['load']:g}",
            str(row["inventory"]),
            str(row["outages"]),
            f"{row['failure_rate']:g}",
            *(_format(spec, row.get(key)) for key, _, spec in SWEEP_COLUMNS),
        )
    out.print(table)
