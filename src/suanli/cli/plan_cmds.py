"""``suanli plan``, ``estimate`` and ``validate``: the planner from the shell, without typer.

These run in-process (no server): the catalogue, the estimator and the planner load once
per call, and the catalogue from its disk cache (:mod:`suanli.catalog.diskcache`) when
its files have not changed. The heavy imports happen inside each command, after the
arguments parse, so ``--help`` and usage errors stay instant. Two settings of the process
(:func:`_one_blas_thread`, :func:`_spare_the_last_collection`) keep numpy's start and
the interpreter's exit from costing more than the planning (``bench/bench_cli.py``).
Exit codes: 0 success; 2 invalid spec or arguments; 3 no feasible placement.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import TYPE_CHECKING, Any

from suanli.cli import fmt
from suanli.cli.registry import command
from suanli.cli.timeshow import add_tz_option

if TYPE_CHECKING:
    from datetime import datetime

    from suanli.errors import NoFeasiblePlacement
    from suanli.service import Context

OBJECTIVES = ("time", "cost", "carbon", "balanced")


def _catalogue_args(parser: argparse.ArgumentParser, profiles: bool = True) -> None:
    parser.add_argument(
        "--catalog",
        metavar="DIR",
        help="directory of catalogue files overriding the packaged ones (or $SUANLI_CATALOG)",
    )
    if profiles:
        parser.add_argument(
            "--profiles", metavar="PATH", help="measured throughputs: a Gavel JSON file or a Sia profile directory"
        )


def _context(args: argparse.Namespace) -> Context:
    from suanli.service import context

    return context(args.catalog, getattr(args, "profiles", None))


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value (``Z`` or an offset; naive is UTC), or None."""
    if value is None:
        return None
    from datetime import datetime

    from suanli.errors import InputError

    text = value.strip().replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} '{value}' is not an ISO 8601 time (e.g. 2025-01-01T08:00:00Z)") from None


# -- the process ----------------------------------------------------------------------------------
# The console script (suanli.cli.entry.run) turns the garbage collector off for its process,
# which runs one command and exits: that is the process the two settings below are for. A
# process that keeps the collector on (a test runner, a notebook driving the typer app)
# lives on, and is left as it is.

BLAS_THREADS = "OPENBLAS_NUM_THREADS"
"""OpenBLAS (numpy's wheels link it) starts this many threads when numpy is imported; by
default one per core."""


def _short_lived() -> bool:
    return not gc.isenabled()


def _one_blas_thread() -> None:
    """Ask numpy's OpenBLAS for one thread, unless the user chose a number or numpy is
    loaded already. The estimator's arithmetic is elementwise (no matrix products, the only
    work BLAS threads share), so the threads would only be started and left idle, and
    starting them is much of numpy's import: here (2 shared cores, load 2-3) ``import
    numpy`` takes 104 ms instead of 136 (medians of 15), a machine with more cores starts
    more threads. Call it before anything imports numpy."""
    if _short_lived() and "numpy" not in sys.modules:
        os.environ.setdefault(BLAS_THREADS, "1")


PLUGINS_DISABLED = ("__all__", "1", "true")
"""The values of ``PYDANTIC_DISABLE_PLUGINS`` with which pydantic looks for no plugin
(``suanli.cli.entry`` sets ``__all__`` for these commands unless the user set it)."""

UNUSED_MODULES: dict[str, tuple[str, ...]] = {
    "importlib.metadata": ("entry_points",),
    "secrets": (),
    "ctypes": (),
}
"""Modules these commands' process imports but does not use, each with the functions its
importers take by name (:func:`suanli._lazy.defer`). pydantic's plugin loader takes
``entry_points`` from ``importlib.metadata`` when the first model is built and calls it only
to look for plugins (so it is deferred only while they are off); loading it brings
``email``, ``zipfile``, ``csv`` and ``socket``: 17 ms with numpy and pydantic loaded here
(medians of 7). ``pydantic.types`` imports ``secrets`` (and ``hmac``, ``random``) for the
comparisons of its secret types; numpy imports ``ctypes`` for ``ndarray.ctypes`` (1.7 ms
here, with the rest of a plan loaded)."""


def _defer_unused_modules() -> None:
    """Leave :data:`UNUSED_MODULES` unloaded until something uses them. Call it before
    anything imports pydantic."""
    if not _short_lived():
        return
    from suanli._lazy import defer

    plugins_off = os.environ.get("PYDANTIC_DISABLE_PLUGINS") in PLUGINS_DISABLED
    for name, functions in UNUSED_MODULES.items():
        if plugins_off or name != "importlib.metadata":
            defer(name, functions)


def _spare_the_last_collection() -> None:
    """Move every object alive now into the collector's permanent generation, which the
    interpreter's last collection at exit skips: with the collector off Python still runs
    that one, and after a plan it walks the ~67,000 objects that pydantic, numpy and the
    catalogue leave: the exit takes 13 ms instead of 65 here (medians of 9)."""
    if _short_lived():
        gc.freeze()


def _no_placement(exc: NoFeasiblePlacement, json_out: bool) -> int:
    """Exit 3 with the rejections: on stderr, and as JSON on stdout with --json."""
    from suanli.cli import render
    from suanli.placement import rejection_dict

    if json_out:
        fmt.print_json({"job": exc.job, "error": str(exc), "rejected": [rejection_dict(r) for r in exc.rejected]})
    for line in render.rejection_lines(exc.rejected):
        sys.stderr.write(line + "\n")
    sys.stderr.write(f"error: {exc}\n")
    return exc.exit_code


# -- plan -----------------------------------------------------------------------------------------


def _plan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="job spec (YAML)")
    parser.add_argument(
        "-o", "--objective", choices=OBJECTIVES, help="override the spec's objective: time | cost | carbon | balanced"
    )
    parser.add_argument("--now", metavar="ISO", help="plan as if it were this time (ISO 8601); default: now")
    parser.add_argument("--limit", type=_positive, default=10, help="options shown in the table (default: 10)")
    _catalogue_args(parser)
    parser.add_argument("--json", dest="json_out", action="store_true", help="print JSON instead of a table")
    _live_args(parser)


def _live_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "live quotes",
        "with a server (--server, or $SUANLI_SERVER unless --offline), the options are the live network's: "
        "sites whose agents are up, each with its predicted start given the queue (POST /v1/plan, /v1/estimate)",
    )
    group.add_argument("--server", metavar="URL", help="ask this suanli server (default: $SUANLI_SERVER)")
    group.add_argument("--token", metavar="TOKEN", help="API token (default: $SUANLI_TOKEN, or `suanli login`'s)")
    group.add_argument("--offline", action="store_true", help="plan from the catalogue even when $SUANLI_SERVER is set")
    add_tz_option(parser)


def _live(args: argparse.Namespace) -> bool:
    import os

    return not args.offline and bool(args.server or os.environ.get("SUANLI_SERVER"))


def _quote(args: argparse.Namespace, accelerator: str | None = None, count: int | None = None) -> int:
    """Plan or estimate through the server; print its answer (JSON, or a table)."""
    from suanli.cli import control
    from suanli.cli.submit import Entry, read_spec_file, spec_error
    from suanli.client._errors import InvalidRequest
    from suanli.client._wire import Wire

    data, positions = read_spec_file(args.spec)
    if getattr(args, "objective", None):
        data = {**data, "objective": args.objective}
    with Wire(args.server, args.token, transport=control._transport) as client:
        try:
            answer = client.quote_json(data, accelerator, count, getattr(args, "site", None))
        except InvalidRequest as exc:
            raise spec_error(exc, Entry(data, args.spec, positions, None)) or exc from None
    if args.json_out:
        fmt.print_json(answer)
    else:
        sys.stdout.write(_quote_table(answer, getattr(args, "limit", 10)) + "\n")
    if not answer.get("options"):
        sys.stderr.write(f"error: no live option for job '{answer.get('job')}'\n")
        return 3
    return 0


def _quote_table(answer: dict[str, Any], limit: int) -> str:
    options = answer.get("options") or []
    from suanli.cli.timeshow import show, zone_label

    tz = zone_label()
    columns = ["#", "site", "accelerator", "count", "duration", "cost", "carbon", f"start ({tz})", f"finish ({tz})"]
    rows = [
        [
            str(i),
            str(o["site"]),
            str(o["accelerator"]),
            str(o["count"]),
            fmt.hours(o["duration_h"]),
            fmt.money(o["cost_usd"]),
            fmt.mass(o["carbon_kg"]),
            show(o.get("start")) or "unknown",
            show(o.get("finish")),
        ]
        for i, o in enumerate(options[:limit], start=1)
    ]
    forecast = answer.get("forecast")
    note = (
        f"starts from the ETA forecast of {forecast}"
        if forecast
        else "no forecast on the server: starts are known only where accelerators are free now"
    )
    title = f"live plan for {answer.get('job')} (objective: {answer.get('objective')}); {note}"
    lines = [fmt.table(columns, rows, right={"#", "count", "duration", "cost", "carbon"}, title=title)]
    refused: dict[str, int] = {}
    for r in answer.get("rejected") or []:
        refused[str(r.get("code"))] = refused.get(str(r.get("code")), 0) + 1
    if refused:
        lines.append("not offered: " + ", ".join(f"{code} x{n}" for code, n in sorted(refused.items())))
    return "\n".join(lines)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


@command("plan", _plan_args)
def plan_cmd(args: argparse.Namespace) -> int:
    """Where, on what, how long, how much money and CO2: every site x accelerator x count x
    start hour, infeasible ones dropped with a reason, the Pareto front over (finish, cost,
    carbon), the objective's pick first. Exit code 3 when nothing is feasible."""
    if _live(args):
        return _quote(args)
    _one_blas_thread()
    _defer_unused_modules()
    from suanli.errors import NoFeasiblePlacement
    from suanli.service import plan_job, read_spec

    ctx = _context(args)
    job = read_spec(ctx, args.spec)
    if args.objective is not None:
        job = job.copy_with(objective=args.objective)
    try:
        result = plan_job(ctx, job, parse_time(args.now, "--now"))
    except NoFeasiblePlacement as exc:
        return _no_placement(exc, args.json_out)
    _spare_the_last_collection()
    if args.json_out:
        fmt.print_json(result.as_dict())
        if not result.options:
            sys.stderr.write(
                f"error: no feasible placement for job '{job.name}' ({len(result.rejected)} options rejected)\n"
            )
            return 3
        return 0
    from suanli.cli import render

    out = render.console()
    if result.options:
        out.print(render.plan_table(result, args.limit, out.width))
        best = result.options[0]
        out.print(
            f"{len(result.options)} feasible option(s), {len(result.front)} on the Pareto front (*). Pick: "
            f"{best.count} x {best.accelerator} at {best.site}."
        )
    for line in render.rejection_lines(result.rejected):
        out.print(line)
    if not result.options:
        sys.stderr.write(f"error: no feasible placement for job '{job.name}'\n")
        return 3
    return 0


# -- estimate -------------------------------------------------------------------------------------


def _estimate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="job spec (YAML)")
    parser.add_argument("-a", "--accelerator", required=True, help="catalogue accelerator id, e.g. h800")
    parser.add_argument("-n", "--count", required=True, type=_positive, help="number of accelerators")
    parser.add_argument("-s", "--site", help="site id (default: the allowed site with the most of this type)")
    parser.add_argument(
        "--start", metavar="ISO", help="start time, ISO 8601 (default: the spec's earliest_start, else now)"
    )
    _catalogue_args(parser)
    parser.add_argument("--json", dest="json_out", action="store_true", help="print JSON instead of a table")
    _live_args(parser)


@command("estimate", _estimate_args)
def estimate_cmd(args: argparse.Namespace) -> int:
    """Estimate one job on N accelerators of one type at one site: time, accelerator-hours,
    energy, carbon and cost, with the derivation of each."""
    if _live(args):
        return _quote(args, args.accelerator, args.count)
    _one_blas_thread()
    _defer_unused_modules()
    from suanli.errors import NoFeasiblePlacement
    from suanli.service import estimate_job, estimate_notes, read_spec

    ctx = _context(args)
    job = read_spec(ctx, args.spec)
    try:
        est = estimate_job(ctx, job, args.accelerator, args.count, args.site, parse_time(args.start, "--start"))
    except NoFeasiblePlacement as exc:
        return _no_placement(exc, args.json_out)
    _spare_the_last_collection()
    notes = estimate_notes(ctx, job, est)
    if args.json_out:
        fmt.print_json({**est.as_dict(), "notes": notes})
        return 0
    from suanli.cli import render

    out = render.console()
    out.print(render.estimate_table(est))
    out.print(render.estimate_summary(est))
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    return 0


# -- validate -------------------------------------------------------------------------------------


def _validate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", metavar="SPEC", nargs="+", help="job spec files (YAML)")
    _catalogue_args(parser, profiles=False)


@command("validate", _validate_args)
def validate_cmd(args: argparse.Namespace) -> int:
    """Check job specs against the schema and the catalogue; exit 2 on the first error."""
    _one_blas_thread()
    _defer_unused_modules()
    from suanli.service import read_spec

    ctx = _context(args)
    for path in args.specs:
        job = read_spec(ctx, path)
        sys.stdout.write(f"{path}: ok ({job.kind} '{job.name}')\n")
    _spare_the_last_collection()
    return 0
