"""Every listing pages with ``limit`` and ``after`` (an opaque cursor), on SQLite and
PostgreSQL: 10,000 jobs are listed page by page through the API, the SDK and the CLI, each
exactly once and newest first, while jobs are submitted between pages; the admin listings
(audit, tokens, tenants, filings, usage) page the same way; a cursor that is not one is a
422 naming ``after``; an old client's ``GET /v1/jobs?limit=100`` still gets its 100."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from suanli.cli.admin_backend import LocalAdmin, RemoteAdmin
from suanli.cli.app import app
from suanli.client import Client
from suanli.client import _wire as wire
from suanli.service.control import admin, paging
from suanli.service.control.admin import create_tenant
from suanli.service.control.auth import LOCAL_ADMIN
from suanli.store import Store
from suanli.store.identity import new_id
from suanli.store.tables import jobs as jobs_table
from tests.api_builders import Network, job_spec
from tests.api_cli import point_cli_at

JOBS = 10_000


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def add_jobs(net: Network, count: int, who: str = "tenant_a") -> list[str]:
    """``count`` jobs of ``who``'s tenant, oldest first: one submitted through the service,
    the rest copies of its row inserted in one statement (submitting 10,000 one by one
    would take most of a minute here)."""
    first = net.submit(who, job_spec("page-0"))
    with net.cp.store.engine.begin() as conn:
        row = dict(conn.execute(select(jobs_table).where(jobs_table.c.id == first.id)).mappings().one())
        del row["seq"]
        copies = [
            row | {"id": new_id("j"), "name": f"page-{i}", "idempotency_key": None, "created_at": row["created_at"] + i}
            for i in range(1, count)
        ]
        if copies:
            conn.execute(insert(jobs_table), copies)
    return [first.id, *(copy["id"] for copy in copies)]


def get_page(net: Network, path: str, who: str = "tenant_a", **params: Any) -> dict[str, Any]:
    answer = net.api.get(path, params=params, headers=net.headers(who))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_ten_thousand_jobs_come_page_by_page_each_once_newest_first_while_jobs_are_submitted(net: Network) -> None:
    existing = add_jobs(net, JOBS)
    listed: list[str] = []
    submitted_meanwhile: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        body = get_page(net, "/v1/jobs", limit=997, **({"after": after} if after else {}))
        listed.extend(job["id"] for job in body["jobs"])
        pages += 1
        after = body["next"]
        if after is None:
            break
        submitted_meanwhile.append(net.submit("tenant_a", job_spec(f"meanwhile-{pages}")).id)
    assert pages == 11, "10,000 jobs in pages of 997: ten full pages and one of 30"
    assert listed == existing[::-1], "every job that existed, once, newest first"
    assert not set(listed) & set(submitted_meanwhile), "jobs submitted while paging come on no later page"
    newest = get_page(net, "/v1/jobs", limit=len(submitted_meanwhile))
    assert [job["id"] for job in newest["jobs"]] == submitted_meanwhile[::-1], "a fresh listing starts with them"


def test_the_sdk_follows_the_pages_of_ten_thousand_jobs_each_once_while_jobs_are_submitted(net: Network) -> None:
    existing = add_jobs(net, JOBS)
    with Client(str(net.api.base_url), net.tokens["tenant_a"], transport=net.api._transport) as client:
        listed, meanwhile = [], []
        for n, job in enumerate(client.iter_jobs()):
            listed.append(job.id)
            if n % 2500 == 0:  # the SDK reads 1,000 a page: these land between its pages
                meanwhile.append(net.submit("tenant_a", job_spec(f"meanwhile-{n}")).id)
        assert listed == existing[::-1] and len(meanwhile) == 4
        newest = [job.id for job in client.iter_jobs(limit=1500)]
        assert newest == [*meanwhile[::-1], *existing[::-1]][:1500], "the newest 1,500 over two pages"
        assert len(client.jobs()) == 100, "one page of the server's default size"


@pytest.fixture
def cli(net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Network:
    return point_cli_at(net, monkeypatch, tmp_path / "config")


def test_suanli_jobs_shows_a_page_says_there_is_more_and_follows_pages_on_request(cli: Network) -> None:
    existing = add_jobs(cli, 2345)
    runner = CliRunner()
    first = runner.invoke(app, ["jobs", "--json"], catch_exceptions=False)
    assert [job["id"] for job in json.loads(first.stdout)["jobs"]] == existing[::-1][:100]
    assert "there are more. To see them: --limit N or --all-pages" in first.stderr
    every = runner.invoke(app, ["jobs", "--all-pages", "-o", "json"], catch_exceptions=False)
    assert [job["id"] for job in json.loads(every.stdout)["jobs"]] == existing[::-1]
    assert every.stderr == ""
    some = runner.invoke(app, ["jobs", "--limit", "1500", "--json"], catch_exceptions=False)
    assert [job["id"] for job in json.loads(some.stdout)["jobs"]] == existing[::-1][:1500]


def test_an_old_clients_limit_still_gets_that_many_newest_jobs_and_the_last_page_has_no_next(net: Network) -> None:
    existing = add_jobs(net, 150)
    old = get_page(net, "/v1/jobs", limit=100)
    assert [job["id"] for job in old["jobs"]] == existing[::-1][:100]
    rest = get_page(net, "/v1/jobs", limit=100, after=old["next"])
    assert [job["id"] for job in rest["jobs"]] == existing[::-1][100:]
    assert rest["next"] is None
    assert net.api.get("/v1/jobs?limit=1001", headers=net.headers("tenant_a")).status_code == 422


def test_a_tenant_pages_through_its_own_jobs_only(net: Network) -> None:
    theirs = add_jobs(net, 30, who="tenant_b")
    ours = add_jobs(net, 30, who="tenant_a")
    listed, after = [], None
    while True:
        body = get_page(net, "/v1/jobs", who="tenant_b", limit=7, **({"after": after} if after else {}))
        listed.extend(job["id"] for job in body["jobs"])
        if (after := body["next"]) is None:
            break
    assert listed == theirs[::-1] and not set(listed) & set(ours)


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("cursor", "why"),
    [
        pytest.param("not a cursor!", "it does not decode", id="garbage is refused"),
        pytest.param(_cursor({"seq": 5}), "it is not a cursor", id="json that is not a cursor is refused"),
        pytest.param(_cursor(["audit", 5]), "it is a cursor of the audit listing", id="another listing's cursor"),
        pytest.param(_cursor(["jobs", "5"]), "is not of type int", id="a key of the wrong type is refused"),
        pytest.param(_cursor(["jobs", 5, 6]), "its key has 2 parts, not 1", id="a key of the wrong length"),
        pytest.param(_cursor(["jobs", 2**70]), "out of range", id="a key past what the store holds"),
        pytest.param(
            "A" * (paging.MAX_CURSOR_CHARS + 1),
            f"at most {paging.MAX_CURSOR_CHARS} characters",
            id="a cursor longer than any is refused",
        ),
    ],
)
def test_a_cursor_that_is_not_one_is_a_422_naming_after(net: Network, cursor: str, why: str) -> None:
    answer = net.api.get("/v1/jobs", params={"after": cursor}, headers=net.headers("tenant_a"))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert why in json.dumps(body)
    assert "after" in body["message"] or body["details"][0]["field"].endswith("after")


def _tokens(net: Network) -> None:
    for n in range(23):
        net.api.post(
            "/v1/tokens", json={"role": "tenant", "tenant": "acme", "name": f"t{n}"}, headers=net.headers("admin")
        )


def _tenants(net: Network) -> None:
    for n in range(23):
        create_tenant(net.cp, LOCAL_ADMIN, f"tenant-{n:02d}")


def _filings(net: Network) -> None:
    for n in range(23):
        net.api.post("/v1/filings", json={"model": f"model-{n}"}, headers=net.headers("tenant_a"))


LISTINGS = [
    pytest.param("/v1/audit", "entries", _tenants, "id", id="the audit log pages newest first"),
    pytest.param("/v1/tokens", "tokens", _tokens, "id", id="tokens page oldest first"),
    pytest.param("/v1/tenants", "tenants", _tenants, "name", id="tenants page by name"),
    pytest.param("/v1/filings", "filings", _filings, "id", id="filings page oldest first"),
    pytest.param("/v1/usage", "usage", _tenants, "tenant", id="usage pages by tenant"),
]


@pytest.mark.parametrize(("path", "key", "fill", "identity"), LISTINGS)
def test_each_admin_listing_pages_to_the_same_rows_in_the_same_order(
    net: Network, path: str, key: str, fill: Any, identity: str
) -> None:
    fill(net)
    whole = get_page(net, path, who="admin", limit=1000)
    assert whole["next"] is None and len(whole[key]) > 20
    paged, after, pages = [], None, 0
    while True:
        body = get_page(net, path, who="admin", limit=4, **({"after": after} if after else {}))
        paged.extend(body[key])
        pages += 1
        if (after := body["next"]) is None:
            break
    assert [item[identity] for item in paged] == [item[identity] for item in whole[key]]
    assert pages == -(-len(whole[key]) // 4)
    foreign = _cursor(["jobs", 5])
    refused = net.api.get(path, params={"after": foreign}, headers=net.headers("admin"))
    assert refused.status_code == 422 and refused.json()["code"] == "INVALID_CURSOR"


def test_admin_audit_on_the_store_and_over_the_api_reads_the_newest_n_over_pages(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tenants(net)
    whole = [entry["id"] for entry in get_page(net, "/v1/audit", who="admin", limit=1000)["entries"]]
    monkeypatch.setattr(admin, "MAX_AUDIT_PAGE", 7)  # the store's pages
    monkeypatch.setattr(wire, "PAGE_SIZE", 7)  # the SDK's pages
    local = LocalAdmin(net.cp)
    with Client(str(net.api.base_url), net.tokens["admin"], transport=net.api._transport) as client:
        remote = RemoteAdmin(client)
        for backend in (local, remote):
            assert [entry.id for entry in backend.audit(20)] == whole[:20]
            assert [entry.id for entry in backend.audit(None)] == whole


def test_the_sdk_reads_one_page_from_a_server_that_answers_no_cursor() -> None:
    """A server from before pages answers ``{"jobs": [...]}`` without ``next``."""
    answers = []

    def old_server(request: httpx.Request) -> httpx.Response:
        answers.append(dict(request.url.params))
        return httpx.Response(200, json={"jobs": [{"id": f"j-{n}"} for n in range(3)]})

    with Client("http://suanli.test", "tok", transport=httpx.MockTransport(old_server)) as client:
        assert [job["id"] for job in client.iter_jobs_json()] == ["j-0", "j-1", "j-2"]
    assert answers == [{"limit": "1000"}]
