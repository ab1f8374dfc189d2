"""ETAs of jobs held for their ``depends_on`` (suanli.service.control.eta.chain_etas): the
forecast does not run a held job, and the post-pass starts it no earlier than its
dependencies' predicted finish, along a chain, on SQLite and PostgreSQL.

One site with H800s; durations are the estimator's for a 1B model (minutes to an hour),
so each job's predicted finish is its predicted start plus its own estimate.
"""

from __future__ import annotations

from typing import Any

import pytest

from suanli.store import Store
from tests.api_builders import AGENT_SITE, Network, job_spec
from tests.test_eta import MODEL, api_job, forecast_now, seconds


def running(net: Network, name: str, tokens_b: float = 0.2) -> str:
    job_id = net.submit(spec=job_spec(name, model=MODEL, tokens_b=tokens_b)).id
    net.cycle()
    row = net.job(job_id)
    assert row["state"] == "PLACED", row["reasons"]
    net.report(AGENT_SITE, job_id, row["fencing_token"], state="RUNNING")
    net.cycle()
    return job_id


def after(net: Network, name: str, depends_on: list[str], tokens_b: float = 0.3) -> str:
    return net.submit(spec=job_spec(name, model=MODEL, tokens_b=tokens_b, depends_on=depends_on)).id


def span(eta: dict[str, Any]) -> tuple[float, float]:
    return seconds(eta["start"]), seconds(eta["finish"])


def test_a_job_after_a_running_one_starts_when_it_finishes_though_accelerators_are_free(store: Store) -> None:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 4})  # room for both now: only the dependency delays the second
    train = running(net, "train")
    evaluate = after(net, "eval", [train])
    net.cycle()
    assert net.job(evaluate)["state"] == "PENDING"
    etas = forecast_now(net)
    assert set(etas) == {train, evaluate}
    start, finish = span(etas[evaluate])
    assert start == pytest.approx(seconds(etas[train]["finish"]), abs=1)
    assert finish > start
    assert seconds(etas[evaluate]["start_p90"]) >= seconds(etas[train]["finish_p90"]) - 1
    assert seconds(etas[evaluate]["finish_p90"]) > finish
    assert api_job(net, evaluate)["eta"] == {**etas[evaluate], "start_forecast": None}, "the API shows the chained ETA"


def test_a_chain_of_three_starts_each_after_the_one_before(store: Store) -> None:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 4})
    a = running(net, "prep", tokens_b=0.2)
    b = after(net, "train", [a], tokens_b=0.5)
    c = after(net, "eval", [b], tokens_b=0.3)
    net.cycle()
    etas = forecast_now(net)
    (a_start, a_end), (b_start, b_end), (c_start, c_end) = (span(etas[j]) for j in (a, b, c))
    assert a_start < a_end <= b_start + 1 < b_end <= c_start + 1 < c_end
    assert b_start == pytest.approx(a_end, abs=1) and c_start == pytest.approx(b_end, abs=1)


def test_a_job_after_a_queued_one_waits_for_its_forecast_finish(store: Store) -> None:
    """One H800: `first` runs, `second` waits for it in the queue, `third` depends on
    `second` and so starts after second's predicted finish, not first's."""
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 1})
    first = running(net, "first")
    second = net.submit(spec=job_spec("second", model=MODEL, tokens_b=0.5)).id
    third = after(net, "third", [second])
    net.cycle()
    etas = forecast_now(net)
    assert seconds(etas[second]["start"]) == pytest.approx(seconds(etas[first]["finish"]), abs=1)
    assert seconds(etas[third]["start"]) == pytest.approx(seconds(etas[second]["finish"]), abs=1)


def test_two_jobs_after_one_dependency_do_not_share_its_one_accelerator(store: Store) -> None:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 1})
    train = running(net, "train")
    one, two = after(net, "eval-1", [train]), after(net, "eval-2", [train])
    net.cycle()
    etas = forecast_now(net)
    assert seconds(etas[one]["start"]) == pytest.approx(seconds(etas[train]["finish"]), abs=1)
    assert seconds(etas[two]["start"]) == pytest.approx(seconds(etas[one]["finish"]), abs=1)


def test_a_dependency_that_can_never_succeed_leaves_no_eta(store: Store) -> None:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 4})
    train = running(net, "train")
    evaluate = after(net, "eval", [train])
    net.cycle()
    assert evaluate in forecast_now(net)
    net.report(AGENT_SITE, train, net.job(train)["fencing_token"], state="FAILED", exit_code=1)
    # before the next cycle cancels it, the job still waits: a forecast now gives it none
    etas = forecast_now(net)
    assert evaluate not in etas
    assert net.job(evaluate)["eta"] is None, "the earlier chained ETA is cleared"
    net.cycle()
    assert net.job(evaluate)["state"] == "CANCELLED"
    assert api_job(net, evaluate)["eta"] is None
