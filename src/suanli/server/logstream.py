"""``GET /v1/jobs/{id}/logs/stream``: a job's output as Server-Sent Events, for the
dashboard's job page and any client that would rather hold one connection than poll.

The stream (``text/event-stream``, the WHATWG HTML "Server-sent events" format):

- ``event: log`` with ``id: N`` (the character offset after this text) and ``data:``
  ``{"text": ..., "next_offset": N}``: new output, in order, each character once;
- ``event: end`` with ``data: {"next_offset": N, "state": ...}`` once the job has ended
  and everything was sent; the server then closes the stream;
- ``event: error`` with ``data: {"code": ..., "message": ...}`` when the token stops being
  valid mid-stream (revoked, expired): the stream ends, so a revoked token reads no more
  than a poller would (the token is checked again before every read, through the same
  cache as every request, see ``deps.principal_of``);
- a comment line (``: keep-alive``) every :data:`KEEP_ALIVE_S` of silence, so proxies and
  load balancers keep an idle stream open.

A reconnecting client sends ``Last-Event-ID`` (``EventSource`` does so itself; the
dashboard's ``fetch`` reader too) and continues from that offset. The browser's
``EventSource`` cannot send an ``Authorization`` header, so the dashboard reads this stream
with ``fetch`` and a stream reader, which can: the token never travels in a URL.

The server reads the store every :data:`POLL_S` for the stream (at once again when a read
filled a whole page), which costs the database what one poller would, without a request,
a token check by the network stack and a JSON envelope per second per open page. A stream
lasts at most :data:`MAX_STREAM_S`, or the ``timeout_s`` the client asks for (as a
Kubernetes watch takes ``timeoutSeconds``); the client reconnects from its last id.

A server asked to stop ends its streams at their next read (:func:`watch_stop_signals`):
uvicorn's graceful shutdown waits for every response in progress to complete, so one open
job page would otherwise hold a restart for up to an hour, and a restart must be short
(docs/control-plane.md, "A server restart is a non-event").
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import FrameType
from typing import Any

from suanli.schemas import LogsOut
from suanli.service.control.errors import Refusal

POLL_S = 0.5
"""How often the stream reads the job's log while nothing new came."""
KEEP_ALIVE_S = 15.0
"""The longest silence before a comment line (nginx's default proxy_read_timeout is 60 s)."""
MAX_STREAM_S = 3600.0
"""One stream's longest life; the client reconnects with ``Last-Event-ID``."""


STOPPING = threading.Event()
"""Set when this process was asked to stop (SIGTERM or SIGINT)."""


def watch_stop_signals() -> None:
    """Chain a handler that sets :data:`STOPPING` in front of the server's own (uvicorn's,
    installed before the application starts) for SIGTERM and SIGINT. Only from the main
    thread, where signal handlers live; a server run elsewhere (a test client) keeps its
    handlers as they are."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def stop(
            number: int, frame: FrameType | None, previous: Callable[[int, FrameType | None], Any] = previous
        ) -> None:
            STOPPING.set()
            previous(number, frame)

        signal.signal(sig, stop)


def event(name: str, data: object, event_id: int | None = None) -> bytes:
    """One event in the wire format: ``event:``, optional ``id:``, one ``data:`` line (JSON
    has no raw newline in it), and the blank line that ends it."""
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return (head + "data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n\n").encode()


async def log_events(
    read: Callable[[int], Awaitable[LogsOut]],
    state: Callable[[], Awaitable[str]],
    offset: int,
    page_chars: int,
    disconnected: Callable[[], Awaitable[bool]],
    max_s: float = MAX_STREAM_S,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """The stream's events from character ``offset``: ``read(offset)`` is a page of the log
    (re-checking the caller's token first), ``state()`` the job's state for the end event."""
    started = last_sent = clock()
    while True:
        if STOPPING.is_set() or await disconnected():
            return
        try:
            page = await read(offset)
        except Refusal as exc:
            yield event("error", {"code": exc.code, "message": str(exc)})
            return
        if page.text:
            offset = page.next_offset
            yield event("log", {"text": page.text, "next_offset": offset}, offset)
            last_sent = clock()
        if page.done:
            yield event("end", {"next_offset": offset, "state": await state()})
            return
        if clock() - started >= max_s:
            return
        if page.text and len(page.text) >= page_chars:
            continue  # a full page: there is more already
        if clock() - last_sent >= KEEP_ALIVE_S:
            yield b": keep-alive\n\n"
            last_sent = clock()
        await asyncio.sleep(POLL_S)
