"""Shared fixtures: the packaged catalogue, spec builders, a CLI runner, the shared data."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED_DATA = ROOT.parent / "shared" / "data"
T0_S = 1735689600.0
"""2025-01-01T00:00:00Z: a fixed 'now' so plans are reproducible."""


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def spec_dict(**overrides: Any) -> dict[str, Any]:
    """A valid Training spec as a dict; keyword arguments replace top-level fields
    (``None`` removes one)."""
    base: dict[str, Any] = {
        "apiVersion": "suanli/v1",
        "kind": "Training",
        "name": "test-job",
        "model": "qwen2.5-7b",
        "precision": "bf16",
        "tokens_b": 10,
        "resources": {"accelerators": ["any"], "count": {"min": 8, "max": 64}},
        "objective": "time",
    }
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def spec_yaml(**overrides: Any) -> str:
    return yaml.safe_dump(spec_dict(**overrides), sort_keys=False)


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text (dedented) to a file and return its path."""
    counter = iter(range(10_000))

    def write(text: str) -> Path:
        path = tmp_path / f"spec{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_suanli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Run the real command in a subprocess (exit codes, stderr, no traceback)."""
    done = subprocess.run(
        [sys.executable, "-m", "suanli.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def suanli() -> Callable[..., Result]:
    return run_suanli


def need_shared(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path} (only in the development workspace)")
    return path
