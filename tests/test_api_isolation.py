"""Tenant isolation, as a matrix over every route of the API x every kind of caller.

Each route lists the answer each caller gets (its status class: 2xx, 401, 403 or 404):
an admin, an operator, tenant A on its own objects, tenant B on A's objects, a site's agent,
no token, and a token nobody issued. The routes are read from the app, so a new route
without a row here fails :func:`test_every_route_of_the_app_has_a_row_in_the_matrix`.

Besides the status, every 2xx that tenant B gets must not mention A's objects (its job, its
filing, its name), and a 404 for A's job must read exactly like the 404 for a job that does
not exist, so ids leak nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from suanli.server.routes import router as v1_router
from suanli.service.control.admin import create_token
from suanli.service.control.auth import LOCAL_ADMIN
from suanli.store import jobs as job_rows
from tests.api_builders import AGENT_SITE, TENANT_A, Network, job_spec, network_per_module

OK, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND = "2xx", 401, 403, 404
CALLERS = ("admin", "operator", "owner", "other", "agent", "no token", "bad token")
MISSING_JOB = "j-000000000000"


@dataclass(frozen=True)
class Access:
    """The answer of one route to each caller; ``owner`` and ``other`` are tenants A and B
    acting on A's objects (on routes without an object, each on its own)."""

    admin: str | int
    operator: str | int
    owner: str | int
    other: str | int
    agent: str | int
    anonymous: str | int = UNAUTHENTICATED
    """No token, or a token nobody issued."""

    def of(self, caller: str) -> str | int:
        if caller in ("no token", "bad token"):
            return self.anonymous
        return {
            "admin": self.admin,
            "operator": self.operator,
            "owner": self.owner,
            "other": self.other,
            "agent": self.agent,
        }[caller]


PUBLIC = Access(OK, OK, OK, OK, OK, anonymous=OK)
STAFF_ONLY = Access(OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN)
TENANTS_ONLY = Access(FORBIDDEN, FORBIDDEN, OK, OK, FORBIDDEN)
EVERYONE = Access(OK, OK, OK, OK, OK)
"""Any valid token (the network's sites and their use, no tenant's data)."""
READERS = Access(OK, OK, OK, OK, FORBIDDEN)
"""Staff see all, each tenant its own (tenant B's answer is checked for A's objects)."""
A_S_OBJECT = Access(OK, OK, OK, NOT_FOUND, FORBIDDEN)
AGENTS_ONLY = Access(FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
STAFF_AND_TENANTS = Access(OK, OK, OK, OK, FORBIDDEN)
"""Quotes: anyone but an agent (nobody's data in the answer but the network's)."""

MATRIX: dict[tuple[str, str], Access] = {
    ("GET", "/v1/health"): PUBLIC,
    ("GET", "/v1/openapi.json"): PUBLIC,
    ("GET", "/v1/docs"): PUBLIC,
    ("GET", "/"): PUBLIC,  # the dashboard's page (its data comes from the routes below, with the user's token)
    ("GET", "/ui/geo"): EVERYONE,  # the catalogue's site coordinates, for the dashboard's map
    ("GET", "/metrics"): STAFF_ONLY,  # names tenants and their use: a staff token (or --public-metrics)
    # jobs
    ("POST", "/v1/jobs"): TENANTS_ONLY,
    ("POST", "/v1/jobs:batch"): TENANTS_ONLY,
    ("GET", "/v1/whoami"): EVERYONE,
    ("POST", "/v1/plan"): STAFF_AND_TENANTS,
    ("POST", "/v1/estimate"): STAFF_AND_TENANTS,
    ("GET", "/v1/jobs"): READERS,
    ("GET", "/v1/jobs/{job_id}"): A_S_OBJECT,
    ("POST", "/v1/jobs/{job_id}/cancel"): A_S_OBJECT,
    ("GET", "/v1/jobs/{job_id}/logs"): A_S_OBJECT,
    ("GET", "/v1/jobs/{job_id}/logs/stream"): A_S_OBJECT,
    ("GET", "/v1/jobs/{job_id}/explain"): A_S_OBJECT,
    ("GET", "/v1/usage"): READERS,
    ("GET", "/v1/history"): READERS,
    ("GET", "/v1/sites"): EVERYONE,
    # admin
    ("POST", "/v1/tenants"): STAFF_ONLY,
    ("GET", "/v1/tenants"): STAFF_ONLY,
    ("PATCH", "/v1/tenants/{tenant}"): STAFF_ONLY,  # a tenant's fair-share weight
    ("POST", "/v1/tokens"): STAFF_ONLY,
    ("GET", "/v1/tokens"): STAFF_ONLY,
    ("DELETE", "/v1/tokens/{token_id}"): STAFF_ONLY,  # a fresh token of tenant A's per cell
    ("PUT", "/v1/tenants/{tenant}/quotas/{family}"): STAFF_ONLY,
    ("GET", "/v1/tenants/{tenant}/quotas"): A_S_OBJECT,
    ("GET", "/v1/quotas"): READERS,  # staff: every tenant's; a tenant: its own
    ("GET", "/v1/audit"): STAFF_ONLY,
    # compliance
    ("POST", "/v1/filings"): TENANTS_ONLY,
    ("GET", "/v1/filings"): READERS,
    ("POST", "/v1/filings/{filing_id}/decision"): STAFF_ONLY,
    # agents
    ("POST", "/v1/agents/register"): AGENTS_ONLY,
    ("POST", "/v1/agents/heartbeat"): AGENTS_ONLY,
    ("POST", "/v1/agents/jobs/{job_id}/report"): AGENTS_ONLY,
    ("GET", "/v1/agents/jobs/{job_id}/assignment"): AGENTS_ONLY,
}


# -- the scene each cell runs in ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """One network per store for the whole matrix (each cell makes its own objects)."""
    with network_per_module(request, tmp_path_factory) as net:
        net.register(AGENT_SITE)
        yield net


@dataclass(frozen=True)
class Scene:
    """Tenant A's objects, fresh for one cell: a job placed at the agent's site, a filing,
    a second token (the one a revocation revokes)."""

    job: str
    fencing_token: int
    filing: str
    token: str


def new_scene(net: Network) -> Scene:
    job = net.submit("tenant_a", job_spec("a-secret-job"))
    with net.cp.store.engine.begin() as conn:
        job_rows.place(conn, job.id, AGENT_SITE, "h800", net.clock.now_s(), [])
    filing = net.api.post("/v1/filings", json={"model": "acme-secret-model"}, headers=net.headers("tenant_a"))
    assert filing.status_code == 201, filing.text
    token = create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A, name="revocable").id
    return Scene(job.id, net.job(job.id)["fencing_token"], filing.json()["id"], token)


_names = itertools.count()


def body_for(method: str, path: str, scene: Scene) -> dict[str, Any] | None:
    """A valid body for the route (so only who calls decides the answer)."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/jobs"): {"spec": job_spec("own-job")},
        ("POST", "/v1/jobs:batch"): {"jobs": [{"spec": job_spec("own-batch-job")}]},
        ("POST", "/v1/plan"): {"spec": job_spec("quote")},
        ("POST", "/v1/estimate"): {"spec": job_spec("quote"), "accelerator": "h800", "count": 1},
        ("POST", "/v1/tenants"): {"name": f"tenant-{next(_names)}"},
        ("POST", "/v1/tokens"): {"role": "tenant", "tenant": TENANT_A},
        ("PUT", "/v1/tenants/{tenant}/quotas/{family}"): {"max_concurrent": 100},
        ("PATCH", "/v1/tenants/{tenant}"): {"share_weight": 2},
        ("POST", "/v1/filings"): {"model": "own-model"},
        ("POST", "/v1/filings/{filing_id}/decision"): {"approved": True},
        ("POST", "/v1/agents/register"): {"site": AGENT_SITE, "executor": "local", "inventory": {"h800": 2}},
        ("POST", "/v1/agents/heartbeat"): {"site": AGENT_SITE, "running": []},
        ("POST", "/v1/agents/jobs/{job_id}/report"): {
            "site": AGENT_SITE,
            "fencing_token": scene.fencing_token,
            "logs": "step 1\n",
        },
    }
    return bodies.get((method, path))


def call(net: Network, caller: str, method: str, path: str, scene: Scene, job_id: str | None = None) -> httpx.Response:
    url = path.format(
        job_id=job_id or scene.job, tenant=TENANT_A, family="*", filing_id=scene.filing, token_id=scene.token
    )
    if path.endswith("/assignment"):
        url += f"?fencing_token={scene.fencing_token}"
    if path.endswith("/logs/stream"):
        url += "?timeout_s=0.2"  # the scene's job runs on: the stream would follow it
    headers = {
        "admin": net.headers("admin"),
        "operator": net.headers("operator"),
        "owner": net.headers("tenant_a"),
        "other": net.headers("tenant_b"),
        "agent": net.headers("agent"),
        "no token": {},
        "bad token": {"Authorization": "Bearer sl_" + "x" * 43},
    }[caller]
    return net.api.request(method, url, json=body_for(method, path, scene), headers=headers)


def status_class(status: int) -> str | int:
    return OK if 200 <= status < 300 else status


# -- the matrix --------------------------------------------------------------------------------


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves: its OpenAPI operations, and the routes kept out
    of the OpenAPI (the app's own, and the ``/v1`` router's)."""
    found = {(method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations}
    for route in (*app.routes, *v1_router.routes):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, getattr(route, "path", "")))
    return found


def test_every_route_of_the_app_has_a_row_in_the_matrix(net: Network) -> None:
    routes = served_routes(net.api.app)  # type: ignore[arg-type]
    assert routes - set(MATRIX) == set(), "routes without a row: add who may call them to MATRIX"
    assert set(MATRIX) - routes == set(), "rows for routes the app no longer has"


CELLS = [
    pytest.param(method, path, caller, id=f"{method} {path} by {caller} is {MATRIX[(method, path)].of(caller)}")
    for (method, path) in MATRIX
    for caller in CALLERS
]


@pytest.mark.parametrize(("method", "path", "caller"), CELLS)
def test_the_route_answers_the_caller_as_the_matrix_says(net: Network, method: str, path: str, caller: str) -> None:
    scene = new_scene(net)
    response = call(net, caller, method, path, scene)
    expected = MATRIX[(method, path)].of(caller)
    assert status_class(response.status_code) == expected, response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"code", "message", "details"}, "the error model"
    if caller == "other" and expected == OK and MATRIX[(method, path)] is not PUBLIC:
        for secret in (scene.job, scene.filing, TENANT_A, "acme-secret-model"):
            assert secret not in response.text, f"tenant B saw {secret!r} of tenant A"
    if caller == "other" and expected == NOT_FOUND:
        missing = call(net, caller, method, path, scene, job_id=MISSING_JOB)
        if "{tenant}" in path:
            missing = net.api.request(method, path.format(tenant="no-such-tenant"), headers=net.headers("tenant_b"))
            assert response.json() == {
                **missing.json(),
                "message": missing.json()["message"].replace("no-such-tenant", TENANT_A),
            }
        else:
            assert response.json() == {
                **missing.json(),
                "message": missing.json()["message"].replace(MISSING_JOB, scene.job),
            }
        assert response.status_code == missing.status_code


# -- agents: one site each, and no job reading -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/v1/agents/register",
            {"site": "wuhu", "executor": "local", "inventory": {"h800": 2}},
            id="register as another site",
        ),
        pytest.param("/v1/agents/heartbeat", {"site": "wuhu", "running": []}, id="heartbeat as another site"),
        pytest.param(
            "/v1/agents/jobs/{job_id}/report",
            {"site": "wuhu", "fencing_token": 1, "state": "SUCCEEDED", "exit_code": 0},
            id="report as another site",
        ),
    ],
)
def test_an_agent_token_for_one_site_cannot_act_as_another(net: Network, path: str, body: dict[str, Any]) -> None:
    scene = new_scene(net)
    response = net.api.post(path.format(job_id=scene.job), json=body, headers=net.headers("agent"))
    assert response.status_code == 403
    assert response.json()["code"] == "WRONG_SITE"
    assert AGENT_SITE in response.json()["message"] and "wuhu" in response.json()["message"]
    assert net.job(scene.job)["state"] == "PLACED"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/logs",
        "/v1/jobs/{job_id}/logs/stream",
        "/v1/jobs/{job_id}/explain",
    ],
)
def test_an_agent_cannot_read_jobs_even_at_its_own_site(net: Network, path: str) -> None:
    scene = new_scene(net)
    response = net.api.get(path.format(job_id=scene.job), headers=net.headers("agent"))
    assert response.status_code == 403, response.text
    assert scene.job not in response.text


def test_an_agents_heartbeat_cannot_touch_a_job_of_another_site(net: Network) -> None:
    scene = new_scene(net)
    elsewhere = net.submit("tenant_a", job_spec("elsewhere"))
    with net.cp.store.engine.begin() as conn:
        job_rows.place(conn, elsewhere.id, "zhongwei", "h800", net.clock.now_s(), [])
    beat = net.api.post(
        "/v1/agents/heartbeat",
        json={"site": AGENT_SITE, "running": [{"id": elsewhere.id, "fencing_token": 1, "checkpoint": "s3://evil"}]},
        headers=net.headers("agent"),
    )
    assert beat.status_code == 200, beat.text
    assert elsewhere.id in beat.json()["cancel"]
    assert elsewhere.id not in [a["id"] for a in beat.json()["assignments"]]
    assert scene.job in [a["id"] for a in beat.json()["assignments"]], "its own site's job is sent"
    row = net.job(elsewhere.id)
    assert (row["state"], row["site"], row["checkpoint"]) == ("PLACED", "zhongwei", None)


# -- tenants and staff -------------------------------------------------------------------------


def test_a_tenant_cannot_list_every_tenants_jobs(net: Network) -> None:
    response = net.api.get("/v1/jobs", params={"all": "true"}, headers=net.headers("tenant_b"))
    assert response.status_code == 403
    assert "all=true" in response.json()["message"]


def test_staff_list_every_tenants_jobs(net: Network) -> None:
    scene = new_scene(net)
    for role in ("admin", "operator"):
        listed = net.api.get("/v1/jobs", params={"all": "true", "limit": 1000}, headers=net.headers(role)).json()
        assert scene.job in {job["id"] for job in listed["jobs"]}, role


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_only_an_admin_mints_admin_and_operator_tokens(net: Network, role: str) -> None:
    for wanted in ("admin", "operator"):
        response = net.api.post("/v1/tokens", json={"role": wanted}, headers=net.headers(role))
        if role == "admin":
            assert response.status_code == 201, response.text
        else:
            assert response.status_code == 403
            assert response.json()["code"] == "ROLE_NOT_GRANTABLE"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        pytest.param(None, "missing bearer token", id="no Authorization header"),
        pytest.param("sl_abc", "must be 'Bearer <token>'", id="a token without its scheme"),
        pytest.param("Basic c2w6eA==", "must be 'Bearer <token>'", id="the Basic scheme"),
        pytest.param("Bearer ", "must be 'Bearer <token>'", id="Bearer and nothing"),
        pytest.param("Bearer not-a-suanli-token", "malformed token", id="a token without the sl_ prefix"),
        pytest.param("Bearer sl_" + "y" * 43, "unknown or revoked token", id="a token nobody issued"),
        pytest.param("Bearer sl_" + "z" * 5000, "malformed token", id="a 5,000-character token"),
    ],
)
def test_a_bad_credential_is_401_and_the_answer_never_echoes_it(
    net: Network, authorization: str | None, message: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = net.api.get("/v1/jobs", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert message in response.json()["message"]
    credential = (authorization or "").rpartition(" ")[2]
    if len(credential) >= 6:
        assert credential not in response.text
