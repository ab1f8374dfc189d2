"""Tenant-facing commands over the API: submit, jobs, status, logs, cancel, explain, sites,
usage, whoami, logout. The everyday path from a shell loop, kept fast.

Why this module is not typer. These commands are what scripts call thousands of times:
``suanli submit`` in a loop, ``suanli status`` in a CI step. Typer (which validates its
parameters with pydantic here) costs about 110 ms to import and set up, ten times a bare
Python start; so these commands parse with :mod:`argparse`, talk JSON through
:class:`suanli.client.Wire` (the standard library's ``http.client``), and print with
:mod:`suanli.cli.fmt`: no typer, pydantic, httpx, rich, numpy or catalogue on the path
(``tests/test_cli_fast.py`` fails if one comes back; ``bench/bench_cli.py`` prints the
times). The server validates and places each spec; the CLI maps its field errors back to
the file's lines. The commands register in :mod:`suanli.cli.registry`, which parses their
arguments and lists them in ``suanli --help``.

Each command talks to the server given by ``--server`` / ``--token``, else
``$SUANLI_SERVER`` / ``$SUANLI_TOKEN``, else the login saved by ``suanli login``. Tables for
people, ``--json`` (or ``-o json|yaml|csv``) for machines. Errors are one ``error: ...`` line
and the exit code of the exception: 2 for an invalid spec or a 413/422 answer, 1 for any
other refusal (401, 403, 404, 409, 429) or an unreachable server.

Test seam: set :data:`_transport` to an ``httpx.MockTransport`` and every command sends its
requests there instead of the network (``tests/test_cli_control.py`` does).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from suanli.cli import fmt, registry
from suanli.cli import job_tables as tables
from suanli.cli.timeshow import add_tz_option, zone_label

if TYPE_CHECKING:
    from suanli.client import Wire

_transport: Any = None
"""Tests only: the transport every command's client uses (None: the network)."""
_poll_s = 1.0
WATCH_S = 2.0
"""``jobs --watch``'s default refresh, in seconds."""
_sleep = time.sleep
"""Seconds between polls of ``logs --follow`` and ``submit --wait`` while nothing is new."""

OUTPUTS = ("table", "json", "yaml", "csv")


def command(name: str, arguments: Callable[[argparse.ArgumentParser], None]) -> Callable[[Any], Any]:
    """A tenant command: its own arguments, then --server and --token."""

    def with_connection(parser: argparse.ArgumentParser) -> None:
        arguments(parser)
        _connection(parser)

    return registry.command(name, with_connection)


# -- shared arguments ---------------------------------------------------------------------------


def _connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument(
        "--server", metavar="URL", help="server URL (default: $SUANLI_SERVER, else the one `suanli login` saved)"
    )
    group.add_argument(
        "--token", metavar="TOKEN", help="API token (default: $SUANLI_TOKEN, else the one `suanli login` saved)"
    )
    add_tz_option(group)
    group.add_argument(
        "--profile",
        metavar="NAME",
        help="a profile of ~/.config/suanli/config.toml (server, token_file, output); default: $SUANLI_PROFILE, "
        "else the file's `profile`",
    )


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", dest="json_out", action="store_true", help="print JSON instead of text")


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=OUTPUTS, default=None, help="table (default), json, yaml or csv")
    parser.add_argument("--json", dest="json_out", action="store_true", help="the same as -o json")


def _job_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", metavar="JOB", help="job id (from `suanli submit` or `suanli jobs`)")


def _client(args: argparse.Namespace) -> Wire:
    """The connection for ``args.server`` / ``args.token``."""
    from suanli.client._wire import Wire

    return Wire(args.server, args.token, transport=_transport, profile=args.profile)


def _profile_output(args: argparse.Namespace) -> str | None:
    """The chosen profile's default listing format, if it sets one."""
    from suanli.client._credentials import read_profile

    chosen = read_profile(getattr(args, "profile", None))
    return chosen.output if chosen is not None else None


def _terminal_width() -> int | None:
    """The columns a table should fit on a terminal (``$COLUMNS``, else the terminal's
    size); None (no limit) when writing to a pipe or a file, so scripts always get every
    column."""
    import shutil

    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _listing(args: argparse.Namespace, key: str, items: list[Any], to_table: Callable[[], str]) -> None:
    """Print a listing in the chosen format: ``{key: items}`` as JSON or YAML, one CSV row per
    item (nested values as JSON), or the table."""
    output = "json" if args.json_out else (args.output or _profile_output(args) or "table")
    if output == "json":
        fmt.print_json({key: items})
    elif output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump({key: items}, sort_keys=False, allow_unicode=True))
    elif output == "csv":
        _csv(items)
    else:
        _out(to_table())


def _csv(items: list[Any]) -> None:
    import csv
    import json

    names: list[str] = []
    for item in items:
        names.extend(k for k in item if k not in names)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(names)
    for item in items:
        cells = [item.get(n) for n in names]
        writer.writerow("" if c is None else json.dumps(c) if isinstance(c, dict | list) else c for c in cells)


# -- submit ---------------------------------------------------------------------------------------


def _submit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", metavar="SPEC", nargs="+", help="job spec(s) (YAML) with a `run:` section")
    parser.add_argument(
        "--array",
        metavar="N",
        type=_positive_int,
        help="submit N copies of each spec, named NAME-0 .. NAME-(N-1); each copy's command and "
        "environment see its index as ${SUANLI_ARRAY_INDEX} (as the spec's array: N does)",
    )
    parser.add_argument(
        "--depends-on",
        metavar="JOB",
        action="append",
        help="start only after this job succeeds (an id, or the name of your newest job of that name); "
        "repeatable, added to the spec's depends_on. If it fails or is cancelled, this job is cancelled",
    )
    parser.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="submitting again with the same key returns the first job instead of a second one "
        "(default: a fresh key; retries after a lost answer reuse it). With several jobs, job i "
        "gets KEY:i",
    )
    parser.add_argument(
        "--env",
        metavar="NAME=VALUE",
        action="append",
        help="a value for ${NAME} in the spec's run: section (repeatable); names not given here are read "
        "from this shell's environment, and a name set nowhere is an error",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the job's output until it ends, then exit with its exit code (one job only)",
    )
    parser.add_argument(
        "--catalog",
        metavar="DIR",
        help="also check the spec here against this catalogue directory before sending it "
        "(the server always checks it against its own)",
    )
    _json_flag(parser)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 100,000")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0.1 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"{value:g} s is not between 0.1 s and a day")
    return value


@command("submit", _submit_args)
def submit_cmd(args: argparse.Namespace) -> int:
    """Submit jobs to the server, which places each (site, accelerator, count) and runs its
    `run:` command there.

    One spec: one `POST /v1/jobs`. Several specs, or --array N: `POST /v1/jobs:batch`, up to
    1,000 jobs per call, each stored in one transaction. The server checks every spec; an
    error names file:line and field, exit code 2 (the other jobs of the batch are still
    submitted). --json prints {"id", "state"} (several jobs: {"jobs": [...], "errors": [...]}).
    Then: `suanli status ID`, `suanli logs ID -f`, or --wait.

    ${NAME} in the run: section (command, env, workdir, checkpoint_dir) is filled in here, at
    submission, from --env NAME=VALUE or this shell's environment; $$ is a literal $.

    Examples:
      suanli submit job.yaml --wait
      suanli submit examples/jobs/train.yaml --env JOBS=$PWD/examples/jobs --env SHARED=/tmp/shared
      suanli submit sweep-*.yaml --json
      suanli submit train.yaml --array 100
      suanli submit eval.yaml --depends-on demo-train
    """
    from suanli.cli import submit

    return submit.run(args, _client, _poll_s)


# -- reading jobs ---------------------------------------------------------------------------------

JOB_STATES = ("PENDING", "PLACED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")


def _jobs_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", help=f"only jobs in this state: {', '.join(JOB_STATES)}")
    parser.add_argument("--all", dest="all_tenants", action="store_true", help="every tenant's jobs (staff tokens)")
    parser.add_argument(
        "--limit", type=_positive_int, help="the newest this many, over as many pages as it takes (default: 100)"
    )
    parser.add_argument(
        "--all-pages", action="store_true", help="every job, page after page (each listed once, newest first)"
    )
    parser.add_argument(
        "-w",
        "--watch",
        nargs="?",
        const=WATCH_S,
        type=_positive_float,
        metavar="SECONDS",
        help=f"list again every SECONDS (default {WATCH_S:g}) until Ctrl-C; the screen is redrawn on a terminal",
    )
    _output(parser)


@command("jobs", _jobs_args)
def jobs_cmd(args: argparse.Namespace) -> int:
    """List jobs, newest first: state, site, accelerators, when it started, how long it has
    run, what it has spent and emitted so far (SPENT, CO2: its runs as metered), its ETA and
    its estimate. On a narrow terminal (e.g. 100 columns) the created, estimate, kind,
    started and ETA columns go first; a pipe gets every column; -o json|yaml|csv have every field (cost_so_far,
    co2_kg_so_far, energy_kwh_so_far, accelerator_hours_so_far)."""
    from suanli.errors import UnknownNameError

    wanted = None
    if args.state is not None:
        wanted = next((s for s in JOB_STATES if s == args.state.upper()), None)
        if wanted is None:
            raise UnknownNameError("job state", args.state, JOB_STATES)
    if args.watch is None:
        return _list_jobs(args, wanted)
    redraw = sys.stdout.isatty()
    try:
        while True:
            if redraw:
                sys.stdout.write("\x1b[H\x1b[2J")  # home, clear: the next listing replaces this one
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
            sys.stdout.write(f"every {args.watch:g} s, {stamp} (Ctrl-C to stop)\n")
            _list_jobs(args, wanted)
            sys.stdout.flush()
            _sleep(args.watch)
    except KeyboardInterrupt:
        return 0


def _list_jobs(args: argparse.Namespace, wanted: str | None) -> int:
    more = False
    with _client(args) as client:
        if args.all_pages or args.limit is not None:
            jobs = list(client.iter_jobs_json(wanted, args.all_tenants, None if args.all_pages else args.limit))
        else:
            jobs, after = client.jobs_page_json(wanted, args.all_tenants)
            more = after is not None
    _listing(args, "jobs", jobs, lambda: tables.jobs_table(jobs, args.all_tenants, _terminal_width()))
    if more:
        sys.stderr.write(f"the newest {len(jobs)} jobs; there are more. To see them: --limit N or --all-pages\n")
    return 0


def _status_args(parser: argparse.ArgumentParser) -> None:
    _job_arg(parser)
    _json_flag(parser)


@command("status", _status_args)
def status_cmd(args: argparse.Namespace) -> int:
    """Show one job: state, where it runs, its estimate, and why it is where it is."""
    with _client(args) as client:
        job = client.job_json(args.job_id)
    if args.json_out:
        fmt.print_json(job)
        return 0
    _out(tables.job_fields(job))
    for reason in job.get("reasons") or []:
        _out(f"  {reason.get('code')}: {reason.get('message')}")
    return 0


def _logs_args(parser: argparse.ArgumentParser) -> None:
    _job_arg(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the job finishes")


@command("logs", _logs_args)
def logs_cmd(args: argparse.Namespace) -> int:
    """Print a job's output (what its command wrote), as the site agent reported it."""
    with _client(args) as client:
        follow(client, args.job_id, args.follow, _poll_s)
    return 0


def follow(client: Wire, job_id: str, keep_going: bool, poll_s: float) -> None:
    """Print the job's output from the start; with ``keep_going``, until the job ends."""
    import time

    offset = 0
    while True:
        chunk = client.logs_json(job_id, offset)
        text = str(chunk.get("text") or "")
        sys.stdout.write(text)
        sys.stdout.flush()
        offset = int(chunk.get("next_offset", offset))
        if chunk.get("done") or (not text and not keep_going):
            return
        if not text:
            time.sleep(poll_s)


def _cancel_args(parser: argparse.ArgumentParser) -> None:
    _job_arg(parser)
    _json_flag(parser)


@command("cancel", _cancel_args)
def cancel_cmd(args: argparse.Namespace) -> int:
    """Cancel a job that has not finished; a running one is stopped at its site."""
    with _client(args) as client:
        job = client.cancel_json(args.job_id)
    if args.json_out:
        fmt.print_json(job)
    else:
        _out(f"job {job.get('id')} ('{job.get('name')}'): {job.get('state')}")
    return 0


@command("explain", _status_args)
def explain_cmd(args: argparse.Namespace) -> int:
    """Why a job runs where it runs, or why it waits: the reasons (with their codes), a
    waiting job's queue position, and its feasible placements, best first by the job's
    objective, each site marked live, degraded, down or catalogue-only (no agent runs
    there)."""
    with _client(args) as client:
        explained = client.explain_json(args.job_id)
    if args.json_out:
        fmt.print_json(explained)
        return 0
    _out(f"job {explained.get('id')}: {explained.get('state')}. {explained.get('summary', '')}")
    eta = tables.eta_line(explained)
    if eta:
        _out(f"  ETA ({zone_label()}): {eta}")
    for reason in explained.get("reasons") or []:
        count = reason.get("count")
        parts = (reason.get("site"), reason.get("accelerator"), f"x{count}" if count else None)
        where = " ".join(p for p in parts if p)
        until = f" until {reason['until']}" if reason.get("until") else ""
        _out(f"  {reason.get('code')}{f' ({where})' if where else ''}{until}: {reason.get('message')}")
    if explained.get("queue_position") is not None:
        _out(f"  queue position {explained['queue_position']:,}: {explained.get('queue')}")
    options = explained.get("options") or []
    states = explained.get("site_states")
    shown = states if isinstance(states, dict) else None
    _out(tables.options_table(options, shown) if options else "no feasible placement")
    return 0


def _list_args(parser: argparse.ArgumentParser) -> None:
    _output(parser)


@command("sites", _list_args)
def sites_cmd(args: argparse.Namespace) -> int:
    """List the sites whose agents registered: up or down, accelerators in use, last heartbeat."""
    with _client(args) as client:
        sites = client.sites_json()
    _listing(args, "sites", sites, lambda: tables.sites_table(sites))
    return 0


@command("usage", _list_args)
def usage_cmd(args: argparse.Namespace) -> int:
    """Accelerator-hours, energy, carbon and cost used so far, per tenant (your own as a tenant)."""
    with _client(args) as client:
        usage = client.usage_json()
    _listing(args, "usage", usage, lambda: tables.usage_table(usage))
    return 0


# -- who am I -----------------------------------------------------------------------------------


@command("whoami", _json_flag)
def whoami_cmd(args: argparse.Namespace) -> int:
    """Which server this talks to and what the token is there: role, tenant, site."""
    with _client(args) as client:
        me = client.whoami_json()
        server = client.url
    if args.json_out:
        fmt.print_json({"server": server, **me})
        return 0
    who = f"tenant '{me['tenant']}'" if me.get("tenant") else f"site '{me['site']}'" if me.get("site") else "staff"
    _out(f"{me.get('role')} token {me.get('token_id')} ({who}) at {server}")
    return 0


def _logout_args(parser: argparse.ArgumentParser) -> None:
    pass


@registry.command("logout", _logout_args)
def logout_cmd(args: argparse.Namespace) -> int:
    """Forget the login `suanli login` saved ($SUANLI_CONFIG_DIR/credentials.json, default
    ~/.config/suanli). $SUANLI_SERVER and $SUANLI_TOKEN, when set, still apply."""
    from suanli.client._credentials import forget_credentials, read_credentials

    saved = read_credentials()
    path = forget_credentials()
    if path is None or saved is None:
        _out("no saved login")
    else:
        _out(f"logged out of {saved.server}: removed {path}")
    return 0


def _file_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model name, e.g. qwen2.5-7b or your own")
    parser.add_argument("--filing-number", metavar="NUMBER", help="the model's filing (registration) number")
    parser.add_argument("--note", help="a note for the reviewer")
    _json_flag(parser)


@command("file-model", _file_model_args)
def file_model_cmd(args: argparse.Namespace) -> int:
    """Record a model's filing (generative-AI service registration) for an operator to approve;
    sites may require an approved filing before they run a public service of the model."""
    with _client(args) as client:
        filing = client.file_model_json(args.model, args.filing_number, args.note)
    if args.json_out:
        fmt.print_json(filing)
    else:
        _out(f"filing {filing.get('id')} for model '{filing.get('model')}': {filing.get('status')}")
    return 0
