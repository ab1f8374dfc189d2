"""The planner never offers what its own rules refuse, ranks what it offers, and is deterministic."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings

from suanli.catalog import Catalog
from suanli.errors import NoFeasiblePlacement
from suanli.model import Code, Rejection, estimate
from suanli.placement import Option, Plan, plan, window_starts
from suanli.workload import JobSpec
from tests.conftest import T0_S, spec_dict
from tests.strategies import CATALOG, job_specs

HOUR = 3600.0
PLAN_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def job(**overrides: object) -> JobSpec:
    return JobSpec.model_validate(spec_dict(**overrides))


def region_ok(catalog: Catalog, spec: JobSpec, site_id: str) -> bool:
    site = catalog.site(site_id)
    regions = spec.constraints.regions
    if not regions:
        return True
    names = {
        site.id,
        *(x.strip().lower().replace("_", "-").replace(" ", "-") for x in (site.hub, site.province, site.zone)),
    }
    return any(r.strip().lower().replace("_", "-").replace(" ", "-") in names for r in regions)


def covers(rejection: Rejection, option: Option) -> bool:
    """A rejection located at (site?, accelerator?, count?) refuses this option."""
    return (
        (rejection.site is None or rejection.site == option.site)
        and (rejection.accelerator is None or rejection.accelerator == option.accelerator)
        and (rejection.count is None or rejection.count == option.count)
    )


def brute_dominates(a: Option, b: Option) -> bool:
    pa, pb = (a.finish_s, a.cost_usd, a.carbon_kg), (b.finish_s, b.cost_usd, b.carbon_kg)
    return all(x <= y for x, y in zip(pa, pb, strict=True)) and pa != pb


def objective_sort_key(objective: str, options: tuple[Option, ...], window_s: float) -> Callable[[Option], tuple]:
    """The ordering documented in ``rank``, written out independently."""
    if objective == "time":
        return lambda o: (o.finish_s, o.cost_usd, o.carbon_kg)
    if objective == "cost":
        return lambda o: (o.cost_usd, o.finish_s, o.carbon_kg)
    if objective == "carbon":
        return lambda o: (o.carbon_kg, o.finish_s, o.cost_usd)
    best_h = max(1e-9, min((o.finish_s - window_s) / HOUR for o in options))
    best_cost = max(1e-9, min(o.cost_usd for o in options))
    best_carbon = max(1e-9, min(o.carbon_kg for o in options))
    return lambda o: (
        ((o.finish_s - window_s) / HOUR / best_h + o.cost_usd / best_cost + o.carbon_kg / best_carbon) / 3,
        o.finish_s,
    )


# -- the big property ------------------------------------------------------------------


@PLAN_SETTINGS
@given(spec=job_specs())
def test_every_option_satisfies_the_rules_that_the_planner_would_reject_on(spec: JobSpec) -> None:
    catalog = CATALOG
    result = plan(spec, catalog, T0_S)
    c = spec.constraints
    named = [a for a in spec.resources.accelerators if a != "any"]
    low, high = spec.resources.count_range
    earliest = max(T0_S, c.earliest_start_s(T0_S) or T0_S)
    for option in result.options:
        site = catalog.site(option.site)
        accel = catalog.accelerator(option.accelerator)
        assert region_ok(catalog, spec, option.site)
        assert c.residency is None or site.zone == c.residency
        assert 1 <= option.count <= site.inventory.get(option.accelerator, 0)
        assert low <= option.count <= high
        assert "any" in spec.resources.accelerators or option.accelerator in named
        assert c.tenant_zone is None or c.tenant_zone not in accel.restricted_zones
        assert option.start_s >= earliest
        assert option.start_s % HOUR == 0
        deadline = c.deadline_s(T0_S)
        if deadline is not None:
            assert option.finish_s <= deadline
        if c.max_cost_usd is not None:
            assert option.cost_usd <= c.max_cost_usd
        if c.max_carbon_kg is not None:
            assert option.carbon_kg <= c.max_carbon_kg
        for figure in (option.duration_h, option.energy_kwh, option.carbon_kg, option.cost_usd, option.transfer_h):
            assert figure >= 0
        assert option.accelerator_hours == pytest.approx(option.duration_h * option.count, rel=1e-12)


@PLAN_SETTINGS
@given(spec=job_specs())
def test_no_option_is_also_rejected(spec: JobSpec) -> None:
    catalog = CATALOG
    result = plan(spec, catalog, T0_S)
    for rejection in result.rejected:
        clash = [o for o in result.options if covers(rejection, o)]
        assert not clash, f"{rejection.code} at {rejection.site}/{rejection.accelerator}/{rejection.count}"


@PLAN_SETTINGS
@given(spec=job_specs())
def test_options_are_sorted_by_the_objective(spec: JobSpec) -> None:
    catalog = CATALOG
    result = plan(spec, catalog, T0_S)
    if not result.options:
        assert result.pick is None
        return
    key = objective_sort_key(spec.objective, result.options, result.window_start_s)
    keys = [key(o) for o in result.options]
    for earlier, later in itertools.pairwise(keys):
        if spec.objective == "balanced":
            if not math.isclose(earlier[0], later[0], rel_tol=1e-9):
                assert earlier[0] < later[0]
            else:
                assert earlier[1] <= later[1] or earlier[0] < later[0]
        else:
            assert earlier <= later
    assert result.pick == (result.options[0] if result.options else None)


@PLAN_SETTINGS
@given(spec=job_specs())
def test_pareto_flags_match_a_brute_force_dominance_check(spec: JobSpec) -> None:
    catalog = CATALOG
    options = plan(spec, catalog, T0_S).options
    for option in options:
        dominated = any(brute_dominates(other, option) for other in options)
        if option.pareto:
            assert not dominated
            twins = [
                o
                for o in options
                if o is not option
                and o.pareto
                and (o.finish_s, o.cost_usd, o.carbon_kg) == (option.finish_s, option.cost_usd, option.carbon_kg)
            ]
            assert not twins, "two identical points both on the front"
        else:
            assert any(
                o.pareto
                and (
                    brute_dominates(o, option)
                    or (o.finish_s, o.cost_usd, o.carbon_kg) == (option.finish_s, option.cost_usd, option.carbon_kg)
                )
                for o in options
            )


@PLAN_SETTINGS
@given(spec=job_specs())
def test_the_plan_is_deterministic_and_offers_each_placement_once(spec: JobSpec) -> None:
    catalog = CATALOG
    first, second = plan(spec, catalog, T0_S), plan(spec, catalog, T0_S)
    assert first == second
    assert first.as_dict() == second.as_dict()
    keys = [(o.site, o.accelerator, o.count, o.start_s) for o in first.options]
    assert len(keys) == len(set(keys))


@settings(max_examples=40, deadline=None)
@given(spec=job_specs(large_models=False))
def test_the_pick_agrees_with_the_estimator_at_its_compute_start(spec: JobSpec) -> None:
    catalog = CATALOG
    pick = plan(spec, catalog, T0_S).pick
    if pick is None:
        return
    est = estimate(spec, catalog, pick.accelerator, pick.count, pick.site, pick.compute_start_s)
    assert est.duration_h == pytest.approx(pick.duration_h, rel=1e-9)
    assert est.accelerator_hours == pytest.approx(pick.accelerator_hours, rel=1e-9)
    assert est.energy_kwh == pytest.approx(pick.energy_kwh, rel=1e-9)
    assert est.cost_usd == pytest.approx(pick.cost_usd, rel=1e-9)
    assert est.carbon_kg == pytest.approx(pick.carbon_kg, rel=1e-9, abs=1e-9)


# -- examples --------------------------------------------------------------------------


def test_a_plain_training_job_has_options_and_a_front(catalog: Catalog) -> None:
    result = plan(job(), catalog, T0_S)
    assert isinstance(result, Plan)
    assert result.options
    assert result.front
    assert all(o.pareto for o in result.front)
    assert result.window_start_s == T0_S


def test_the_window_starts_on_the_next_whole_hour_and_stops_before_the_deadline() -> None:
    spec = job(constraints={"deadline": "2025-01-01T05:00:00Z"})
    starts = window_starts(spec, T0_S + 10)
    assert starts[0] == T0_S + HOUR
    assert list(starts) == [T0_S + k * HOUR for k in range(1, 5)]


def test_the_window_has_at_most_twenty_four_starts_without_a_deadline() -> None:
    starts = window_starts(job(), T0_S)
    assert len(starts) == 24
    assert starts[0] == T0_S


def test_earliest_start_delays_the_window(catalog: Catalog) -> None:
    spec = job(constraints={"earliest_start": "2025-01-03T06:30:00Z"})
    result = plan(spec, catalog, T0_S)
    assert result.window_start_s == T0_S + (2 * 24 + 7) * HOUR
    assert all(o.start_s >= result.window_start_s for o in result.options)


@pytest.mark.parametrize(
    ("constraints", "code"),
    [
        pytest.param({"regions": ["qingyang"]}, Code.REGION_NOT_ALLOWED, id="a region excludes the other sites"),
        pytest.param({"residency": "intl"}, Code.RESIDENCY_VIOLATION, id="a residency zone no site is in"),
        pytest.param({"max_cost_usd": 0.01}, Code.OVER_BUDGET, id="a one-cent budget"),
        pytest.param({"max_carbon_kg": 0.001}, Code.OVER_CARBON_CAP, id="a one-gram carbon cap"),
        pytest.param({"deadline": "2025-01-01T01:00:00Z"}, Code.DEADLINE_MISSED, id="a one-hour deadline"),
        pytest.param(
            {"deadline": "2025-01-02T00:00:00Z", "data": {"site": "zhangjiakou", "size_gb": 1e8}},
            Code.DATA_TRANSFER_TOO_SLOW,
            id="a hundred petabytes to move before a one-day deadline",
        ),
    ],
)
def test_each_constraint_rejects_with_its_code(catalog: Catalog, constraints: dict, code: Code) -> None:
    result = plan(job(constraints=constraints), catalog, T0_S)
    assert code in {r.code for r in result.rejected}


def test_a_deadline_that_nothing_meets_raises_with_the_rejections(catalog: Catalog) -> None:
    spec = job(tokens_b=100_000, constraints={"deadline": "2025-01-01T02:00:00Z"})
    with pytest.raises(NoFeasiblePlacement) as caught:
        plan(spec, catalog, T0_S, raise_if_empty=True)
    assert caught.value.rejected
    assert all(r.code in (Code.DEADLINE_MISSED, Code.INSUFFICIENT_ACCELERATORS) for r in caught.value.rejected)


def test_an_international_tenant_is_never_offered_ascend_and_hears_why(catalog: Catalog) -> None:
    spec = job(resources={"accelerators": ["ascend-910b", "h800"], "count": 8}, constraints={"tenant_zone": "intl"})
    result = plan(spec, catalog, T0_S)
    assert result.options
    assert {o.accelerator for o in result.options} == {"h800"}
    assert any(r.code == Code.EXPORT_RESTRICTED and r.accelerator == "ascend-910b" for r in result.rejected)


def test_a_named_accelerator_missing_from_a_site_is_reported_absent(catalog: Catalog) -> None:
    spec = job(resources={"accelerators": ["a100-40g"], "count": 8})
    result = plan(spec, catalog, T0_S)
    have = {s.id for s in catalog.sites.values() if s.inventory.get("a100-40g", 0) >= 8}
    assert {o.site for o in result.options} == have
    absent = {r.site for r in result.rejected if r.code == Code.ACCELERATOR_ABSENT}
    assert absent == {s.id for s in catalog.sites.values() if "a100-40g" not in s.inventory}


def test_a_count_above_every_inventory_is_insufficient_everywhere(catalog: Catalog) -> None:
    spec = job(resources={"accelerators": ["h800"], "count": 100_000})
    result = plan(spec, catalog, T0_S)
    assert not result.options
    assert {r.site for r in result.rejected if r.code == Code.INSUFFICIENT_ACCELERATORS} == {
        s.id for s in catalog.sites.values() if "h800" in s.inventory
    }


def test_a_job_with_data_elsewhere_starts_computing_after_the_transfer(catalog: Catalog) -> None:
    spec = job(
        resources={"accelerators": ["h800"], "count": 8},
        constraints={"data": {"site": "zhangjiakou", "size_gb": 10_000}},
    )
    result = plan(spec, catalog, T0_S)
    by_site = {o.site: o for o in result.options}
    assert by_site["zhangjiakou"].transfer_h == 0
    remote = by_site["qingyang"]
    bandwidth = catalog.path("zhangjiakou", "qingyang").bandwidth_gbps
    assert remote.transfer_h == pytest.approx(10_000 * 8 / bandwidth / 3600)
    assert remote.compute_start_s == pytest.approx(remote.start_s + remote.transfer_h * HOUR)


def test_a_carbon_objective_picks_the_lowest_carbon_option(catalog: Catalog) -> None:
    result = plan(job(objective="carbon"), catalog, T0_S)
    assert result.pick is not None
    assert result.pick.carbon_kg == min(o.carbon_kg for o in result.options)


def test_a_cost_objective_picks_the_cheapest_option(catalog: Catalog) -> None:
    result = plan(job(objective="cost"), catalog, T0_S)
    assert result.pick is not None
    assert result.pick.cost_usd == min(o.cost_usd for o in result.options)


def test_a_time_objective_picks_the_earliest_finish(catalog: Catalog) -> None:
    result = plan(job(objective="time"), catalog, T0_S)
    assert result.pick is not None
    assert result.pick.finish_s == min(o.finish_s for o in result.options)
