"""One agent per site: a second registration of a site whose agent still holds its lease is
refused (409 ``SITE_HELD``, naming that agent and when its lease expires) unless the lease
has expired or the new agent forces it, and then the replaced agent's heartbeats are
refused (409 ``AGENT_REPLACED``). On SQLite and PostgreSQL (the ``store`` fixture), at the
service level and through the API."""

from __future__ import annotations

import pytest

from suanli.clock import iso
from suanli.schemas import AgentHeartbeat, AgentRegister
from suanli.service.control import admin, agents
from suanli.service.control.admin import create_token
from suanli.service.control.auth import LOCAL_ADMIN, Principal, authenticate
from suanli.service.control.errors import ConflictRefusal
from suanli.store import Store
from suanli.store import sites as site_rows
from tests.api_builders import AGENT_SITE, Network
from tests.conftest import T0_S

INTERVAL_S = 5.0
LEASE_S = 2 * INTERVAL_S
"""An agent's lease: its heartbeat interval x ``missed_heartbeats`` (2), as the scheduler
declares a silent site down."""
FIRST, SECOND = "node-1:4121:9f2c", "node-2:77:0a1b"


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def another_agent_token(net: Network, site: str = AGENT_SITE) -> Principal:
    """A second agent token for ``site`` (an operator may make several)."""
    token = create_token(net.cp, LOCAL_ADMIN, "agent", site=site).token
    with net.cp.store.engine.connect() as conn:
        return authenticate(conn, token)


def site_row(net: Network, site: str = AGENT_SITE) -> dict[str, object]:
    with net.cp.store.engine.connect() as conn:
        row = site_rows.site(conn, site)
    assert row is not None
    return row


def test_a_second_agent_is_refused_while_the_first_holds_the_lease_naming_it_and_its_expiry(net: Network) -> None:
    net.register(AGENT_SITE, agent_id=FIRST)
    net.advance(3.0)
    with pytest.raises(ConflictRefusal) as refused:
        net.register(AGENT_SITE, agent_id=SECOND)
    assert refused.value.code == "SITE_HELD"
    assert refused.value.status == 409
    message = refused.value.message
    assert f"site '{AGENT_SITE}' is run by agent {FIRST}" in message
    assert "heartbeated 3.0 s ago" in message
    assert f"its lease expires at {iso(T0_S + LEASE_S)} (in 7.0 s)" in message
    assert "`suanli agent --force`" in message
    assert refused.value.details == [
        {
            "agent": FIRST,
            "token_id": net.principal("agent").token_id,
            "last_heartbeat": iso(T0_S),
            "lease_expires_at": iso(T0_S + LEASE_S),
        }
    ]
    assert site_row(net)["agent_id"] == FIRST, "the refused agent changed nothing"


def test_a_heartbeat_renews_the_lease_so_the_second_agent_stays_refused(net: Network) -> None:
    net.register(AGENT_SITE, agent_id=FIRST)
    net.advance(8.0)
    net.heartbeat(AGENT_SITE, agent_id=FIRST)
    net.advance(8.0)  # 16 s after registering, 8 s after the heartbeat
    with pytest.raises(ConflictRefusal, match=rf"lease expires at {iso(T0_S + 8.0 + LEASE_S)} \(in 2\.0 s\)"):
        net.register(AGENT_SITE, agent_id=SECOND)


def test_the_same_agent_may_register_again(net: Network) -> None:
    net.register(AGENT_SITE, agent_id=FIRST)
    net.advance(1.0)
    net.register(AGENT_SITE, {"h800": 4}, agent_id=FIRST)
    assert site_row(net)["inventory"] == {"h800": 4}


def test_once_the_lease_expired_another_agent_registers_and_the_first_ones_heartbeats_are_refused(
    net: Network,
) -> None:
    net.register(AGENT_SITE, agent_id=FIRST)
    net.advance(LEASE_S + 0.1)
    net.register(AGENT_SITE, agent_id=SECOND)
    assert site_row(net)["agent_id"] == SECOND
    with pytest.raises(ConflictRefusal, match=rf"now run by agent {SECOND}") as refused:
        net.heartbeat(AGENT_SITE, agent_id=FIRST)
    assert refused.value.code == "AGENT_REPLACED"
    assert net.heartbeat(AGENT_SITE, agent_id=SECOND).cancel == []


def test_force_replaces_a_live_agent_whose_jobs_move_to_the_new_one_and_it_is_told_to_stop(net: Network) -> None:
    net.register(AGENT_SITE, agent_id=FIRST)
    job = net.submit()
    net.cycle()
    net.heartbeat(AGENT_SITE, agent_id=FIRST)
    net.report(AGENT_SITE, job.id, 1, state="RUNNING")

    net.register(AGENT_SITE, agent_id=SECOND, force=True)
    beat = net.heartbeat(AGENT_SITE, agent_id=SECOND)  # the new agent runs nothing yet
    assert [(a.id, a.fencing_token) for a in beat.assignments] == [(job.id, 2)], "placed again, new token"
    with pytest.raises(ConflictRefusal) as replaced:
        net.heartbeat(AGENT_SITE, (job.id, 1), agent_id=FIRST)
    assert replaced.value.code == "AGENT_REPLACED"
    with pytest.raises(ConflictRefusal) as stale:
        net.report(AGENT_SITE, job.id, 1, logs="still here\n")
    assert stale.value.code == "STALE_LEASE"

    entries = [e for e in admin.audit(net.cp, net.principal("admin"), 10) if e.action == "site.register"]
    assert entries[0].detail is not None
    assert (entries[0].detail["agent"], entries[0].detail["forced"]) == (SECOND, True)
    assert FIRST in entries[0].detail["replaced"]


def test_agents_that_send_no_id_are_known_by_their_token(net: Network) -> None:
    net.register(AGENT_SITE)  # an older agent
    net.advance(1.0)
    net.register(AGENT_SITE)  # the same one, restarting: its token is the same
    net.heartbeat(AGENT_SITE)
    other = another_agent_token(net)
    body = AgentRegister(site=AGENT_SITE, executor="local", inventory={"h800": 2})
    with pytest.raises(ConflictRefusal, match=r"an agent with token k-\w+ \(it sends no agent id\)"):
        agents.register(net.cp, other, body)
    with pytest.raises(ConflictRefusal, match=r"is run by an agent with token"):
        net.register(AGENT_SITE, agent_id=SECOND)
    net.register(AGENT_SITE, agent_id=SECOND, force=True)
    with pytest.raises(ConflictRefusal) as replaced:
        agents.heartbeat(net.cp, net.principal("agent"), AgentHeartbeat(site=AGENT_SITE))
    assert replaced.value.code == "AGENT_REPLACED", "an id-less agent is refused once an agent with an id holds it"


def test_a_site_registered_before_agents_had_ids_accepts_any_heartbeat_until_it_is_registered_again(
    net: Network,
) -> None:
    net.register(AGENT_SITE)
    with net.cp.store.begin() as conn:  # a row as the 0001 schema left it: no holder recorded
        conn.execute(site_rows.sites.update().values(agent_id=None, agent_token_id=None))
    net.heartbeat(AGENT_SITE, agent_id=FIRST)
    with pytest.raises(ConflictRefusal, match="registered before this server's release"):
        net.register(AGENT_SITE, agent_id=FIRST)


# -- through the API -----------------------------------------------------------------------------


def register_body(agent_id: str, force: bool = False) -> dict[str, object]:
    return {
        "site": AGENT_SITE,
        "executor": "local",
        "inventory": {"h800": 2},
        "heartbeat_interval_s": INTERVAL_S,
        "agent_id": agent_id,
        "force": force,
    }


def test_the_api_answers_409_site_held_then_accepts_the_forced_registration(net: Network) -> None:
    api, headers = net.api, net.headers("agent")
    assert api.post("/v1/agents/register", json=register_body(FIRST), headers=headers).status_code == 200
    refused = api.post("/v1/agents/register", json=register_body(SECOND), headers=headers)
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "SITE_HELD"
    assert FIRST in body["message"]
    assert body["details"][0]["lease_expires_at"] == iso(T0_S + LEASE_S)

    sites = api.get("/v1/sites", headers=net.headers("operator")).json()["sites"]
    [held] = [s for s in sites if s["id"] == AGENT_SITE]
    assert (held["agent"], held["lease_expires_at"], held["state"]) == (FIRST, iso(T0_S + LEASE_S), "up")

    forced = api.post("/v1/agents/register", json=register_body(SECOND, force=True), headers=headers)
    assert forced.status_code == 200, forced.text
    beat = api.post("/v1/agents/heartbeat", json={"site": AGENT_SITE, "agent_id": FIRST}, headers=headers)
    assert (beat.status_code, beat.json()["code"]) == (409, "AGENT_REPLACED")
