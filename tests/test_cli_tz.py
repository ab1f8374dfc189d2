"""Times as the CLI shows them (``suanli.cli.timeshow``): UTC unless ``--tz`` or
``$SUANLI_TZ`` names another zone, named in the tables' headers; JSON is never converted."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

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

    def rendered(width: int) -> str:
        out = Console(width=width, record=True, file=io.StringIO())
        out.print(render.plan_table(plan, 5, out.width))
        return out.export_text()

    narrow, wide = rendered(100), rendered(160)
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 100
    assert (
        "64 x h800 @ qingyang" in narrow and "12-03 12:00 - 19:56" in narrow and "12-03 12:00 - 12-04 03:26" in narrow
    )
    assert "yangtze-delta" in narrow, "a long site name is not cut"
    assert "accel-hours" in wide and "accel-hours" not in narrow, "the wide table has every column"
