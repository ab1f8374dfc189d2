"""The public API and the code base's own rules: a light import, complete exports, no hidden clocks."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import suanli
from tests.codescan import core_files, wall_clock_calls

SRC = Path(suanli.__file__).resolve().parent
HEAVY = ("numpy", "pydantic", "yaml", "typer", "rich", "click")
SUBPACKAGES = ("suanli.catalog", "suanli.workload", "suanli.model", "suanli.placement", "suanli.service")
CORE = core_files(SRC)
MAX_LINES = 600


def rel(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


# -- import cost and exports ------------------------------------------------------------------


def test_importing_suanli_loads_no_heavy_dependency() -> None:
    code = (
        "import json, sys; import suanli; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) == []


def test_the_lazy_import_check_would_see_a_heavy_import() -> None:
    code = "import json, sys; import suanli; suanli.JobSpec; print(json.dumps('pydantic' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) is True, "touching a public name loads its module"


def test_all_is_sorted_and_matches_the_lazy_export_map() -> None:
    assert suanli.__all__ == sorted(suanli.__all__)
    assert len(set(suanli.__all__)) == len(suanli.__all__)
    assert set(suanli.__all__) == set(suanli._EXPORTS) | {"__version__"}


@pytest.mark.parametrize("name", suanli.__all__)
def test_every_public_name_resolves_to_its_module_object(name: str) -> None:
    value = getattr(suanli, name)
    assert value is not None
    if name != "__version__":
        assert value is getattr(importlib.import_module(suanli._EXPORTS[name]), name)


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = suanli.no_such_name  # type: ignore[attr-defined]


def test_the_version_matches_the_installed_distribution() -> None:
    from importlib.metadata import version

    assert suanli.__version__ == version("suanli")


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_exports_names_that_resolve(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert exported, f"{package} exports nothing"
    assert len(set(exported)) == len(exported), f"{package}.__all__ has duplicates"
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which does not exist"


def test_the_error_tree_is_as_documented() -> None:
    from suanli.errors import CatalogError, InputError, NoFeasiblePlacement, SpecError, SuanliError, UnknownNameError

    for cls in (SpecError, CatalogError, UnknownNameError):
        assert issubclass(cls, InputError)
        assert cls.exit_code == 2
    assert issubclass(InputError, SuanliError)
    assert issubclass(NoFeasiblePlacement, SuanliError)
    assert NoFeasiblePlacement.exit_code == 3
    assert issubclass(UnknownNameError, KeyError), "dict-style lookups can catch it"
    assert str(UnknownNameError("site", "x", ["b", "a"])) == "unknown site 'x'; valid: a, b"


# -- no wall clock below the service layer --------------------------------------------------------


@pytest.mark.parametrize(
    "snippet",
    [
        "import time\nt = time.time()",
        "import time as clock\nt = clock.monotonic()",
        "from time import time\nt = time()",
        "from time import perf_counter as pc\nt = pc()",
        "import datetime\nt = datetime.datetime.now()",
        "from datetime import datetime\nt = datetime.utcnow()",
        "from datetime import datetime as dt\nt = dt.now(tz=None)",
        "from datetime import date\nt = date.today()",
    ],
)
def test_the_clock_scan_finds_every_spelling_of_a_wall_clock_read(snippet: str) -> None:
    assert len(wall_clock_calls(snippet)) == 1


def test_the_clock_scan_ignores_pure_time_functions() -> None:
    source = (
        "import time\nfrom datetime import datetime, UTC\n"
        "a = time.gmtime(0)\nb = datetime.fromtimestamp(0, tz=UTC)\nc = time.strftime('%Y', a)\n"
    )
    assert wall_clock_calls(source) == []


def test_there_are_core_modules_to_scan() -> None:
    assert len(CORE) >= 15
    assert all(path.is_file() for path in CORE)


@pytest.mark.parametrize("path", CORE, ids=rel)
def test_no_core_module_reads_the_wall_clock(path: Path) -> None:
    calls = wall_clock_calls(path.read_text(encoding="utf-8"))
    assert calls == [], f"{rel(path)} reads the real time; take a Clock instead: {calls}"


def test_only_the_wall_clock_class_reads_the_real_time() -> None:
    calls = wall_clock_calls((SRC / "clock.py").read_text(encoding="utf-8"))
    assert calls, "WallClock reads the real time"
    assert {owner for _, _, owner in calls} == {"WallClock"}


def test_the_sim_clock_only_moves_forward() -> None:
    from suanli.clock import SimClock, WallClock

    clock = SimClock(10.0)
    clock.advance_to(25.0)
    assert clock.now_s() == 25.0
    with pytest.raises(ValueError, match="back"):
        clock.advance_to(24.0)
    assert WallClock().now_s() > 1.7e9, "the wall clock reads the real time (after 2023)"


# -- size -----------------------------------------------------------------------------------------

MODULES = sorted(SRC.rglob("*.py"))


def test_there_are_modules_to_measure() -> None:
    assert len(MODULES) >= 30


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_module_exceeds_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{rel(path)} has {lines} lines; split it"


# -- one exception tree -----------------------------------------------------------------------


def test_no_exception_class_name_is_defined_twice() -> None:
    """Two classes of one name (a service ``Forbidden`` and the SDK's) make ``except`` lines
    ambiguous to read; every exception class is named once in the package."""
    seen: dict[str, str] = {}
    clashes = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and (base.id.endswith(("Error", "Exception")) or base.id in seen)
                for base in node.bases
            ):
                if node.name in seen:
                    clashes.append(f"{node.name}: {seen[node.name]} and {rel(path)}")
                seen[node.name] = rel(path)
    assert len(seen) >= 20, "the scan finds the exception classes"
    assert clashes == []


def test_every_exception_raised_on_purpose_is_a_suanli_error() -> None:
    from suanli.agents.executors import ExecutorError
    from suanli.agents.runner import LeaseLost
    from suanli.client import ApiError
    from suanli.errors import SuanliError
    from suanli.scheduler import SchedulerError
    from suanli.service.control.errors import Refusal

    for cls in (ExecutorError, LeaseLost, ApiError, SchedulerError, Refusal):
        assert issubclass(cls, SuanliError), cls
