"""How the CLI shows a moment: ``YYYY-MM-DD HH:MM`` in the display time zone, which is
UTC unless ``$SUANLI_TZ`` (or a command's ``--tz``: :func:`add_tz_option` on the argparse
commands, :func:`typer_tz_option` on the typer ones) names another: an IANA name
(``Asia/Shanghai``, what most of this network's users read: UTC+8), a fixed offset
(``+08:00``, ``-05:30``), ``UTC`` or ``local`` (this machine's). JSON output is never
converted: it keeps the API's UTC ISO 8601 strings.

Tables name the zone in their headers (``start (Asia/Shanghai)``, ``started (UTC+08:00)``);
the API and specs take times with any offset (``2026-12-03T20:55+08:00``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from suanli.errors import InputError

TZ_ENV = "SUANLI_TZ"
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_SHOWN_IN: dict[str, tzinfo] = {}
"""The display zone, once chosen (key ``zone``)."""


def parse_zone(text: str) -> tzinfo:
    """The zone ``text`` names (see the module docstring); an InputError naming the forms."""
    name = text.strip()
    if name.upper() in ("UTC", "Z"):
        return UTC
    if name.lower() == "local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    match = _OFFSET.match(name)
    if match:
        sign, hh, mm = match.groups()
        delta = timedelta(hours=int(hh), minutes=int(mm))
        if delta > timedelta(hours=14):
            raise InputError(f"time zone {text!r}: offsets go from -14:00 to +14:00")
        return timezone(-delta if sign == "-" else delta)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"time zone {text!r} is unknown. To fix: give an IANA name (Asia/Shanghai), an offset (+08:00), "
            "UTC or local"
        ) from None


def use_zone(text: str | None) -> None:
    """Show times in ``text``'s zone from now on (None: ``$SUANLI_TZ``, else UTC)."""
    given = text or os.environ.get(TZ_ENV)
    _SHOWN_IN["zone"] = parse_zone(given) if given else UTC


def zone() -> tzinfo:
    if "zone" not in _SHOWN_IN:
        use_zone(None)
    return _SHOWN_IN["zone"]


TZ_HELP = "show times in ZONE: Asia/Shanghai, +08:00, UTC or local (default: $SUANLI_TZ, else UTC)"


def add_tz_option(parser: argparse._ActionsContainer) -> None:
    """``--tz ZONE`` on an argparse command (the registry applies it before the command runs)."""
    parser.add_argument("--tz", metavar="ZONE", help=TZ_HELP)


def typer_tz_option() -> Any:
    """``--tz ZONE`` for a typer command: ``Annotated[str | None, typer_tz_option()]``. The
    zone is chosen as the option is parsed (absent: ``$SUANLI_TZ``, else UTC), so the
    command body only calls :func:`show`; an unknown zone is one ``error: ...`` line and
    exit 2, as on the argparse commands. typer is imported here, not by this module (the
    fast commands import it)."""
    import typer

    def apply(value: str | None) -> str | None:
        try:
            use_zone(value)
        except InputError as exc:
            sys.stderr.write(f"error: {exc}\n")
            raise typer.Exit(exc.exit_code) from None
        return value

    return typer.Option("--tz", metavar="ZONE", help=TZ_HELP, callback=apply, show_default=False)


def instant(value: object) -> datetime | None:
    """``value`` (an ISO 8601 string as the API writes them, seconds since 1970, or a
    datetime) as an aware datetime (UTC when it names no zone); None for anything else."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, UTC)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def show(moment: datetime | float | str | None, seconds: bool = False) -> str:
    """``moment`` (an aware datetime, seconds since 1970, or an ISO 8601 string) as the CLI
    shows it (``seconds``: with them, as the audit log does); "" for None, and text that is
    not a time as it is."""
    if moment is None or moment == "":
        return ""
    when = instant(moment)
    if when is None:
        return str(moment)
    return when.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def zone_label() -> str:
    """The display zone as table headers name it: ``UTC``, ``Asia/Shanghai``, ``UTC+08:00``."""
    shown = zone()
    if shown is UTC:
        return "UTC"
    key = getattr(shown, "key", None)
    if isinstance(key, str):
        return key
    offset = datetime.now(shown).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"
