"""``suanli serve --workers N``: N processes answer the API on one port.

One Python process answers at most ~one core's worth of requests (the interpreter's lock),
and on the reference machine a submit costs the server ~2-3 ms of CPU, so one process tops
out near 300-450 submissions/s. With ``--workers``, uvicorn's supervisor starts N processes
that accept on the shared socket; each is a full replica (:func:`worker_app`): its own
store connections, caches and scheduler loop, of which only the holder of the leader lease
schedules, as with replicas on several machines. What that means:

- a submit that reaches a worker other than the leader is placed at the leader's next
  periodic cycle (``--cycle-interval``, 1 s by default) rather than at once;
- the per-token rate limit, ``/metrics`` request counters and the cycle-latency histogram
  are per worker (a scrape reads one worker; figures read from the store are whole);
- on SQLite, writers of all workers take turns on a file lock (see ``Store.begin``).

The parent (``suanli serve``) migrates the store and writes the first admin token before
the workers start; the workers find their settings in ``SUANLI_SERVE_CONFIG`` (JSON).

Workers follow their supervisor (:func:`follow_supervisor`): when it dies, even by
``kill -9``, which it cannot handle, each worker gets SIGTERM from the kernel (Linux's
parent-death signal), and a watchdog thread that sees the worker's parent change sends it
too where there is no such signal, then ends the worker outright if a graceful stop takes
longer than :data:`ORPHAN_GRACE_S`. Left alone, orphaned workers kept answering on the
port, so a restarted ``suanli serve`` failed with "Address already in use".
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI

from suanli.server import logs
from suanli.server.app import create_app
from suanli.service.control.plane import Settings, control_plane
from suanli.store import open_store

CONFIG_ENV = "SUANLI_SERVE_CONFIG"

PR_SET_PDEATHSIG = 1
"""prctl(2)'s option: the signal this process gets when the thread that made it exits
(``<linux/prctl.h>``). uvicorn's supervisor starts its workers from its main thread, so
that thread's end is the supervisor's."""
WATCHDOG_INTERVAL_S = 0.5
"""How often a worker's watchdog compares its parent's pid with its supervisor's."""
ORPHAN_GRACE_S = 10.0
"""How long an orphaned worker may take to stop gracefully (uvicorn closes the listening
socket at once, then lets requests in flight finish) before it is ended with ``os._exit``."""
PORT_WAIT_S = 10.0
"""How long ``suanli serve`` waits for its port when a previous server's workers still hold
it (they stop within about a second of their supervisor's death; see :func:`wait_for_port`)."""


def worker_config(
    data_dir: str | None, db: str | None, catalog: str | None, settings: Settings, scheduler: bool, log_level: str
) -> str:
    """The JSON each worker reads from ``CONFIG_ENV``."""
    return json.dumps(
        {
            "data_dir": data_dir,
            "db": db,
            "catalog": catalog,
            "settings": asdict(settings),
            "scheduler": scheduler,
            "log_level": log_level,
            "supervisor_pid": os.getpid(),
        }
    )


def worker_app() -> FastAPI:
    """The application of one worker process (uvicorn calls it as a factory)."""
    config: dict[str, Any] = json.loads(os.environ[CONFIG_ENV])
    logs.configure(config["log_level"])
    follow_supervisor(int(config.get("supervisor_pid") or os.getppid()))
    store = open_store(config["data_dir"], config["db"], upgrade=False)
    fields: dict[str, Any] = {  # JSON made the tuples lists
        name: tuple(value) if isinstance(value, list) else value for name, value in config["settings"].items()
    }
    cp = control_plane(store, Settings(**fields), config["catalog"])
    return create_app(cp, scheduler=config["scheduler"])


def follow_supervisor(supervisor_pid: int) -> None:
    """End this worker when ``supervisor_pid`` (its parent) dies: the parent-death signal
    on Linux, and everywhere a watchdog thread. A parent already gone when this runs (it
    died while the worker started) is noticed at once."""
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != supervisor_pid:
        _orphaned(supervisor_pid)
        return
    threading.Thread(target=_watch, args=(supervisor_pid,), name="suanli-supervisor-watchdog", daemon=True).start()


def _set_parent_death_signal(sig: signal.Signals) -> bool:
    """Ask the kernel for ``sig`` when the parent dies; False where there is no prctl."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):  # no libc symbol: the watchdog alone follows the supervisor
        return False


def _watch(supervisor_pid: int) -> None:
    while os.getppid() == supervisor_pid:
        time.sleep(WATCHDOG_INTERVAL_S)
    _orphaned(supervisor_pid)


def _orphaned(supervisor_pid: int) -> None:
    """Stop as SIGTERM stops a worker (uvicorn's graceful shutdown), and end the process
    if that has not finished after :data:`ORPHAN_GRACE_S`."""
    logs.event("supervisor gone: this worker stops", supervisor_pid=supervisor_pid, worker_pid=os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=_exit_after, args=(ORPHAN_GRACE_S,), daemon=True).start()


def _exit_after(grace_s: float) -> None:
    time.sleep(grace_s)
    os._exit(1)


def wait_for_port(host: str, port: int, timeout_s: float = PORT_WAIT_S) -> None:
    """Return once ``host:port`` can be bound (as uvicorn binds it, with ``SO_REUSEADDR``),
    waiting up to ``timeout_s`` while it is in use: the workers of a server killed just
    before stop within about a second. Raises ``OSError`` naming the port after that."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                    raise OSError(
                        exc.errno,
                        f"port {port} on {host} is in use ({exc.strerror}), still after {timeout_s:.0f} s. "
                        f"To fix: stop what listens there (ss -ltnp 'sport = :{port}' names it) or pass --port",
                    ) from None
        time.sleep(0.1)
