"""The self-contained HTML report of a simulation (written by ``suanli simulate --report``)."""

from __future__ import annotations

from pathlib import Path

from suanli.service.simulation import SimulationResult


def write_report(result: SimulationResult, path: Path) -> None:
    """Write the report of ``result`` to ``path``."""
    raise NotImplementedError("the HTML report is being written (issue 3)")
