"""The request's edges, in-process: bodies over the limit are 413 whether or not they say
their length (a chunked one used to get 400), and ``X-Forwarded-For`` changes the address
the audit log records only when the peer is a trusted proxy. (The same against a real
``suanli serve``: ``tests/test_serve_edges.py``.)"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from suanli.server.proxies import TrustedProxies, parse_proxy
from suanli.service.control import admin
from suanli.service.control.auth import LOCAL_ADMIN
from suanli.store import Store
from tests.api_builders import GENEROUS, Network, job_spec

LIMIT = 1_000_000


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """The body as a generator: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def submit_body(padding_bytes: int) -> bytes:
    spec = job_spec("padded", run={"command": ["true"], "env": {"PAD": "x" * padding_bytes}})
    return json.dumps({"spec": spec}).encode()


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


# -- body limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "with Content-Length"])
def test_a_body_over_the_limit_is_413_however_it_is_sent(net: Network, chunked: bool) -> None:
    body = submit_body(LIMIT + 10)
    headers = {**net.headers("tenant_a"), "Content-Type": "application/json"}
    answer = net.api.post("/v1/jobs", content=chunks(body) if chunked else body, headers=headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "BODY_TOO_LARGE"
    assert f"{LIMIT}" in answer.json()["message"]


def test_a_chunked_body_under_the_limit_goes_through_whole(net: Network) -> None:
    body = submit_body(LIMIT - 2_000)
    headers = {**net.headers("tenant_a"), "Content-Type": "application/json"}
    answer = net.api.post("/v1/jobs", content=chunks(body, 10_000), headers=headers)
    assert answer.status_code == 201, answer.text
    assert len(net.job(answer.json()["id"])["spec"]["run"]["env"]["PAD"]) == LIMIT - 2_000


# -- forwarded addresses -------------------------------------------------------------------------


def audited_remote(net: Network, headers: dict[str, str]) -> str | None:
    answer = net.api.post(
        "/v1/tokens", json={"role": "tenant", "tenant": "acme"}, headers={**net.headers("admin"), **headers}
    )
    assert answer.status_code == 201, answer.text
    entry = next(e for e in admin.audit(net.cp, LOCAL_ADMIN, 10) if e.object == answer.json()["id"])
    return entry.remote


def test_a_spoofed_forwarded_for_is_ignored_without_trusted_proxies(net: Network) -> None:
    remote = audited_remote(net, {"X-Forwarded-For": "203.0.113.7"})
    assert remote is not None and remote.startswith("testclient:"), remote


@pytest.mark.parametrize(
    ("trusted", "forwarded", "client"),
    [
        pytest.param(("testclient",), "203.0.113.7", "203.0.113.7", id="one trusted proxy"),
        pytest.param(
            ("testclient", "10.0.0.0/8"), "198.51.100.1, 203.0.113.7, 10.1.2.3", "203.0.113.7", id="a proxy chain"
        ),
        pytest.param(("testclient",), "203.0.113.7:4711", "203.0.113.7", id="an entry with a port"),
        pytest.param(("testclient",), "[2001:db8::1]:4711", "2001:db8::1", id="an IPv6 entry with a port"),
        pytest.param(("10.0.0.1",), "203.0.113.7", "testclient:", id="a peer that is not the trusted proxy"),
    ],
)
def test_a_forwarded_for_from_a_trusted_proxy_names_the_client(
    store: Store, trusted: tuple[str, ...], forwarded: str, client: str
) -> None:
    net = Network.build(store, dataclasses.replace(GENEROUS, trusted_proxies=trusted))
    remote = audited_remote(net, {"X-Forwarded-For": forwarded})
    assert remote is not None and remote.startswith(client), remote


def test_a_forwarded_value_longer_than_the_audit_column_is_cut() -> None:
    assert TrustedProxies(["*"]).client_of("x" * 500) == "x" * 128


@pytest.mark.parametrize(
    ("entry", "kept"), [("10.0.0.5", "10.0.0.5"), ("10.0.0.7/8", "10.0.0.0/8"), (" ::1 ", "::1"), ("*", "*")]
)
def test_trusted_proxies_are_addresses_or_networks(entry: str, kept: str) -> None:
    assert parse_proxy(entry) == kept


def test_a_trusted_proxy_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="neither an IP address nor a network"):
        parse_proxy("proxy.example.com")
