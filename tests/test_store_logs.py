"""A log page is the log's text in ``[offset, offset + max_chars)``, cut in SQL, on SQLite
and PostgreSQL: across chunk boundaries, from inside a chunk, past the end, and for a log of
more tiny chunks than a page reads (a shorter page whose ``next_offset`` goes on)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from suanli.store import Store
from suanli.store import jobs as job_rows
from suanli.store.tables import job_logs
from tests.api_builders import Network, job_spec

CHUNKS = ["alpha\n", "b" * 1000, "", "γδε\n", "x", "line two\n" * 50, "tail"]
"""Reports' texts as an agent sends them (an empty one too), with characters beyond ASCII:
offsets count characters, not bytes, on both stores."""
WHOLE = "".join(CHUNKS)


@pytest.fixture
def log_job(store: Store) -> tuple[Network, str]:
    net = Network.build(store)
    job = net.submit("tenant_a", job_spec("logs"))
    with store.begin() as conn:
        for attempt, text in enumerate(CHUNKS, start=1):
            job_rows.append_log(conn, job.id, attempt, text)
    return net, job.id


@pytest.mark.parametrize(
    ("offset", "max_chars"),
    [
        pytest.param(0, 3, id="the start of the first chunk"),
        pytest.param(0, len(WHOLE), id="the whole log in one page"),
        pytest.param(4, 10, id="from inside a chunk into the next"),
        pytest.param(1006, 4, id="a page starting where a chunk starts"),
        pytest.param(1005, 500, id="a page across several chunks"),
        pytest.param(len(WHOLE) - 2, 100, id="a page ending at the log's end"),
        pytest.param(len(WHOLE), 100, id="at the end: nothing yet"),
        pytest.param(len(WHOLE) + 50, 100, id="past the end: nothing, and the offset stays"),
    ],
)
def test_a_page_is_the_logs_text_in_its_window(log_job: tuple[Network, str], offset: int, max_chars: int) -> None:
    net, job_id = log_job
    with net.cp.store.engine.connect() as conn:
        text, next_offset = job_rows.read_log(conn, job_id, offset, max_chars)
    assert text == WHOLE[offset : offset + max_chars]
    assert next_offset == offset + len(text)


def test_many_tiny_chunks_come_in_shorter_pages_that_add_up_to_the_log(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Network.build(store)
    job_id = net.submit("tenant_a", job_spec("tiny")).id
    lines = [f"{n}\n" for n in range(250)]
    offsets = [sum(map(len, lines[:n])) for n in range(len(lines))]
    with store.begin() as conn:
        rows = [{"job_id": job_id, "attempt": 1, "offset": o, "text": t} for o, t in zip(offsets, lines, strict=True)]
        conn.execute(insert(job_logs), rows)
    monkeypatch.setattr(job_rows, "MAX_CHUNKS_PER_PAGE", 100)
    pages, offset = [], 0
    with store.engine.connect() as conn:
        while True:
            text, offset = job_rows.read_log(conn, job_id, offset, 10_000)
            if not text:
                break
            pages.append(text)
    assert "".join(pages) == "".join(lines)
    assert [page.count("\n") for page in pages] == [100, 100, 50], "100 chunks a page"
