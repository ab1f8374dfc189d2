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
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI

from suanli.server import logs
from suanli.server.app import create_app
from suanli.service.control.plane import Settings, control_plane
from suanli.store import open_store

CONFIG_ENV = "SUANLI_SERVE_CONFIG"


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
        }
    )


def worker_app() -> FastAPI:
    """The application of one worker process (uvicorn calls it as a factory)."""
    config: dict[str, Any] = json.loads(os.environ[CONFIG_ENV])
    logs.configure(config["log_level"])
    store = open_store(config["data_dir"], config["db"], upgrade=False)
    fields: dict[str, Any] = {  # JSON made the tuples lists
        name: tuple(value) if isinstance(value, list) else value for name, value in config["settings"].items()
    }
    cp = control_plane(store, Settings(**fields), config["catalog"])
    return create_app(cp, scheduler=config["scheduler"])
