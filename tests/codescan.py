"""Scans of the source tree shared by the code-base rules' tests: which modules are the
core (L0-L3 of DESIGN.md) and which calls in them read the real time."""

from __future__ import annotations

import ast
from pathlib import Path

CORE_MODULES = ("units", "errors", "clock", "config", "_yamlio", "capacity")
"""Core single-file modules (``clock`` is scanned too: only ``WallClock`` may read the time)."""
CORE_PACKAGES = ("catalog", "workload", "model", "placement", "policy", "scheduler", "sim", "traces")
"""Core packages: everything below the store, agents and service layers."""


def core_files(package_root: Path) -> list[Path]:
    """Every core module of the ``suanli`` package at ``package_root``, except ``clock.py``
    (the one module allowed to read the real time, in ``WallClock`` only)."""
    files = [package_root / f"{name}.py" for name in CORE_MODULES if name != "clock"]
    for name in CORE_PACKAGES:
        files.extend(sorted((package_root / name).rglob("*.py")))
    return files


WALL_CLOCK = {
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
}
UNRESOLVED = {"datetime.now", "datetime.utcnow", "datetime.today", "date.today"}
"""Spellings caught even when the scan cannot resolve where ``datetime`` or ``date`` came from."""


def wall_clock_calls(source: str) -> list[tuple[int, str, str | None]]:
    """(line, qualified call, enclosing class) of every call that reads the real time.

    Import aliases are resolved: ``from time import time as now; now()`` is ``time.time``,
    ``from datetime import datetime; datetime.now()`` is ``datetime.datetime.now``.
    """
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def dotted(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    found: list[tuple[int, str, str | None]] = []

    def visit(node: ast.AST, owner: str | None) -> None:
        if isinstance(node, ast.ClassDef):
            owner = node.name
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name and (name in WALL_CLOCK or name in UNRESOLVED or name.endswith(tuple(f".{n}" for n in UNRESOLVED))):
                found.append((node.lineno, name, owner))
        for child in ast.iter_child_nodes(node):
            visit(child, owner)

    visit(tree, None)
    return found
