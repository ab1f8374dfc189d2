"""Bad input gets a 4xx that says what was wrong, never a 500: a table of malformed bodies,
unknown fields, absurd numbers and unknown names, each with its exact status, machine code
and the field or value its message must name. Then the refusals that need a history
(stale fencing tokens, cancelling twice, the filing gate), idempotent submission, rate
limiting, and tokens kept out of every log line and error body.

Everything runs on SQLite and PostgreSQL (which refuses NUL characters SQLite stores).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from suanli.server.logs import JsonFormatter
from suanli.service.control.plane import Settings
from suanli.store import Store
from tests.api_builders import AGENT_SITE, TENANT_A, Network, job_spec, network_per_module, service_spec

NOTHING: Any = object()
"""No JSON body."""


@dataclass(frozen=True)
class Bad:
    """One bad request and the refusal it must get."""

    method: str
    path: str
    status: int
    code: str
    names: tuple[str, ...]
    """Text the message must contain: the offending field and value."""
    json: Any = NOTHING
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    who: str = "tenant_a"


def submit(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"spec": spec, **extra}


def body(status: int, code: str, names: tuple[str, ...], text: str | bytes, media: str = "application/json") -> Bad:
    """``POST /v1/jobs`` with ``text`` as its body."""
    content = text.encode() if isinstance(text, str) else text
    return Bad("POST", "/v1/jobs", status, code, names, content=content, headers={"Content-Type": media})


def spec(status: int, code: str, names: tuple[str, ...], **overrides: Any) -> Bad:
    """``POST /v1/jobs`` of :func:`job_spec` with ``overrides``."""
    return Bad("POST", "/v1/jobs", status, code, names, json=submit(job_spec(**overrides)))


def admin(method: str, path: str, status: int, code: str, names: tuple[str, ...], json: Any) -> Bad:
    return Bad(method, path, status, code, names, json=json, who="admin")


def agent(path: str, status: int, code: str, names: tuple[str, ...], json: Any, who: str = "agent") -> Bad:
    return Bad("POST", path, status, code, names, json=json, who=who)


def on_h800(count: Any) -> dict[str, Any]:
    return {"accelerators": ["h800"], "count": count}


def inventory(counts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"site": AGENT_SITE, "executor": "local", "inventory": counts, **fields}


DEEP = json.loads('{"a": ' * 40 + "1" + "}" * 40)
QUOTA = f"/v1/tenants/{TENANT_A}/quotas"
REPORT = "/v1/agents/jobs/j-000000000000/report"
INVALID = "INVALID_REQUEST"
"""A wire model refused the request (FastAPI's validation); ``INVALID_INPUT``: the job spec did."""

CASES = {
    # -- the body as a whole
    "invalid JSON is refused where it breaks": body(
        422, "INVALID_JSON", ("not valid JSON", "Expecting value", "character 18"), '{"spec": {"name": '
    ),
    "YAML sent as JSON is invalid JSON": body(422, "INVALID_JSON", ("not valid JSON",), "spec:\n  kind: Training\n"),
    "JSON that is not an object names the body": body(422, INVALID, ("'body'", "dictionary"), "[1, 2, 3]"),
    "an empty body is a missing body": body(422, INVALID, ("'body'", "required"), ""),
    "a body that is not UTF-8 cannot be parsed": body(
        400, "UNPARSABLE_BODY", ("parsing the body", "UTF-8 JSON"), b'{"spec": "\xff\xfe"}'
    ),
    "JSON nested 100,000 deep cannot be parsed": body(
        400, "UNPARSABLE_BODY", ("parsing the body", "UTF-8 JSON"), "[" * 100_000 + "]" * 100_000
    ),
    "a 2 MB body is refused before it is read": body(
        413, "BODY_TOO_LARGE", ("1000000 bytes",), b"[" + b"0," * 1_000_000 + b"0]"
    ),
    "a text/plain body names the Content-Type to use": body(
        415, "UNSUPPORTED_MEDIA_TYPE", ("'text/plain'", "application/json"), '{"spec": {}}', "text/plain"
    ),
    "a YAML body names the Content-Type to use": body(
        415, "UNSUPPORTED_MEDIA_TYPE", ("'application/yaml'", "application/json"), "spec: {}\n", "application/yaml"
    ),
    "an unknown top-level field is named": Bad(
        "POST", "/v1/jobs", 422, INVALID, ("body.priority", "not permitted"), json=submit(job_spec(), priority=9)
    ),
    "a spec that is not an object names the spec": Bad(
        "POST", "/v1/jobs", 422, INVALID, ("body.spec", "dictionary"), json={"spec": "train please"}
    ),
    "a spec nested 40 deep is refused before it is stored": spec(
        422, INVALID, ("body.spec", "deeper than 32"), run={"command": ["true"], "runtime_env": DEEP}
    ),
    # -- the spec
    "an unknown spec field is named": spec(422, "INVALID_INPUT", ("'gpus'", "unknown field"), gpus=8),
    "negative tokens_b is refused": spec(422, "INVALID_INPUT", ("tokens_b", "greater than 0"), tokens_b=-1),
    "absurd tokens_b is refused": spec(422, "INVALID_INPUT", ("tokens_b", "less than or equal"), tokens_b=1e300),
    "a count of 10**9 accelerators is refused": spec(
        422, "INVALID_INPUT", ("resources.count", "1,000,000"), resources=on_h800(10**9)
    ),
    "a fractional count is refused": spec(
        422, "INVALID_INPUT", ("resources.count", "fractional"), resources=on_h800(1.5)
    ),
    "an unknown accelerator lists the valid ones": spec(
        422,
        "INVALID_INPUT",
        ("resources.accelerators[0]", "'tpu-v9'", "ascend-910b"),
        resources={"accelerators": ["tpu-v9"], "count": 1},
    ),
    "an unknown model lists the valid ones": spec(
        422, "INVALID_INPUT", ("'model'", "'gpt-17'", "qwen2.5-7b"), model="gpt-17"
    ),
    "a boolean where a number is meant is refused": spec(
        422, "INVALID_INPUT", ("tokens_b", "boolean true"), tokens_b=True
    ),
    "an unknown kind lists the kinds": spec(422, "INVALID_INPUT", ("'kind'", "FineTuning"), kind="Pretraining"),
    "a spec without run: says how to add one": spec(422, "RUN_MISSING", ("'run:'", "command"), run=None),
    "an empty command is refused": spec(422, "INVALID_INPUT", ("run.command",), run={"command": []}),
    "an env var named SUANLI_X is reserved for the agent": spec(
        422, "INVALID_INPUT", ("run.env", "'SUANLI_X'"), run={"command": ["true"], "env": {"SUANLI_X": "1"}}
    ),
    "a job no site can host says why": spec(
        422, "NO_FEASIBLE_PLACEMENT", ("INSUFFICIENT_MEMORY",), model={"params_b": 99_999}
    ),
    # -- idempotency keys
    "a 500-character Idempotency-Key header is refused": Bad(
        "POST",
        "/v1/jobs",
        422,
        INVALID,
        ("header.idempotency-key", "128"),
        json=submit(job_spec()),
        headers={"Idempotency-Key": "k" * 500},
    ),
    "a 500-character idempotency_key in the body is refused": Bad(
        "POST",
        "/v1/jobs",
        422,
        INVALID,
        ("body.idempotency_key", "128"),
        json=submit(job_spec(), idempotency_key="k" * 500),
    ),
    # -- query parameters
    "an unknown state filter lists the states": Bad(
        "GET", "/v1/jobs", 422, "UNKNOWN_STATE", ("'DONE'", "SUCCEEDED"), params={"state": "DONE"}
    ),
    "limit=0 is refused": Bad("GET", "/v1/jobs", 422, INVALID, ("query.limit", "1"), params={"limit": 0}),
    "limit=10**9 is refused": Bad("GET", "/v1/jobs", 422, INVALID, ("query.limit", "1000"), params={"limit": 10**9}),
    "a limit that is not a number is refused": Bad(
        "GET", "/v1/jobs", 422, INVALID, ("query.limit", "integer"), params={"limit": "all"}
    ),
    "a negative log offset is refused": Bad(
        "GET", "/v1/jobs/j-000000000000/logs", 422, INVALID, ("query.offset", "0"), params={"offset": -1}
    ),
    # -- admin
    "a quota with negative hours is refused": admin(
        "PUT", f"{QUOTA}/*", 422, INVALID, ("body.accelerator_hours", "0"), {"accelerator_hours": -5}
    ),
    "a quota over a zero period is refused": admin(
        "PUT", f"{QUOTA}/*", 422, INVALID, ("body.period_h", "greater than 0"), {"period_h": 0}
    ),
    "a boolean quota is refused": admin(
        "PUT", f"{QUOTA}/*", 422, INVALID, ("body.max_concurrent", "integer"), {"max_concurrent": True}
    ),
    "a quota given as text is refused": admin(
        "PUT", f"{QUOTA}/*", 422, INVALID, ("body.accelerator_hours", "number"), {"accelerator_hours": "10"}
    ),
    "a quota for an unknown family lists the families": admin(
        "PUT", f"{QUOTA}/tpu", 422, "UNKNOWN_FAMILY", ("'tpu'", "hopper"), {"max_concurrent": 4}
    ),
    "a quota for an unknown tenant is not found": admin(
        "PUT", "/v1/tenants/nobody/quotas/*", 404, "NOT_FOUND", ("'nobody'",), {"max_concurrent": 4}
    ),
    "a tenant name with capitals is refused": admin(
        "POST", "/v1/tenants", 422, INVALID, ("body.name",), {"name": "ACME"}
    ),
    "an existing tenant name is a conflict": admin(
        "POST", "/v1/tenants", 409, "TENANT_EXISTS", (f"'{TENANT_A}'",), {"name": TENANT_A}
    ),
    "an agent token for an unknown site lists the sites": admin(
        "POST", "/v1/tokens", 422, "UNKNOWN_SITE", ("'atlantis'", "qingyang"), {"role": "agent", "site": "atlantis"}
    ),
    "a tenant token without its tenant says so": admin(
        "POST", "/v1/tokens", 422, "TENANT_REQUIRED", ("'tenant'",), {"role": "tenant"}
    ),
    "a decision on an unknown filing is not found": admin(
        "POST", "/v1/filings/f-nope/decision", 404, "NOT_FOUND", ("'f-nope'",), {"approved": True}
    ),
    "a decision of 'yes' is not a boolean": admin(
        "POST", "/v1/filings/f-nope/decision", 422, INVALID, ("body.approved", "boolean"), {"approved": "yes"}
    ),
    # -- agents
    "registering an unknown accelerator lists the known ones": agent(
        "/v1/agents/register", 422, "UNKNOWN_ACCELERATOR", ("tpu-v9", "h800"), inventory({"tpu-v9": 8})
    ),
    "registering negative counts is refused": agent(
        "/v1/agents/register", 422, "BAD_INVENTORY", ("'h800': -4",), inventory({"h800": -4})
    ),
    "registering 10**12 accelerators is refused": agent(
        "/v1/agents/register", 422, "BAD_INVENTORY", ("'h800': 1000000000000",), inventory({"h800": 10**12})
    ),
    "registering an unknown executor lists the executors": agent(
        "/v1/agents/register", 422, INVALID, ("body.executor", "'slurm'"), inventory({"h800": 2}, executor="k8s")
    ),
    "registering an empty inventory is refused": agent(
        "/v1/agents/register", 422, INVALID, ("body.inventory", "at least 1"), inventory({})
    ),
    "a heartbeat before registering says to register": agent(
        "/v1/agents/heartbeat", 409, "NOT_REGISTERED", ("'wuhu'", "register"), {"site": "wuhu"}, who="agent@wuhu"
    ),
    "a fencing token given as text is refused": agent(
        "/v1/agents/heartbeat",
        422,
        INVALID,
        ("body.running.0.fencing_token", "integer"),
        {"site": AGENT_SITE, "running": [{"id": "j-1", "fencing_token": "1"}]},
    ),
    "a report with an exit code of 1000 is refused": agent(
        REPORT, 422, INVALID, ("body.exit_code", "255"), {"site": AGENT_SITE, "fencing_token": 1, "exit_code": 1000}
    ),
    "a report for an unknown job is not found": agent(
        REPORT, 404, "NOT_FOUND", ("'j-000000000000'",), {"site": AGENT_SITE, "fencing_token": 1}
    ),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with network_per_module(request, tmp_path_factory) as net:
        net.register(AGENT_SITE)
        net.agent_token("wuhu")
        yield net


@pytest.fixture
def fresh(store: Store) -> Network:
    """A network of its own (for tests whose history would disturb others)."""
    return Network.build(store)


def send(net: Network, bad: Bad) -> httpx.Response:
    site = bad.who.partition("agent@")[2]
    token = net.agent_token(site) if site else net.tokens[bad.who]
    headers = {"Authorization": f"Bearer {token}", **bad.headers}
    kwargs: dict[str, Any] = {"headers": headers, "params": bad.params}
    if bad.json is not NOTHING:
        kwargs["json"] = bad.json
    if bad.content is not None:
        kwargs["content"] = bad.content
    return net.api.request(bad.method, bad.path, **kwargs)


@pytest.mark.parametrize("bad", CASES.values(), ids=CASES.keys())
def test_bad_input_gets_a_4xx_naming_what_was_wrong(net: Network, bad: Bad) -> None:
    response = send(net, bad)
    assert response.status_code < 500, response.text
    body = response.json()
    assert (response.status_code, body["code"]) == (bad.status, bad.code), body
    assert set(body) == {"code", "message", "details"}
    for text in bad.names:
        assert text in body["message"], f"{text!r} not in {body['message']!r}"


NULS = {
    "a filing's model": ("POST", "/v1/filings", {"model": "qwen\x00"}, "tenant_a", 201),
    "a filing's note": ("POST", "/v1/filings", {"model": "qwen", "note": "\x00"}, "tenant_a", 201),
    "a token's name": ("POST", "/v1/tokens", {"role": "operator", "name": "ops\x00"}, "admin", 201),
    "an idempotency key": ("POST", "/v1/jobs", submit(job_spec(), idempotency_key="k\x00"), "tenant_a", 201),
    "a job id": ("GET", "/v1/jobs/j-%00", None, "tenant_a", 404),
    "a tenant in a path": ("GET", "/v1/tenants/ac%00me/quotas", None, "admin", 404),
}


@pytest.mark.parametrize(("method", "path", "body", "who", "on_sqlite"), NULS.values(), ids=NULS.keys())
def test_a_nul_character_is_stored_by_sqlite_and_refused_by_postgresql_never_a_500(
    net: Network, method: str, path: str, body: dict[str, Any] | None, who: str, on_sqlite: int
) -> None:
    response = net.api.request(method, path, json=body, headers=net.headers(who))
    if net.cp.store.dialect == "sqlite":
        assert response.status_code == on_sqlite, response.text
    else:
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "INVALID_VALUE"
        assert "NUL" in response.json()["message"]


def test_an_agent_passes_on_a_jobs_nul_characters_as_replacement_characters(fresh: Network) -> None:
    job = fresh.place("tenant_a", AGENT_SITE)
    report = {"site": AGENT_SITE, "fencing_token": 1, "state": "RUNNING", "logs": "a\x00b\n", "checkpoint": "c\x00"}
    answer = fresh.api.post(f"/v1/agents/jobs/{job.id}/report", json=report, headers=fresh.headers("agent"))
    assert answer.status_code == 204, answer.text
    logs = fresh.api.get(f"/v1/jobs/{job.id}/logs", headers=fresh.headers("tenant_a")).json()
    assert (logs["text"], logs["next_offset"]) == ("a\ufffdb\n", 4)
    beat = {"site": AGENT_SITE, "running": [{"id": job.id, "fencing_token": 1, "checkpoint": "d\x00"}]}
    assert fresh.api.post("/v1/agents/heartbeat", json=beat, headers=fresh.headers("agent")).status_code == 200
    assert fresh.job(job.id)["checkpoint"] == "d\ufffd"


# -- refusals that need a history --------------------------------------------------------------


def test_a_report_with_a_stale_fencing_token_is_409_stale_lease(fresh: Network) -> None:
    net = fresh
    job = net.place("tenant_a", AGENT_SITE)
    report = {"site": AGENT_SITE, "fencing_token": 0, "state": "RUNNING"}
    response = net.api.post(f"/v1/agents/jobs/{job.id}/report", json=report, headers=net.headers("agent"))
    assert response.status_code == 409
    assert response.json()["code"] == "STALE_LEASE"
    assert "token 1" in response.json()["message"] and "token 0" in response.json()["message"]
    fresh = {**report, "fencing_token": 1}
    assert net.api.post(f"/v1/agents/jobs/{job.id}/report", json=fresh, headers=net.headers("agent")).status_code == 204


def test_cancelling_twice_is_409_already_finished(net: Network) -> None:
    job = net.submit()
    first = net.api.post(f"/v1/jobs/{job.id}/cancel", headers=net.headers("tenant_a"))
    assert (first.status_code, first.json()["state"]) == (200, "CANCELLED")
    again = net.api.post(f"/v1/jobs/{job.id}/cancel", headers=net.headers("tenant_a"))
    assert again.status_code == 409
    assert again.json()["code"] == "ALREADY_FINISHED"
    assert "already CANCELLED" in again.json()["message"]


def test_a_public_service_waits_for_its_filing_and_then_the_same_submit_succeeds(net: Network) -> None:
    body = {"spec": service_spec("chat-bot", model="glm-4-9b")}
    refused = net.api.post("/v1/jobs", json=body, headers=net.headers("tenant_a"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "FILING_NOT_APPROVED"
    assert "'glm-4-9b'" in refused.json()["message"]

    filed = net.api.post("/v1/filings", json={"model": "glm-4-9b"}, headers=net.headers("tenant_a"))
    assert (filed.status_code, filed.json()["status"]) == (201, "pending")
    assert net.api.post("/v1/jobs", json=body, headers=net.headers("tenant_a")).status_code == 403
    decided = net.api.post(
        f"/v1/filings/{filed.json()['id']}/decision", json={"approved": True}, headers=net.headers("operator")
    )
    assert (decided.status_code, decided.json()["status"]) == (200, "approved")
    accepted = net.api.post("/v1/jobs", json=body, headers=net.headers("tenant_a"))
    assert accepted.status_code == 201, accepted.text


# -- idempotent submission ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["header", "body"])
def test_the_same_idempotency_key_twice_is_201_then_200_with_the_same_job(net: Network, where: str) -> None:
    key = f"retry-{where}-{time.monotonic_ns()}"
    body = submit(job_spec("once"), **({"idempotency_key": key} if where == "body" else {}))
    headers = {**net.headers("tenant_a"), **({"Idempotency-Key": key} if where == "header" else {})}
    first = net.api.post("/v1/jobs", json=body, headers=headers)
    second = net.api.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    listed = net.api.get("/v1/jobs", params={"limit": 1000}, headers=net.headers("tenant_a")).json()["jobs"]
    assert [job["id"] for job in listed].count(first.json()["id"]) == 1


def test_two_tenants_with_the_same_idempotency_key_get_two_jobs(net: Network) -> None:
    key = f"shared-{time.monotonic_ns()}"
    ids = []
    for who in ("tenant_a", "tenant_b"):
        response = net.api.post(
            "/v1/jobs", json=submit(job_spec()), headers={**net.headers(who), "Idempotency-Key": key}
        )
        assert response.status_code == 201, (who, response.text)
        ids.append(response.json()["id"])
    assert ids[0] != ids[1]


# -- rate limiting -----------------------------------------------------------------------------


def test_requests_beyond_the_burst_get_429_with_retry_after(store: Store) -> None:
    net = Network.build(store, Settings(policy="fifo", rate_per_s=0.05, burst=3))  # a request per 20 s
    answers = [net.api.get("/v1/jobs", headers=net.headers("tenant_a")) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.json()["code"] == "RATE_LIMITED"
    assert "retry in" in limited.json()["message"]
    assert 10 <= int(limited.headers["Retry-After"]) <= 20
    assert net.api.get("/v1/jobs", headers=net.headers("tenant_b")).status_code == 200, "per token"
    assert net.api.get("/v1/health").status_code == 200, "health needs no token and has no limit"


# -- tokens stay out of logs and error bodies --------------------------------------------------

LOGGERS = ("", "suanli", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "starlette", "sqlalchemy.engine")


class Captured(logging.Handler):
    """Every record of the loggers above, formatted as the server formats them (with extras)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def served(store: Store) -> Iterator[tuple[Network, str]]:
    """The app under a real uvicorn (debug logs, access log) on a free port."""
    net = Network.build(store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app: Any = net.api.app
    config = uvicorn.Config(app, log_config=None, log_level="debug", access_log=True, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield net, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_no_token_appears_in_any_log_line_or_error_body(captured: Captured, served: tuple[Network, str]) -> None:
    net, base = served
    forged = ["sl_" + "F" * 43, "sl_" + "G" * 300, "not-a-suanli-token-HHHHHHHH"]
    secrets = [*net.tokens.values(), *forged]
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=base, timeout=10) as http:
        for token in [*net.tokens.values(), *forged]:
            bearer = {"Authorization": f"Bearer {token}"}
            answers += [
                http.get("/v1/jobs", headers=bearer),
                http.post("/v1/jobs", json=submit(job_spec()), headers=bearer),
                http.post("/v1/jobs", json={"spec": job_spec(tokens_b=-1)}, headers=bearer),
                http.get("/v1/jobs/j-000000000000", headers=bearer),
                http.post("/v1/agents/heartbeat", json={"site": AGENT_SITE}, headers=bearer),
                http.get("/v1/audit", headers=bearer),
            ]
        answers.append(http.get("/v1/jobs", headers={"Authorization": f"Basic {net.tokens['tenant_a']}"}))
        answers.append(http.get("/v1/jobs", headers={"Authorization": net.tokens["tenant_a"]}))
        made = http.post("/v1/tenants", json={"name": "initech"}, headers=net.headers("admin"))
        minted = http.post("/v1/tokens", json={"role": "operator"}, headers=net.headers("admin"))
    secrets += [made.json()["token"], minted.json()["token"]]
    assert {a.status_code for a in answers} >= {200, 201, 401, 403, 404, 422}
    assert any("uvicorn" in line for line in captured.lines), "the capture sees uvicorn's logs"
    assert any('"msg": "request"' in line for line in captured.lines), "and the access log at debug"
    for secret in secrets:
        assert not [line for line in captured.lines if secret in line], "a token reached a log line"
        assert not [a.text for a in answers if a.status_code >= 400 and secret in a.text], "a token in an error"
