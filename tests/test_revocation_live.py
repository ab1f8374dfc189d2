"""A token revoked on the store is refused within a second by every process serving the API,
as real processes: ``suanli serve --workers 2`` (two processes on one port, each with its own
principal cache), and on PostgreSQL a second replica beside it. The token is revoked with
``suanli admin revoke-token --data-dir/--db`` (no server told), after every process has
cached it; one second later (twice the stamp-read interval) every answer is a refusal (401,
or 429 once a client's refusals pass the failed-authentication limit)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from suanli.service.control.auth import PREFIX_CHARS, REVOCATION_CHECK_S
from tests.control_harness import ControlNetwork, report_on_failure, wait_until

CALLS = 40
"""Requests per check: with two workers on one port, enough to reach both."""


def statuses(url: str, token: str) -> set[int]:
    with httpx.Client(base_url=url, timeout=10.0) as http:  # a fresh connection per batch
        return {
            http.get("/v1/whoami", headers={"Authorization": f"Bearer {token}", "Connection": "close"}).status_code
            for _ in range(CALLS)
        }


@pytest.mark.slow
def test_a_token_revoked_on_the_store_is_refused_within_a_second_by_every_worker_and_replica(
    control_db: str | None, tmp_path: Path
) -> None:
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        urls = [net.url for _ in [net.start_server("--workers", "2")]]
        if control_db is not None:  # a second replica on the same database
            net.start_server("--no-scheduler")
            urls.append(net.url)
        token = net.create_tenant("acme")
        for url in urls:
            wait_until(lambda url=url: statuses(url, token) == {200}, 30, f"{url} to accept the token")
        net.admin("revoke-token", token[:PREFIX_CHARS])
        revoked_at = time.monotonic()
        time.sleep(max(0.0, 2 * REVOCATION_CHECK_S - (time.monotonic() - revoked_at)))
        seen = {url: statuses(url, token) for url in urls}
        # refused: 401, or 429 once the refusals pass the failed-authentication limit
        assert all(401 in codes and codes <= {401, 429} for codes in seen.values()), f"a second later: {seen}"
