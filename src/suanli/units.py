"""Unit constants and conversions. Names carry their units (``_s``, ``_h``, ``_kwh``).

Sources: SI definitions; the average Gregorian year (8,766 h) is not used: amortisation
uses the 365-day year (8,760 h) as financial practice does.
"""

from __future__ import annotations

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24
HOURS_PER_YEAR = 8760.0
"""365-day year, as used for straight-line amortisation."""
TERA = 1e12
GIGA = 1e9
BYTES_PER_GB = 1e9
"""Decimal gigabytes, as storage and accelerator memory are quoted."""
BITS_PER_BYTE = 8.0
W_PER_KW = 1000.0
G_PER_KG = 1000.0

BYTES_PER_VALUE: dict[str, float] = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
}
"""Storage width of one value at each precision (IEEE 754 / OCP FP8 formats)."""


def transfer_time_h(size_gb: float, bandwidth_gbps: float) -> float:
    """Hours to move ``size_gb`` gigabytes over a link of ``bandwidth_gbps`` gigabits/s.

    t = size x 8 / bandwidth, in seconds, divided by 3,600.
    """
    if size_gb <= 0:
        return 0.0
    return size_gb * BITS_PER_BYTE / bandwidth_gbps / SECONDS_PER_HOUR
