"""Opening the store: an engine for SQLite (a file under the data directory) or PostgreSQL,
with the schema brought up to date by Alembic.

SQLite runs in WAL mode with ``synchronous=FULL``: a transaction that committed (and so a
job that got its HTTP 201) survives a kill -9 of the server and a power cut; readers never
block the writer. ``busy_timeout`` makes concurrent writers wait instead of failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from suanli.errors import InputError

DB_FILE = "suanli.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreError(InputError):
    """The database cannot be opened or is not at a usable schema version."""


def sqlite_url(data_dir: str | Path) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / DB_FILE}"


class Store:
    """An engine and the URL it was made from (never printed with its password)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith("postgresql+psycopg://"):
        raise StoreError(
            f"unsupported database URL scheme '{url.split('://', 1)[0]}://'; "
            "use postgresql://USER@HOST/DB, or omit --db for SQLite under --data-dir"
        )
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def open_store(data_dir: str | Path | None = None, db_url: str | None = None, upgrade: bool = True) -> Store:
    """The store at ``db_url``, or the SQLite file in ``data_dir`` (created if needed),
    migrated to the newest schema when ``upgrade`` (the server does this on start)."""
    if db_url is None:
        if data_dir is None:
            raise StoreError("no store given: pass --data-dir DIR (SQLite) or --db postgresql://...")
        path = Path(data_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {path}: {exc.strerror}") from None
        db_url = sqlite_url(path)
    engine = make_engine(db_url)
    store = Store(engine, db_url)
    try:
        if upgrade:
            from suanli.store.migrate import upgrade as run_upgrade

            run_upgrade(store)
        elif not inspect(engine).has_table("jobs"):
            raise StoreError(f"the store at {store.safe_url} has no schema yet. To fix: run `suanli db upgrade`")
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise StoreError(f"cannot open the database {store.safe_url}: {reason}") from None
    return store
