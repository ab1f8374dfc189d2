"""Opening the store: an engine for SQLite (a file under the data directory) or PostgreSQL,
with the schema brought up to date by Alembic.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (:data:`SQLITE_SYNCHRONOUS`); readers
never block the writer, and ``busy_timeout`` makes concurrent writers wait instead of failing.

What a commit survives, exactly: a commit appends its pages to the WAL file through the OS
page cache and returns without fsync; the WAL is fsynced when it is checkpointed into the
database (every ~1,000 pages). So a transaction that committed (a job that got its HTTP 201)
survives a kill -9 of the server or any crash of the process: its pages are the kernel's
already (``tests/test_durability.py`` kills the server mid-storm and finds every job). A
power cut or a kernel crash can lose the transactions committed since the last checkpoint;
the database stays consistent (WAL recovery drops incomplete frames), but jobs answered 201
in the last moments may be gone. ``FULL`` fsyncs the WAL at every commit, which closes that
window at ~3 ms per commit on the reference machine's disk, inside SQLite's one write lock:
at most ~330 commits/s, and in ``bench/bench_control.py`` (2 shared cores) 154 submissions/s
with p99 196 ms against 207/s and 61 ms with ``NORMAL``. Where a commit must survive a power
cut, run PostgreSQL (``--db``), whose commits are fsynced (``synchronous_commit=on``).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from suanli.errors import InputError

DB_FILE = "suanli.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_SYNCHRONOUS = "NORMAL"
"""SQLite's ``synchronous`` pragma in WAL mode (see above for what it means for durability)."""
WRITER_LOCK_SUFFIX = "-writer.lock"
"""The file beside an SQLite database whose ``flock`` orders writers across processes."""
WRITER_POLL_S = 0.0005
"""How often a writer of another process retries the writer lock while it is held."""


class StoreError(InputError):
    """The database cannot be opened or is not at a usable schema version."""


def sqlite_url(data_dir: str | Path) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / DB_FILE}"


class Store:
    """An engine and the URL it was made from (never printed with its password)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._writer = threading.RLock() if engine.dialect.name == "sqlite" else None
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._lock_path = Path(database + WRITER_LOCK_SUFFIX) if database and database != ":memory:" else None
        self._lock_fd: int | None = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (committed on leaving, rolled back on an exception).

        On SQLite, writers take turns on two locks first: this process's threads on a
        lock in memory, processes on ``flock`` of a file beside the database. SQLite admits
        one writer at a time, and a writer that finds the database locked sleeps in SQLite's
        busy handler (1, 2, 5, 10 ... 100 ms) rather than waking when the lock frees: with
        the API's threads and the scheduler writing at once, requests spent most of their
        time asleep there (p99 63 ms -> 27 ms in ``bench/bench_control.py`` with the turn).
        Between processes (``--workers``, ``suanli admin`` beside a server), a waiter
        retries the file lock every ``WRITER_POLL_S`` for up to the busy timeout.
        PostgreSQL takes row locks and needs no such turn."""
        if self._writer is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._writer:
            fd = self._take_file_lock()
            try:
                with self.engine.begin() as conn:
                    yield conn
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _take_file_lock(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self._lock_fd
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OperationalError(
                        "BEGIN", None, sqlite3.OperationalError("database is locked (writer lock)")
                    ) from None
                time.sleep(WRITER_POLL_S)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
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
    """The store at ``db_url``, or the SQLite file in ``data_dir`` (created if needed, and
    made mode 0700: the database holds every tenant's specs, secrets and logs, and the
    admin token lies beside it), migrated to the newest schema when ``upgrade`` (the
    server does this on start)."""
    if db_url is None:
        if data_dir is None:
            raise StoreError("no store given: pass --data-dir DIR (SQLite) or --db postgresql://...")
        path = Path(data_dir)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.stat().st_mode & 0o077:  # it holds every tenant's specs and secrets
                path.chmod(0o700)
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
