"""Cursor pagination for every listing: ``limit`` items per page, ``after`` a cursor.

A listing is read in a fixed order on a unique key (jobs and audit entries newest first
by their sequence number; tokens and filings oldest first by ``(created_at, id)``; tenants
and usage by tenant name). A page holds the first ``limit`` rows past the cursor's key
(keyset pagination: ``WHERE key < :after ORDER BY key DESC LIMIT :limit + 1``; the extra
row only says whether there is more), and its ``next`` cursor is the key of its last row.

So paging is stable under inserts: a row present when paging began is listed exactly
once, on the page its key falls in, whatever is inserted meanwhile (new jobs and audit
entries get larger sequence numbers, before the first page of a newest-first listing;
new tokens and filings come last), and each page costs the same at any depth (an index
seek, not an ``OFFSET`` that reads every row before it).

A cursor is opaque to clients: URL-safe base64 of ``[listing, *key]`` as JSON. Its
listing name keeps a cursor of one listing from being used on another; a cursor that does
not decode to a key of this listing is a 422 naming the parameter, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from suanli.service.control.errors import Unprocessable

T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R")
Key = tuple[int | float | str, ...]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""Items per page unless ``limit`` says otherwise, and the most one page holds (the jobs
listing's cap before it had pages; the audit listing keeps its own 10,000)."""
MAX_CURSOR_CHARS = 4096
"""Longer than any cursor this module makes: a 32-character id and a float take ~80; the
worst a key string of up to 128 characters can take is ~2,100 (JSON's ASCII escapes write
a character outside the basic plane as twelve, ``\ud83d\ude00``; base64 adds a third)."""

KEY_TYPES: dict[str, tuple[type, ...]] = {
    "jobs": (int,),
    "audit": (int,),
    "tokens": (float, str),
    "filings": (float, str),
    "tenants": (str,),
    "usage": (str,),
}
"""Each listing's key, in order: what its cursor must hold."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its items, and the cursor of the next page (None on the last)."""

    items: list[T]
    next: str | None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page([convert(item) for item in self.items], self.next)


def encode(listing: str, key: Sequence[int | float | str]) -> str:
    """The cursor that resumes ``listing`` after the row whose key is ``key``."""
    _check_key(listing, tuple(key))
    raw = json.dumps([listing, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(listing: str, cursor: str | None) -> Key | None:
    """The key ``cursor`` resumes ``listing`` after (None: from the start). Raises
    :class:`Unprocessable` (422, ``INVALID_CURSOR``) naming ``after`` for anything that
    is not a cursor this listing made."""
    if cursor is None:
        return None
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError(f"longer than {MAX_CURSOR_CHARS} characters")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid(listing, cursor, "it does not decode") from None
    if not isinstance(value, list) or not value or value[0] != listing:
        made_by = value[0] if isinstance(value, list) and value and isinstance(value[0], str) else None
        why = f"it is a cursor of the {made_by} listing" if made_by in KEY_TYPES else "it is not a cursor"
        raise _invalid(listing, cursor, why)
    key = tuple(value[1:])
    try:
        _check_key(listing, key)
    except ValueError as exc:
        raise _invalid(listing, cursor, str(exc)) from None
    return key


def paged(listing: str, rows: list[R], limit: int, key: Callable[[R], Sequence[int | float | str]]) -> Page[R]:
    """The page in the ``limit + 1`` rows a store query read past the cursor: the first
    ``limit``, and when the extra row says more follow, the cursor after the last of them."""
    items = rows[:limit]
    return Page(items, encode(listing, key(items[-1])) if len(rows) > limit and items else None)


def every_item(read_page: Callable[[str | None], Page[T]], max_pages: int = 100_000) -> list[T]:
    """Every item of a listing, following ``next`` from the first page (for callers in
    this process that want the whole listing, as before it had pages)."""
    items: list[T] = []
    after: str | None = None
    for _ in range(max_pages):
        page = read_page(after)
        items.extend(page.items)
        if page.next is None:
            return items
        after = page.next
    raise RuntimeError(f"a listing ran past {max_pages:,} pages")


def _check_key(listing: str, key: Key) -> None:
    types = KEY_TYPES[listing]
    if len(key) != len(types):
        raise ValueError(f"its key has {len(key)} parts, not {len(types)}")
    for part, expected in zip(key, types, strict=True):
        ok = isinstance(part, expected) and not isinstance(part, bool)
        if expected is float:
            ok = isinstance(part, int | float) and not isinstance(part, bool)
        if not ok:
            raise ValueError(f"its key part {part!r} is not of type {expected.__name__}")
        if isinstance(part, int) and not -(2**63) <= part < 2**63:
            raise ValueError(f"its key part {part} is out of range")
        if isinstance(part, float) and not math.isfinite(part):
            raise ValueError(f"its key part {part} is not finite")
        if isinstance(part, str) and (len(part) > 128 or "\x00" in part):
            raise ValueError("its key part is no key this listing makes")


def _invalid(listing: str, cursor: str, why: str) -> Unprocessable:
    shown = cursor if len(cursor) <= 40 else cursor[:40] + "..."
    return Unprocessable(
        f"after: '{shown}' is not a cursor of this listing ({listing}): {why}. To fix: pass the 'next' "
        "value of the previous page as it was answered, or leave 'after' out to start at the first page",
        code="INVALID_CURSOR",
        details=[{"field": "query.after", "message": why, "type": "invalid_cursor"}],
    )


__all__ = [
    "DEFAULT_LIMIT",
    "KEY_TYPES",
    "MAX_CURSOR_CHARS",
    "MAX_LIMIT",
    "Page",
    "decode",
    "encode",
    "every_item",
    "paged",
]
