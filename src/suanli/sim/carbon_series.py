"""Measured grid-intensity time series as a site's carbon signal.

A CSV whose first column is a time (``YYYY-MM-DD HH:MM:SS`` or ISO 8601, read as UTC when
it carries no zone) and whose intensity column (gCO2/kWh) is named, or else the second
column: the format of the lets-wait-awhile series in ``../shared/data/carbon/data``
(``Time,Carbon Intensity``, 15- or 30-minute steps). Readings are averaged per hour;
an hour with no reading takes the previous hour's value. In a simulation the series
repeats after its end.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from suanli.errors import InputError


@dataclass(frozen=True)
class CarbonSeries:
    start_s: float
    """UTC time of the first hour."""
    hourly_g_per_kwh: tuple[float, ...]
    source: str


def load_carbon_series(path: str | Path, column: str | None = None) -> CarbonSeries:
    source = Path(path)
    try:
        handle = source.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{source}: cannot read carbon series: {exc.strerror or exc}") from None
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except (StopIteration, csv.Error, UnicodeDecodeError):
            raise InputError(f"{source}:1: not a CSV file with a header") from None
        if column is not None and column not in header:
            raise InputError(f"{source}:1: no column '{column}'; header has {', '.join(header)}")
        index = header.index(column) if column is not None else 1
        if len(header) <= index:
            raise InputError(f"{source}:1: need a time column and an intensity column")
        try:
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                hour = _hour(row[0], source, line)
                value = _value(row[index] if len(row) > index else "", source, line, header[index])
                sums[hour] = sums.get(hour, 0.0) + value
                counts[hour] = counts.get(hour, 0) + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: malformed CSV: {exc}") from None
    if not sums:
        raise InputError(f"{source}: the carbon series has no readings")
    first, last = min(sums), max(sums)
    values: list[float] = []
    previous = sums[first] / counts[first]
    for hour in range(first, last + 1):
        if hour in sums:
            previous = sums[hour] / counts[hour]
        values.append(previous)
    return CarbonSeries(start_s=first * 3600.0, hourly_g_per_kwh=tuple(values), source=str(source))


def _hour(text: str, source: Path, line: int) -> int:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{source}:{line}: '{text}' is not a date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp() / 3600.0)


def _value(text: str, source: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{source}:{line}: column '{column}': '{text}' is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{source}:{line}: column '{column}': intensity must be a finite number >= 0")
    return value
