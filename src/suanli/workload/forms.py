"""The short forms people write in specs: quantities with units, and a command as one string.

Each form is a pydantic ``BeforeValidator`` on the fields that take it; a value that is
not a string (a number, a list) passes through unchanged to the field's own type check.
The rules, documented in ``docs/spec.md``:

- **counts** (tokens, requests, steps, parameters): a number with an optional suffix
  ``K``, ``M``, ``B`` or ``T`` (1e3, 1e6, 1e9, 1e12; either case; never powers of 1,024).
  A suffixed value is a count of things, converted to the field's unit: ``tokens_b`` is
  in billions, so ``tokens_b: 150M`` is 0.15 and ``tokens_b: 2T`` is 2,000. A bare number
  is already in the field's unit (``tokens_b: 150`` is 150 billion). ``1e6`` is read as a
  number although YAML 1.1 makes it a string.
- **durations**: a number with a unit ``ms``, ``s``, ``m`` (or ``min``), ``h``, ``d`` or
  ``w``, converted to the field's unit (``duration_h: 90m`` is 1.5; ``latency_slo_ms: 2s``
  is 2,000). A bare number is in the field's unit.
- **data sizes**: a number with a unit ``KB``, ``MB``, ``GB``, ``TB``, ``PB`` (powers of
  1,000, as storage is sold) or ``KiB`` ... ``PiB`` (powers of 1,024); the ``B`` may be
  left out (``2T``, ``500Gi``) and case does not matter: always bytes, never bits.
  ``size_gb: 2TB`` is 2,000; ``size_gb: 1TiB`` is 1,099.511627776.
- **a shell command**: ``run.command`` as one string is run by ``sh -c``: it is stored as
  ``["sh", "-c", "<string>"]``, so the executors still receive an argv list.

Conversions go through :class:`~decimal.Decimal`, so ``150M`` in billions is exactly 0.15.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BeforeValidator

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
"""A decimal number, with an optional exponent (``1e6``: YAML 1.1 leaves it a string)."""

COUNT_SUFFIXES = {"k": Decimal(10**3), "m": Decimal(10**6), "b": Decimal(10**9), "t": Decimal(10**12)}
"""Thousand, million, billion (as in ``7B`` parameters), trillion: SI-style, never 1,024."""
DURATION_S = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "min": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86_400),
    "w": Decimal(604_800),
}
"""Seconds per duration unit (``m`` is minutes, as in relative times like ``+90m``)."""
_PREFIXES = ("k", "m", "g", "t", "p")
SIZE_BYTES = {
    "b": Decimal(1),
    **{p + "b": Decimal(1000) ** (i + 1) for i, p in enumerate(_PREFIXES)},
    **{p: Decimal(1000) ** (i + 1) for i, p in enumerate(_PREFIXES)},
    **{p + "ib": Decimal(1024) ** (i + 1) for i, p in enumerate(_PREFIXES)},
    **{p + "i": Decimal(1024) ** (i + 1) for i, p in enumerate(_PREFIXES)},
}
"""Bytes per size unit, lower case: decimal (``GB`` or ``G`` = 1e9 bytes, as ``size_gb``
is) and binary (``GiB`` or ``Gi`` = 2^30 bytes). Always bytes, never bits."""

COUNT_FORMS = "a suffix K, M, B or T (1e3, 1e6, 1e9, 1e12)"
DURATION_FORMS = "a unit ms, s, m, h, d or w"
SIZE_FORMS = "a unit KB, MB, GB, TB, PB (powers of 1000) or KiB, MiB, GiB, TiB, PiB (powers of 1024)"


@dataclass(frozen=True, eq=False)  # hashed by identity: pydantic hashes annotations
class _Quantity:
    """Reads a string quantity (``150M``, ``24h``, ``2TB``) into the field's unit."""

    scales: dict[str, Decimal]
    """Amount of the base unit (one thing, one second, one byte) per unit as written, by
    the unit in lower case."""
    field_unit: Decimal
    """Amount of the base unit in one of the field's units (1e9 tokens for ``tokens_b``);
    a bare number is in this unit."""
    integer: bool
    """Whether the field takes whole numbers (then a whole result is an ``int``)."""
    help: str
    """The accepted forms, with examples: the end of the error message."""
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        units = "|".join(sorted(map(re.escape, self.scales), key=len, reverse=True))
        pattern = re.compile(rf"^(?P<number>{NUMBER})\s*(?P<unit>{units})?$", re.IGNORECASE)
        object.__setattr__(self, "_pattern", pattern)

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        found = self._pattern.match(text)
        if found is None:
            raise ValueError(f"'{text}' is not understood: {self.help}")
        unit = found.group("unit")
        scale = self.scales[unit.lower()] if unit else self.field_unit
        amount = Decimal(found.group("number")) * scale / self.field_unit
        if self.integer and amount == amount.to_integral_value():
            return int(amount)
        return float(amount)


def _count(field_unit: int, what: str, examples: str, *, integer: bool) -> BeforeValidator:
    help_ = f"use a number ({what}), or a count with {COUNT_FORMS}, like {examples}"
    return BeforeValidator(_Quantity(COUNT_SUFFIXES, Decimal(field_unit), integer, help_))


def _duration(field_unit_s: Decimal, what: str, examples: str) -> BeforeValidator:
    help_ = f"use a number ({what}), or a duration with {DURATION_FORMS}, like {examples}"
    return BeforeValidator(_Quantity(DURATION_S, field_unit_s, False, help_))


def _size(field_unit_bytes: Decimal, what: str, examples: str) -> BeforeValidator:
    help_ = f"use a number ({what}), or a size with {SIZE_FORMS}, like {examples}"
    return BeforeValidator(_Quantity(SIZE_BYTES, field_unit_bytes, False, help_))


BILLION = 10**9
TOKENS_B = _count(BILLION, "billions of tokens", "150M (= 0.15) or 2T (= 2000)", integer=False)
PARAMS_B = _count(BILLION, "billions of parameters", "7B or 500M (= 0.5)", integer=False)
REQUESTS = _count(1, "requests", "10M", integer=True)
TOKENS = _count(1, "tokens", "4K (= 4000)", integer=True)
STEPS = _count(1, "steps", "500K", integer=False)
DURATION_H = _duration(DURATION_S["h"], "hours", "24h, 90m (= 1.5) or 2d (= 48)")
LATENCY_MS = _duration(DURATION_S["ms"], "milliseconds", "500ms or 2s (= 2000)")
SIZE_GB = _size(SIZE_BYTES["gb"], "GB", "500GB or 2TB (= 2000)")

SHELL = ("sh", "-c")
"""How a command written as one string runs: ``sh -c '<string>'``."""


def _shell_command(value: Any) -> Any:
    """``command: "python train.py --epochs 3"`` -> ``("sh", "-c", "python train.py --epochs 3")``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        raise ValueError("the command is empty: write a shell command line, or an argv list like [python, train.py]")
    return (*SHELL, text)


SHELL_COMMAND = BeforeValidator(_shell_command)
