"""Cursors (``service.control.paging``): every key a listing makes comes back from its
cursor as it went in; no other listing takes it; nothing that is not a cursor decodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.service.control import paging
from suanli.service.control.errors import Unprocessable

PART = {
    int: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    float: st.floats(allow_nan=False, allow_infinity=False),
    str: st.text(st.characters(blacklist_characters="\x00"), max_size=128),
}
KEYS = st.sampled_from(sorted(paging.KEY_TYPES)).flatmap(
    lambda listing: st.tuples(st.just(listing), st.tuples(*(PART[t] for t in paging.KEY_TYPES[listing])))
)


@given(KEYS)
def test_a_cursor_gives_back_its_key_and_only_its_own_listing_takes_it(listing_and_key: tuple[str, tuple]) -> None:
    listing, key = listing_and_key
    cursor = paging.encode(listing, key)
    assert len(cursor) <= paging.MAX_CURSOR_CHARS
    assert paging.decode(listing, cursor) == key
    for other in set(paging.KEY_TYPES) - {listing}:
        with pytest.raises(Unprocessable, match=rf"it is a cursor of the {listing} listing"):
            paging.decode(other, cursor)


@given(st.text(max_size=600))
def test_any_other_text_is_a_422_naming_after_or_a_key_of_its_listing(text: str) -> None:
    try:
        key = paging.decode("jobs", text)
    except Unprocessable as exc:
        assert exc.code == "INVALID_CURSOR" and exc.message.startswith("after: ")
    else:
        assert key is not None and paging.encode("jobs", key)  # a real cursor, typed by chance


def test_a_page_says_whether_more_follow_from_the_extra_row() -> None:
    rows = [{"seq": n} for n in (9, 8, 7)]
    last = paging.paged("jobs", rows, 3, lambda r: (r["seq"],))
    assert (last.items, last.next) == (rows, None)
    more = paging.paged("jobs", rows, 2, lambda r: (r["seq"],))
    assert more.items == rows[:2] and paging.decode("jobs", more.next) == (8,)
