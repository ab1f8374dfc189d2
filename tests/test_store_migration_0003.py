"""Migration 0003 (submitted spec hashes, token prefixes) on SQLite and PostgreSQL: a store
holding jobs and tokens from before it upgrades without losing them, its old jobs' keys
still answer retries (they have no hash to compare, so they match any spec, as before), its
old tokens still authenticate, are listed without a prefix and are revoked by id; and it
downgrades. (That the newest revision builds exactly ``suanli.store.tables``:
``tests/test_store_migrations.py``.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from suanli.schemas import JobSubmit
from suanli.service.control import admin, jobs
from suanli.service.control.auth import LOCAL_ADMIN, authenticate, hash_token
from suanli.service.control.plane import control_plane
from suanli.store import Store
from suanli.store.migrate import _config, upgrade
from tests.api_builders import job_spec

OLD_TOKEN = "sl_" + "o" * 43


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store at revision 0002 holding a tenant, its token and a job submitted with a key."""
    from suanli.store.db import make_engine, sqlite_url

    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_url")
    store = Store(make_engine(url), url)
    command.upgrade(_config(store), "0002")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, created_at, schema_version) VALUES ('t-1', 'acme', 1, 1)"))
        conn.execute(
            text(
                "INSERT INTO tokens (id, hash, role, tenant_id, created_at) VALUES ('k-old', :hash, 'tenant', 't-1', 1)"
            ),
            {"hash": hash_token(OLD_TOKEN)},
        )
        conn.execute(
            text(
                "INSERT INTO jobs (id, tenant_id, idempotency_key, name, kind, spec, state, priority, count, options,"
                " reasons, attempt, fencing_token, created_at, updated_at, log_chars, schema_version) VALUES"
                " ('j-old', 't-1', 'k-1', 'old', 'FineTuning', '{}', 'SUCCEEDED', 0, 1, '[]', '[]', 1, 1, 1, 1, 0, 1)"
            )
        )
    yield store
    store.dispose()


def test_0003_keeps_old_jobs_and_tokens_working(old_store: Store) -> None:
    upgrade(old_store)
    cp = control_plane(old_store)
    with old_store.engine.connect() as conn:
        job = conn.execute(text("SELECT id, idempotency_key, spec_hash FROM jobs")).mappings().one()
        who = authenticate(conn, OLD_TOKEN)
    assert dict(job) == {"id": "j-old", "idempotency_key": "k-1", "spec_hash": None}
    retried, created = jobs.submit(cp, who, JobSubmit(spec=job_spec("any")), "k-1")
    assert (retried.id, created) == ("j-old", False), "an old job's key matches the retry, as before 0003"

    listed = {t.id: t for t in admin.tokens(cp, LOCAL_ADMIN)}
    assert listed["k-old"].prefix is None
    assert admin.revoke_token(cp, LOCAL_ADMIN, "k-old").revoked_at is not None


def test_0003_downgrades_without_losing_rows(old_store: Store) -> None:
    upgrade(old_store)
    command.downgrade(_config(old_store), "0002")
    with old_store.engine.connect() as conn:
        job = conn.execute(text("SELECT * FROM jobs")).mappings().one()
        token = conn.execute(text("SELECT * FROM tokens")).mappings().one()
    assert "spec_hash" not in job and "prefix" not in token
    assert (job["id"], token["id"]) == ("j-old", "k-old")
