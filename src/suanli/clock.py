"""Clocks. Everything below the service layer takes a :class:`Clock`; only
:class:`WallClock` reads the real time, and only the service layer constructs one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of the current time in seconds since the Unix epoch (UTC)."""

    def now_s(self) -> float: ...


class SimClock:
    """A clock that only moves when told to: the simulator's clock, and the tests'."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s

    def now_s(self) -> float:
        return self._now_s

    def advance_to(self, t_s: float) -> None:
        """Move to ``t_s``; time never goes backwards."""
        if t_s < self._now_s:
            raise ValueError(f"clock cannot go back from {self._now_s} to {t_s}")
        self._now_s = t_s


class WallClock:
    """The real clock."""

    def now_s(self) -> float:
        return time.time()


def to_datetime(t_s: float) -> datetime:
    """Seconds since the epoch -> an aware UTC datetime."""
    return datetime.fromtimestamp(t_s, tz=UTC)


def to_seconds(moment: datetime) -> float:
    """An aware datetime -> seconds since the epoch. Naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(t_s: float) -> str:
    """Seconds since the epoch -> ``YYYY-MM-DDTHH:MM:SSZ`` (truncated to the second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_s))


def from_iso(text: str) -> float:
    """The inverse of :func:`iso` (any ISO 8601 time with an offset or ``Z``; naive is UTC)
    -> seconds since the epoch; ValueError for anything else."""
    return to_seconds(datetime.fromisoformat(text.replace("Z", "+00:00")))
