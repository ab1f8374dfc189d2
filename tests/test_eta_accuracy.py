"""``GET /v1/history``'s ``eta_accuracy``: how far the jobs that started in each point
started from their stored forecast.

A story on a SimClock whose every figure is known: five of acme's jobs and one of globex's
are given forecasts by ``set_etas`` (as the ETA engine writes them), then placed in one
cycle 130 s later; one had no forecast, one's forecast came after it started (as the next
forecast writes a started job's actual start). What each token sees, what falls outside
the window, and the quantiles' definition. SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from suanli.clock import iso
from suanli.service.control.history import eta_accuracy, quantile
from suanli.store import Store
from suanli.store import jobs as job_rows
from tests.api_builders import AGENT_SITE, Network, job_spec
from tests.conftest import T0_S

WAIT_S = 130.0
"""The jobs are placed this long after their forecast (at ``T0_S``)."""
PREDICTED_S = {"early": 100.0, "late": 160.0, "far": 400.0, "globex": 130.0}
"""Each forecast job's predicted start, seconds after ``T0_S``: errors (actual - predicted)
of 30, -30, -270 and 0 s."""


def eta(start_s: float, computed_s: float) -> dict[str, Any]:
    return {
        "start": iso(start_s),
        "finish": iso(start_s + 600),
        "start_p90": iso(start_s + 60),
        "finish_p90": iso(start_s + 900),
        "computed_at": iso(computed_s),
        "method": "forecast:test",
    }


@pytest.fixture
def started(store: Store) -> Network:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 8})
    ids = {name: net.submit("tenant_a", job_spec(name)).id for name in ("early", "late", "far", "unforecast", "after")}
    ids["globex"] = net.submit("tenant_b", job_spec("globex")).id
    with store.begin() as conn:
        job_rows.set_etas(conn, {ids[name]: eta(T0_S + s, T0_S) for name, s in PREDICTED_S.items()})
    net.advance(WAIT_S)
    placed = {p[0] for p in net.cycle().placed}
    assert placed == set(ids.values())
    assert {net.job(job_id)["placed_at"] for job_id in ids.values()} == {T0_S + WAIT_S}
    with store.begin() as conn:  # the forecast after the cycle: the job's actual start, in the same second
        job_rows.set_etas(conn, {ids["after"]: eta(T0_S + WAIT_S, T0_S + WAIT_S)})
    net.advance(300.0 - WAIT_S)
    return net


def accuracy(net: Network, who: str, **params: object) -> dict[str, Any]:
    answer = net.api.get("/v1/history", params=params or {"window_s": 600, "step_s": 60}, headers=net.headers(who))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()["eta_accuracy"]
    return body


POINT = 7
"""At now = T0 + 300 s, a 600 s window of 60 s points starts at T0 - 300 s: the jobs started
(T0 + 130 s) in its 8th point, [T0 + 120 s, T0 + 180 s)."""


def test_an_operator_sees_every_jobs_error(started: Network) -> None:
    body = accuracy(started, "operator")
    assert len(body["points"]) == 10
    expected = {
        "started": 6,
        "forecast": 4,  # not the job without one, nor the one forecast after it started
        "median_abs_error_s": 30.0,  # of 0, 30, 30, 270
        "p90_abs_error_s": 198.0,  # rank 2.7: 30 + 0.7 x 240
        "median_error_s": -15.0,  # of -270, -30, 0, 30
    }
    assert body["points"][POINT] == expected
    assert body["window"] == expected
    empty = {"started": 0, "forecast": 0, "median_abs_error_s": None, "p90_abs_error_s": None, "median_error_s": None}
    assert [p for k, p in enumerate(body["points"]) if k != POINT] == [empty] * 9
    assert "placed_at - eta.start" in body["method"]


def test_a_tenant_sees_its_own_jobs_errors_only(started: Network) -> None:
    acme = accuracy(started, "tenant_a")["window"]
    globex = accuracy(started, "tenant_b")["window"]
    assert acme == {
        "started": 5,
        "forecast": 3,
        "median_abs_error_s": 30.0,  # of 30, 30, 270
        "p90_abs_error_s": 222.0,  # rank 1.8: 30 + 0.8 x 240
        "median_error_s": -30.0,
    }
    assert globex == {
        "started": 1,
        "forecast": 1,
        "median_abs_error_s": 0.0,
        "p90_abs_error_s": 0.0,
        "median_error_s": 0.0,
    }


def test_jobs_started_before_the_window_are_not_counted(started: Network) -> None:
    body = accuracy(started, "operator", window_s=120, step_s=60)  # from T0 + 180 s
    assert body["window"]["started"] == 0
    assert [p["started"] for p in body["points"]] == [0, 0]


def test_finer_points_move_the_jobs_to_the_point_they_started_in(started: Network) -> None:
    body = accuracy(started, "operator", window_s=300, step_s=10)  # from T0: the 14th point, [130, 140)
    assert [k for k, p in enumerate(body["points"]) if p["started"]] == [13]
    assert body["points"][13]["forecast"] == 4


def test_an_empty_network_has_no_errors(store: Store) -> None:
    body = accuracy(Network.build(store), "tenant_a")
    assert body["window"] == {
        "started": 0,
        "forecast": 0,
        "median_abs_error_s": None,
        "p90_abs_error_s": None,
        "median_error_s": None,
    }


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([5.0], 0.9, 5.0, id="one value is every quantile"),
        pytest.param([1.0, 3.0], 0.5, 2.0, id="the median of two is their mean"),
        pytest.param([0.0, 10.0, 20.0, 30.0, 40.0], 0.9, 36.0, id="p90 interpolates between ranks"),
        pytest.param([0.0, 10.0, 20.0], 1.0, 20.0, id="the top quantile is the largest"),
    ],
)
def test_quantiles_interpolate_between_ranks(values: list[float], q: float, expected: float) -> None:
    assert quantile(values, q) == pytest.approx(expected)


def test_a_start_at_now_counts_in_the_last_point_and_outside_ones_nowhere() -> None:
    body = eta_accuracy([(120.0, 5.0), (119.0, 1.0), (0.0, None), (-1.0, 2.0)], [0.0, 60.0, 120.0])
    assert [p.started for p in body.points] == [1, 2]
    assert [p.forecast for p in body.points] == [0, 2]
    assert body.points[1].median_abs_error_s == 3.0
