"""``pip install suanli`` without extras: no command prints a traceback, and each command that
needs an extra exits 2 with one line naming it (``suanli.cli.extras``).

Two ways. Fast, in this environment: the command runs in a subprocess whose meta-path finder
hides the extras' modules (:data:`SHIM`), as if they were not installed. Slow, for real: the
project is installed without extras into a fresh venv (no system site-packages) from the
package index pip is configured with, and the same commands run from its ``suanli`` script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import typer.main

from suanli.cli.app import app
from suanli.cli.extras import EXTRAS, MissingExtra, missing_modules, require_extra
from tests.conftest import EXAMPLES, ROOT, Result

HIDDEN = (*sorted({m for modules in EXTRAS.values() for m in modules}), "starlette", "uvloop", "httptools")
"""Every extra's modules, and what they bring with them."""

SHIM = """\
import importlib.machinery, runpy, sys

HIDDEN = frozenset(sys.argv[1].split(","))


class HideExtras(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [HideExtras if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
sys.argv = ["suanli", *sys.argv[2:]]
runpy.run_module("suanli.cli", run_name="__main__", alter_sys=True)
"""
"""``python -c SHIM HIDDEN,... ARGS...``: ``suanli ARGS`` with the named modules not found, as
when they are not installed (``find_spec`` returns None, an import raises ModuleNotFoundError)."""

Runner = Callable[[Sequence[str]], Result]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "SUANLI_DB")}
    env["COLUMNS"] = "120"
    return env


def run(argv: Sequence[str], cwd: Path) -> Result:
    done = subprocess.run(
        list(argv), capture_output=True, text=True, env=clean_env(), cwd=cwd, timeout=120, check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)


def without_extras(tmp_path: Path) -> Runner:
    return lambda args: run([sys.executable, "-c", SHIM, ",".join(HIDDEN), *args], tmp_path)


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the app: (), ("admin",), ("admin", "audit"), ..."""

    def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


COMMANDS = command_paths()

NEEDS_AN_EXTRA: list[tuple[str, tuple[str, ...], str]] = [
    ("serve", ("serve", "--data-dir", "{data}"), "server"),
    ("serve --workers 2", ("serve", "--data-dir", "{data}", "--workers", "2"), "server"),
    ("admin create-tenant on a store", ("admin", "create-tenant", "x", "--data-dir", "{data}"), "server"),
    ("admin tenants on PostgreSQL", ("admin", "tenants", "--db", "postgresql://nobody@127.0.0.1:1/none"), "server"),
    ("db current", ("db", "current", "--data-dir", "{data}"), "server"),
    ("db upgrade", ("db", "upgrade", "--data-dir", "{data}"), "server"),
    (
        "agent --executor ray",
        ("agent", "--site", "qingyang", "--executor", "ray", "--server", "http://127.0.0.1:1"),
        "ray",
    ),
    ("sweep --ray", ("sweep", str(EXAMPLES / "sweeps" / "h800-supply.yaml"), "--ray", "local"), "ray"),
]
"""(what, argv with {data} for a data directory, the extra it needs)."""

UNREACHABLE = "http://127.0.0.1:1"
"""Nothing listens on port 1: the commands over the API fail at once, with their own error."""

WORK_WITHOUT_EXTRAS: list[tuple[str, tuple[str, ...], int, str]] = [
    ("catalog sites", ("catalog", "sites"), 0, "qingyang"),
    (
        "estimate",
        ("estimate", str(EXAMPLES / "deepseek-v3-pretrain.yaml"), "-a", "h800", "-n", "2048"),
        0,
        "accelerator-hours",
    ),
    (
        "simulate, the LP bounds named as missing",
        ("simulate", "--jobs", "200", "--rate", "300", "--capacity", "0.03", "-p", "fifo", "-p", "suanli", "--json"),
        0,
        "pip install 'suanli[lp]'",
    ),
    (
        "agent --executor local reaches for its server",
        ("agent", "--site", "qingyang", "--server", UNREACHABLE, "--sandbox", "off"),
        1,
        "cannot reach the suanli server",
    ),
    (
        "admin over the API reaches for its server",
        ("admin", "tenants", "--server", UNREACHABLE, "--token", "t"),
        1,
        "cannot reach the suanli server",
    ),
    ("jobs over the API reaches for its server", ("jobs", "--server", UNREACHABLE, "--token", "t"), 1, "cannot reach"),
    ("admin capacity, of the catalogue alone", ("admin", "capacity"), 0, "H800-EQUIVALENT HOURS"),
]
"""(what, argv, exit code, a phrase of its output): commands the base install runs itself."""


def needs_extra_problems(result: Result, extra: str) -> list[str]:
    problems = []
    if "Traceback" in result.stdout + result.stderr:
        problems.append("printed a traceback")
    if result.code != 2:
        problems.append(f"exit code {result.code}, not 2")
    lines = result.stderr.strip().splitlines()
    if len(lines) != 1 or not lines[0].startswith("error: suanli "):
        problems.append(f"stderr is not one 'error: suanli ...' line: {result.stderr!r}")
    elif f"To fix: pip install 'suanli[{extra}]'" not in lines[0]:
        problems.append(f"does not name the {extra} extra: {lines[0]!r}")
    return problems


def works_problems(result: Result, code: int, phrase: str) -> list[str]:
    problems = []
    output = result.stdout + result.stderr
    if "Traceback" in output:
        problems.append("printed a traceback")
    if result.code != code:
        problems.append(f"exit code {result.code}, not {code}: {result.stderr[-500:]!r}")
    if phrase not in output:
        problems.append(f"no {phrase!r} in its output")
    if "extra (" in result.stderr:
        problems.append(f"asked for an extra: {result.stderr!r}")
    return problems


def help_problems(result: Result) -> list[str]:
    problems = []
    if "Traceback" in result.stdout + result.stderr:
        problems.append("printed a traceback")
    if result.code != 0:
        problems.append(f"exit code {result.code}: {result.stderr[-500:]!r}")
    if "Usage" not in result.stdout and "usage" not in result.stdout:
        problems.append("printed no usage")
    return problems


# -- the extras themselves ---------------------------------------------------------------


def test_each_extras_modules_are_what_its_requirements_install() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        names = {re.split(r"[\[<>=;! ]", req, maxsplit=1)[0].lower().replace("-", "_") for req in declared[extra]}
        assert set(modules) <= names, f"{extra}: {sorted(set(modules) - names)} are not among its requirements"


def test_all_is_server_lp_and_ray_without_dev() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert declared["all"] == ["suanli[server,lp,ray]"]


def test_a_missing_module_names_the_extra_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXTRAS, "server", ("json", "suanli_no_such_module"))
    assert missing_modules("server") == ["suanli_no_such_module"]
    with pytest.raises(MissingExtra) as caught:
        require_extra("server", "serve")
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "suanli serve needs the server extra (suanli_no_such_module not installed). "
        "To fix: pip install 'suanli[server]'"
    )


def test_an_installed_extra_passes() -> None:
    require_extra("lp", "simulate")  # the dev environment has every extra


# -- fast: the extras hidden in this environment -------------------------------------------


def test_the_shim_hides_the_extras_as_if_not_installed(tmp_path: Path) -> None:
    shim = SHIM.split("sys.argv = ", maxsplit=1)[0]
    probe = "import importlib.util as u; print([m for m in HIDDEN if u.find_spec(m) is not None])"
    found = run([sys.executable, "-c", shim + probe, ",".join(HIDDEN)], tmp_path)
    assert (found.code, found.stdout.strip()) == (0, "[]"), found.stderr
    imported = run([sys.executable, "-c", shim + "import sqlalchemy", ",".join(HIDDEN)], tmp_path)
    assert "ModuleNotFoundError: No module named 'sqlalchemy'" in imported.stderr
    assert run([sys.executable, "-c", shim + "import sqlalchemy", "highspy"], tmp_path).code == 0, "only those named"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: "suanli " + " ".join(p) + " --help")
def test_every_help_works_without_extras(tmp_path: Path, path: tuple[str, ...]) -> None:
    assert help_problems(without_extras(tmp_path)([*path, "--help"])) == []


@pytest.mark.parametrize(
    ("what", "argv", "extra"), NEEDS_AN_EXTRA, ids=[f"{w} needs {e}" for w, _, e in NEEDS_AN_EXTRA]
)
def test_a_command_without_its_extra_names_it(tmp_path: Path, what: str, argv: tuple[str, ...], extra: str) -> None:
    args = [a.replace("{data}", str(tmp_path / "net")) for a in argv]
    assert needs_extra_problems(without_extras(tmp_path)(args), extra) == []
    assert not (tmp_path / "net").exists(), "refused before touching the data directory"


@pytest.mark.parametrize(
    ("what", "argv", "code", "phrase"), WORK_WITHOUT_EXTRAS, ids=[w for w, *_ in WORK_WITHOUT_EXTRAS]
)
def test_the_base_install_runs_the_rest(
    tmp_path: Path, what: str, argv: tuple[str, ...], code: int, phrase: str
) -> None:
    assert works_problems(without_extras(tmp_path)(list(argv)), code, phrase) == []


# -- slow: a real install without extras ---------------------------------------------------

INDEX_UNREACHABLE = ("No matching distribution found", "Could not find a version", "Failed to establish")


@pytest.mark.slow
def test_a_fresh_venv_without_extras_prints_no_traceback(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean_env(), timeout=120)
    python, script = venv / "bin" / "python", venv / "bin" / "suanli"
    install = run([str(python), "-m", "pip", "install", "--quiet", str(ROOT)], tmp_path)
    if install.code != 0 and any(s in install.stdout + install.stderr for s in INDEX_UNREACHABLE):
        pytest.skip(f"pip cannot reach a package index: {install.stderr.strip().splitlines()[-1]}")
    assert install.code == 0, install.stderr
    present = run(
        [str(python), "-c", f"import importlib.util as u; print([m for m in {HIDDEN!r} if u.find_spec(m)])"], tmp_path
    )
    assert present.stdout.strip() == "[]", f"the base install brought extras' modules: {present.stdout}"

    def suanli(args: Sequence[str]) -> Result:
        return run([str(script), *args], tmp_path)

    problems: list[str] = []
    for path in COMMANDS:
        problems += [f"suanli {' '.join(path)} --help: {p}" for p in help_problems(suanli([*path, "--help"]))]
    for what, argv, extra in NEEDS_AN_EXTRA:
        args = [a.replace("{data}", str(tmp_path / "net")) for a in argv]
        problems += [f"{what}: {p}" for p in needs_extra_problems(suanli(args), extra)]
    for what, argv, code, phrase in WORK_WITHOUT_EXTRAS:
        problems += [f"{what}: {p}" for p in works_problems(suanli(list(argv)), code, phrase)]
    assert problems == []
