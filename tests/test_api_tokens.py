"""Token management: ``GET /v1/tokens`` lists tokens without their secrets, ``DELETE
/v1/tokens/{id}`` revokes one by id or prefix, audited and effective at the next request
(the server's principal cache forgets it at once), on SQLite and PostgreSQL; the same
through the store (``suanli admin ... --data-dir``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from suanli.cli.admin_backend import LocalAdmin
from suanli.server import create_app
from suanli.service.control import admin
from suanli.service.control.auth import LOCAL_ADMIN, PREFIX_CHARS, REVOCATION_CHECK_S, Principal, PrincipalCache
from suanli.service.control.errors import Unauthenticated
from suanli.service.control.plane import ControlPlane
from suanli.store import Store
from tests.api_builders import GENEROUS, TENANT_A, Network, TestClient


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def whoami(net: Network, token: str, api: TestClient | None = None) -> int:
    return (api or net.api).get("/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code


def revoke(net: Network, ref: str, who: str = "admin") -> tuple[int, dict[str, object]]:
    answer = net.api.delete(f"/v1/tokens/{ref}", headers=net.headers(who))
    return answer.status_code, answer.json()


# -- listing -----------------------------------------------------------------------------------


def test_the_listing_shows_ids_prefixes_and_roles_and_never_a_secret(net: Network) -> None:
    answer = net.api.get("/v1/tokens", headers=net.headers("operator"))
    assert answer.status_code == 200, answer.text
    listed = answer.json()["tokens"]
    assert {t["role"] for t in listed} == {"admin", "operator", "tenant", "agent"}
    prefixes = {t["prefix"] for t in listed}
    for token in net.tokens.values():
        assert token not in answer.text
        assert token[PREFIX_CHARS:] not in answer.text, "nothing of a token past its prefix"
        assert token[:PREFIX_CHARS] in prefixes
    tenant = next(t for t in listed if t["tenant"] == TENANT_A)
    assert set(tenant) == {"id", "prefix", "role", "tenant", "site", "name", "created_at", "revoked_at"}
    assert next(t for t in listed if t["role"] == "agent")["site"] == "qingyang"


def test_revoked_tokens_are_listed_only_when_asked(net: Network) -> None:
    made = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    assert revoke(net, made.id)[0] == 200
    live = net.api.get("/v1/tokens", headers=net.headers("admin")).json()["tokens"]
    every = net.api.get("/v1/tokens", params={"revoked": "true"}, headers=net.headers("admin")).json()["tokens"]
    assert made.id not in {t["id"] for t in live}
    assert next(t for t in every if t["id"] == made.id)["revoked_at"] is not None


# -- revoking ----------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["id", "prefix", "a unique start of the prefix"])
def test_a_revoked_token_is_refused_at_the_next_request(net: Network, by: str) -> None:
    made = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    assert whoami(net, made.token) == 200  # now in the server's principal cache
    ref = {"id": made.id, "prefix": made.token[:PREFIX_CHARS], "a unique start of the prefix": made.token[:9]}[by]
    status, body = revoke(net, ref)
    assert status == 200, body
    assert (body["id"], body["prefix"]) == (made.id, made.token[:PREFIX_CHARS])
    assert body["revoked_at"] is not None
    refused = net.api.get("/v1/whoami", headers={"Authorization": f"Bearer {made.token}"})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["message"]


def test_a_revocation_is_audited_once(net: Network) -> None:
    made = admin.create_token(net.cp, LOCAL_ADMIN, "agent", site="qingyang")
    assert revoke(net, made.id, "operator")[0] == 200
    assert revoke(net, made.id, "operator")[0] == 200, "revoking again answers the token as it is"
    entries = admin.audit(net.cp, LOCAL_ADMIN, 100)
    revocations = [e for e in entries if e.action == "token.revoke"]
    assert [e.object for e in revocations] == [made.id]
    assert revocations[0].role == "operator"
    assert revocations[0].remote is not None and revocations[0].remote.startswith("testclient")
    assert revocations[0].detail == {"role": "agent", "site": "qingyang", "prefix": made.token[:PREFIX_CHARS]}


@pytest.mark.parametrize(
    ("ref", "status", "code"),
    [
        pytest.param("k-000000000000", 404, "NOT_FOUND", id="an id nobody issued"),
        pytest.param("sl_zzzzzzzz", 404, "NOT_FOUND", id="a prefix nobody has"),
        pytest.param("sl_ab", 422, "PREFIX_TOO_SHORT", id="a prefix too short to name one token"),
    ],
)
def test_a_reference_that_names_no_token_is_refused(net: Network, ref: str, status: int, code: str) -> None:
    answer_status, body = revoke(net, ref)
    assert (answer_status, body["code"]) == (status, code)


def test_a_whole_token_pasted_is_matched_by_hash_and_never_echoed(net: Network) -> None:
    made = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    status, body = revoke(net, made.token)
    assert status == 200 and body["id"] == made.id
    other = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    wrong = other.token[:-1] + ("A" if other.token[-1] != "A" else "B")
    status, body = revoke(net, wrong)
    assert status == 404
    assert wrong not in str(body) and wrong[:PREFIX_CHARS] in str(body)


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_only_an_admin_revokes_admin_and_operator_tokens(net: Network, role: str) -> None:
    target = admin.create_token(net.cp, LOCAL_ADMIN, "operator")
    status, body = revoke(net, target.id, role)
    if role == "admin":
        assert status == 200
    else:
        assert (status, body["code"]) == (403, "ROLE_NOT_GRANTABLE")


@pytest.mark.parametrize("who", ["tenant_a", "agent"])
def test_tenants_and_agents_cannot_list_or_revoke(net: Network, who: str) -> None:
    target = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    assert net.api.get("/v1/tokens", headers=net.headers(who)).status_code == 403
    assert revoke(net, target.id, who)[0] == 403
    assert whoami(net, target.token) == 200


def test_the_last_admin_token_is_not_revoked_over_the_api(net: Network) -> None:
    own = net.principal("admin").token_id
    status, body = revoke(net, own)
    assert (status, body["code"]) == (409, "LAST_ADMIN_TOKEN")
    second = admin.create_token(net.cp, LOCAL_ADMIN, "admin")
    assert revoke(net, own)[0] == 200, "with another admin token, an admin may revoke its own"
    assert whoami(net, net.tokens["admin"]) == 401
    assert whoami(net, second.token) == 200


# -- through the store, and at other replicas ------------------------------------------------


def test_revoking_on_the_store_refuses_the_token_at_its_next_authentication(net: Network) -> None:
    made = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    revoked = LocalAdmin(net.cp).revoke_token(made.token[:PREFIX_CHARS])
    assert revoked.id == made.id
    with pytest.raises(Unauthenticated, match="revoked"), net.cp.store.engine.connect() as conn:
        from suanli.service.control.auth import authenticate

        authenticate(conn, made.token)
    assert whoami(net, made.token) == 401, "this replica had not cached it"


def test_another_replica_refuses_a_revoked_token_within_half_a_second_though_it_cached_it(net: Network) -> None:
    """A replica that did not revoke reads the store's revocation stamp at most every
    ``REVOCATION_CHECK_S`` (0.5 s) while it serves cached principals (cached for 5 s)."""
    other_cp = ControlPlane(store=net.cp.store, planning=net.cp.planning, settings=net.cp.settings, clock=net.clock)
    other = TestClient(create_app(other_cp, replica="other", scheduler=False), raise_server_exceptions=False)
    made = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    assert whoami(net, made.token, other) == 200
    assert other_cp.principals.ttl_s == 5.0 and other_cp.principals.get(made.token) is not None, "cached"
    assert revoke(net, made.id)[0] == 200
    assert whoami(net, made.token) == 401, "the replica that revoked: at once"
    time.sleep(REVOCATION_CHECK_S + 0.1)
    assert [whoami(net, made.token, other) for _ in range(3)] == [401] * 3, "the other: at its next stamp read"
    kept = admin.create_token(net.cp, LOCAL_ADMIN, "tenant", tenant=TENANT_A)
    assert whoami(net, kept.token, other) == 200, "other tokens keep working"


def test_a_storm_of_bad_tokens_from_one_address_gets_429_and_valid_tokens_still_work(store: Store) -> None:
    net = Network.build(store, dataclasses.replace(GENEROUS, failed_auth_per_s=0.5, failed_auth_burst=5))
    good = net.tokens["tenant_a"]
    assert whoami(net, good) == 200  # cached before the storm
    answers = [net.api.get("/v1/whoami", headers={"Authorization": f"Bearer sl_{i:043d}"}) for i in range(20)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 15, codes
    limited = answers[-1]
    assert float(limited.headers["Retry-After"]) > 0
    assert limited.json()["code"] == "RATE_LIMITED" and "failed authentications" in limited.json()["message"]
    assert whoami(net, good) == 200, "a token this server knows is not held up"


def test_a_principal_read_before_a_revocation_is_not_cached_after_it() -> None:
    cache = PrincipalCache()
    who = Principal(token_id="k-1", role="tenant")
    read_at = cache.generation
    cache.forget("some-hash")  # a revocation lands while the request reads the store
    cache.put("sl_token", who, read_at)
    assert cache.get("sl_token") is None
    cache.put("sl_token", who, cache.generation)
    assert cache.get("sl_token") == who


# -- the command line -------------------------------------------------------------------------


def test_admin_tokens_over_the_api_prints_prefixes_and_never_a_secret(
    net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from suanli.cli.app import app
    from suanli.client import Client

    for name in ("SUANLI_TOKEN", "SUANLI_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUANLI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SUANLI_SERVER", str(net.api.base_url))

    def in_process(server: str | None, token: str | None, profile: str | None = None) -> Client:
        return Client(server, token, profile=profile, transport=net.api._transport)

    # the admin backend imports the SDK's Client when it runs: this one, in-process
    monkeypatch.setattr("suanli.client.Client", in_process)
    as_admin = ["--token", net.tokens["admin"]]
    for args in (["admin", "tokens", *as_admin], ["admin", "tokens", "--json", *as_admin]):
        done = CliRunner().invoke(app, args, catch_exceptions=False)
        assert done.exit_code == 0, done.stderr
        for token in net.tokens.values():
            assert token[:PREFIX_CHARS] in done.stdout
            assert token[PREFIX_CHARS:] not in done.stdout
    target = net.tokens["tenant_b"]
    done = CliRunner().invoke(app, ["admin", "revoke-token", target[:PREFIX_CHARS], *as_admin], catch_exceptions=False)
    assert done.exit_code == 0 and "is revoked" in done.stdout, done.stderr
    assert whoami(net, target) == 401
