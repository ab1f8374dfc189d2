"""Readable derivations: every figure of an estimate with its unit and formula."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One figure of a derivation: its name, value, unit and how it was found."""

    name: str
    value: float | str | None
    unit: str
    how: str = ""

    def as_dict(self) -> dict[str, float | str | None]:
        return {"value": self.value, "unit": self.unit, "how": self.how}


Section = tuple[Line, ...]


def sci(x: float) -> str:
    """Compact scientific notation for formulas: 3.29e+24 -> '3.29e24'."""
    return f"{x:.3g}".replace("e+", "e")
