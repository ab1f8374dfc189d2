"""``GET /v1/history``: the network over time, derived from the store.

The sweep that integrates runs over points (one table of cases and one invariant), the
points' edges, a story on a SimClock whose every figure is known (two jobs, one H800: one
runs, then the other), what each token sees (a tenant's cost and carbon series are its own
and add up to its jobs' cost so far), the sites' inventories over time from their
registrations and outages (a table of cases, and a site that grows, goes down and comes
back), the parameters' refusals (422 naming the parameter, never a 500), and each site's
grid intensity on ``/ui/geo`` as the live planner reads it. SQLite and PostgreSQL.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.service.control.history import MAX_POINTS, integrate, inventory_spans, point_count, point_edges
from suanli.sim.network import pool_table
from suanli.store import Store
from suanli.store import jobs as job_rows
from tests.api_builders import AGENT_SITE, Network, job_spec
from tests.conftest import T0_S

RUN_S = 600.0


@pytest.mark.parametrize(
    ("intervals", "edges", "expected"),
    [
        pytest.param([(10, 20, 1)], [0, 60], [10], id="an interval inside one point counts its length"),
        pytest.param([(50, 70, 2)], [0, 60, 120], [20, 20], id="one across an edge is split at it"),
        pytest.param([(-30, 30, 1), (100, 200, 1)], [0, 60, 120], [30, 20], id="the window's ends clip"),
        pytest.param([(0, 120, 1), (30, 90, -1)], [0, 60, 120], [30, 30], id="a negative weight takes away"),
        pytest.param([(0, 60, 1), (60, 120, 1)], [0, 60, 120], [60, 60], id="back to back runs fill their points"),
        pytest.param([(5, 5, 1), (200, 300, 1)], [0, 60], [0], id="an empty or outside interval adds nothing"),
        pytest.param([(0, 100, 1)], [0, 60, 100], [60, 40], id="a short last point counts what it covers"),
    ],
)
def test_integrate(intervals: list[tuple[float, float, float]], edges: list[float], expected: list[float]) -> None:
    assert integrate(intervals, edges) == pytest.approx(expected)


@given(
    st.lists(
        st.tuples(st.floats(-100, 1100), st.floats(0, 500), st.floats(0.1, 8)).map(lambda t: (t[0], t[0] + t[1], t[2])),
        max_size=40,
    ),
    st.integers(1, 50),
)
def test_the_points_add_up_to_each_intervals_overlap_with_the_window(
    intervals: list[tuple[float, float, float]], points: int
) -> None:
    edges = [1000.0 * k / points for k in range(points + 1)]
    whole = sum(w * max(0.0, min(b, 1000.0) - max(a, 0.0)) for a, b, w in intervals)
    sums = integrate(intervals, edges)
    assert sum(sums) == pytest.approx(whole, rel=1e-9, abs=1e-6)
    assert all(s >= -1e-6 for s in sums)


def test_points_are_aligned_to_the_step_and_the_last_runs_to_now() -> None:
    assert point_edges(T0_S + 90, 60, 3) == [T0_S - 60, T0_S, T0_S + 60, T0_S + 90]
    assert point_edges(T0_S, 60, 2) == [T0_S - 120, T0_S - 60, T0_S]  # now on an edge closes that point
    assert point_count(3600, 60) == 60
    assert point_count(3600, 7) == math.ceil(3600 / 7)
    assert point_count(MAX_POINTS * 60.0, 60) == MAX_POINTS


@pytest.fixture
def story(store: Store) -> tuple[Network, str, str]:
    """One H800 at qingyang; acme's job runs first (RUN_S), then globex's (still running)."""
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 1})
    first = net.submit("tenant_a", job_spec("first"))
    second = net.submit("tenant_b", job_spec("second"))
    assert [p[0] for p in net.cycle().placed] == [first.id]
    net.report(AGENT_SITE, first.id, 1, state="RUNNING")
    net.advance(RUN_S)
    net.heartbeat(AGENT_SITE, (first.id, 1))
    net.report(AGENT_SITE, first.id, 1, state="SUCCEEDED", exit_code=0)
    assert [p[0] for p in net.cycle().placed] == [second.id]
    net.report(AGENT_SITE, second.id, 1, state="RUNNING")
    net.advance(RUN_S)
    net.heartbeat(AGENT_SITE, (second.id, 1))
    return net, first.id, second.id


def get(net: Network, who: str, **params: object) -> dict[str, object]:
    answer = net.api.get("/v1/history", params=params, headers=net.headers(who))
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def series(body: dict[str, object], key: str, name: str) -> dict[str, object]:
    items = body[key]
    assert isinstance(items, list)
    return next(item for item in items if item["name"] == name)


def test_an_operator_sees_the_network_over_time(story: tuple[Network, str, str]) -> None:
    net, first, _second = story
    body = get(net, "operator", window_s=2 * RUN_S, step_s=RUN_S)
    assert body["scope"] == "network"
    assert body["times"] == ["2025-01-01T00:00:00Z", "2025-01-01T00:10:00Z"]
    assert body["end"] == "2025-01-01T00:20:00Z"
    assert body["running"] == [1.0, 1.0]
    assert body["waiting"] == [1.0, 0.0]  # globex's job waited through the first run
    site = series(body, "in_use_by_site", AGENT_SITE)
    assert site["capacity"] == 1
    assert site["values"] == [1.0, 1.0]
    assert series(body, "in_use_by_type", "h800")["values"] == [1.0, 1.0]
    with net.cp.store.engine.connect() as conn:
        metered = job_rows.usage_by_job(conn, [first])[first]
    assert metered["energy_kwh"] > 0
    energy = series(body, "energy_kwh_by_site", AGENT_SITE)["values"]
    carbon = series(body, "carbon_kg_by_site", AGENT_SITE)["values"]
    assert energy == pytest.approx([metered["energy_kwh"], 0.0], abs=1e-6)  # the second run is not metered yet
    assert carbon == pytest.approx([metered["carbon_kg"], 0.0], abs=1e-6)


def test_a_tenant_sees_its_own_jobs_only(story: tuple[Network, str, str]) -> None:
    net, _first, _second = story
    acme = get(net, "tenant_a", window_s=2 * RUN_S, step_s=RUN_S)
    globex = get(net, "tenant_b", window_s=2 * RUN_S, step_s=RUN_S)
    assert acme["scope"] == "tenant acme"
    assert (acme["running"], acme["waiting"]) == ([1.0, 0.0], [0.0, 0.0])
    assert (globex["running"], globex["waiting"]) == ([0.0, 1.0], [1.0, 0.0])
    assert series(acme, "in_use_by_site", AGENT_SITE)["values"] == [1.0, 0.0]
    assert series(globex, "energy_kwh_by_site", AGENT_SITE)["values"] == [0.0, 0.0]


def test_finer_points_split_the_same_figures(story: tuple[Network, str, str]) -> None:
    net, _first, _second = story
    body = get(net, "operator", window_s=2 * RUN_S, step_s=RUN_S / 4)
    assert len(body["times"]) == 8  # type: ignore[arg-type]
    assert body["waiting"] == [1.0] * 4 + [0.0] * 4
    coarse = get(net, "operator", window_s=2 * RUN_S, step_s=RUN_S)
    fine = series(body, "energy_kwh_by_site", AGENT_SITE)["values"]
    assert sum(fine) == pytest.approx(sum(series(coarse, "energy_kwh_by_site", AGENT_SITE)["values"]), abs=1e-5)  # type: ignore[arg-type]


def test_an_empty_network_has_points_of_nothing(store: Store) -> None:
    net = Network.build(store)
    body = get(net, "tenant_a")
    assert len(body["times"]) == 60  # type: ignore[arg-type]
    assert body["running"] == [0.0] * 60
    assert body["in_use_by_site"] == []


def test_each_tenant_is_billed_its_own_runs_over_time_and_they_add_up_to_its_jobs_cost_so_far(
    story: tuple[Network, str, str],
) -> None:
    net, first, second = story
    body = get(net, "operator", window_s=2 * RUN_S, step_s=RUN_S)
    assert [s["name"] for s in body["cost_usd_by_tenant"]] == ["acme", "globex"]  # type: ignore[index]
    assert [s["name"] for s in body["carbon_kg_by_tenant"]] == ["acme", "globex"]  # type: ignore[index]
    seen = {job: net.api.get(f"/v1/jobs/{job}", headers=net.headers("operator")).json() for job in (first, second)}
    assert seen[first]["cost_so_far"] > 0 and seen[second]["cost_so_far"] > 0
    acme_cost = series(body, "cost_usd_by_tenant", "acme")["values"]
    globex_cost = series(body, "cost_usd_by_tenant", "globex")["values"]
    assert acme_cost == pytest.approx([seen[first]["cost_so_far"], 0.0], abs=1e-5)
    # globex's run is still going: metered to now at its rates, as its cost so far
    assert globex_cost == pytest.approx([0.0, seen[second]["cost_so_far"]], abs=1e-5)
    assert series(body, "carbon_kg_by_tenant", "acme")["values"] == pytest.approx(
        [seen[first]["co2_kg_so_far"], 0.0], abs=1e-5
    )
    assert series(body, "carbon_kg_by_tenant", "globex")["values"] == pytest.approx(
        [0.0, seen[second]["co2_kg_so_far"]], abs=1e-5
    )


@pytest.mark.parametrize(("who", "own", "other"), [("tenant_a", "acme", "globex"), ("tenant_b", "globex", "acme")])
def test_a_tenant_cannot_see_another_tenants_cost_or_carbon(
    story: tuple[Network, str, str], who: str, own: str, other: str
) -> None:
    net, _first, _second = story
    everyone = get(net, "operator", window_s=2 * RUN_S, step_s=RUN_S)
    mine = get(net, who, window_s=2 * RUN_S, step_s=RUN_S)
    assert mine["scope"] == f"tenant {own}"
    for key in ("cost_usd_by_tenant", "carbon_kg_by_tenant"):
        assert sum(series(everyone, key, other)["values"]) > 0  # type: ignore[arg-type]  # there is something to hide
        assert [s["name"] for s in mine[key]] == [own], f"{who} sees {key} of {mine[key]}"  # type: ignore[union-attr]
        assert series(mine, key, own)["values"] == series(everyone, key, own)["values"]  # its own, nothing added
        assert other not in str(mine[key])


def test_a_tenant_with_no_run_in_the_window_sees_its_own_series_of_zeros(store: Store) -> None:
    net = Network.build(store)
    body = get(net, "tenant_a", window_s=600, step_s=300)
    assert body["cost_usd_by_tenant"] == [{"name": "acme", "capacity": None, "values": [0.0, 0.0]}]
    assert get(net, "operator", window_s=600, step_s=300)["cost_usd_by_tenant"] == []


def reg(at: float, inventory: dict[str, int] | None = None) -> tuple[float, str, str, dict[str, object]]:
    return (at, "site.register", "s", {"inventory": inventory or {}})


@pytest.mark.parametrize(
    ("events", "current", "expected"),
    [
        pytest.param([reg(10, {"a": 2})], {}, [(10, 100, {"a": 2})], id="a registration offers its inventory to now"),
        pytest.param(
            [reg(10, {"a": 2}), reg(40, {"a": 4, "b": 1})],
            {},
            [(10, 40, {"a": 2}), (40, 100, {"a": 4, "b": 1})],
            id="registering again changes what it offers from then",
        ),
        pytest.param(
            [reg(10, {"a": 2}), (30, "site.down", "s", {"silent_s": 12}), (50, "site.up", "s", None)],
            {},
            [(10, 30, {"a": 2}), (50, 100, {"a": 2})],
            id="down it offers nothing until it heartbeats again",
        ),
        pytest.param(
            [reg(10, {"a": 2}), (30, "site.down", "s", None), reg(60, {"a": 1})],
            {},
            [(10, 30, {"a": 2}), (60, 100, {"a": 1})],
            id="down until it registers again, with the new inventory",
        ),
        pytest.param([(20, "site.up", "s", None)], {}, [], id="an up with no registration before it offers nothing"),
        pytest.param(
            [reg(10, {"a": 2}), (20, "site.register", "s", None)],
            {},
            [(10, 20, {"a": 2}), (20, 100, {"a": 2})],
            id="a registration entry without an inventory keeps the last one",
        ),
    ],
)
def test_a_sites_inventory_over_time_follows_its_audit_entries(
    events: list[tuple[float, str, str, object]],
    current: dict[str, dict[str, int]],
    expected: list[tuple[float, float, dict[str, int]]],
) -> None:
    assert inventory_spans(events, 100.0, current).get("s", []) == expected


def test_a_site_with_no_registration_entry_offers_its_inventory_now_over_all_time() -> None:
    spans = inventory_spans([reg(10, {"a": 1})], 100.0, {"s": {"a": 3}, "old": {"b": 5}})
    assert spans == {"s": [(10, 100, {"a": 1})], "old": [(-math.inf, 100.0, {"b": 5})]}


def test_the_inventory_over_time_shows_a_site_growing_going_down_and_coming_back(store: Store) -> None:
    """Two H800s at T0; four from +300 s (the agent registers again), acme's job on one of
    them +300..+600; the agent falls silent, the scheduler declares the site down at +900; it
    heartbeats again at +1200. Every token sees the network's inventory (the busy one is acme's
    job, globex sees it too)."""
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 2})
    net.advance(300)
    net.register(AGENT_SITE, {"h800": 4})
    job = net.submit("tenant_a", job_spec("busy"))
    assert [p[0] for p in net.cycle().placed] == [job.id]
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")
    net.advance(300)
    net.heartbeat(AGENT_SITE, (job.id, 1))
    net.report(AGENT_SITE, job.id, 1, state="SUCCEEDED", exit_code=0)
    net.advance(288)
    net.cycle()  # the leader's lease (10 s) lapsed while nobody cycled: it counts silence from now on
    for _ in range(2):
        net.advance(6)
        net.cycle()  # 12 s of silence: past 2 heartbeats of 5 s, the site is declared down at +900
    assert [s["state"] for s in net.api.get("/v1/sites", headers=net.headers("operator")).json()["sites"]] == ["down"]
    net.advance(300)
    net.heartbeat(AGENT_SITE)
    net.advance(600)
    expected = {
        "total": [2.0, 4.0, 4.0, 0.0, 4.0, 4.0],
        "busy": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        "free": [2.0, 3.0, 4.0, 0.0, 4.0, 4.0],
    }
    for who in ("operator", "tenant_a", "tenant_b"):
        body = get(net, who, window_s=1800, step_s=300)
        site = series(body, "inventory_by_site", AGENT_SITE)
        assert {key: site[key] for key in expected} == expected, who
        accel = series(body, "inventory_by_type", "h800")
        assert {key: accel[key] for key in expected} == expected, who
    finer = get(net, "operator", window_s=1800, step_s=600)
    assert series(finer, "inventory_by_site", AGENT_SITE)["total"] == [3.0, 2.0, 4.0]  # means over each point


@pytest.mark.parametrize(
    ("params", "who", "status", "names"),
    [
        pytest.param({"window_s": "an hour"}, "operator", 422, ("window_s",), id="a window that is not a number"),
        pytest.param({"step_s": "0"}, "operator", 422, ("step_s",), id="a step of zero"),
        pytest.param({"window_s": "-60"}, "operator", 422, ("window_s",), id="a negative window"),
        pytest.param({"window_s": "nan"}, "operator", 422, ("window_s",), id="a window of nan"),
        pytest.param({"step_s": "inf"}, "operator", 422, ("step_s",), id="a step of infinity"),
        pytest.param({"window_s": str(10**9)}, "operator", 422, ("window_s",), id="a window past a month"),
        pytest.param(
            {"window_s": "86400", "step_s": "1"},
            "operator",
            422,
            ("TOO_MANY_POINTS", "86,400 points", "step_s of at least 87"),
            id="too many points names the step that would do",
        ),
        pytest.param(
            {"window_s": "60", "step_s": "120"},
            "operator",
            422,
            ("INVALID_WINDOW", "step_s (120 s) is longer than window_s (60 s)"),
            id="a step longer than the window",
        ),
        pytest.param({}, "agent", 403, ("FORBIDDEN",), id="an agent's token may not read it"),
    ],
)
def test_bad_parameters_are_refused_saying_which(
    store: Store, params: dict[str, str], who: str, status: int, names: tuple[str, ...]
) -> None:
    net = Network.build(store)
    answer = net.api.get("/v1/history", params=params, headers=net.headers(who))
    assert answer.status_code == status, answer.text
    text = answer.text
    for name in names:
        assert name in text, f"{name!r} not in {text}"


def test_no_token_is_401(store: Store) -> None:
    net = Network.build(store)
    assert net.api.get("/v1/history").status_code == 401


@pytest.mark.parametrize("hour", [0, 7, 13, 20])
def test_the_map_shows_each_sites_grid_intensity_as_the_planner_reads_it(store: Store, hour: int) -> None:
    net = Network.build(store)
    net.advance(hour * 3600.0)
    answer = net.api.get("/ui/geo", headers=net.headers("tenant_a"))
    assert answer.status_code == 200
    grid = answer.json()["sites"][AGENT_SITE]["grid"]
    catalog = net.cp.planning.catalog
    pools = pool_table(catalog, (catalog.sites[AGENT_SITE],), "h800")
    assert grid["g_per_kwh_now"] == pytest.approx(pools.intensity_at(0, net.cp.now_s()), abs=0.05)
    assert len(grid["day_g_per_kwh"]) == 24
    assert grid["local_hour"] == (hour + 8) % 24  # qingyang is UTC+8
    assert grid["source"]
    assert grid["region"]
