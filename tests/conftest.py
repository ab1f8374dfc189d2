"""Shared fixtures: the packaged catalogue, spec builders, a CLI runner, the shared data."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

for _name in ("SUANLI_SERVER", "SUANLI_TOKEN", "SUANLI_TOKEN_FILE"):
    os.environ.pop(_name, None)  # a developer's shell must not point the tests at a real server
os.environ.pop("COLUMNS", None)  # pytest-xdist's workers set 80; a piped table follows $COLUMNS (cli.render)
_CACHE = tempfile.TemporaryDirectory(prefix="suanli-test-cache-")
os.environ["SUANLI_CACHE_DIR"] = _CACHE.name
"""The compiled catalogue (suanli.catalog.diskcache) of this test run: never the developer's ~/.cache."""

from suanli.catalog import Catalog, load_catalog  # noqa: E402  (after the cache directory is set)

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


# -- the control plane's real processes (helpers in tests/control_harness.py) --------------------


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of a PostgreSQL server database the tests may create databases from
    (``$SUANLI_TEST_POSTGRES``, default the CI machine's); skips when it is not reachable."""
    from tests.control_harness import postgres_server_url, postgres_unreachable

    url = postgres_server_url()
    reason = postgres_unreachable(url)
    if reason:
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (one per xdist worker), dropped at its end."""
    from tests.control_harness import fresh_postgres_database

    with fresh_postgres_database(postgres_server) as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test alone, dropped after it (a server killed
    mid-test leaves nothing behind for the next one: no lease, no site, no job)."""
    from tests.control_harness import fresh_postgres_database

    with fresh_postgres_database(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def control_db(request: pytest.FixtureRequest) -> str | None:
    """Run the test on both stores: None (SQLite under the network's data directory) or
    the URL of a fresh PostgreSQL database (the test is skipped when PostgreSQL is not reachable)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture(scope="session")
def ray_heads() -> Iterator[Any]:
    """The local Ray heads of this test session (per xdist worker): :class:`tests.ray_harness.RayHeads`;
    skips with the reason when Ray cannot start here."""
    from tests.ray_harness import RayHeads, ray_unavailable

    reason = ray_unavailable()
    if reason:
        pytest.skip(reason)
    heads = RayHeads()
    yield heads
    heads.close()


@pytest.fixture
def ray_dashboard(ray_heads: Any) -> str:
    """The dashboard URL of a live local Ray head that has run a job (a new head where the
    last one died); skips with the reason when none starts."""
    try:
        return str(ray_heads.url())
    except RuntimeError as exc:
        pytest.skip(f"a local Ray head did not start: {exc}")


# -- the control plane in-process, on SQLite and PostgreSQL (builders in tests/api_builders.py) ----


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test module, dropped at its end (``store``
    empties it before each test)."""
    from tests.control_harness import fresh_postgres_database

    with fresh_postgres_database(postgres_server, prefix="suanli_api") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty :class:`suanli.store.Store` at the newest schema: SQLite under ``tmp_path``,
    or the module's PostgreSQL database, emptied (skipped, with the reason, without PostgreSQL)."""
    from suanli.store import open_store
    from tests.api_builders import empty_store

    if request.param == "sqlite":
        opened = open_store(tmp_path / "store")
    else:
        opened = open_store(db_url=request.getfixturevalue("module_postgres_url"))
        empty_store(opened)
    yield opened
    opened.dispose()
