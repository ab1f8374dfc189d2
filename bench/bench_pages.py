"""What a page of ``GET /v1/jobs`` costs at depth: one tenant's jobs read 1,000 a page to
the end, through the service call the route makes (``jobs.list_page``: the keyset query on
``ix_jobs_tenant_seq`` and the answer's models), on a store of ``--jobs`` jobs shared by two
tenants. Keyset pages cost the same at any depth; an ``OFFSET`` page would read every row
before it.

Prints the first page's time (it also warms the connection and the compiled query), the
median, and the last full page's. Run: `make bench` or
`.venv/bin/python bench/bench_pages.py [--jobs N] [--db postgresql://...] [--json]`
(SQLite in a temporary directory unless ``--db``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import insert, select

from suanli.schemas import JobSubmit
from suanli.service.control import jobs
from suanli.service.control.admin import create_tenant
from suanli.service.control.auth import LOCAL_ADMIN, authenticate
from suanli.service.control.plane import control_plane
from suanli.store import open_store
from suanli.store.identity import new_id
from suanli.store.tables import jobs as jobs_table

PAGE = 1000
SPEC: dict[str, Any] = {
    "apiVersion": "suanli/v1",
    "kind": "FineTuning",
    "name": "page",
    "model": {"params_b": 0.001},
    "tokens_b": 0.0001,
    "resources": {"accelerators": ["h800"], "count": 1},
    "run": {"command": ["python3", "-c", "print(1)"]},
}


def measure(db: str | None, total_jobs: int) -> dict[str, Any]:
    store = open_store(None if db else tempfile.mkdtemp(prefix="bench-pages-"), db)
    cp = control_plane(store)
    tokens = [
        create_tenant(cp, LOCAL_ADMIN, name).token for name in (f"pages-a-{new_id('t')}", f"pages-b-{new_id('t')}")
    ]
    with store.engine.connect() as conn:
        who = [authenticate(conn, token) for token in tokens]
    first, _ = jobs.submit(cp, who[0], JobSubmit(spec=SPEC), None)
    with store.engine.begin() as conn:
        row = dict(conn.execute(select(jobs_table).where(jobs_table.c.id == first.id)).mappings().one())
        del row["seq"]
        for start in range(1, total_jobs, 10_000):
            batch = range(start, min(start + 10_000, total_jobs))
            tenant_of = [w.tenant_id for w in who]
            conn.execute(
                insert(jobs_table),
                [row | {"id": new_id("j"), "idempotency_key": None, "tenant_id": tenant_of[i % 2]} for i in batch],
            )
    times_s, listed, after = [], 0, None
    while True:
        started = time.perf_counter()
        page = jobs.list_page(cp, who[0], None, PAGE, False, after)
        times_s.append(time.perf_counter() - started)
        listed += len(page.items)
        if page.next is None:
            break
        after = page.next
    store.dispose()
    full = times_s[:-1] if len(times_s) > 1 else times_s
    return {
        "store": store.dialect,
        "jobs": total_jobs,
        "listed": listed,
        "pages": len(times_s),
        "first_ms": round(times_s[0] * 1000, 1),
        "median_ms": round(statistics.median(full) * 1000, 1),
        "last_full_ms": round(full[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the store (half of them the paged tenant's)")
    parser.add_argument("--db", help="a PostgreSQL URL (default: SQLite in a temporary directory)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.db, args.jobs)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['store']}: {result['listed']:,} of {result['jobs']:,} jobs in {result['pages']} pages of {PAGE:,}: "
        f"first {result['first_ms']} ms, median {result['median_ms']} ms, last full page {result['last_full_ms']} ms"
    )


if __name__ == "__main__":
    main()
