"""Builders for the control-plane tests (``test_api_*``, ``test_control_service``): small
valid job specs, and :class:`Network`, a control plane on a :class:`~suanli.clock.SimClock`
with its API in-process, one token per role, and the agent's side of the protocol as
methods (register, heartbeat, report), so a test reads as the story it tells::

    net = Network.build(store)
    job = net.submit("tenant_a")
    net.register("qingyang")
    net.cycle()                            # placed at qingyang under fencing token 1
    net.report("qingyang", job.id, 1, state="RUNNING")

The store comes from the ``store`` fixture (``tests/conftest.py``): SQLite, or a PostgreSQL
database per test module that :func:`empty_store` clears before each test.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text
from starlette.exceptions import StarletteDeprecationWarning

from suanli.clock import SimClock
from suanli.schemas import AgentHeartbeat, AgentRegister, AgentReport, HeartbeatOut, JobOut, JobSubmit, RunningJob
from suanli.server import create_app
from suanli.service.control import agents, jobs
from suanli.service.control.admin import create_tenant, create_token
from suanli.service.control.auth import LOCAL_ADMIN, Principal, authenticate
from suanli.service.control.live import LiveCycle, run_live_cycle
from suanli.service.control.plane import ControlPlane, Settings, control_plane
from suanli.store import Store, metadata, open_store
from suanli.store import jobs as job_rows
from tests.conftest import T0_S
from tests.control_harness import fresh_postgres_database

with warnings.catch_warnings():
    # starlette prefers httpx2 for its TestClient; httpx (installed) works the same
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TENANT_A, TENANT_B = "acme", "globex"
AGENT_SITE = "qingyang"
"""The site of the ``agent`` role's token (a catalogue site with H800s)."""
RUN = {"command": ["python3", "-c", "print(1)"]}
GENEROUS = Settings(
    policy="fifo", rate_per_s=1e6, burst=1e6, failed_auth_per_s=1e6, failed_auth_burst=1e6, missed_heartbeats=2.0
)
"""Settings for tests that send many requests with one token (no 429s); a site is lost
after two missed heartbeats (the tests' clock moves in steps of an interval or so)."""


def job_spec(name: str = "x", **overrides: Any) -> dict[str, Any]:
    """A tiny FineTuning job on one H800 with a ``run:`` section; keyword arguments replace
    top-level fields (``None`` removes one)."""
    spec: dict[str, Any] = {
        "apiVersion": "suanli/v1",
        "kind": "FineTuning",
        "name": name,
        "model": {"params_b": 0.001},
        "tokens_b": 0.0001,
        "resources": {"accelerators": ["h800"], "count": 1},
        "run": RUN,
    }
    for key, value in overrides.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def service_spec(name: str = "chat", model: str = "qwen2.5-7b", public: bool = True) -> dict[str, Any]:
    """An InferenceService of a catalogue model on one H800, public (needs a filing) by default."""
    return {
        "apiVersion": "suanli/v1",
        "kind": "InferenceService",
        "name": name,
        "model": model,
        "rate_rps": 1,
        "input_tokens": 100,
        "output_tokens": 100,
        "latency_slo_ms": 60_000,
        "duration_h": 1,
        "public": public,
        "resources": {"accelerators": ["h800"], "count": 1},
        "run": RUN,
    }


def empty_store(store: Store) -> None:
    """Delete every row (PostgreSQL databases are shared by a test module's tests)."""
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@dataclass
class Network:
    """A control plane at ``T0_S`` on a SimClock, its API, and one token per role:
    ``admin``, ``operator``, ``tenant_a`` (acme), ``tenant_b`` (globex) and ``agent``
    (of :data:`AGENT_SITE`); agent tokens of other sites are made on demand."""

    cp: ControlPlane
    clock: SimClock
    api: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, store: Store, settings: Settings = GENEROUS) -> Network:
        clock = SimClock(T0_S)
        cp = control_plane(store, settings, clock=clock)
        api = TestClient(create_app(cp, replica="test-replica", scheduler=False), raise_server_exceptions=False)
        net = cls(cp, clock, api)
        net.tokens["admin"] = create_token(cp, LOCAL_ADMIN, "admin", name="test admin").token
        net.tokens["operator"] = create_token(cp, LOCAL_ADMIN, "operator").token
        net.tokens["tenant_a"] = create_tenant(cp, LOCAL_ADMIN, TENANT_A).token
        net.tokens["tenant_b"] = create_tenant(cp, LOCAL_ADMIN, TENANT_B).token
        net.tokens["agent"] = net.agent_token(AGENT_SITE)
        return net

    # -- who -------------------------------------------------------------------------------

    def agent_token(self, site: str) -> str:
        key = f"agent@{site}"
        if key not in self.tokens:
            self.tokens[key] = create_token(self.cp, LOCAL_ADMIN, "agent", site=site).token
        return self.tokens[key]

    def principal(self, who: str) -> Principal:
        with self.cp.store.engine.connect() as conn:
            return authenticate(conn, self.tokens[who])

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def _agent(self, site: str) -> Principal:
        token = self.agent_token(site)
        with self.cp.store.engine.connect() as conn:
            return authenticate(conn, token)

    # -- tenants' side (service level) ------------------------------------------------------

    def submit(self, who: str = "tenant_a", spec: dict[str, Any] | None = None, key: str | None = None) -> JobOut:
        job, _created = jobs.submit(self.cp, self.principal(who), JobSubmit(spec=spec or job_spec()), key)
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's row in the store."""
        with self.cp.store.engine.connect() as conn:
            row = job_rows.job(conn, job_id)
        assert row is not None, f"no job {job_id}"
        return row

    # -- agents' side (service level) -------------------------------------------------------

    def register(
        self,
        site: str,
        inventory: dict[str, int] | None = None,
        interval_s: float = 5.0,
        *,
        agent_id: str | None = None,
        force: bool = False,
    ) -> None:
        """Register ``site`` as its agent would; ``agent_id`` None is an agent that sends no
        id (known by its token), as older agents are."""
        body = AgentRegister(
            site=site,
            executor="local",
            inventory=inventory or {"h800": 2},
            heartbeat_interval_s=interval_s,
            agent_id=agent_id,
            force=force,
        )
        agents.register(self.cp, self._agent(site), body)

    def heartbeat(
        self, site: str, *running: tuple[str, int] | tuple[str, int, str], agent_id: str | None = None
    ) -> HeartbeatOut:
        """``running``: (job id, fencing token[, checkpoint]) of each job the agent runs."""
        held = [RunningJob(id=r[0], fencing_token=r[1], checkpoint=r[2] if len(r) > 2 else None) for r in running]
        body = AgentHeartbeat(site=site, running=held, agent_id=agent_id)
        return agents.heartbeat(self.cp, self._agent(site), body)

    def report(self, site: str, job_id: str, fencing_token: int, **fields: Any) -> None:
        body = AgentReport(site=site, fencing_token=fencing_token, **fields)
        agents.report(self.cp, self._agent(site), job_id, body)

    # -- the scheduler and the clock ---------------------------------------------------------

    def cycle(self, holder: str = "test-replica") -> LiveCycle:
        return run_live_cycle(self.cp, holder)

    def advance(self, seconds: float) -> None:
        self.clock.advance_to(self.clock.now_s() + seconds)

    def restart(self) -> None:
        """A new control plane on the same store and clock, as after kill -9 of the server
        and a restart: nothing in memory survives (the scheduler, its lease term)."""
        self.cp = control_plane(self.cp.store, self.cp.settings, clock=self.clock)

    def place(self, who: str = "tenant_a", site: str = AGENT_SITE, spec: dict[str, Any] | None = None) -> JobOut:
        """A job of ``who`` placed at ``site`` (registered here if it is not yet) by one cycle."""
        self.register(site)
        job = self.submit(who, spec)
        done = self.cycle()
        assert (job.id, site, "h800") in done.placed, f"expected {job.id} placed at {site}: {done}"
        return job


@contextlib.contextmanager
def network_per_module(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, settings: Settings = GENEROUS
) -> Iterator[Network]:
    """A network on a store of its own, for a module-scoped fixture whose param is
    ``sqlite`` or ``postgresql`` (a fresh database, dropped after; skipped without PostgreSQL)."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            store = open_store(tmp_path_factory.mktemp("store"))
        else:
            server = request.getfixturevalue("postgres_server")
            store = open_store(db_url=stack.enter_context(fresh_postgres_database(server, prefix="suanli_api")))
        stack.callback(store.dispose)
        yield Network.build(store, settings)
