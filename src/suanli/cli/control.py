"""Tenant-facing commands over the SDK (:mod:`suanli.client`): submit, jobs, status, logs,
cancel, sites, explain, usage, login, file-model.

Each command talks to the server given by ``--server`` / ``--token``, else
``$SUANLI_SERVER`` / ``$SUANLI_TOKEN``, else the login saved by ``suanli login``. Tables for
people, ``--json`` for machines. Errors are one ``error: ...`` line and the exit code of the
exception: 2 for an invalid spec or a 413/422 answer, 1 for any other refusal (401, 403,
404, 409, 429) or an unreachable server.

Test seam: set :data:`_transport` to an ``httpx.MockTransport`` and every command sends its
requests there instead of the network (``tests/test_cli_control.py`` does).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import httpx
    from rich.table import Table

    from suanli.client import Client
    from suanli.schemas import ExplainOut, JobOut, SiteOut, UsageOut

_transport: httpx.BaseTransport | None = None
"""Tests only: the transport every command's client uses (None: the network)."""
_poll_s = 1.0
"""Seconds between polls of ``logs --follow`` while the job prints nothing."""

ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server", help="Server URL (default: $SUANLI_SERVER, else the one `suanli login` saved).", show_default=False
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="API token (default: $SUANLI_TOKEN, else the one `suanli login` saved).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JobArg = Annotated[str, typer.Argument(help="Job id (from `suanli submit` or `suanli jobs`).", show_default=False)]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app`` (called once by :mod:`suanli.cli.app`)."""
    from suanli.cli.app import handles_errors

    for name, func in (
        ("submit", submit_cmd),
        ("jobs", jobs_cmd),
        ("status", status_cmd),
        ("logs", logs_cmd),
        ("cancel", cancel_cmd),
        ("explain", explain_cmd),
        ("sites", sites_cmd),
        ("usage", usage_cmd),
        ("login", login_cmd),
        ("file-model", file_model_cmd),
    ):
        app.command(name)(handles_errors(func))


def _client(server: str | None, token: str | None) -> Client:
    from suanli.client import Client

    return Client(server, token, transport=_transport)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


# -- commands ------------------------------------------------------------------------------


def submit_cmd(
    spec: Annotated[Path, typer.Argument(help="Job spec (YAML) with a `run:` section.", show_default=False)],
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Submitting again with the same key returns the first job instead of a second one "
            "(default: a fresh key; retries after a lost answer reuse it).",
            show_default=False,
        ),
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="Catalogue directory to check the spec against.", show_default=False),
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit a job to the server, which places it (site, accelerator, count) and runs its
    `run:` command there.

    The spec is checked here first: errors name file:line and field, exit code 2. --json
    prints {"id", "state"}. Then: `suanli status ID`, `suanli logs ID -f`.
    """
    import yaml

    from suanli.errors import SpecError
    from suanli.service import context, read_spec

    job = read_spec(context(catalog), spec)
    if job.run is None:
        raise SpecError(
            "the spec has no 'run:' section, so a site would not know what to run",
            path=str(spec),
            field="run",
            hint="add e.g. `run: {command: [python, train.py]}` (see docs/spec.md), or use `suanli plan` to plan only",
        )
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    with _client(server, token) as client:
        out = client.submit(data, idempotency_key)
    if json_out:
        from suanli.cli import render

        render.print_json({"id": out.id, "state": out.state})
        return
    _out(f"submitted job {out.id} ('{out.name}'): {out.state}")
    _out(f"follow it: suanli status {out.id}  |  suanli logs {out.id} -f  |  suanli explain {out.id}")


def jobs_cmd(
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only jobs in this state: PENDING, RUNNING, SUCCEEDED, ...", show_default=False),
    ] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Every tenant's jobs (operator and admin tokens).")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many (newest first).", min=1, show_default=False)
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List jobs, newest first: state, site, accelerators, estimate."""
    from suanli.cli import render
    from suanli.errors import UnknownNameError
    from suanli.schemas import JOB_STATES

    wanted = None
    if state is not None:
        wanted = next((s for s in JOB_STATES if s == state.upper()), None)
        if wanted is None:
            raise UnknownNameError("job state", state, JOB_STATES)
    with _client(server, token) as client:
        jobs = client.jobs(wanted, limit, all_tenants)
    if json_out:
        render.print_json({"jobs": [j.model_dump(mode="json") for j in jobs]})
        return
    render.console().print(_jobs_table(jobs, all_tenants))


def status_cmd(job_id: JobArg, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """Show one job: state, where it runs, its estimate, and why it is where it is."""
    from suanli.cli import render

    with _client(server, token) as client:
        job = client.job(job_id)
    if json_out:
        render.print_json(job.model_dump(mode="json"))
        return
    render.console().print(_job_table(job))
    for reason in job.reasons:
        _out(f"  {reason.code}: {reason.message}")


def logs_cmd(
    job_id: JobArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new output until the job finishes.")
    ] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print a job's output (what its command wrote), as the site agent reported it."""
    with _client(server, token) as client:
        if follow:
            for text in client.follow_logs(job_id, poll_s=_poll_s):
                sys.stdout.write(text)
                sys.stdout.flush()
            return
        offset = 0
        while True:
            chunk = client.logs(job_id, offset)
            sys.stdout.write(chunk.text)
            if chunk.done or not chunk.text:
                return
            offset = chunk.next_offset


def cancel_cmd(job_id: JobArg, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """Cancel a job that has not finished; a running one is stopped at its site."""
    from suanli.cli import render

    with _client(server, token) as client:
        job = client.cancel(job_id)
    if json_out:
        render.print_json(job.model_dump(mode="json"))
        return
    _out(f"job {job.id} ('{job.name}'): {job.state}")


def explain_cmd(job_id: JobArg, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """Why a job runs where it runs, or why it waits: the reasons (with their codes) and the
    feasible placements at the live sites, best first by the job's objective."""
    from suanli.cli import render

    with _client(server, token) as client:
        explained = client.explain(job_id)
    if json_out:
        render.print_json(explained.model_dump(mode="json"))
        return
    out = render.console()
    out.print(f"job {explained.id}: {explained.state}. {explained.summary}")
    for reason in explained.reasons:
        parts = (reason.site, reason.accelerator, f"x{reason.count}" if reason.count else None)
        where = " ".join(p for p in parts if p)
        until = f" until {reason.until}" if reason.until else ""
        out.print(f"  {reason.code}{f' ({where})' if where else ''}{until}: {reason.message}")
    if explained.options:
        out.print(_options_table(explained))
    else:
        out.print("no feasible placement at the live sites")


def sites_cmd(server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """List the sites whose agents registered: up or down, accelerators in use, last heartbeat."""
    from suanli.cli import render

    with _client(server, token) as client:
        sites = client.sites()
    if json_out:
        render.print_json({"sites": [s.model_dump(mode="json") for s in sites]})
        return
    render.console().print(_sites_table(sites))


def usage_cmd(server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False) -> None:
    """Accelerator-hours, energy, carbon and cost used so far, per tenant (your own as a tenant)."""
    from suanli.cli import render

    with _client(server, token) as client:
        usage = client.usage()
    if json_out:
        render.print_json({"usage": [u.model_dump(mode="json") for u in usage]})
        return
    render.console().print(_usage_table(usage))


def login_cmd(
    server: Annotated[
        str, typer.Option("--server", help="Server URL, e.g. http://127.0.0.1:8470.", show_default=False)
    ],
    token: Annotated[
        str,
        typer.Option("--token", help="API token (asked for, hidden, when not given).", prompt=True, hide_input=True),
    ],
) -> None:
    """Check that the server answers and accepts the token, then save both (mode 0600) for
    the other commands: $SUANLI_CONFIG_DIR/credentials.json, default ~/.config/suanli."""
    from suanli.client import Client, write_credentials

    with Client(server, token, transport=_transport) as client:
        health = client.health()
        client.jobs(limit=1)
        path = write_credentials(client.server, token)
    version = health.get("version", "?")
    _out(f"logged in to {client.server} (suanli {version}); credentials saved to {path}")


def file_model_cmd(
    model: Annotated[str, typer.Argument(help="Model name, e.g. qwen2.5-7b or your own.", show_default=False)],
    filing_number: Annotated[
        str | None,
        typer.Option("--filing-number", help="The model's filing (registration) number.", show_default=False),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note for the reviewer.", show_default=False)] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a model's filing (generative-AI service registration) for an operator to approve;
    sites may require an approved filing before they run a public service of the model."""
    from suanli.cli import render

    with _client(server, token) as client:
        filing = client.file_model(model, filing_number, note)
    if json_out:
        render.print_json(filing.model_dump(mode="json"))
        return
    _out(f"filing {filing.id} for model '{filing.model}': {filing.status}")


# -- tables --------------------------------------------------------------------------------


def _time(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


def _jobs_table(jobs: list[JobOut], tenants: bool) -> Table:
    from rich.table import Table

    from suanli.cli.render import _hours, _money

    table = Table(title=f"jobs ({len(jobs)})", title_justify="left")
    columns = ["id", "name", "kind", *(["tenant"] if tenants else []), "state", "site", "accelerators"]
    for column in (*columns, "est. duration", "est. cost", "created (UTC)"):
        table.add_column(column, justify="right" if column.startswith("est.") else "left")
    for job in jobs:
        row = [job.id, job.name, job.kind, *([job.tenant] if tenants else []), job.state, job.site or ""]
        row.append(f"{job.count} x {job.accelerator}" if job.count and job.accelerator else "")
        est = job.estimate
        row += [_hours(est.duration_h) if est else "", _money(est.cost_usd) if est else "", _time(job.created_at)]
        table.add_row(*row)
    return table


def _job_table(job: JobOut) -> Table:
    from rich.table import Table

    from suanli.cli.render import _energy, _hours, _mass, _money

    table = Table(title=f"job {job.id} ('{job.name}')", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows: list[tuple[str, Any]] = [
        ("state", job.state),
        ("kind", job.kind),
        ("tenant", job.tenant),
        ("site", job.site),
        ("accelerators", f"{job.count} x {job.accelerator}" if job.count and job.accelerator else None),
        ("attempt", job.attempt or None),
        ("created (UTC)", _time(job.created_at)),
        ("started (UTC)", _time(job.started_at)),
        ("finished (UTC)", _time(job.finished_at)),
        ("exit code", job.exit_code),
        ("message", job.message),
        ("checkpoint", job.checkpoint),
    ]
    if job.estimate is not None:
        est = job.estimate
        rows.append(
            (
                "estimate",
                f"{_hours(est.duration_h)}, {_energy(est.energy_kwh)}, {_mass(est.carbon_kg)} CO2, "
                f"{_money(est.cost_usd)} ({est.count} x {est.accelerator} at {est.site})",
            )
        )
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, str(value))
    return table


def _options_table(explained: ExplainOut) -> Table:
    from rich.table import Table

    from suanli.cli.render import _energy, _hours, _mass, _money

    table = Table(title=f"feasible placements ({len(explained.options)})", title_justify="left")
    for name in ("#", "site", "accelerator", "count", "duration", "energy", "carbon", "cost"):
        table.add_column(name, justify="left" if name in ("site", "accelerator") else "right")
    for i, option in enumerate(explained.options, start=1):
        table.add_row(
            str(i),
            option.site,
            option.accelerator,
            str(option.count),
            _hours(option.duration_h),
            _energy(option.energy_kwh),
            _mass(option.carbon_kg),
            _money(option.cost_usd),
        )
    return table


def _sites_table(sites: list[SiteOut]) -> Table:
    from rich.table import Table

    table = Table(title=f"sites ({len(sites)})", title_justify="left")
    for name in ("site", "state", "executor", "region", "PUE", "accelerators (in use / total)", "last heartbeat"):
        table.add_column(name)
    for site in sites:
        accelerators = ", ".join(f"{a} {site.in_use.get(a, 0)}/{n}" for a, n in sorted(site.inventory.items()))
        table.add_row(
            site.id,
            site.state,
            site.executor or "",
            site.region or "",
            f"{site.pue:.2f}" if site.pue is not None else "",
            accelerators,
            _time(site.last_heartbeat),
        )
    return table


def _usage_table(usage: list[UsageOut]) -> Table:
    from rich.table import Table

    from suanli.cli.render import _energy, _mass, _money

    table = Table(title="usage", title_justify="left")
    for name in ("tenant", "accel-hours", "energy", "carbon", "cost", "jobs"):
        table.add_column(name, justify="left" if name in ("tenant", "jobs") else "right")
    for row in usage:
        jobs = ", ".join(f"{state} {n}" for state, n in sorted(row.jobs.items()) if n)
        table.add_row(
            row.tenant,
            f"{row.accelerator_hours:,.1f}",
            _energy(row.energy_kwh),
            _mass(row.carbon_kg),
            _money(row.cost_usd),
            jobs,
        )
    return table
