"""CSV reading shared by the trace loaders: clear errors with file, line and column."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from suanli.errors import InputError


class TraceError(InputError):
    """A trace file is unreadable or malformed; names the file, line and column."""

    def __init__(self, message: str, path: str | Path, line: int | None = None, column: str | None = None) -> None:
        where = str(path) + (f":{line}" if line is not None else "")
        if column:
            message = f"column '{column}': {message}"
        super().__init__(f"{where}: {message}")


def rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; checks the header names ``required`` columns."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"cannot read trace: {exc.strerror or exc}", path) from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (csv.Error, UnicodeDecodeError) as exc:
            raise TraceError(f"not a CSV file: {exc}", path, 1) from None
        missing = [c for c in required if c not in header]
        if missing:
            raise TraceError(
                f"missing column(s) {', '.join(missing)}; header has {', '.join(header) or 'nothing'}", path, 1
            )
        try:
            for row in reader:
                yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise TraceError(f"malformed CSV: {exc}", path, reader.line_num) from None


def number(row: dict[str, str], column: str, path: Path, line: int, *, minimum: float | None = None) -> float:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"'{text}' is not a number", path, line, column) from None
    if not math.isfinite(value):
        raise TraceError(f"'{text}' is not a finite number", path, line, column)
    if minimum is not None and value < minimum:
        raise TraceError(f"{value:g} is below the minimum {minimum:g}", path, line, column)
    return value


def timestamp(row: dict[str, str], column: str, path: Path, line: int) -> float:
    """``YYYY-MM-DD HH:MM:SS`` (or ISO 8601) as UTC epoch seconds."""
    text = (row.get(column) or "").strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TraceError(f"'{text}' is not a date-time (YYYY-MM-DD HH:MM:SS)", path, line, column) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Interner:
    """Names -> dense integer codes, in order of first appearance."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        code = self.codes.get(name)
        if code is None:
            code = self.codes[name] = len(self.codes)
        return code

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.codes)
