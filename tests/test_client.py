"""The SDK (``suanli.client``): the requests it builds, how it maps errors, its retries with one
idempotency key, where it finds its server and token, and that the token never leaks.

The server is replaced by :class:`FakeServer` through ``httpx.MockTransport``: these tests
check the client's side of the contract; the server's side is tested with the server.
"""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import suanli.client
from suanli.client import (
    ApiError,
    Client,
    Conflict,
    CredentialsError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerUnavailable,
    StaleLease,
    Unauthorized,
    credentials_path,
    read_credentials,
    write_credentials,
)
from suanli.errors import InputError, SuanliError
from suanli.schemas import AgentHeartbeat, AgentRegister, AgentReport, RunningJob
from suanli.workload import parse_spec
from tests.conftest import spec_dict, spec_yaml

SERVER = "http://suanli.test:8000"
TOKEN = "sk-test-0123456789abcdef"
"""A token that must never show up in a message or a repr."""

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]] | Exception
"""(status, JSON body | text | None[, headers]) or an exception the transport raises."""


class FakeServer:
    """Answers each (method, path) from a script: every request takes the next answer, and
    the last one repeats. Unknown routes are a 404. Every request is kept for inspection."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> FakeServer:
        self.routes[(method, path)] = list(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        script = self.routes.get((request.method, request.url.path))
        if script is None:
            body = {"code": "NOT_FOUND", "message": f"no route {request.method} {request.url.path}"}
            return httpx.Response(404, json=body)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        status, body, *rest = answer
        headers = rest[0] if rest else {}
        if body is None:
            return httpx.Response(status, headers=headers)
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def client(self, token: str | None = TOKEN, **options: Any) -> Client:
        return Client(SERVER, token, transport=self.transport(), backoff_s=0, **options)

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def job_json(**overrides: Any) -> dict[str, Any]:
    """A ``JobOut`` as the server sends it."""
    job: dict[str, Any] = {
        "id": "j-1",
        "name": "test-job",
        "kind": "Training",
        "tenant": "acme",
        "state": "PENDING",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    return {**job, **overrides}


def error_json(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SUANLI_SERVER / SUANLI_TOKEN from the developer's shell; a fresh config directory."""
    monkeypatch.delenv("SUANLI_SERVER", raising=False)
    monkeypatch.delenv("SUANLI_TOKEN", raising=False)
    config = tmp_path / "config"
    monkeypatch.setenv("SUANLI_CONFIG_DIR", str(config))
    return config


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()


# -- request shapes --------------------------------------------------------------------------


def test_every_request_carries_the_bearer_token_and_a_user_agent(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs/j-1", (200, job_json()))
    job = fake.client().job("j-1")
    assert job.id == "j-1"
    request = fake.requests[0]
    assert str(request.url) == f"{SERVER}/v1/jobs/j-1"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("suanli/")


def test_without_a_token_no_authorization_header_is_sent(fake: FakeServer) -> None:
    fake.on("GET", "/v1/health", (200, {"status": "ok", "version": "0.1.0", "leader": True}))
    assert fake.client(token=None).health() == {"status": "ok", "version": "0.1.0", "leader": True}
    assert "Authorization" not in fake.requests[0].headers


def test_submit_sends_the_spec_and_one_key_in_header_and_body(fake: FakeServer) -> None:
    fake.on("POST", "/v1/jobs", (201, job_json()))
    spec = spec_dict(run={"command": ["python", "train.py"]})
    job = fake.client().submit(spec)
    assert job.state == "PENDING"
    body = fake.body()
    assert body["spec"] == spec
    key = fake.requests[0].headers["Idempotency-Key"]
    assert body["idempotency_key"] == key
    assert uuid.UUID(key).version == 4, "a fresh uuid4 when the caller gives no key"


def test_submit_uses_the_callers_idempotency_key(fake: FakeServer) -> None:
    fake.on("POST", "/v1/jobs", (200, job_json()))
    fake.client().submit(spec_dict(), idempotency_key="my-key-1")
    assert fake.requests[0].headers["Idempotency-Key"] == "my-key-1"
    assert fake.body()["idempotency_key"] == "my-key-1"


def test_submit_sends_yaml_timestamps_as_iso_text(fake: FakeServer) -> None:
    import yaml

    fake.on("POST", "/v1/jobs", (201, job_json()))
    spec = yaml.safe_load(spec_yaml() + "constraints:\n  deadline: 2025-01-08T00:00:00Z\n")
    assert not isinstance(spec["constraints"]["deadline"], str), "PyYAML makes a datetime of it"
    fake.client().submit(spec)
    assert fake.body()["spec"]["constraints"]["deadline"] == "2025-01-08T00:00:00+00:00"


def test_submit_accepts_a_job_spec_and_sends_its_yaml_names(fake: FakeServer) -> None:
    fake.on("POST", "/v1/jobs", (201, job_json()))
    spec = parse_spec(spec_yaml(run={"command": ["python", "train.py"]}))
    fake.client().submit(spec)
    sent = fake.body()["spec"]
    assert sent["apiVersion"] == "suanli/v1"
    assert sent["run"]["command"] == ["python", "train.py"]
    assert parse_spec(json.dumps(sent)) == spec, "what is sent parses back to the same spec"


def test_jobs_sends_only_the_filters_given(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs", (200, {"jobs": [job_json(), job_json(id="j-2")]}))
    client = fake.client()
    assert [j.id for j in client.jobs()] == ["j-1", "j-2"]
    client.jobs(state="RUNNING", limit=5, all_tenants=True)
    assert dict(fake.requests[0].url.params) == {}
    assert dict(fake.requests[1].url.params) == {"state": "RUNNING", "limit": "5", "all": "true"}


def test_ids_are_escaped_into_one_path_segment(fake: FakeServer) -> None:
    with pytest.raises(NotFound):
        fake.client().job("../tenants")
    assert fake.requests[0].url.raw_path == b"/v1/jobs/..%2Ftenants"


@pytest.mark.parametrize(
    ("call", "method", "path", "body", "answer"),
    [
        (lambda c: c.cancel("j-1"), "POST", "/v1/jobs/j-1/cancel", None, job_json(state="CANCELLED")),
        (
            lambda c: c.explain("j-1"),
            "GET",
            "/v1/jobs/j-1/explain",
            None,
            {"id": "j-1", "state": "PENDING", "summary": "waits", "reasons": [], "options": []},
        ),
        (lambda c: c.sites(), "GET", "/v1/sites", None, {"sites": []}),
        (lambda c: c.usage(), "GET", "/v1/usage", None, {"usage": []}),
        (
            lambda c: c.create_tenant("acme"),
            "POST",
            "/v1/tenants",
            {"name": "acme"},
            {"tenant": {"id": "t1", "name": "acme", "created_at": "2025-01-01T00:00:00Z"}, "token": "x"},
        ),
        (lambda c: c.tenants(), "GET", "/v1/tenants", None, {"tenants": []}),
        (
            lambda c: c.set_share_weight("acme", 4),
            "PATCH",
            "/v1/tenants/acme",
            {"share_weight": 4.0},
            {"id": "t1", "name": "acme", "created_at": "2025-01-01T00:00:00Z", "share_weight": 4.0},
        ),
        (
            lambda c: c.create_token("agent", site="qingyang", name="agent-1"),
            "POST",
            "/v1/tokens",
            {"role": "agent", "tenant": None, "site": "qingyang", "name": "agent-1"},
            {"id": "k1", "role": "agent", "tenant": None, "site": "qingyang", "token": "x"},
        ),
        (
            lambda c: c.set_quota("acme", "nvidia", accelerator_hours=1000, max_concurrent=64),
            "PUT",
            "/v1/tenants/acme/quotas/nvidia",
            {"accelerator_hours": 1000.0, "period_h": 720.0, "max_concurrent": 64},
            {
                "tenant": "acme",
                "family": "nvidia",
                "accelerator_hours": 1000.0,
                "period_h": 720.0,
                "max_concurrent": 64,
                "used_accelerator_hours": 0.0,
                "in_use": 0,
            },
        ),
        (lambda c: c.quotas("acme"), "GET", "/v1/tenants/acme/quotas", None, {"quotas": []}),
        (lambda c: c.filings(), "GET", "/v1/filings", None, {"filings": []}),
        (
            lambda c: c.file_model("qwen2.5-7b", filing_number="Beijing-123"),
            "POST",
            "/v1/filings",
            {"model": "qwen2.5-7b", "filing_number": "Beijing-123", "note": None},
            {
                "id": "f1",
                "tenant": "acme",
                "model": "qwen2.5-7b",
                "status": "pending",
                "filing_number": "Beijing-123",
                "note": None,
                "created_at": "2025-01-01T00:00:00Z",
                "decided_at": None,
            },
        ),
        (
            lambda c: c.decide_filing("f1", approved=True, note="ok"),
            "POST",
            "/v1/filings/f1/decision",
            {"approved": True, "note": "ok"},
            {
                "id": "f1",
                "tenant": "acme",
                "model": "qwen2.5-7b",
                "status": "approved",
                "filing_number": None,
                "note": "ok",
                "created_at": "2025-01-01T00:00:00Z",
                "decided_at": "2025-01-02T00:00:00Z",
            },
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("/") else "",
)
def test_each_call_hits_its_route_with_its_body(
    fake: FakeServer, call: Callable[[Client], Any], method: str, path: str, body: Any, answer: Any
) -> None:
    fake.on(method, path, (201 if method == "POST" else 200, answer))
    call(fake.client())
    assert len(fake.requests) == 1
    assert (fake.requests[0].method, fake.requests[0].url.path) == (method, path)
    if body is not None:
        assert fake.body() == body


def test_audit_asks_for_its_limit(fake: FakeServer) -> None:
    entry = {
        "id": 1,
        "at": "2025-01-01T00:00:00Z",
        "actor": "root",
        "role": "admin",
        "tenant": None,
        "action": "tenant.create",
        "object": "acme",
        "remote": None,
        "detail": None,
    }
    fake.on("GET", "/v1/audit", (200, {"entries": [entry]}))
    assert fake.client().audit(limit=7)[0].action == "tenant.create"
    assert fake.requests[0].url.params["limit"] == "7"


def test_bad_input_is_refused_before_anything_is_sent(fake: FakeServer) -> None:
    with pytest.raises(InvalidRequest, match="name") as caught:
        fake.client().create_tenant("Not A Name")
    assert caught.value.exit_code == 2
    assert fake.requests == []


# -- logs --------------------------------------------------------------------------------------


def logs_json(text: str, next_offset: int, done: bool) -> dict[str, Any]:
    return {"job": "j-1", "text": text, "next_offset": next_offset, "done": done}


def test_logs_asks_from_an_offset(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs/j-1/logs", (200, logs_json("world", 11, False)))
    assert fake.client().logs("j-1", offset=6).text == "world"
    assert fake.requests[0].url.params["offset"] == "6"


def test_follow_logs_yields_new_text_until_the_job_is_done(fake: FakeServer) -> None:
    fake.on(
        "GET",
        "/v1/jobs/j-1/logs",
        (200, logs_json("step 1\n", 7, False)),
        (200, logs_json("", 7, False)),
        (200, logs_json("step 2\n", 14, False)),
        (200, logs_json("done\n", 19, True)),
    )
    client = fake.client()
    slept: list[float] = []
    client._sleep = slept.append
    chunks = list(client.follow_logs("j-1", poll_s=0.5))
    assert chunks == ["step 1\n", "step 2\n", "done\n"]
    assert [r.url.params["offset"] for r in fake.requests] == ["0", "7", "7", "14"]
    assert slept == [0.5], "it waits only when there was nothing new"


# -- errors ------------------------------------------------------------------------------------

ERRORS = [
    (401, Unauthorized),
    (403, Forbidden),
    (404, NotFound),
    (409, Conflict),
    (413, InvalidRequest),
    (422, InvalidRequest),
    (429, RateLimited),
    (400, ApiError),
    (500, ServerUnavailable),
    (503, ServerUnavailable),
]


@pytest.mark.parametrize(("status", "error"), ERRORS, ids=[f"{s} is {e.__name__}" for s, e in ERRORS])
def test_each_error_status_maps_to_its_exception(fake: FakeServer, status: int, error: type[ApiError]) -> None:
    fake.on("POST", "/v1/jobs/j-1/cancel", (status, error_json("SOME_CODE", "it went wrong")))
    with pytest.raises(error) as caught:
        fake.client().cancel("j-1")
    exc = caught.value
    assert type(exc) is error
    assert isinstance(exc, SuanliError)
    assert (exc.status, exc.code, exc.message) == (status, "SOME_CODE", exc.message)
    assert "it went wrong" in str(exc)
    assert exc.exit_code == (2 if status in (413, 422) else 1)
    assert TOKEN not in str(exc) and TOKEN not in repr(exc)


def test_a_422_names_the_fields(fake: FakeServer) -> None:
    details = [{"loc": ["body", "spec", "resources", "count"], "msg": "must be positive", "type": "x"}]
    fake.on("POST", "/v1/jobs", (422, error_json("INVALID_INPUT", "invalid job spec", details)))
    with pytest.raises(InvalidRequest, match=r"invalid job spec \(HTTP 422 INVALID_INPUT\); spec.resources.count"):
        fake.client().submit(spec_dict())
    assert len(fake.requests) == 1, "a 422 is not retried"


def test_fastapis_own_error_shape_is_read_too(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs/x", (422, {"detail": [{"loc": ["path", "id"], "msg": "too long"}]}))
    with pytest.raises(InvalidRequest, match=r"path.id: too long"):
        fake.client().job("x")


def test_a_non_json_error_page_still_gives_a_clear_error(fake: FakeServer) -> None:
    fake.on("POST", "/v1/jobs/j-1/cancel", (502, "<html>Bad Gateway</html>"))
    with pytest.raises(ServerUnavailable, match=r"suanli.test:8000 failed: Bad Gateway \(HTTP 502"):
        fake.client().cancel("j-1")


def test_an_unexpected_answer_is_an_api_error(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs/j-1", (200, {"id": "j-1"}))
    with pytest.raises(ApiError, match=r"unexpected answer .*/v1/jobs/j-1") as caught:
        fake.client().job("j-1")
    assert caught.value.code == "BAD_RESPONSE"


def test_the_error_tree_is_as_drawn() -> None:
    for cls in (Unauthorized, Forbidden, NotFound, Conflict, InvalidRequest, RateLimited, ServerUnavailable):
        assert issubclass(cls, ApiError)
    assert issubclass(StaleLease, Conflict)
    assert issubclass(ApiError, SuanliError)
    assert issubclass(InvalidRequest, InputError), "exit code 2, caught with other input errors"
    assert issubclass(CredentialsError, InputError)


# -- retries -----------------------------------------------------------------------------------


def test_a_submission_is_retried_with_the_same_key(fake: FakeServer) -> None:
    fake.on(
        "POST",
        "/v1/jobs",
        httpx.ConnectError("connection refused"),
        (503, error_json("UNAVAILABLE", "not the leader")),
        (429, error_json("RATE_LIMITED", "slow down"), {"Retry-After": "2"}),
        (201, job_json()),
    )
    client = fake.client()
    slept: list[float] = []
    client._sleep = slept.append
    assert client.submit(spec_dict()).id == "j-1"
    keys = {r.headers["Idempotency-Key"] for r in fake.requests}
    bodies = {fake.body(i)["idempotency_key"] for i in range(4)}
    assert len(fake.requests) == 4
    assert len(keys) == 1 and keys == bodies, "every attempt carries the one key"
    assert slept[2] == 2.0, "a 429's Retry-After is honoured"


def test_after_the_retries_an_unreachable_server_is_named_with_the_fix(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs", httpx.ConnectError("connection refused"))
    with pytest.raises(ServerUnavailable) as caught:
        fake.client(retries=2).jobs()
    assert len(fake.requests) == 3
    message = str(caught.value)
    assert "http://suanli.test:8000" in message
    assert "To fix: start it with `suanli serve` or set SUANLI_SERVER" in message
    assert caught.value.status is None
    assert TOKEN not in message


def test_calls_that_are_not_idempotent_are_sent_once(fake: FakeServer) -> None:
    fake.on("POST", "/v1/jobs/j-1/cancel", (503, error_json("UNAVAILABLE", "busy")))
    with pytest.raises(ServerUnavailable):
        fake.client().cancel("j-1")
    assert len(fake.requests) == 1


def test_a_long_retry_after_is_raised_at_once(fake: FakeServer) -> None:
    fake.on("GET", "/v1/sites", (429, error_json("RATE_LIMITED", "quota of requests"), {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        fake.client().sites()
    assert caught.value.retry_after_s == 3600.0
    assert len(fake.requests) == 1


def test_backoff_doubles(fake: FakeServer) -> None:
    fake.on("GET", "/v1/sites", (500, error_json("INTERNAL", "boom")))
    client = Client(SERVER, TOKEN, transport=fake.transport(), retries=3, backoff_s=1.0)
    slept: list[float] = []
    client._sleep = slept.append
    with pytest.raises(ServerUnavailable):
        client.sites()
    assert len(slept) == 3
    for delay, base in zip(slept, (1.0, 2.0, 4.0), strict=True):
        assert base <= delay <= base * 1.25


# -- the agent link ----------------------------------------------------------------------------


def test_agent_register_heartbeat_and_report(fake: FakeServer) -> None:
    fake.on("POST", "/v1/agents/register", (200, {"site": "qingyang", "heartbeat_interval_s": 5.0}))
    fake.on("POST", "/v1/agents/heartbeat", (200, {"assignments": [], "cancel": ["j-9"], "heartbeat_interval_s": 5}))
    fake.on("POST", "/v1/agents/jobs/j-1/report", (204, None))
    client = fake.client()
    registered = client.register(AgentRegister(site="qingyang", executor="local", inventory={"h800": 8}))
    assert registered == {"site": "qingyang", "heartbeat_interval_s": 5.0}
    beat = client.heartbeat(AgentHeartbeat(site="qingyang", running=[RunningJob(id="j-1", fencing_token=3)]))
    assert beat.cancel == ["j-9"]
    assert fake.body()["running"] == [{"id": "j-1", "fencing_token": 3, "checkpoint": None}]
    report = AgentReport(site="qingyang", fencing_token=3, state="RUNNING", logs="hello\n")
    client.report("j-1", report)
    assert fake.body()["logs"] == "hello\n"


def test_a_report_with_a_stale_fencing_token_raises_stale_lease(fake: FakeServer) -> None:
    fake.on("POST", "/v1/agents/jobs/j-1/report", (409, error_json("STALE_LEASE", "fencing token 3 is not current")))
    with pytest.raises(StaleLease, match="fencing token 3"):
        fake.client().report("j-1", AgentReport(site="qingyang", fencing_token=3))


def test_other_report_errors_keep_their_own_type(fake: FakeServer) -> None:
    fake.on("POST", "/v1/agents/jobs/j-1/report", (403, error_json("FORBIDDEN", "not your site")))
    with pytest.raises(Forbidden):
        fake.client().report("j-1", AgentReport(site="qingyang", fencing_token=3))


# -- server, token and the login file -----------------------------------------------------------


def test_env_overrides_the_login_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials("http://saved.test:1", "saved-token")
    assert Client().server == "http://saved.test:1"
    monkeypatch.setenv("SUANLI_SERVER", "http://env.test:2")
    monkeypatch.setenv("SUANLI_TOKEN", "env-token")
    client = Client()
    assert client.server == "http://env.test:2"
    assert client._token == "env-token"
    assert Client("http://arg.test:3", "arg-token").server == "http://arg.test:3", "arguments come first"


def test_the_saved_token_goes_only_to_the_server_it_was_saved_for(monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials("http://saved.test:1/", "saved-token")
    assert Client()._token == "saved-token"
    assert Client("http://saved.test:1")._token == "saved-token"
    monkeypatch.setenv("SUANLI_SERVER", "http://elsewhere.test:9")
    assert Client()._token is None


def test_with_nothing_configured_the_local_default_server_is_used() -> None:
    client = Client()
    assert client.server == suanli.client.DEFAULT_SERVER
    assert not client.has_token


def test_the_login_file_is_private(isolated: Path) -> None:
    path = write_credentials("http://saved.test:1/", TOKEN)
    assert path == credentials_path() == isolated / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"server": "http://saved.test:1", "token": TOKEN}
    write_credentials("http://saved.test:1", "another")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "still private when replaced"
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"], "no temporary file left"


def test_a_broken_login_file_says_how_to_fix_it(isolated: Path) -> None:
    isolated.mkdir()
    (isolated / "credentials.json").write_text("{not json")
    with pytest.raises(CredentialsError, match=r"not valid JSON\. To fix: run `suanli login` again"):
        Client()
    (isolated / "credentials.json").write_text('["a"]')
    with pytest.raises(CredentialsError, match="expected"):
        read_credentials()


@pytest.mark.parametrize("server", ["localhost:8000", "ftp://host", "http://"])
def test_a_server_that_is_not_an_http_url_is_an_input_error(server: str) -> None:
    with pytest.raises(InputError, match="not an http"):
        Client(server, TOKEN)


def test_a_token_with_spaces_is_refused_without_showing_it() -> None:
    with pytest.raises(InputError, match="spaces or control characters") as caught:
        Client(SERVER, "abc def")
    assert "abc def" not in str(caught.value)


# -- the token never leaks -----------------------------------------------------------------------


def test_the_token_is_not_in_the_clients_repr() -> None:
    client = Client(SERVER, TOKEN)
    assert TOKEN not in repr(client)
    assert repr(client) == "Client(server='http://suanli.test:8000', token=***)"
    write_credentials(SERVER, TOKEN)
    assert TOKEN not in repr(read_credentials())


def test_a_password_in_the_server_url_is_not_shown(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs", httpx.ConnectError("refused"))
    client = Client("http://user:hunter2@suanli.test:8000", TOKEN, transport=fake.transport(), retries=0)
    assert "hunter2" not in repr(client)
    with pytest.raises(ServerUnavailable) as caught:
        client.jobs()
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("status", [401, 403, 404, 409, 422, 429, 500])
def test_the_token_is_in_no_error_even_when_the_server_echoes_the_header(fake: FakeServer, status: int) -> None:
    fake.on("GET", "/v1/sites", (status, error_json("X", "refused")))
    with pytest.raises(ApiError) as caught:
        fake.client(retries=0).sites()
    for text in (str(caught.value), repr(caught.value)):
        assert TOKEN not in text


def test_an_unauthorized_error_says_how_to_log_in(fake: FakeServer) -> None:
    fake.on("GET", "/v1/sites", (401, error_json("UNAUTHORIZED", "unknown token")))
    with pytest.raises(Unauthorized, match="suanli login --server URL --token TOKEN"):
        fake.client().sites()


# -- the public API ------------------------------------------------------------------------------


def public_names(module: Any) -> Iterator[str]:
    for name, value in vars(module).items():
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__:
            yield name


def test_all_is_sorted_complete_and_resolves() -> None:
    from suanli.client import _client, _credentials, _errors

    exported = suanli.client.__all__
    constants_classes_functions = sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert exported == constants_classes_functions, "sorted as ruff's RUF022 sorts"
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert getattr(suanli.client, name) is not None
    errors = {n for n in public_names(_errors) if isinstance(getattr(_errors, n), type)}
    assert errors <= set(exported), f"exceptions missing from __all__: {errors - set(exported)}"
    assert "Client" in set(public_names(_client))
    assert {"read_credentials", "write_credentials", "credentials_path"} <= set(public_names(_credentials))
