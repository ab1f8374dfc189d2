"""``suanli admin``: tenants, tokens, quotas, filings and the audit log.

Each command works on the store directly (``--data-dir DIR`` or ``--db URL``: the operator
at the server's machine, acting as the local admin, before any server runs) or over the
API with an admin or operator token (``--server``, ``--token`` or ``--token-file``, or
``SUANLI_SERVER``, ``SUANLI_TOKEN`` or ``SUANLI_TOKEN_FILE``); :mod:`suanli.cli.admin_backend`
chooses once per command. Commands parse, call one backend method and render.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from suanli.cli.extras import require_extra
from suanli.cli.ops import (
    CatalogOpt,
    DataDirOpt,
    DbOpt,
    JsonOpt,
    ProfileOpt,
    ServerOpt,
    TokenFileOpt,
    TokenOpt,
    _out,
    _plane,
    token_from,
)
from suanli.cli.timeshow import show, typer_tz_option, zone_label
from suanli.errors import InputError

if TYPE_CHECKING:
    from suanli.cli.admin_backend import AdminBackend
    from suanli.schemas import QuotaOut

admin_app = typer.Typer(
    name="admin",
    help="Tenants, tokens, quotas and filings. With --data-dir/--db: directly on the store (no server needed); "
    "else over the API with an admin or operator token.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


TzOpt = Annotated[str | None, typer_tz_option()]

_PROFILE: dict[str, str | None] = {"name": None}
"""``suanli admin --profile NAME``, for every admin command of this process."""


@admin_app.callback()
def admin_options(profile: ProfileOpt = None) -> None:
    """Tenants, tokens, quotas and filings (see `suanli admin --help`)."""
    _PROFILE["name"] = profile


def register(app: typer.Typer) -> None:
    from suanli.cli.app import handles_errors

    commands: tuple[tuple[str, Any], ...] = (
        ("create-tenant", create_tenant_cmd),
        ("set-share", set_share_cmd),
        ("create-token", create_token_cmd),
        ("tokens", tokens_cmd),
        ("revoke-token", revoke_token_cmd),
        ("set-quota", set_quota_cmd),
        ("quotas", quotas_cmd),
        ("capacity", capacity_cmd),
        ("approve-filing", approve_filing_cmd),
        ("filings", filings_cmd),
        ("tenants", tenants_cmd),
        ("audit", audit_cmd),
    )
    for name, func in commands:
        admin_app.command(name)(handles_errors(func))
    app.add_typer(admin_app)


def _print_model(value: Any, json_out: bool, human: str) -> None:
    if json_out:
        data = value.model_dump() if hasattr(value, "model_dump") else value
        _out(json.dumps(data, indent=2, default=str))
    else:
        _out(human)


def _admin(
    data_dir: Path | None, db: str | None, server: str | None, token: str | None, token_file: Path | None
) -> AdminBackend:
    from suanli.cli.admin_backend import admin_backend, is_local

    if is_local(data_dir, db):
        require_extra(
            "server",
            "admin on a store (--data-dir, --db or $SUANLI_DB)",
            "act over the API instead (--server URL --token-file FILE: no extra needed)",
        )
    return admin_backend(data_dir, db, server, token_from(token, token_file), _plane, profile=_PROFILE["name"])


ShareWeightOpt = Annotated[
    float | None,
    typer.Option(
        "--share-weight",
        max=1e6,
        help="The tenant's weight in the live fair share (`suanli serve --fair-share`): its share of the "
        "capacity-hours while tenants compete is its weight over the waiting tenants' sum (default 1).",
        show_default=False,
    ),
]


def create_tenant_cmd(
    name: Annotated[str, typer.Argument(help="Tenant name (lower-case letters, digits, . _ -).")],
    share_weight: ShareWeightOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a tenant and print its first token (shown once; only its hash is stored)."""
    _valid_name(name)
    made = _admin(data_dir, db, server, token, token_file).create_tenant(name, share_weight)
    _print_model(made, json_out, made.token)


def set_share_cmd(
    tenant: Annotated[str, typer.Argument(help="Tenant name.")],
    share_weight: Annotated[
        float,
        typer.Argument(
            max=1e6,
            help="Its weight in the live fair share (`suanli serve --fair-share`); every tenant starts at 1.",
        ),
    ],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a tenant's fair-share weight (audited; the live scheduler reads it from its next cycle)."""
    done = _admin(data_dir, db, server, token, token_file).set_share_weight(tenant, share_weight)
    _print_model(done, json_out, f"{done.name}: share weight {done.share_weight:g}")


def _valid_name(name: str) -> None:
    import re

    from suanli.schemas.v1 import NAME

    if not re.match(NAME, name):
        raise InputError(f"invalid name '{name}': use lower-case letters, digits, '.', '_' or '-' (max 63)")


def create_token_cmd(
    role: Annotated[str, typer.Option("--role", help="tenant, agent, operator or admin.")] = "tenant",
    tenant: Annotated[str | None, typer.Option("--tenant", help="For --role tenant.", show_default=False)] = None,
    site: Annotated[str | None, typer.Option("--site", help="For --role agent.", show_default=False)] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for the token.", show_default=False)] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a token and print it (shown once)."""
    from suanli.service.control.auth import ROLES

    if role not in ROLES:
        raise InputError(f"unknown role '{role}'; valid: {', '.join(ROLES)}")
    made = _admin(data_dir, db, server, token, token_file).create_token(role, tenant, site, name)
    _print_model(made, json_out, made.token)


def tokens_cmd(
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked tokens.")] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
    tz: TzOpt = None,
) -> None:
    """List tokens: id, prefix, role, tenant or site, name, created (and revoked), in the
    --tz zone (JSON keeps UTC). Never a token's secret: only its first characters (tokens
    made before suanli kept them show '-')."""
    items = _admin(data_dir, db, server, token, token_file).tokens(revoked)
    if json_out:
        _out(json.dumps([t.model_dump() for t in items], indent=2))
        return
    created, revoked_at = f"created ({zone_label()})", "revoked"
    _out(f"{'id':<16} {'prefix':<12} {'role':<8} {'tenant/site':<16} {created:<24} {revoked_at:<16} name")
    for t in items:
        owner = t.tenant or t.site or "-"
        _out(
            f"{t.id:<16} {t.prefix or '-':<12} {t.role:<8} {owner:<16} {show(t.created_at):<24} "
            f"{show(t.revoked_at) or '-':<16} {t.name or ''}"
        )


def revoke_token_cmd(
    ref: Annotated[str, typer.Argument(help="The token's id (k-...) or its prefix (sl_..., as `admin tokens` shows).")],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a token at once: refused from the next request on by the server that revoked it
    (over the API), and within 5 s by every other replica and by servers on the store."""
    revoked = _admin(data_dir, db, server, token, token_file).revoke_token(ref)
    _print_model(revoked, json_out, f"{revoked.id} ({revoked.prefix or 'no prefix'}, {revoked.role}) is revoked")


def set_quota_cmd(
    tenant: Annotated[str, typer.Argument(help="Tenant name.")],
    family: Annotated[str, typer.Argument(help="Accelerator family (hopper, ascend, ...), type (h800) or '*'.")],
    accelerator_hours: Annotated[
        float | None, typer.Option("--accelerator-hours", min=0, help="Per period.", show_default=False)
    ] = None,
    period_h: Annotated[float, typer.Option("--period-h", min=0.001, help="Period length, hours.")] = 720.0,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", min=0, help="Accelerators at once.", show_default=False)
    ] = None,
    capacity_hours: Annotated[
        float | None,
        typer.Option(
            "--capacity-hours",
            min=0,
            help="Normalised capacity per period, in H800-equivalent hours (an hour of each type counts its "
            "throughput relative to an H800's: docs/control-plane.md, Quotas).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a tenant's quota for an accelerator family: accelerator-hours and/or capacity-hours
    per period, and/or accelerators in use at once (omitted = unlimited)."""
    from suanli.schemas import QuotaIn

    body = QuotaIn(
        accelerator_hours=accelerator_hours,
        capacity_hours=capacity_hours,
        period_h=period_h,
        max_concurrent=max_concurrent,
    )
    quota = _admin(data_dir, db, server, token, token_file).set_quota(tenant, family, body)
    _print_model(quota, json_out, _quota_line(quota))


def _limit(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:,g}"


def _quota_line(quota: QuotaOut) -> str:
    """``acme/hopper: 1,000 accelerator-hours, 400 H800-equivalent hours per 720 h, 64 at once``."""
    return (
        f"{quota.tenant}/{quota.family}: {_limit(quota.accelerator_hours)} accelerator-hours, "
        f"{_limit(quota.capacity_hours)} {quota.capacity_unit} per {quota.period_h:g} h, "
        f"{_limit(quota.max_concurrent)} at once"
    )


def quotas_cmd(
    tenant: Annotated[
        str | None, typer.Argument(help="Tenant name (omitted: every tenant's quotas).", show_default=False)
    ] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Quotas and their use this period: accelerator-hours and capacity-hours (H800-equivalent)
    used of each limit, and accelerators held now."""
    items = _admin(data_dir, db, server, token, token_file).quotas(tenant)
    if json_out:
        _out(json.dumps([q.model_dump() for q in items], indent=2))
        return
    if not items:
        _out("no quotas: nothing limits " + (f"tenant '{tenant}'" if tenant else "any tenant"))
        return
    unit = items[0].capacity_unit
    _out(f"{'TENANT/KEY':<28} {'ACCELERATOR-HOURS':>22} {unit.upper():>28} {'PERIOD':>8} {'IN USE':>14}")
    for q in items:
        accel = f"{q.used_accelerator_hours:,.1f} / {_limit(q.accelerator_hours)}"
        capacity = f"{q.used_capacity_hours:,.1f} / {_limit(q.capacity_hours)}"
        in_use = f"{q.in_use:,} / {_limit(q.max_concurrent)}"
        _out(f"{q.tenant + '/' + q.family:<28} {accel:>22} {capacity:>28} {q.period_h:>7g}h {in_use:>14}")


def capacity_cmd(
    catalog: CatalogOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None, json_out: JsonOpt = False
) -> None:
    """What an hour of each accelerator type counts against a capacity quota (--capacity-hours):
    the estimator's throughput of the reference training job on it over the H800's. Of the
    packaged catalogue with --catalog's or $SUANLI_CATALOG's overrides (what a server started
    with them counts in); with --data-dir/--db, of that store's control plane."""
    from suanli.capacity import REFERENCE_COUNT, capacity_table

    if data_dir is not None or db is not None:
        require_extra("server", "admin capacity on a store (--data-dir, --db)", "leave --data-dir and --db out")
        source = _plane(data_dir, db, catalog).planning.catalog
    else:
        from suanli.service.planning import context

        source = context(catalog).catalog
    table = capacity_table(source)
    rows = sorted(table.values.values(), key=lambda v: (-v.per_accelerator_hour, v.accelerator))
    if json_out:
        data = {
            "unit": table.unit,
            "reference": table.reference,
            "values": [
                {
                    "accelerator": v.accelerator,
                    "per_accelerator_hour": v.per_accelerator_hour,
                    "tokens_per_accelerator_h": v.tokens_per_accelerator_h,
                    "precision": v.precision,
                    "source": v.source,
                }
                for v in rows
            ],
        }
        _out(json.dumps(data, indent=2))
        return
    _out(f"{'ACCELERATOR':<14} {table.unit.upper():>22} {'TOKENS/ACCEL-H':>15} {'PRECISION':>9}  SOURCE")
    for v in rows:
        tokens = f"{v.tokens_per_accelerator_h / 1e6:,.1f}M" if v.tokens_per_accelerator_h is not None else "-"
        _out(f"{v.accelerator:<14} {v.per_accelerator_hour:>22.3f} {tokens:>15} {v.precision or '-':>9}  {v.source}")
    _out(
        f"reference job: Qwen2.5-1.5B-architecture training on {REFERENCE_COUNT} of each type "
        "(suanli.capacity; docs/control-plane.md, Quotas)"
    )


def approve_filing_cmd(
    filing_id: Annotated[str, typer.Argument(help="Filing id (from `suanli admin filings`).")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why.", show_default=False)] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Approve (or --reject) a model filing; public services of that model may then run."""
    filing = _admin(data_dir, db, server, token, token_file).decide_filing(filing_id, not reject, note)
    _print_model(filing, json_out, f"{filing.id}: {filing.model} of {filing.tenant} is {filing.status}")


def filings_cmd(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List model filings."""
    items = _admin(data_dir, db, server, token, token_file).filings()
    if json_out:
        _out(json.dumps([f.model_dump() for f in items], indent=2))
        return
    for f in items:
        _out(f"{f.id}  {f.tenant:<16} {f.model:<24} {f.status:<9} {f.filing_number or ''}")


def tenants_cmd(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
    tz: TzOpt = None,
) -> None:
    """List tenants, each with when it was created, in the --tz zone (JSON keeps UTC)."""
    tenants = _admin(data_dir, db, server, token, token_file).tenants()
    if json_out:
        _out(json.dumps([t.model_dump() for t in tenants], indent=2))
        return
    label = zone_label()
    for t in tenants:
        _out(f"{t.id}  {t.name:<24} weight {t.share_weight:<6g} since {show(t.created_at)} {label}")


def audit_cmd(
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Entries, newest first (over as many pages as it takes).")
    ] = 50,
    all_pages: Annotated[bool, typer.Option("--all-pages", help="Every entry, page after page.")] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    json_out: JsonOpt = False,
    tz: TzOpt = None,
) -> None:
    """The audit log: who changed what, when (in the --tz zone; JSON keeps UTC), from where."""
    entries = _admin(data_dir, db, server, token, token_file).audit(None if all_pages else limit)
    if json_out:
        _out(json.dumps([e.model_dump() for e in entries], indent=2))
        return
    label = zone_label()
    for e in entries:
        when = f"{show(e.at, seconds=True)} {label}"
        _out(f"{when}  {e.actor:<16} {e.role:<8} {e.action:<16} {e.object:<24} {e.remote or ''}")
