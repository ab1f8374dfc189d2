"""The edges of a real ``suanli serve`` (uvicorn in front, as operators run it), on SQLite
and PostgreSQL: a spoofed ``X-Forwarded-For`` is ignored unless the peer is a
``--trusted-proxy``, a chunked body over the limit is 413, ``--shared-root`` admits
checkpoints there and nowhere else, tokens revoked with ``suanli admin revoke-token`` over
the API are refused at the next request, ``suanli admin tokens`` prints no secret, and an
agent started with ``--token-file`` joins."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from suanli.service.control.auth import PREFIX_CHARS
from tests.api_builders import job_spec
from tests.conftest import run_suanli
from tests.control_harness import SUANLI, ControlNetwork, clean_env, report_on_failure

SPOOFED = "203.0.113.7"


def token_file(directory: Path, name: str, token: str) -> Path:
    path = directory / f"{name}.token"
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def admin_token(net: ControlNetwork) -> str:
    return (net.data_dir / "admin.token").read_text(encoding="utf-8").strip()


def audited_remote(net: ControlNetwork, tenant_token: str, headers: dict[str, str]) -> str:
    """Submit a job with ``headers``; the address its audit entry records."""
    answer = httpx.post(
        f"{net.url}/v1/jobs",
        json={"spec": job_spec("audited")},
        headers={"Authorization": f"Bearer {tenant_token}", **headers},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    entries = httpx.get(
        f"{net.url}/v1/audit", headers={"Authorization": f"Bearer {admin_token(net)}"}, timeout=30
    ).json()["entries"]
    remote: str = next(e for e in entries if e["object"] == answer.json()["id"])["remote"]
    return remote


def chunked_post_status(url: str, token: str, total_bytes: int) -> int:
    """POST a chunked body of ``total_bytes`` over a raw socket (no Content-Length); the
    status of the answer. Stops sending once the server has answered."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/jobs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"[" * 65_536
        sent = 0
        try:
            while sent < total_bytes:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed before the whole body went
            pass
        answer = sock.recv(4096).decode("latin-1")
    return int(answer.split(" ", 2)[1])


@pytest.mark.slow
def test_an_untrusting_server_audits_the_socket_and_refuses_big_chunked_bodies(
    control_db: str | None, tmp_path: Path
) -> None:
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        net.start_server()
        tenant = net.create_tenant("acme")
        remote = audited_remote(net, tenant, {"X-Forwarded-For": SPOOFED})
        assert remote.startswith("127.0.0.1:"), remote
        assert chunked_post_status(net.url, tenant, 1_100_000) == 413


@pytest.mark.slow
def test_revoke_token_over_the_api_is_effective_at_once_and_tokens_prints_no_secret(
    control_db: str | None, tmp_path: Path
) -> None:
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        net.start_server()
        tenant = net.create_tenant("acme")
        admin_file = token_file(net.root, "admin", admin_token(net))
        over_api = ("--server", net.url, "--token-file", str(admin_file))
        whoami = f"{net.url}/v1/whoami"
        assert httpx.get(whoami, headers={"Authorization": f"Bearer {tenant}"}).status_code == 200  # cached now

        listed = net.suanli("admin", "tokens", *over_api).stdout
        assert tenant[:PREFIX_CHARS] in listed and "tenant" in listed
        assert tenant not in listed and admin_token(net) not in listed

        done = net.suanli("admin", "revoke-token", tenant[:PREFIX_CHARS], *over_api)
        assert "is revoked" in done.stdout
        refused = httpx.get(whoami, headers={"Authorization": f"Bearer {tenant}"})
        assert refused.status_code == 401, "refused at the very next request"
        audit = net.suanli("admin", "audit", *over_api).stdout
        assert "token.revoke" in audit


@pytest.mark.slow
def test_a_trusting_server_with_a_shared_root_and_an_agent_with_a_token_file(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    with ControlNetwork(tmp_path / "net") as net, report_on_failure(net):
        net.start_server("--trusted-proxy", "127.0.0.1", "--shared-root", str(shared))
        tenant = net.create_tenant("acme")
        assert audited_remote(net, tenant, {"X-Forwarded-For": f"198.51.100.1, {SPOOFED}"}) == SPOOFED

        headers = {"Authorization": f"Bearer {tenant}"}
        inside = job_spec("inside", run={"command": ["true"], "checkpoint_dir": str(shared / "ckpt")})
        outside = job_spec("outside", run={"command": ["true"], "checkpoint_dir": str(tmp_path / "elsewhere")})
        assert httpx.post(f"{net.url}/v1/jobs", json={"spec": inside}, headers=headers).status_code == 201
        refused = httpx.post(f"{net.url}/v1/jobs", json={"spec": outside}, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (422, "PATH_NOT_ALLOWED")
        assert str(shared) in refused.json()["message"]

        agent_file = token_file(net.root, "qingyang", net.agent_token("qingyang"))
        proc = net._start(
            "agent-qingyang",
            [
                *SUANLI,
                "agent",
                "--server",
                net.url,
                "--token-file",
                str(agent_file),
                "--site",
                "qingyang",
                "--inventory",
                "h800=2",
                "--work-dir",
                str(net.root / "work-qingyang"),
            ],
        )
        net.agents["qingyang"] = proc
        net.wait_registered("qingyang")
        assert agent_file.read_text().strip() not in " ".join(proc.argv)


def test_serve_refuses_a_trusted_proxy_or_shared_root_it_cannot_use(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "config")
    for flag, value, why in (
        ("--trusted-proxy", "proxy.example.com", "neither an IP address nor a network"),
        ("--shared-root", "relative/dir", "not an absolute path"),
    ):
        done = run_suanli("serve", "--data-dir", str(tmp_path / "data"), flag, value, env=env, cwd=tmp_path)
        assert done.code == 2, done
        assert why in done.stderr
