"""An accepted job is durable: kill -9 the server at random moments during a submission
storm, restart it on the same store, and every job that was answered 201 (or 200) is
there, exactly once, under the id it was answered with.

The storm: ``CLIENTS`` threads, each with its own keep-alive httpx client, submit under a
fresh idempotency key per job. A submission that got no answer (the connection broke, the
server was down, or it answered 5xx) is sent again with the same key until it is answered,
as the SDK does: that is the client's half of exactly-once. The killer (a seeded RNG picks
the moments) SIGKILLs ``suanli serve`` ``KILL_ROUNDS`` times mid-storm and restarts it on
the same port and store. Then the store is read through the API and directly (sqlite3 or
psycopg), and the clients' ledger is checked against it.

On SQLite this covers ``synchronous=NORMAL`` in WAL mode (``suanli.store.db``): a kill -9
loses nothing that committed. On PostgreSQL it covers a backend's connections dying
mid-transaction. Each job must also have exactly one ``job.submit`` audit row: the job and
its audit entry commit in one transaction.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control_harness import SUANLI, ControlNetwork, Proc, free_port, report_on_failure, start_process

pytestmark = pytest.mark.slow

SEED = 20_251_123
KILL_ROUNDS = 4
CLIENTS = 4
STORM_S = (0.5, 1.5)
"""Seconds of storm before each kill, drawn uniformly by the seeded RNG."""
DOWN_S = (0.0, 0.5)
"""Seconds the killed server stays down before it is restarted."""
MAX_KEYS = 950
"""Jobs per run at most: ``GET /v1/jobs`` lists up to 1,000, so the API check sees them all.
Each client starts a new submission at most every ``CLIENTS x storm seconds / MAX_KEYS``
seconds, so the keys last the whole storm even against a fast server."""
ANSWER_TIMEOUT_S = 90.0
"""A key not answered within this long (the server being up) fails the test."""
SPEC: dict[str, Any] = {
    "apiVersion": "suanli/v1",
    "kind": "FineTuning",
    "name": "storm",
    "model": {"params_b": 0.001},
    "tokens_b": 0.0001,
    "resources": {"accelerators": ["h800"], "count": 1},
    "run": {"command": ["python3", "-c", "print(1)"]},
}


@dataclass
class Ledger:
    """What the clients know: every key they sent and every answer each key got."""

    sent: list[str] = field(default_factory=list)
    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    refused: int = 0
    """Attempts that found no server (killed, not yet restarted)."""
    cut: int = 0
    """Attempts whose connection broke after they were sent (the kill came mid-request)."""
    retried_5xx: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_key(self, client: int) -> str | None:
        with self.lock:
            if len(self.sent) >= MAX_KEYS:
                return None
            key = f"storm-{client}-{len(self.sent)}"
            self.sent.append(key)
            return key


@dataclass
class Server:
    """``suanli serve`` on one port, restarted there after each kill."""

    net: ControlNetwork
    port: int
    proc: Proc | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            *SUANLI,
            "serve",
            *self.net.store_args,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--rate-limit",
            "100000",
        ]
        self.starts += 1
        self.proc = start_process(f"server-{self.starts}", argv, self.net.log_dir, self.net.env, self.net.root)
        self.net.procs.append(self.proc)  # stopped by net.close(), its log in net.report()
        deadline = time.monotonic() + 60.0
        while not _healthy(self.url):
            if not self.proc.alive():
                raise AssertionError(f"server start {self.starts} exited {self.proc.popen.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server start {self.starts} did not answer /v1/health within 60 s")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown, no lease release, no flush


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def _submit_until_answered(http: httpx.Client, server: Server, token: str, key: str, ledger: Ledger) -> None:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            response = http.post(f"{server.url}/v1/jobs", json={"spec": SPEC}, headers=headers)
        except httpx.ConnectError:  # down: same key again
            with ledger.lock:
                ledger.refused += 1
            time.sleep(0.05)
            continue
        except httpx.TransportError:  # killed mid-request: maybe committed, maybe not; same key again
            with ledger.lock:
                ledger.cut += 1
            continue
        if response.status_code in (200, 201):
            with ledger.lock:
                ledger.answers.setdefault(key, []).append((response.status_code, str(response.json()["id"])))
            return
        if response.status_code == 429 or response.status_code >= 500:
            with ledger.lock:
                ledger.retried_5xx += 1
            time.sleep(0.05)
            continue
        with ledger.lock:
            ledger.failures.append(f"{key}: HTTP {response.status_code} {response.text[:300]}")
        return
    with ledger.lock:
        ledger.failures.append(f"{key}: no answer within {ANSWER_TIMEOUT_S:.0f} s")


def _client(index: int, server: Server, token: str, ledger: Ledger, stop: threading.Event, every_s: float) -> None:
    try:
        with httpx.Client(timeout=httpx.Timeout(15.0, connect=2.0)) as http:
            next_start = time.monotonic()
            while not stop.is_set():
                key = ledger.new_key(index)
                if key is None:
                    return
                _submit_until_answered(http, server, token, key, ledger)
                next_start = max(next_start + every_s, time.monotonic())
                time.sleep(max(0.0, next_start - time.monotonic()))
    except Exception as exc:  # a client must not die silently: the test fails with it
        with ledger.lock:
            ledger.failures.append(f"client {index}: {type(exc).__name__}: {exc}")


def _stored(net: ControlNetwork) -> tuple[list[tuple[str, str | None, str]], list[str]]:
    """(job id, idempotency key, state) of every job, and the object of every ``job.submit``
    audit entry, read from the database itself."""
    jobs_sql = "SELECT id, idempotency_key, state FROM jobs"
    audit_sql = "SELECT object FROM audit WHERE action = 'job.submit'"
    if net.db_url is None:
        path = net.data_dir / "suanli.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            jobs = conn.execute(jobs_sql).fetchall()
            audit = [row[0] for row in conn.execute(audit_sql)]
        return jobs, audit
    import psycopg

    with psycopg.connect(net.db_url) as conn:
        jobs = conn.execute(jobs_sql).fetchall()
        audit = [row[0] for row in conn.execute(audit_sql)]
    return [(str(i), k, str(s)) for i, k, s in jobs], [str(o) for o in audit]


def test_every_accepted_job_survives_kill_9_mid_storm_exactly_once(control_db: str | None, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    storms_s = [rng.uniform(*STORM_S) for _ in range(KILL_ROUNDS + 1)]  # the last one ends the test
    downs_s = [rng.uniform(*DOWN_S) for _ in range(KILL_ROUNDS)]
    every_s = CLIENTS * sum(storms_s) / MAX_KEYS
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        token = net.create_tenant("storm")
        net.plane().store.dispose()  # the server owns the store from here
        server = Server(net, free_port())
        server.start()
        ledger, stop = Ledger(), threading.Event()
        clients = [
            threading.Thread(target=_client, args=(i, server, token, ledger, stop, every_s), name=f"storm-{i}")
            for i in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        try:
            for storm_s, down_s in zip(storms_s, downs_s, strict=False):
                time.sleep(storm_s)
                server.kill()
                time.sleep(down_s)
                server.start()
            time.sleep(storms_s[-1])
        finally:
            stop.set()  # no new keys; a client still finishes (retries) the one it holds
            for thread in clients:
                thread.join(timeout=ANSWER_TIMEOUT_S + 30)

        assert not ledger.failures, "\n".join(ledger.failures[:20])
        assert ledger.cut > 0, "no submission was cut by a kill: the test proved nothing"
        sent = set(ledger.sent)
        assert len(sent) == len(ledger.sent)
        unanswered = sent - set(ledger.answers)
        assert not unanswered, f"{len(unanswered)} keys never got an answer, e.g. {sorted(unanswered)[:5]}"
        answered_id: dict[str, str] = {}
        for key, answers in ledger.answers.items():
            ids = {job_id for _, job_id in answers}
            assert len(ids) == 1, f"key {key} was answered with different jobs: {answers}"
            assert sum(1 for status, _ in answers if status == 201) <= 1, f"key {key} was created twice: {answers}"
            answered_id[key] = ids.pop()

        jobs, audit = _stored(net)
        by_key = Counter(key for _, key, _ in jobs)
        assert by_key[None] == 0, "a job without an idempotency key: every submission sent one"
        doubled = {key: n for key, n in by_key.items() if n > 1}
        assert not doubled, f"keys with more than one job: {doubled}"
        stored_id = {key: job_id for job_id, key, _ in jobs if key is not None}
        assert set(stored_id) - sent == set(), "a job whose key no client ever sent"
        lost = {key for key in answered_id if key not in stored_id}
        assert not lost, f"{len(lost)} answered jobs are missing after the kills, e.g. {sorted(lost)[:5]}"
        moved = {key: (answered_id[key], stored_id[key]) for key in answered_id if answered_id[key] != stored_id[key]}
        assert not moved, f"jobs stored under another id than answered: {dict(list(moved.items())[:5])}"
        assert len(jobs) == len(answered_id) == len(sent)
        audited = Counter(audit)
        assert {job_id for job_id, _, _ in jobs} == set(audited), "a job without its audit entry, or the reverse"
        assert max(audited.values()) == 1, "a job audited as submitted more than once"
        assert {state for _, _, state in jobs} == {"PENDING"}

        listed = httpx.get(
            f"{server.url}/v1/jobs", params={"limit": 1000}, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert listed.status_code == 200, listed.text
        assert {job["id"] for job in listed.json()["jobs"]} == set(answered_id.values())
        retried_to_200 = sum(1 for answers in ledger.answers.values() if answers[-1][0] == 200)
        print(
            f"{len(sent)} jobs, {KILL_ROUNDS} kills, {ledger.cut} requests cut, {ledger.refused} refused, "
            f"{ledger.retried_5xx} 5xx/429 retried, {retried_to_200} answered 200 on a retry"
        )
