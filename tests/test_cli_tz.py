"""Times as the CLI shows them (``suanli.cli.timeshow``): UTC unless ``--tz`` or
``$SUANLI_TZ`` names another zone, named in the tables' headers; JSON is never converted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from suanli.cli.timeshow import parse_zone, show, use_zone, zone_label
from suanli.errors import InputError
from tests.conftest import EXAMPLES
from tests.test_cli_control import fake, invoke, isolated  # noqa: F401 (fixtures)
from tests.test_client import FakeServer, job_json


def _has_zone(name: str) -> bool:
    try:
        parse_zone(name)
    except InputError:
        return False
    return True


needs_tzdata = pytest.mark.skipif(not _has_zone("Asia/Shanghai"), reason="no IANA time zone data here (tzdata)")
NOON_UTC = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc_again(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SUANLI_TZ", raising=False)
    yield
    use_zone("UTC")


def test_offsets_utc_and_bad_names() -> None:
    assert parse_zone("+08:00") == timezone(timedelta(hours=8))
    assert parse_zone("-0530") == timezone(-timedelta(hours=5, minutes=30))
    assert parse_zone("utc") is UTC
    for bad in ("Mars/Base", "+15:00", ""):
        with pytest.raises(InputError, match="time zone"):
            parse_zone(bad)


@needs_tzdata
def test_a_moment_in_any_form_is_shown_in_the_display_zone() -> None:
    use_zone("Asia/Shanghai")
    for moment in (NOON_UTC, NOON_UTC.timestamp(), "2026-12-03T12:00:00Z", "2026-12-03T20:00+08:00"):
        assert show(moment) == "2026-12-03 20:00"
    assert zone_label() == "Asia/Shanghai"
    use_zone("+08:00")
    assert zone_label() == "UTC+08:00"
    use_zone(None)
    assert (show(NOON_UTC), zone_label()) == ("2026-12-03 12:00", "UTC")
    assert show(None) == "" and show("not a time") == "not a time"


@needs_tzdata
def test_jobs_and_status_show_times_in_the_zone_asked_for(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeServer,  # noqa: F811 (the fixture of test_cli_control)
) -> None:
    job = job_json(state="RUNNING", started_at="2026-12-03T12:00:00Z", created_at="2026-12-03T11:30:00Z")
    fake.on("GET", "/v1/jobs", (200, {"jobs": [job]}))
    fake.on("GET", "/v1/jobs/j-1", (200, job))
    listed = invoke("jobs", "--tz", "Asia/Shanghai")
    assert listed.code == 0, listed.stderr
    assert "STARTED (ASIA/SHANGHAI)" in listed.stdout.upper() and "2026-12-03 20:00" in listed.stdout
    monkeypatch.setenv("SUANLI_TZ", "+08:00")
    shown = invoke("status", "j-1")
    assert "STARTED (UTC+08:00)" in shown.stdout.upper() and "2026-12-03 20:00" in shown.stdout
    raw = invoke("jobs", "--json")
    assert json.loads(raw.stdout)["jobs"][0]["started_at"] == "2026-12-03T12:00:00Z", "JSON stays UTC"
    refused = invoke("jobs", "--tz", "Mars/Base")
    assert refused.code == 2 and "time zone 'Mars/Base' is unknown" in refused.stderr


def test_plan_names_its_zone_in_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUANLI_SERVER", raising=False)
    spec = EXAMPLES / "qwen2.5-7b-finetune.yaml"
    utc = invoke("plan", spec, "--limit", "1", "--now", "2026-12-03T12:00Z")
    east = invoke("plan", spec, "--limit", "1", "--now", "2026-12-03T12:00Z", "--tz", "+08:00")
    assert utc.code == east.code == 0, utc.stderr + east.stderr
    assert "start (UTC)" in utc.stdout and "start (UTC+08:00)" in east.stdout
    assert "2026-12-03 12:00" in utc.stdout and "2026-12-03 20:00" in east.stdout


def test_the_plan_table_fits_100_columns_with_whole_sites_and_times() -> None:
    from rich.console import Console

    from suanli.catalog import load_catalog
    from suanli.cli import render
    from suanli.placement.planner import plan as plan_of
    from suanli.workload import parse_spec

    spec_path = EXAMPLES / "qwen2.5-7b-finetune.yaml"
    catalog = load_catalog()
    plan = plan_of(parse_spec(spec_path.read_text(), str(spec_path), catalog), catalog, NOON_UTC.timestamp())

    def rendered(width: int, limit: int = 5) -> str:
        out = Console(width=width, record=True, file=io.StringIO())
        out.print(render.plan_table(plan, limit, out.width))
        return out.export_text()

    narrow, wide = rendered(100), rendered(160)
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 100
    assert "…" not in narrow, f"a cell was cut:\n{narrow}"
    pick = plan.options[0]
    assert f"{pick.count} x {pick.accelerator} @ {pick.site}" in narrow
    ends = []
    for option in render._distinct(plan, 5):
        start, finish = show(option.start_s), show(option.finish_s)
        end = finish[11:] if finish[:10] == start[:10] else finish[5:]  # the day only when it is another
        ends.append(len(end))
        assert f"{start[5:]} - {end}" in narrow
    assert set(ends) == {5, 11}, "the example's first options finish on the day they start and on another"
    longer = rendered(100, 30)
    assert "yangtze-delta" in longer and "…" not in longer, "a long site name is not cut"
    assert "accel-hours" in wide and "accel-hours" not in narrow, "the wide table has every column"


def test_a_piped_plan_takes_the_width_columns_names() -> None:
    """``COLUMNS=100 suanli plan ... | less`` gets the compact table, as a 100-column
    terminal does; a pipe without ``$COLUMNS`` keeps the wide one."""
    spec = str(EXAMPLES / "qwen2.5-7b-finetune.yaml")
    narrow = console("plan", spec, "--offline", "--limit", "3", env={"COLUMNS": "100"})
    wide = console("plan", spec, "--offline", "--limit", "3", env={"COLUMNS": ""})
    assert narrow.returncode == 0 and wide.returncode == 0, narrow.stderr + wide.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 100, narrow.stdout
    assert "accel-hours" in wide.stdout and "accel-hours" not in narrow.stdout


# -- the typer commands (suanli admin tokens, tenants, audit): the same --tz, one helper -----------------


def console(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``suanli ARGS`` through the console script's entry (suanli.cli.entry:run), in a fresh
    interpreter, with ``$SUANLI_TZ`` only where ``env`` sets it."""
    base = {k: v for k, v in os.environ.items() if k != "SUANLI_TZ"}
    return subprocess.run(
        [sys.executable, "-c", "from suanli.cli.entry import run; run()", *args],
        check=False,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_tzdata
def test_admin_listings_show_times_in_the_zone_asked_for(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    store = ("--data-dir", str(tmp_path / "data"))
    made = console("admin", "create-tenant", "acme", *store)
    assert made.returncode == 0, made.stderr
    (tenant,) = json.loads(console("admin", "tenants", *store, "--json").stdout)
    created = datetime.fromisoformat(tenant["created_at"].replace("Z", "+00:00"))
    assert tenant["created_at"].endswith("Z"), "JSON stays UTC"

    def shown(offset_h: int, seconds: bool = False) -> str:
        return (created + timedelta(hours=offset_h)).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))

    listed = console("admin", "tenants", *store, "--tz", "+08:00")
    assert listed.returncode == 0, listed.stderr
    assert f"acme                     weight 1      since {shown(8)} UTC+08:00" in listed.stdout
    audit = console("admin", "audit", *store, env={"SUANLI_TZ": "Asia/Shanghai"})
    assert audit.stdout.startswith(f"{shown(8, seconds=True)} Asia/Shanghai  local-cli"), audit.stdout
    tokens = console("admin", "tokens", *store, "--tz", "-05:30").stdout.splitlines()
    assert "created (UTC-05:30)" in tokens[0]
    west = (created - timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M")
    assert west in tokens[1]
    plain = console("admin", "tenants", *store)
    assert f"since {shown(0)} UTC" in plain.stdout, "no --tz and no $SUANLI_TZ: UTC"

    refused = console("admin", "tokens", *store, "--tz", "Mars/Base")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: time zone 'Mars/Base' is unknown. To fix:")
    assert refused.stderr.count("\n") == 1 and refused.stdout == ""
    bad_env = console("admin", "tenants", *store, env={"SUANLI_TZ": "+15:00"})
    assert bad_env.returncode == 2 and "offsets go from -14:00 to +14:00" in bad_env.stderr
