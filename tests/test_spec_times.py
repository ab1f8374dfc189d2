"""Times in specs: absolute ISO 8601 or relative to now (``now``, ``+7d``), measured from the
planner's now; a deadline already past is its own reason, and a transfer is blamed only
when the move is what makes an option miss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.catalog import Catalog
from suanli.clock import iso, to_datetime
from suanli.errors import NoFeasiblePlacement, SpecError
from suanli.model import Code
from suanli.placement import plan, window_starts
from suanli.store import Store
from suanli.workload import JobSpec, RelativeTime, parse_spec, pin_times, validate_spec
from tests.conftest import T0_S, spec_dict, spec_yaml
from tests.strategies import CATALOG, job_specs

HOUR = 3600.0
DAY = 24 * HOUR
LABEL = "job.yaml"


def job(**constraints: Any) -> JobSpec:
    return validate_spec(spec_dict(constraints=constraints))


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "offset_s"),
    [
        pytest.param("now", 0.0, id="now is an offset of zero"),
        pytest.param("+90m", 90 * 60.0, id="+90m is ninety minutes"),
        pytest.param("+36h", 36 * HOUR, id="+36h is thirty-six hours"),
        pytest.param("+7d", 7 * DAY, id="+7d is a week"),
        pytest.param("+2w", 14 * DAY, id="+2w is two weeks"),
        pytest.param("+1.5d", 36 * HOUR, id="a decimal amount"),
        pytest.param("now+7d", 7 * DAY, id="Slurm's now+7d"),
        pytest.param(" +7D ", 7 * DAY, id="spaces and capitals"),
    ],
)
def test_a_relative_time_is_an_offset_from_now(written: str, offset_s: float) -> None:
    spec = job(deadline=written)
    assert isinstance(spec.constraints.deadline, RelativeTime)
    assert spec.constraints.deadline.offset_s == offset_s
    assert spec.constraints.deadline_s(T0_S) == T0_S + offset_s


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        pytest.param("2026-12-03T08:00:00+08:00", datetime(2026, 12, 3, tzinfo=UTC), id="an offset of +08:00"),
        pytest.param("2026-12-03T00:00:00Z", datetime(2026, 12, 3, tzinfo=UTC), id="Z"),
        pytest.param("2026-12-03T00:00:00", datetime(2026, 12, 3, tzinfo=UTC), id="no zone is UTC"),
        pytest.param("2026-12-03", datetime(2026, 12, 3, tzinfo=UTC), id="a date is its midnight UTC"),
    ],
)
def test_an_absolute_time_keeps_working(written: str, expected: datetime) -> None:
    spec = job(deadline=written)
    assert spec.constraints.deadline == expected
    assert spec.constraints.deadline_s(T0_S) == expected.timestamp()


def test_yaml_timestamps_with_an_offset_are_aware_and_exact() -> None:
    text = spec_yaml(constraints={"earliest_start": "EARLY", "deadline": "LATE"})
    text = text.replace("EARLY", "2026-12-03T08:00:00+08:00").replace("LATE", "2026-12-10")
    spec = parse_spec(text, LABEL)
    assert spec.constraints.earliest_start == datetime(2026, 12, 3, 8, tzinfo=timezone(timedelta(hours=8)))
    assert spec.constraints.earliest_start_s(T0_S) == datetime(2026, 12, 3, tzinfo=UTC).timestamp()
    assert spec.constraints.deadline_s(T0_S) == datetime(2026, 12, 10, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("field", "written"),
    [
        pytest.param("deadline", "+7x", id="an unknown unit"),
        pytest.param("deadline", "7d", id="an offset without its plus"),
        pytest.param("deadline", "-1d", id="a negative offset"),
        pytest.param("deadline", "next tuesday", id="words"),
        pytest.param("deadline", "+d", id="a unit without an amount"),
        pytest.param("earliest_start", "tomorrow", id="tomorrow as earliest_start"),
        pytest.param("earliest_start", "now-1h", id="now minus an hour"),
    ],
)
def test_a_bad_time_is_one_line_naming_file_line_field_and_the_forms(field: str, written: str) -> None:
    text = spec_yaml(constraints={"max_cost_usd": 100, field: written})
    with pytest.raises(SpecError) as caught:
        parse_spec(text, LABEL)
    error = caught.value
    line = line_of(text, f"{field}:")
    assert (error.path, error.line, error.field) == (LABEL, line, f"constraints.{field}")
    message = str(error)
    assert message.startswith(f"{LABEL}:{line}: field 'constraints.{field}': {field} '{written}': ")
    assert "ISO 8601" in message and "+7d" in message and "+36h" in message
    assert "\n" not in message


def test_an_offset_past_a_century_is_refused_as_a_typo() -> None:
    with pytest.raises(SpecError, match="more than a century"):
        parse_spec(spec_yaml(constraints={"deadline": "+100000w"}), LABEL)


@pytest.mark.parametrize(
    ("earliest", "deadline"),
    [
        pytest.param("+7d", "+7d", id="equal offsets"),
        pytest.param("+7d", "+1d", id="a smaller offset"),
        pytest.param("+1h", "now", id="now before an hour from now"),
    ],
)
def test_a_relative_deadline_not_after_a_relative_earliest_start_is_refused(earliest: str, deadline: str) -> None:
    text = spec_yaml(constraints={"earliest_start": earliest, "deadline": deadline})
    with pytest.raises(SpecError) as caught:
        parse_spec(text, LABEL)
    assert caught.value.field in {"constraints", "constraints.deadline"}
    assert "after earliest_start" in str(caught.value)


def test_a_relative_time_is_written_back_as_given() -> None:
    spec = job(earliest_start="now", deadline="+7d")
    data = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert data["constraints"] == {"earliest_start": "now", "deadline": "+7d"}
    assert validate_spec(data) == spec


def test_an_absolute_time_is_written_back_as_iso_8601() -> None:
    spec = job(deadline="2026-12-03T08:00:00+08:00")
    data = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert data["constraints"] == {"deadline": "2026-12-03T08:00:00+08:00"}
    assert validate_spec(data) == spec


# -- pinning (the control plane's submission) --------------------------------------------------


def test_pinning_replaces_relative_times_by_the_absolute_ones_they_mean_then() -> None:
    data = spec_dict(constraints={"earliest_start": "now", "deadline": "+7d", "max_cost_usd": 5})
    pinned = pin_times(data, T0_S)
    assert pinned["constraints"] == {
        "earliest_start": "2025-01-01T00:00:00+00:00",
        "deadline": "2025-01-08T00:00:00+00:00",
        "max_cost_usd": 5,
    }
    assert data["constraints"]["deadline"] == "+7d", "the caller's document is not changed"
    assert plan(validate_spec(pinned), CATALOG, T0_S) == plan(validate_spec(data), CATALOG, T0_S)
    assert validate_spec(pinned).constraints.deadline_s(T0_S + DAY) == T0_S + 7 * DAY, "a pinned window stays"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(spec_dict(constraints={"deadline": "+7x"}), id="a malformed time"),
        pytest.param(spec_dict(constraints={"deadline": "2026-12-03T08:00:00+08:00"}), id="an absolute time"),
        pytest.param(spec_dict(), id="no constraints"),
        pytest.param(["not", "a", "spec"], id="not a mapping"),
    ],
)
def test_pinning_leaves_everything_else_for_validation(data: Any) -> None:
    assert pin_times(data, T0_S) == data


def test_a_job_submitted_with_relative_times_is_stored_with_the_times_of_its_submission(store: Store) -> None:
    from tests.api_builders import AGENT_SITE, Network, job_spec

    net = Network.build(store)
    net.register(AGENT_SITE)
    net.advance(HOUR)
    submitted = net.submit(spec=job_spec(constraints={"earliest_start": "now", "deadline": "+7d"}))
    stored = net.job(submitted.id)["spec"]["constraints"]
    assert stored == {
        "earliest_start": to_datetime(T0_S + HOUR).isoformat(),
        "deadline": to_datetime(T0_S + HOUR + 7 * DAY).isoformat(),
    }


# -- planning with relative times ----------------------------------------------------------------


@pytest.mark.parametrize("now_s", [T0_S, T0_S + 123 * DAY + 0.5 * HOUR], ids=["on 2025-01-01", "in May, mid-hour"])
def test_a_relative_window_plans_like_the_absolute_one_it_means(catalog: Catalog, now_s: float) -> None:
    relative = job(earliest_start="+2h", deadline="+3d", max_cost_usd=50_000)
    absolute = job(earliest_start=iso(now_s + 2 * HOUR), deadline=iso(now_s + 3 * DAY), max_cost_usd=50_000)
    assert plan(relative, catalog, now_s) == plan(absolute, catalog, now_s)
    assert window_starts(relative, now_s)[0] >= now_s + 2 * HOUR


def test_earliest_start_now_opens_the_window_at_the_next_whole_hour(catalog: Catalog) -> None:
    starts = window_starts(job(earliest_start="now", deadline="+5h"), T0_S + 10)
    assert list(starts) == [T0_S + k * HOUR for k in range(1, 6)], "the deadline is 5 h after now, not the hour"


# -- a deadline already past ---------------------------------------------------------------------


def test_a_past_deadline_is_one_deadline_passed_rejection_not_a_transfer(catalog: Catalog) -> None:
    spec = job(deadline="2025-01-08T00:00:00Z", data={"site": "zhangjiakou", "size_gb": 2000})
    result = plan(spec, catalog, T0_S + 30 * DAY)
    assert result.options == ()
    [rejection] = result.rejected
    assert rejection.code == Code.DEADLINE_PASSED
    assert (rejection.site, rejection.accelerator, rejection.count) == (None, None, None)
    assert "2025-01-08T00:00:00Z" in rejection.message
    assert iso(T0_S + 30 * DAY) in rejection.message and "(now)" in rejection.message


def test_a_relative_earliest_start_past_an_absolute_deadline_is_deadline_passed(catalog: Catalog) -> None:
    result = plan(job(earliest_start="+2d", deadline=iso(T0_S + DAY)), catalog, T0_S)
    assert [r.code for r in result.rejected] == [Code.DEADLINE_PASSED]
    assert "earliest_start" in result.rejected[0].message


def test_a_past_deadline_raises_with_its_reason_when_asked(catalog: Catalog) -> None:
    with pytest.raises(NoFeasiblePlacement) as caught:
        plan(job(deadline=iso(T0_S - HOUR)), catalog, T0_S, raise_if_empty=True)
    assert [r.code for r in caught.value.rejected] == [Code.DEADLINE_PASSED]


def test_a_deadline_inside_the_first_hour_is_missed_not_passed(catalog: Catalog) -> None:
    """Starts are on the hour: a deadline 30 minutes from now has not passed, but nothing meets it."""
    result = plan(job(deadline=iso(T0_S + 1800)), catalog, T0_S + 60)
    codes = {r.code for r in result.rejected}
    assert Code.DEADLINE_PASSED not in codes
    assert Code.DEADLINE_MISSED in codes


# -- the transfer is blamed only when it is what misses ----------------------------------------


def test_data_already_at_the_site_is_never_blamed_for_a_missed_deadline(catalog: Catalog) -> None:
    spec = job(deadline=iso(T0_S + HOUR), data={"site": "zhangjiakou", "size_gb": 2000})
    rejected = plan(spec, catalog, T0_S).rejected
    at_the_data = [r for r in rejected if r.site == "zhangjiakou"]
    assert at_the_data and all(r.code != Code.DATA_TRANSFER_TOO_SLOW for r in at_the_data)
    assert any(r.code == Code.DEADLINE_MISSED for r in at_the_data)


def test_a_transfer_that_alone_makes_an_option_miss_is_blamed(catalog: Catalog) -> None:
    # qwen2.5-7b on 10B tokens takes hours on 64 accelerators; 200 TB takes days to move
    spec = job(deadline=iso(T0_S + 2 * DAY), data={"site": "zhangjiakou", "size_gb": 200_000})
    result = plan(spec, catalog, T0_S)
    blamed = [r for r in result.rejected if r.code == Code.DATA_TRANSFER_TOO_SLOW]
    assert blamed and all(r.site != "zhangjiakou" for r in blamed)
    assert "in time with the data already there" in blamed[0].message
    assert all(o.site == "zhangjiakou" for o in result.options)


def test_a_job_too_slow_even_without_the_move_misses_its_deadline(catalog: Catalog) -> None:
    spec = job(deadline=iso(T0_S + 2 * HOUR), data={"site": "zhangjiakou", "size_gb": 200_000})
    rejected = plan(spec, catalog, T0_S).rejected
    assert not any(r.code == Code.DATA_TRANSFER_TOO_SLOW for r in rejected)
    elsewhere = [r for r in rejected if r.code == Code.DEADLINE_MISSED and r.site != "zhangjiakou"]
    assert elsewhere and "moving the data" in elsewhere[0].message


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=job_specs(), later_h=st.floats(0, 24 * 120))
def test_the_reasons_about_time_are_true_whenever_the_plan_is_made(spec: JobSpec, later_h: float) -> None:
    """A property over any spec and any now: DEADLINE_PASSED exactly when the deadline is at
    or before max(now, earliest_start), alone; DATA_TRANSFER_TOO_SLOW never where the data is."""
    now_s = T0_S + later_h * HOUR
    result = plan(spec, CATALOG, now_s)
    c = spec.constraints
    deadline, earliest = c.deadline_s(now_s), c.earliest_start_s(now_s)
    passed = deadline is not None and deadline <= max(now_s, earliest if earliest is not None else now_s)
    assert (Code.DEADLINE_PASSED in {r.code for r in result.rejected}) == passed
    if passed:
        assert result.options == () and len(result.rejected) == 1
    data_site = c.data.site if c.data is not None else None
    for rejection in result.rejected:
        if rejection.code == Code.DATA_TRANSFER_TOO_SLOW:
            assert rejection.site != data_site and c.data is not None and c.data.size_gb > 0


@pytest.mark.parametrize("t_s", [0.0, 1735689600.0, 1764800000.75, 4102444799.0])
def test_from_iso_reads_back_what_iso_wrote_to_the_second(t_s: float) -> None:
    from suanli.clock import from_iso

    assert from_iso(iso(t_s)) == float(int(t_s))
    assert from_iso("2025-01-01T08:00:00+08:00") == 1735689600.0
    with pytest.raises(ValueError):
        from_iso("yesterday")
