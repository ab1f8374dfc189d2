"""The ``suanli`` command. Thin: parse, call one service function, render.

Exit codes: 0 success; 2 invalid spec or arguments; 3 no feasible placement.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from suanli import __version__
from suanli.cli import account, ops, registry
from suanli.errors import NoFeasiblePlacement, SuanliError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="suanli",
    help=(
        "suanli (算力): plan, estimate and run AI jobs across a national computing-power network.\n\n"
        "Start with `suanli catalog sites`, then `suanli plan examples/qwen2.5-7b-finetune.yaml`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

CatalogOpt = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="Directory of catalogue files overriding the packaged ones (or $SUANLI_CATALOG).",
        show_default=False,
    ),
]
ProfilesOpt = Annotated[
    Path | None,
    typer.Option(
        "--profiles", help="Measured throughputs: a Gavel JSON file or a Sia profile directory.", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def handles_errors(func: F) -> F:
    """Turn suanli's errors into one line on stderr and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NoFeasiblePlacement as exc:
            from suanli.cli import render
            from suanli.placement import rejection_dict

            if kwargs.get("json_out"):
                render.print_json(
                    {
                        "job": exc.job,
                        "error": str(exc),
                        "rejected": [rejection_dict(r) for r in exc.rejected],
                    }
                )
            for line in render.rejection_lines(exc.rejected):
                sys.stderr.write(line + "\n")
            _fail(str(exc), exc.exit_code)
        except SuanliError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"suanli {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """suanli (算力): plan, estimate and run AI jobs across a computing-power network."""


@app.command("catalog")
@handles_errors
def catalog_cmd(
    kind: Annotated[str, typer.Argument(help="accelerators | sites | models | grid | network", show_default=False)],
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the catalogue: accelerators, sites, models, grid regions or network paths.

    Figures marked in the `est` column are estimates (see docs/catalog.md for sources).
    """
    from suanli.cli import catalog_views, render
    from suanli.errors import UnknownNameError
    from suanli.service import context

    if kind not in catalog_views.KINDS:
        raise UnknownNameError("catalogue kind", kind, catalog_views.KINDS)
    ctx = context(catalog)
    columns, table_rows, records = catalog_views.rows(ctx.catalog, kind)
    if json_out:
        render.print_json(records)
        return
    from rich.table import Table

    table = Table(title=f"{kind} ({len(table_rows)})", title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in table_rows:
        table.add_row(*row)
    out = render.console()
    out.print(table)
    out.print(catalog_views.LEGEND)


@app.command("simulate")
@handles_errors
def simulate_cmd(
    trace: Annotated[
        str, typer.Option("--trace", "-t", help="synthetic | philly | openb, or a path (with --trace-format).")
    ] = "synthetic",
    trace_format: Annotated[
        str | None,
        typer.Option(
            "--trace-format",
            help="Format of a trace file: gavel | philly | openb | helios | acme | pai | csv.",
            show_default=False,
        ),
    ] = None,
    network: Annotated[
        str, typer.Option("--network", "-N", help="national, or a network file (sites.yaml format).")
    ] = "national",
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            "-p",
            help="Policy to run; repeat to compare side by side: fifo, backfill, cheapest, carbon, suanli.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for synthetic traces and random choices.")] = 0,
    until: Annotated[
        float | None, typer.Option("--until", help="Stop after this many simulated hours.", show_default=False)
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-n", help="Synthetic: number of jobs; file traces: replay only the first N.", show_default=False
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", help="Synthetic: arrivals per hour.", show_default=False)
    ] = None,
    load: Annotated[float, typer.Option("--load", help="Scale arrival rate (2 = twice as fast).")] = 1.0,
    capacity: Annotated[float, typer.Option("--capacity", help="Scale every site's inventory (0.01 = 1 %).")] = 1.0,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="Accelerator the trace's durations were measured on (default per format).",
            show_default=False,
        ),
    ] = None,
    outage: Annotated[
        list[str] | None,
        typer.Option(
            "--outage",
            help="SITE:START_H:DURATION_H, a site outage in simulated hours; repeatable.",
            show_default=False,
        ),
    ] = None,
    failure_rate: Annotated[
        float, typer.Option("--failure-rate", help="Node failures per 1,000 accelerators per day (Llama 3 saw ~0.47).")
    ] = 0.0,
    repair: Annotated[float, typer.Option("--repair", help="Hours a failed node stays out.")] = 4.0,
    checkpoint: Annotated[
        float, typer.Option("--checkpoint", help="Seconds between a job's checkpoints (0 = continuous).")
    ] = 1800.0,
    restart: Annotated[
        float, typer.Option("--restart", help="Seconds of reference work to resume after a preemption.")
    ] = 60.0,
    carbon_series: Annotated[
        list[str] | None,
        typer.Option(
            "--carbon-series",
            help="SITE=PATH: a measured intensity series (CSV: time, gCO2/kWh) for a site; repeatable.",
            show_default=False,
        ),
    ] = None,
    cycle_interval: Annotated[
        float,
        typer.Option("--cycle-interval", help="Seconds between scheduling cycles (0 = after every event)."),
    ] = 0.0,
    tenants: Annotated[
        int | None,
        typer.Option("--tenants", help="Synthetic: number of tenants, equally likely (10).", show_default=False),
    ] = None,
    fair_share: Annotated[
        bool,
        typer.Option(
            "--fair-share",
            help="Order suanli, fifo and backfill by weighted max-min fair share across tenants, in capacity-hours.",
        ),
    ] = False,
    fair_share_half_life: Annotated[
        float,
        typer.Option(
            "--fair-share-half-life",
            help="Hours in which a tenant's past service comes to count half, with --fair-share (0 = never).",
        ),
    ] = 0.0,
    tenant_weight: Annotated[
        list[str] | None,
        typer.Option(
            "--tenant-weight",
            help="NAME=WEIGHT: a tenant's fair-share weight (the others weigh 1); repeatable.",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.", show_default=False)
    ] = None,
    catalog: CatalogOpt = None,
    profiles: ProfilesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Replay a trace across a network under one or several policies, on identical input,
    and compare completion time, queueing, utilisation, energy, carbon and cost, with the
    gap of each to lower bounds."""
    from suanli.cli import render, sim_views
    from suanli.service import context
    from suanli.service.simulation import (
        SimulationRequest,
        parse_tenant_weights,
        report_path,
        run_simulation,
        tenant_rows,
    )
    from suanli.traces.synthetic import SyntheticParams

    target = report_path(report) if report is not None else None
    ctx = context(catalog, profiles)
    synthetic = SyntheticParams()
    if trace == "synthetic":
        synthetic = SyntheticParams(
            jobs=jobs if jobs is not None else synthetic.jobs,
            rate_per_h=rate if rate is not None else synthetic.rate_per_h,
            tenants=tenants if tenants is not None else synthetic.tenants,
        )
    request = SimulationRequest(
        trace=trace,
        trace_format=trace_format,
        network=network,
        policies=tuple(policy or ("fifo", "suanli")),
        seed=seed,
        until_h=until,
        reference=reference,
        capacity_scale=capacity,
        load_scale=load,
        max_jobs=jobs if trace != "synthetic" else None,
        synthetic=synthetic,
        faults=_faults(outage or [], failure_rate, repair, seed),
        checkpoint_s=checkpoint,
        restart_s=restart,
        cycle_interval_s=cycle_interval,
        carbon_series=_series(carbon_series or []),
        tenant_weights=parse_tenant_weights(tenant_weight or []),
        fair_share=fair_share,
        fair_share_half_life_h=fair_share_half_life,
    )
    with sim_views.progress_bar() as progress:
        result = run_simulation(ctx, request, progress=progress)
    if target is not None:
        from suanli.service.report import provenance, write_report

        write_report(result, target, provenance(sys.argv[1:]))
    if json_out:
        render.print_json(result.as_dict())
        return
    sim_views.print_result(render.console(), result)
    rows = tenant_rows(result)
    if rows:
        from rich.table import Table

        from suanli.service.report import format_value

        table = Table(title="tenants", title_justify="left")
        table.add_column("metric")
        for name in result.runs:
            table.add_column(name, justify="right")
        for label, spec, values in rows:
            table.add_row(label, *(format_value(spec, v) for v in values))
        render.console().print(table)
    if target is not None:
        sys.stdout.write(f"report: {target}\n")


@app.command("sweep")
@handles_errors
def sweep_cmd(
    spec: Annotated[Path, typer.Argument(help="Sweep file (YAML, kind: Sweep).", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write one row per scenario: .csv or .parquet.", show_default=False),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Local worker processes (default: cores).", show_default=False)
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Run the scenarios on Ray: a cluster address (auto, HOST:6379) or 'local' to start one here.",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write a self-contained HTML report (grid, ratios to the baseline).", show_default=False
        ),
    ] = None,
    catalog: CatalogOpt = None,
    profiles: ProfilesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a grid of what-if scenarios (policy x load x inventory change x outages) in
    parallel, locally or on a Ray cluster, and compare them with a baseline scenario
    (the YAML format: docs/simulator.md, "Sweep files")."""
    from suanli.cli import render, sim_views
    from suanli.cli.extras import require_extra
    from suanli.errors import InputError
    from suanli.service.simulation import output_path, report_path
    from suanli.service.sweep import load_sweep, run_sweep, write_rows

    if ray is not None:
        require_extra("ray", "sweep --ray")
    target = report_path(report) if report is not None else None
    sweep = load_sweep(spec)
    if out is not None:
        output_path(out, "--out", (".csv", ".parquet"))
    if workers is not None and workers < 1:
        raise InputError("--workers must be at least 1")
    with sim_views.progress_bar() as progress:
        result = run_sweep(
            sweep,
            catalog_dir=str(catalog) if catalog else None,
            profiles=str(profiles) if profiles else None,
            workers=workers,
            ray_address=ray,
            progress=lambda done, total: progress("sweep", done, total),
        )
    if out is not None:
        write_rows(result.rows, out)
    if target is not None:
        from suanli.service.report import provenance
        from suanli.service.sweep_report import write_sweep_report

        write_sweep_report(result, target, provenance(sys.argv[1:]))
    if json_out:
        render.print_json({"sweep": sweep.name, "scenarios": result.rows})
        return
    sim_views.print_sweep(render.console(), sweep.name, result.rows)
    if out is not None:
        sys.stdout.write(f"results: {out}\n")
    if target is not None:
        sys.stdout.write(f"report: {target}\n")


def _series(items: list[str]) -> dict[str, str]:
    from suanli.errors import InputError

    out: dict[str, str] = {}
    for item in items:
        site, sep, path = item.partition("=")
        if not sep or not site or not path:
            raise InputError(f"--carbon-series '{item}': expected SITE=PATH")
        out[site] = path
    return out


def _faults(outages: list[str], rate: float, repair_h: float, seed: int) -> Any:
    from suanli.errors import InputError
    from suanli.sim.faults import Faults, Outage

    parsed = []
    for text in outages:
        parts = text.split(":")
        try:
            if len(parts) != 3:
                raise ValueError("expected SITE:START_H:DURATION_H")
            parsed.append(Outage(parts[0], float(parts[1]), float(parts[2])))
        except ValueError as exc:
            raise InputError(f"--outage '{text}': {exc} (e.g. qingyang:24:6)") from None
    if rate < 0 or repair_h <= 0:
        raise InputError("--failure-rate must be >= 0 and --repair > 0")
    return Faults(outages=tuple(parsed), rate_per_1000_per_day=rate, repair_h=repair_h, seed=seed)


registry.register(app)  # plan, estimate, validate, submit, jobs, status, logs, ... (argparse, no typer)
account.register(app)  # login
ops.register(app)  # serve, agent, db, admin


def run() -> None:
    """The console script (kept here for old entry points): see :func:`suanli.cli.entry.run`."""
    from suanli.cli.entry import run as entry_run

    entry_run()
