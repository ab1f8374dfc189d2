"""Commands that run the network: ``serve``, ``db``, and the options they share with
``agent`` (:mod:`suanli.cli.agent_cmd`) and ``admin`` (:mod:`suanli.cli.admin_cmds`).

Tokens are read from a file (``--token-file PATH`` or ``SUANLI_TOKEN_FILE``) or the
environment (``SUANLI_TOKEN``); ``--token T`` works too (not for ``agent``), but shows the
token to every local user in ``ps``.

``serve``, ``db`` and ``admin`` on the store need the ``server`` extra, ``agent --executor
ray`` the ``ray`` extra: each checks first (:func:`suanli.cli.extras.require_extra`) and
says which to install, instead of failing on an import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from suanli.cli.extras import require_extra
from suanli.errors import InputError

if TYPE_CHECKING:
    from suanli.client import Client
    from suanli.service.control.plane import ControlPlane

ADMIN_TOKEN_FILE = "admin.token"

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory of the SQLite store (created if needed).", show_default=False),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (postgresql://USER@HOST/DB) instead of SQLite; or $SUANLI_DB.", show_default=False
    ),
]
CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="Directory of catalogue overrides (or $SUANLI_CATALOG).", show_default=False),
]
ServerOpt = Annotated[
    str | None, typer.Option("--server", help="Server URL (default $SUANLI_SERVER).", show_default=False)
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="API token (default $SUANLI_TOKEN); it shows in `ps`: prefer --token-file.", show_default=False
    ),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        help="Read the API token from this file (mode 0600; default $SUANLI_TOKEN_FILE).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="A profile of ~/.config/suanli/config.toml (server, token_file); default: $SUANLI_PROFILE, "
        "else the file's `profile`.",
        show_default=False,
    ),
]

db_app = typer.Typer(
    name="db", help="The store's schema (Alembic migrations).", no_args_is_help=True, rich_markup_mode=None
)


def register(app: typer.Typer) -> None:
    from suanli.cli.app import handles_errors

    app.command("serve")(handles_errors(serve_cmd))
    from suanli.cli.agent_cmd import agent_cmd

    app.command("agent")(handles_errors(agent_cmd))
    db_app.command("upgrade")(handles_errors(db_upgrade_cmd))
    db_app.command("current")(handles_errors(db_current_cmd))
    from suanli.cli import admin_cmds

    admin_cmds.register(app)
    app.add_typer(db_app)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _store(data_dir: Path | None, db: str | None, upgrade: bool = True) -> Any:
    from suanli.store import open_store

    db = db or os.environ.get("SUANLI_DB") or None
    if data_dir is None and db is None:
        raise InputError("give --data-dir DIR (SQLite) or --db postgresql://... (or set SUANLI_DB)")
    return open_store(data_dir, db, upgrade=upgrade)


def _plane(data_dir: Path | None, db: str | None, catalog: Path | None = None, **settings: Any) -> ControlPlane:
    from suanli.service.control.plane import Settings, control_plane

    return control_plane(_store(data_dir, db), Settings(**settings), str(catalog) if catalog else None)


def token_from(token: str | None, token_file: Path | None) -> str | None:
    """``--token``, or the token read from ``--token-file`` (whitespace around it dropped);
    None when neither is given (the SDK then reads ``SUANLI_TOKEN``, ``SUANLI_TOKEN_FILE``
    or the saved login). A file others may read is used, with a warning."""
    if token_file is None:
        return token
    if token is not None:
        raise InputError("give --token or --token-file, not both")
    try:
        text = token_file.read_text(encoding="utf-8").strip()
        mode = token_file.stat().st_mode
    except OSError as exc:
        raise InputError(f"--token-file {token_file}: cannot read it ({exc.strerror})") from None
    if not text:
        raise InputError(f"--token-file {token_file}: the file is empty. To fix: write the token into it")
    if mode & 0o077:
        sys.stderr.write(f"warning: {token_file} is readable by others (mode {mode & 0o777:o}); chmod 600 it\n")
    return text


def _client(
    server: str | None,
    token: str | None,
    token_file: Path | None = None,
    timeout_s: float = 30.0,
    profile: str | None = None,
) -> Client:
    from suanli.client import Client

    return Client(server, token_from(token, token_file), timeout_s=timeout_s, profile=profile)


def _shares_by_tenant(policy: str) -> bool:
    """The policy has a ``fair_share`` parameter (the simulator's registry)."""
    from dataclasses import fields

    from suanli.policy import register_builtins

    entry = next((e for e in register_builtins().entries() if e.name == policy), None)
    return entry is not None and entry.params is not None and "fair_share" in {f.name for f in fields(entry.params)}


AGENT_CALL_TIMEOUT_S = 5.0
"""Least time an agent waits for one answer (a heartbeat, a report). A call that hangs
(a frozen server, a dropped connection) must not hold the agent's loop past its retries:
the agent waits at most ``max(AGENT_CALL_TIMEOUT_S, 2 x heartbeat interval)``."""


# -- serve ---------------------------------------------------------------------------


def serve_cmd(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8470,
    policy: Annotated[str, typer.Option("--policy", help="Scheduling policy (as in `suanli simulate`).")] = "suanli",
    cycle_interval_s: Annotated[
        float, typer.Option("--cycle-interval", min=0.05, help="Seconds between scheduling cycles (at most).")
    ] = 1.0,
    missed_heartbeats: Annotated[
        float,
        typer.Option("--missed-heartbeats", min=1.0, help="Heartbeat intervals of silence before a site is down."),
    ] = 8.0,
    rate_per_s: Annotated[float, typer.Option("--rate-limit", min=0.1, help="Requests per second per token.")] = 200.0,
    restart_s: Annotated[
        float,
        typer.Option(
            "--restart",
            min=0.0,
            help="Seconds a preempted or requeued job needs to resume (reload, restore its checkpoint); "
            "the policy weighs it as `suanli simulate --restart` does.",
        ),
    ] = 60.0,
    eta_interval_s: Annotated[
        float,
        typer.Option(
            "--eta-interval",
            min=0.0,
            help="Seconds between the leader's forecasts of every job's start and finish (the ETAs of "
            "`suanli jobs` and the API; sooner when the queue changes; 0 turns them off).",
        ),
    ] = 15.0,
    on_filing_withdrawn: Annotated[
        str,
        typer.Option(
            "--on-filing-withdrawn",
            help="What rejecting an approved model filing does to the public services of that model: "
            "stop (cancel them, reason FILING_WITHDRAWN) or hold (preempt them and keep them waiting "
            "until a filing of the model is approved again).",
        ),
    ] = "stop",
    catalog: CatalogOpt = None,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Serve the API only; another replica schedules.")
    ] = False,
    public_metrics: Annotated[
        bool, typer.Option("--public-metrics", help="Serve /metrics without a token (it names tenants).")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="Address or network (10.0.0.5, 10.0.0.0/8, *) of a reverse proxy whose X-Forwarded-For "
            "names the client, repeatable; from any other peer the header is ignored (default: none).",
            show_default=False,
        ),
    ] = None,
    shared_root: Annotated[
        list[str] | None,
        typer.Option(
            "--shared-root",
            help="Absolute directory every site mounts alike (checkpoints a job resumes from elsewhere), "
            "repeatable: the only absolute run.workdir and run.checkpoint_dir jobs may name (default: none).",
            show_default=False,
        ),
    ] = None,
    fair_share: Annotated[
        bool,
        typer.Option(
            "--fair-share",
            help="Share capacity across tenants by weighted max-min fair share in capacity-hours "
            "(H800-equivalent hours; each tenant's weight: `suanli admin set-share`), as "
            "`suanli simulate --fair-share`; for a policy that has it (fifo, backfill, suanli).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Processes answering the API on the port (each a replica; the leader schedules). "
            "More than one uses more cores; see docs/control-plane.md for what is per worker.",
        ),
    ] = 1,
) -> None:
    """Run the control plane: the REST API under /v1 (OpenAPI at /v1/openapi.json), /metrics,
    and the scheduler (the replica holding the leader lease schedules). State lives in SQLite
    under --data-dir, or in PostgreSQL with --db (several replicas may share it)."""
    require_extra("server", "serve")
    import gc

    import uvicorn

    from suanli.policy import register_builtins
    from suanli.server import create_app
    from suanli.server import logs as server_logs

    gc.enable()  # a long-running process: the CLI's start-up optimisation does not apply
    if policy not in register_builtins().names():
        from suanli.errors import UnknownNameError

        raise UnknownNameError("policy", policy, register_builtins().names())
    if on_filing_withdrawn not in ("stop", "hold"):
        raise InputError(f"--on-filing-withdrawn {on_filing_withdrawn!r}: give stop or hold")
    if fair_share and not _shares_by_tenant(policy):
        raise InputError(f"--fair-share: policy {policy} does not share by tenant; use fifo, backfill or suanli")
    cp = _plane(
        data_dir,
        db,
        catalog,
        policy=policy,
        cycle_interval_s=cycle_interval_s,
        missed_heartbeats=missed_heartbeats,
        restart_s=restart_s,
        eta_interval_s=eta_interval_s,
        on_filing_withdrawn=on_filing_withdrawn,
        rate_per_s=rate_per_s,
        burst=max(rate_per_s * 2, 10.0),
        public_metrics=public_metrics,
        fair_share=fair_share,
        **_edges(trusted_proxy or [], shared_root or []),
    )
    server_logs.configure(log_level)
    admin_token = _bootstrap_admin(cp, data_dir)
    sys.stderr.write(f"suanli {cp.store.dialect} store: {cp.store.safe_url}\n")
    if admin_token:
        sys.stderr.write(f"first start: an admin token was written to {admin_token} (mode 0600)\n")
    from suanli.server.workers import wait_for_port

    try:
        wait_for_port(host, port)  # a server killed just before: its workers free the port within ~1 s
    except OSError as exc:
        raise InputError(str(exc)) from None
    processes = f", {workers} worker processes" if workers > 1 else ""
    sys.stderr.write(f"serving on http://{host}:{port}  (API /v1, docs /v1/docs, metrics /metrics{processes})\n")
    if workers == 1:
        app = create_app(cp, scheduler=not no_scheduler)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, **_proxy_options(cp))
        return
    from suanli.server.workers import CONFIG_ENV, worker_config

    cp.store.dispose()  # each worker opens its own
    os.environ[CONFIG_ENV] = worker_config(
        str(data_dir) if data_dir else None,
        db or os.environ.get("SUANLI_DB") or None,
        str(catalog) if catalog else None,
        cp.settings,
        not no_scheduler,
        log_level,
    )
    uvicorn.run(
        "suanli.server.workers:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        **_proxy_options(cp),
    )


def _edges(proxies: list[str], roots: list[str]) -> dict[str, tuple[str, ...]]:
    """``--trusted-proxy`` and ``--shared-root``, checked and normalised for Settings."""
    from suanli.server.proxies import parse_proxy
    from suanli.service.control.paths import shared_roots_of

    try:
        return {
            "trusted_proxies": tuple(dict.fromkeys(parse_proxy(p) for p in proxies)),
            "shared_roots": shared_roots_of(roots),
        }
    except ValueError as exc:
        raise InputError(f"{exc}. To fix: see `suanli serve --help`") from None


def _proxy_options(cp: ControlPlane) -> dict[str, Any]:
    """uvicorn's forwarded-header handling: on for the trusted proxies only. (Left alone,
    uvicorn believes X-Forwarded-For from 127.0.0.1, so any local client could rewrite
    the address the audit log records.)"""
    trusted = list(cp.settings.trusted_proxies)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def _bootstrap_admin(cp: ControlPlane, data_dir: Path | None) -> Path | None:
    """On the first start of an SQLite store, make an admin token and write it beside the
    database (mode 0600). With PostgreSQL, use `suanli admin create-token --role admin --db`."""
    from suanli.service.control.admin import create_token
    from suanli.service.control.auth import LOCAL_ADMIN
    from suanli.store import identity

    if data_dir is None:
        return None
    with cp.store.engine.connect() as conn:
        if identity.count_tokens(conn, "admin") > 0:
            return None
    made = create_token(cp, LOCAL_ADMIN, "admin", name="bootstrap")
    path = data_dir / ADMIN_TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(made.token + "\n")
    return path


# -- db ------------------------------------------------------------------------------


def db_upgrade_cmd(data_dir: DataDirOpt = None, db: DbOpt = None) -> None:
    """Create the schema or migrate it to this release's (the server also does this on start)."""
    require_extra("server", "db upgrade")
    from suanli.store.migrate import current_revision

    store = _store(data_dir, db)
    _out(f"{store.safe_url}: schema at revision {current_revision(store)}")


def db_current_cmd(data_dir: DataDirOpt = None, db: DbOpt = None) -> None:
    """Print the schema revision of the store and of this release."""
    require_extra("server", "db current")
    from suanli.store.migrate import current_revision, head_revision

    store = _store(data_dir, db, upgrade=False)
    _out(f"store: {current_revision(store)}  release: {head_revision()}")
