"""The store's Alembic migrations, on SQLite and PostgreSQL: the newest revision builds
exactly the schema of ``suanli.store.tables``, and revision 0002 (site agents and executor
faults) upgrades a store holding rows, and downgrades, without losing them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from suanli.store import Store, metadata, open_store
from suanli.store.migrate import _config, current_revision, head_revision


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store with no schema yet: an SQLite file, or a fresh PostgreSQL database."""
    from suanli.store.db import Store as StoreClass
    from suanli.store.db import make_engine, sqlite_url

    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_url")
    store = StoreClass(make_engine(url), url)
    yield store
    store.dispose()


def test_the_newest_revision_builds_exactly_the_tables_module(bare_store: Store) -> None:
    command.upgrade(_config(bare_store), "head")
    assert current_revision(bare_store) == head_revision()
    with bare_store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_0002_keeps_the_sites_and_jobs_an_older_store_holds_and_gives_them_no_agent_and_no_faults(
    bare_store: Store,
) -> None:
    config = _config(bare_store)
    command.upgrade(config, "0001")
    with bare_store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sites (id, executor, inventory, heartbeat_interval_s, registered_at, last_heartbeat_at,"
                " state, schema_version) VALUES ('qingyang', 'slurm', '{\"h800\": 8}', 5.0, 1.0, 2.0, 'up', 1)"
            )
        )
        conn.execute(text("INSERT INTO tenants (id, name, created_at, schema_version) VALUES ('t-1', 'acme', 1.0, 1)"))
        conn.execute(
            text(
                "INSERT INTO jobs (id, tenant_id, name, kind, spec, state, priority, count, options, reasons, attempt,"
                " fencing_token, created_at, updated_at, log_chars, schema_version) VALUES ('j-1', 't-1', 'x',"
                " 'Training', '{}', 'PENDING', 0, 1, '[]', '[]', 0, 0, 1.0, 1.0, 0, 1)"
            )
        )
    command.upgrade(config, "0002")
    with bare_store.engine.connect() as conn:
        site = conn.execute(text("SELECT * FROM sites")).mappings().one()
        job = conn.execute(text("SELECT id, state, start_faults FROM jobs")).mappings().one()
    assert (site["id"], site["state"], site["executor"]) == ("qingyang", "up", "slurm")
    assert (site["agent_id"], site["agent_token_id"], site["faults"], site["degraded_until"]) == (None, None, 0, None)
    assert dict(job) == {"id": "j-1", "state": "PENDING", "start_faults": 0}

    command.downgrade(config, "0001")
    with bare_store.engine.connect() as conn:
        site = conn.execute(text("SELECT * FROM sites")).mappings().one()
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == 1
    assert "faults" not in site
    assert site["id"] == "qingyang"


def test_a_store_opened_by_this_release_is_at_the_newest_revision(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        assert current_revision(store) == head_revision()
    finally:
        store.dispose()
