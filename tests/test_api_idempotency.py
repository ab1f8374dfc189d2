"""Idempotency keys, Stripe-style: a retry of the same body returns the first job (200), the
same key with another spec is a 409 naming the first job, and an empty key is refused; for
``POST /v1/jobs`` and for each item of ``POST /v1/jobs:batch``, on SQLite and PostgreSQL.

The server stores specs with their relative times pinned at submission (``earliest_start:
now`` becomes an instant), so what it compares is a hash of the spec *as submitted*: a
retry minutes later, whose ``now`` would pin differently, is still the same submission.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from suanli.store import Store
from suanli.store import jobs as job_rows
from tests.api_builders import Network, job_spec


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def post(net: Network, spec: dict[str, Any], header: str | None = None, body: str | None = None) -> httpx.Response:
    headers = {**net.headers("tenant_a"), **({"Idempotency-Key": header} if header is not None else {})}
    payload: dict[str, Any] = {"spec": spec, **({"idempotency_key": body} if body is not None else {})}
    return net.api.post("/v1/jobs", json=payload, headers=headers)


def batch(net: Network, *items: tuple[dict[str, Any], str | None]) -> list[dict[str, Any]]:
    jobs = [{"spec": spec, **({"idempotency_key": key} if key is not None else {})} for spec, key in items]
    answer = net.api.post("/v1/jobs:batch", json={"jobs": jobs}, headers=net.headers("tenant_a"))
    assert answer.status_code == 200, answer.text
    items_out: list[dict[str, Any]] = answer.json()["items"]
    return items_out


def stored(net: Network) -> list[dict[str, Any]]:
    with net.cp.store.engine.connect() as conn:
        return job_rows.list_jobs(conn, None, None, 10_000)


RELATIVE = {"earliest_start": "now", "deadline": "+7d"}


# -- one job ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["header", "body", "both"])
def test_a_retry_of_the_same_body_minutes_later_returns_the_first_job(net: Network, where: str) -> None:
    spec = job_spec("retried", constraints=RELATIVE)
    key = f"retry-{where}"
    keys = {"header": key if where != "body" else None, "body": key if where != "header" else None}
    first = post(net, spec, **keys)
    net.advance(600)  # `now` and `+7d` would pin ten minutes later
    second = post(net, spec, **keys)
    assert (first.status_code, second.status_code) == (201, 200), second.text
    assert second.json()["id"] == first.json()["id"]
    assert len(stored(net)) == 1


def test_the_same_key_with_another_spec_is_409_naming_the_first_job(net: Network) -> None:
    first = post(net, job_spec("original"), header="k-1")
    reused = post(net, job_spec("original", tokens_b=0.0002), header="k-1")
    assert reused.status_code == 409, reused.text
    error = reused.json()
    assert error["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert first.json()["id"] in error["message"] and "'k-1'" in error["message"]
    assert "To fix:" in error["message"]
    assert error["details"] == [{"job": first.json()["id"], "idempotency_key": "k-1"}]
    assert [row["name"] for row in stored(net)] == ["original"], "nothing stored for the second"
    assert post(net, job_spec("original"), header="k-1").status_code == 200, "the first body still retries"


def test_a_spec_with_its_keys_in_another_order_is_the_same_spec(net: Network) -> None:
    spec = job_spec("ordered")
    shuffled = dict(reversed(list(spec.items())))
    assert post(net, spec, body="k-order").status_code == 201
    assert post(net, shuffled, body="k-order").status_code == 200


@pytest.mark.parametrize(
    ("header", "body", "code"),
    [
        pytest.param("", None, "INVALID_IDEMPOTENCY_KEY", id="an empty Idempotency-Key header"),
        pytest.param("   ", None, "INVALID_IDEMPOTENCY_KEY", id="a blank Idempotency-Key header"),
        pytest.param(None, "", "INVALID_REQUEST", id="an empty idempotency_key in the body"),
        pytest.param(None, " \t", "INVALID_IDEMPOTENCY_KEY", id="a blank idempotency_key in the body"),
        pytest.param("k-a", "k-b", "INVALID_IDEMPOTENCY_KEY", id="a header and a body key that differ"),
    ],
)
def test_an_empty_or_contradictory_key_is_refused_with_422(
    net: Network, header: str | None, body: str | None, code: str
) -> None:
    answer = post(net, job_spec("keyed"), header=header, body=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    assert "idempotency" in answer.json()["message"].lower()
    assert stored(net) == []


def test_two_empty_header_keys_never_merge_two_submissions(net: Network) -> None:
    """The bug: an empty key was a key like any other, so the second job became the first."""
    for name in ("first", "second"):
        assert post(net, job_spec(name), header="").status_code == 422
    assert post(net, job_spec("first")).status_code == 201
    assert post(net, job_spec("second")).status_code == 201
    assert sorted(row["name"] for row in stored(net)) == ["first", "second"]


# -- batches ---------------------------------------------------------------------------------


def test_a_batch_item_reusing_a_key_with_another_spec_gets_its_own_409_style_error(net: Network) -> None:
    single = post(net, job_spec("single"), body="k-shared")
    items = batch(
        net,
        (job_spec("fresh"), "k-fresh"),
        (job_spec("not-single"), "k-shared"),  # the key of the single submit, another spec
        (job_spec("single"), "k-shared"),  # the single submit's body again: its retry
    )
    assert items[0]["created"] is True
    assert items[1]["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert single.json()["id"] in items[1]["error"]["message"]
    assert items[1]["job"] is None
    assert (items[2]["created"], items[2]["job"]["id"]) == (False, single.json()["id"])
    assert sorted(row["name"] for row in stored(net)) == ["fresh", "single"]


def test_two_items_of_one_batch_with_one_key_and_two_specs(net: Network) -> None:
    items = batch(net, (job_spec("a"), "k-twice"), (job_spec("b"), "k-twice"), (job_spec("a"), "k-twice"))
    assert items[0]["created"] is True
    assert items[1]["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert items[0]["job"]["id"] in items[1]["error"]["message"]
    assert (items[2]["created"], items[2]["job"]["id"]) == (False, items[0]["job"]["id"])
    assert [row["name"] for row in stored(net)] == ["a"]


def test_a_retried_batch_answers_each_item_as_the_first_time(net: Network) -> None:
    specs = ((job_spec("x", constraints=RELATIVE), "k-x"), (job_spec("y"), "k-y"))
    first = batch(net, *specs)
    net.advance(120)
    again = batch(net, *specs)
    assert [item["created"] for item in first] == [True, True]
    assert [item["created"] for item in again] == [False, False]
    assert [item["job"]["id"] for item in again] == [item["job"]["id"] for item in first]


def test_a_blank_key_in_a_batch_is_that_items_error(net: Network) -> None:
    items = batch(net, (job_spec("keyed"), "  "), (job_spec("unkeyed"), None))
    assert items[0]["error"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert items[1]["created"] is True
    assert [row["name"] for row in stored(net)] == ["unkeyed"]


def test_an_empty_key_in_a_batch_is_refused_by_the_schema(net: Network) -> None:
    answer = net.api.post(
        "/v1/jobs:batch",
        json={"jobs": [{"spec": job_spec(), "idempotency_key": ""}]},
        headers=net.headers("tenant_a"),
    )
    assert answer.status_code == 422
    assert "idempotency_key" in answer.json()["message"]
