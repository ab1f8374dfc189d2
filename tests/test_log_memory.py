"""Reading a page of a 200 MB log costs the server a page, not the log: a real ``suanli
serve`` process on SQLite and on PostgreSQL, a log of 200 MB written inside the database
(1,467 chunks of 143,000 characters, as agents report it: at most ``MAX_LOG_CHUNK``, 150,000,
a report), pages read
at its start, middle and end, one at a time and four at once; the server's peak resident
memory (``VmHWM``, reset before the reads) may grow by less than 50 MB. Each page's text
is checked against what the log holds there.

(Reading whole chunks from the offset to the log's end put it all in the server's memory
on PostgreSQL, whose driver fetches a whole result first: 188 MB for one page, 764 MB for
four at once.)"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from suanli.schemas.v1 import MAX_LOG_CHUNK
from tests.control_harness import ControlNetwork, report_on_failure
from tests.test_control_e2e import JOBS, PY, spec

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads peak memory from /proc (Linux)"),
]

LINE = 11
"""Each line of the log: a chunk's number in 10 digits and a newline."""
LINES_PER_CHUNK = 13_000
CHUNK_CHARS = LINE * LINES_PER_CHUNK
CHUNKS = 1_467
LOG_CHARS = CHUNK_CHARS * CHUNKS
"""209,781,000 characters: 200 MiB and a little."""
PAGE_CHARS = 1_000_000
"""The server's page (``Settings.max_log_read_chars``' default)."""
GROWTH_LIMIT_BYTES = 50 * 2**20
"""The issue's bound on what reading pages may add to the server's peak memory."""

SQLITE_FILL = """
WITH RECURSIVE chunk(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM chunk WHERE i < :chunks - 1)
INSERT INTO job_logs (job_id, attempt, "offset", text)
SELECT :job, 1, i * :chunk_chars, replace(hex(zeroblob(:lines)), '00', printf('%010d', i) || char(10)) FROM chunk
"""
"""``hex(zeroblob(n))`` is 2n zeros; replacing each pair with the line makes n lines."""
POSTGRES_FILL = """
INSERT INTO job_logs (job_id, attempt, "offset", text)
SELECT :job, 1, i * :chunk_chars, repeat(lpad(i::text, 10, '0') || chr(10), :lines)
FROM generate_series(0, :chunks - 1) AS i
"""


assert CHUNK_CHARS <= MAX_LOG_CHUNK, "chunks as an agent's reports make them"


def expected(offset: int, chars: int) -> str:
    """What the log holds from ``offset``: chunk c is c's line repeated."""
    out = []
    position = offset
    end = min(offset + chars, LOG_CHARS)
    while position < end:
        chunk, within = divmod(position, CHUNK_CHARS)
        take = min(end - position, CHUNK_CHARS - within)
        line = f"{chunk:010d}\n"
        repeated = line * (take // LINE + 2)
        out.append(repeated[within % LINE : within % LINE + take])
        position += take
    return "".join(out)


def write_log(net: ControlNetwork, job_id: str) -> None:
    store = net.plane().store
    fill = POSTGRES_FILL if store.dialect == "postgresql" else SQLITE_FILL
    params = {"job": job_id, "chunks": CHUNKS, "chunk_chars": CHUNK_CHARS, "lines": LINES_PER_CHUNK}
    with store.engine.begin() as conn:
        conn.execute(text(fill), params)
        conn.execute(text("UPDATE jobs SET log_chars = :chars WHERE id = :job"), {"chars": LOG_CHARS, "job": job_id})


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def test_pages_of_a_200_mb_log_raise_the_servers_peak_memory_by_under_50_mb(
    control_db: str | None, tmp_path: Path
) -> None:
    with ControlNetwork(tmp_path / "net", control_db) as net, report_on_failure(net):
        server = net.start_server()
        tenant = net.create_tenant("acme")
        job = net.client(tenant).submit(spec("long-log", PY, str(JOBS / "hello.py"), "1"))
        write_log(net, job.id)
        offsets = [0, LOG_CHARS // 2 + 7, LOG_CHARS - PAGE_CHARS // 3]
        with httpx.Client(base_url=net.url, headers={"Authorization": f"Bearer {tenant}"}, timeout=120) as http:

            def page(offset: int) -> tuple[int, str, int]:
                answer = http.get(f"/v1/jobs/{job.id}/logs", params={"offset": offset})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                return offset, body["text"], body["next_offset"]

            page(LOG_CHARS - 10)  # warm: the route, the query's compiled form, the connection pool
            time.sleep(0.5)
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            before = memory_kib(server.pid)["VmRSS"]
            answers = [page(offset) for offset in offsets]
            with ThreadPoolExecutor(max_workers=4) as pool:
                answers += list(pool.map(page, [offsets[1], offsets[1] + 1, 3, offsets[0]]))
            peak = memory_kib(server.pid)["VmHWM"]
        growth_bytes = (peak - before) * 1024
        print(f"\n{net.plane().store.dialect}: peak memory growth {growth_bytes / 2**20:.1f} MiB")
        assert growth_bytes < GROWTH_LIMIT_BYTES, (
            f"seven pages of a {LOG_CHARS / 2**20:.0f} MiB log raised the server's peak memory by "
            f"{growth_bytes / 2**20:.1f} MiB ({before} KiB before)"
        )
        for offset, got, next_offset in answers:
            assert got == expected(offset, PAGE_CHARS), f"the page at {offset:,}"
            assert next_offset == min(offset + PAGE_CHARS, LOG_CHARS)
