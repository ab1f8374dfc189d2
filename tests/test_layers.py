"""The layer rules can fail: violations planted in a copy of the source tree are refused.

Each case copies ``src/suanli`` and ``pyproject.toml`` into a temporary directory, plants
one violation, and runs the same checks ``make test`` runs there: import-linter's
contracts (with the copy first on ``PYTHONPATH``) and the wall-clock scan over the core.
The unplanted copy must pass, so a refusal is the planted line's doing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import suanli
from tests.codescan import CORE_PACKAGES, core_files, wall_clock_calls

SRC = Path(suanli.__file__).resolve().parent
REPO = SRC.parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not (REPO / "pyproject.toml").is_file() or not LINT_IMPORTS.is_file(),
    reason="needs the source checkout's pyproject.toml and import-linter in this environment",
)


def copy_tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts; returns the copy's repository root."""
    shutil.copytree(SRC, tmp_path / "src" / "suanli", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        check=False,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def plant(root: Path, module: str, line: str) -> None:
    path = root / "src" / "suanli" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_copied_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        ("sim/engine.py", "import fastapi  # noqa", "suanli.sim.engine -> fastapi"),
        ("policy/base.py", "import suanli.service  # noqa", "suanli.policy.base -> suanli.service"),
        ("scheduler/state.py", "import sqlalchemy  # noqa", "suanli.scheduler.state -> sqlalchemy"),
        ("traces/trace.py", "import suanli.sim  # noqa", "suanli.traces.trace -> suanli.sim"),
        ("sim/metrics.py", "import suanli.store  # noqa", "suanli.sim.metrics -> suanli.store"),
        ("scheduler/cycle.py", "import suanli.agents  # noqa", "suanli.scheduler.cycle -> suanli.agents"),
    ],
)
def test_a_planted_import_breaks_the_contracts(tmp_path: Path, module: str, line: str, named: str) -> None:
    root = copy_tree(tmp_path)
    plant(root, module, line)
    result = lint_imports(root)
    assert result.returncode != 0, f"import-linter kept its contracts with `{line}` in {module}"
    assert named in result.stdout, result.stdout


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_a_planted_wall_clock_read_is_found_in_every_core_package(tmp_path: Path, package: str) -> None:
    root = copy_tree(tmp_path) / "src" / "suanli"
    target = sorted((root / package).rglob("*.py"))[-1]
    target.write_text(target.read_text(encoding="utf-8") + "\nimport time\n_T0 = time.time()\n", encoding="utf-8")
    found = {path: wall_clock_calls(path.read_text(encoding="utf-8")) for path in core_files(root)}
    flagged = [path for path, calls in found.items() if calls]
    assert flagged == [target]


def test_every_core_package_is_a_real_package() -> None:
    """A folder without ``__init__.py`` is a namespace package that import-linter skips
    (Alembic's script folder is loaded by path, never imported, and is left out)."""
    for package in CORE_PACKAGES:
        assert (SRC / package / "__init__.py").is_file(), f"suanli/{package} has no __init__.py"
    for folder in SRC.rglob("*"):
        scripts = folder.relative_to(SRC).parts[:2] == ("store", "migrations")
        if folder.is_dir() and folder.name != "__pycache__" and not scripts and any(folder.glob("*.py")):
            assert (folder / "__init__.py").is_file(), f"{folder.relative_to(SRC)} has no __init__.py"
