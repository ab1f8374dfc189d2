"""Light formatting for the CLI: numbers with units, JSON, and aligned text tables.

Imports only the standard library, so the everyday commands (``suanli submit``, ``jobs``,
``status``) can use it without loading rich, numpy or the estimator.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Sequence
from typing import Any

GAP = "  "
"""Between columns, as ``squeue`` and ``kubectl get`` print them."""


def money(usd: float) -> str:
    if usd >= 1e6:
        return f"${usd / 1e6:,.2f}M"
    if usd >= 1e3:
        return f"${usd / 1e3:,.1f}k"
    return f"${usd:,.2f}"


def mass(kg: float) -> str:
    return f"{kg / 1000:,.1f} t" if kg >= 1000 else f"{kg:,.1f} kg"


def energy(kwh: float) -> str:
    return f"{kwh / 1000:,.1f} MWh" if kwh >= 1000 else f"{kwh:,.1f} kWh"


def hours(h: float) -> str:
    return f"{h / 24:,.1f} d" if h >= 48 else f"{h:,.2f} h"


def span(seconds: float) -> str:
    """An elapsed time the way people read it: ``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Collection[str] = (),
    title: str | None = None,
) -> str:
    """An aligned text table: a header line, then one line per row; the columns named in
    ``right`` are right-aligned (numbers). Cells are never cut: a narrow terminal wraps."""
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    aligned = [c in right for c in columns]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if is_right else cell.ljust(width)
            for cell, width, is_right in zip(cells, widths, aligned, strict=True)
        ]
        return GAP.join(parts).rstrip()

    lines = [title] if title else []
    lines.append(line([c.upper() for c in columns]))
    lines.extend(line(row) for row in rows)
    return "\n".join(lines)


def fields(title: str, pairs: Sequence[tuple[str, Any]]) -> str:
    """A vertical ``name: value`` block; empty values are left out."""
    shown = [(name, str(value)) for name, value in pairs if value not in (None, "")]
    width = max((len(name) for name, _ in shown), default=0)
    return "\n".join([title, *(f"  {name.ljust(width)}  {value}" for name, value in shown)])
