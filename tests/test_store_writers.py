"""Writers on SQLite take turns (``Store.begin``): threads of one process on a lock in
memory, processes on ``flock`` of a file beside the database; and the admission check's
copy of the sites table (``SiteCache``) is refreshed by a registration and by age."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from suanli.service.control.plane import SiteCache
from suanli.store import open_store
from suanli.store.db import DB_FILE, WRITER_LOCK_SUFFIX
from suanli.store.tables import leases

HOLD_S = 0.4
"""How long the first writer keeps its transaction open."""

HOLDER = """
import sys, time
from sqlalchemy import insert
from suanli.store import open_store
from suanli.store.tables import leases
store = open_store(sys.argv[1])
with store.begin() as conn:
    conn.execute(insert(leases).values(name="other-process", holder="p", term=1, expires_at=0.0))
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _names(store_dir: Path) -> list[str]:
    store = open_store(store_dir)
    try:
        with store.engine.connect() as conn:
            return [str(name) for name in conn.execute(select(leases.c.name).order_by(leases.c.name)).scalars()]
    finally:
        store.dispose()


def test_a_second_thread_writes_only_after_the_first_commits(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    entered = threading.Event()
    order: list[str] = []

    def second() -> None:
        entered.wait()
        with store.begin() as conn:
            order.append("second")
            conn.execute(insert(leases).values(name="second", holder="b", term=1, expires_at=0.0))

    thread = threading.Thread(target=second)
    thread.start()
    with store.begin() as conn:
        conn.execute(insert(leases).values(name="first", holder="a", term=1, expires_at=0.0))
        entered.set()
        time.sleep(HOLD_S)
        order.append("first")
    thread.join(timeout=30)
    store.dispose()
    assert order == ["first", "second"], "the second writer waited for the first's commit"
    assert _names(tmp_path) == ["first", "second"]


def test_a_writer_of_another_process_waits_for_the_file_lock_and_then_writes(tmp_path: Path) -> None:
    open_store(tmp_path).dispose()  # migrated before two processes open it
    argv = [sys.executable, "-c", HOLDER, str(tmp_path), str(HOLD_S * 2)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        lock_file = tmp_path / (DB_FILE + WRITER_LOCK_SUFFIX)
        with lock_file.open("rb") as probe, pytest.raises(BlockingIOError):
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by the other process
        store = open_store(tmp_path, upgrade=False)
        t0 = time.monotonic()
        with store.begin() as conn:
            waited_s = time.monotonic() - t0
            conn.execute(insert(leases).values(name="this-process", holder="q", term=1, expires_at=0.0))
        store.dispose()
        assert holder.wait(timeout=30) == 0
    assert waited_s >= HOLD_S, f"the writer went ahead after {waited_s:.3f} s while the other process held the lock"
    assert _names(tmp_path) == ["other-process", "this-process"]


def test_a_failed_transaction_rolls_back_and_frees_the_turn(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        with store.begin() as conn:
            conn.execute(insert(leases).values(name="doomed", holder="a", term=1, expires_at=0.0))
            raise RuntimeError("the use-case failed")
    except RuntimeError:
        pass
    done = threading.Event()

    def writer() -> None:
        with store.begin() as conn:
            conn.execute(insert(leases).values(name="after", holder="b", term=1, expires_at=0.0))
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(timeout=10), "a writer after a failed transaction never got its turn"
    store.dispose()
    assert _names(tmp_path) == ["after"]


def test_the_site_cache_reads_once_within_its_age_and_again_after_invalidate_or_age() -> None:
    reads: list[int] = []

    def load() -> list[dict[str, object]]:
        reads.append(1)
        return [{"id": f"site-{len(reads)}"}]

    cache = SiteCache(ttl_s=0.3)
    assert cache.get(load) == [{"id": "site-1"}]
    assert cache.get(load) == [{"id": "site-1"}]
    assert len(reads) == 1
    cache.invalidate()
    assert cache.get(load) == [{"id": "site-2"}]
    time.sleep(0.35)
    assert cache.get(load) == [{"id": "site-3"}]
    assert len(reads) == 3
