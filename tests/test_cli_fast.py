"""The everyday commands stay fast: what ``suanli submit``, ``status``, ``jobs``, ``logs`` and
their ``--help`` import, captured from ``sys.modules`` of the real console-script entry in a
fresh interpreter. No timing (these machines are shared and noisy): the set of modules is
what decides start-up cost, and it cannot flake. ``bench/bench_cli.py`` prints the times.
The in-process commands (``plan``, ``estimate``, ``validate``) load numpy and pydantic by
design; for them the probe checks the two settings of the process that keep their start
and exit short (one BLAS thread, a frozen heap), read from the process itself.

The server is a stand-in from the standard library (``http.server``) answering the few
routes these commands call with fixed JSON: the commands' behaviour against the real API is
tested in ``tests/test_api_batch.py`` and ``tests/test_cli_control.py``; here only the
imports are under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import spec_dict
from tests.test_client import job_json

FORBIDDEN = ("numpy", "rich", "typer", "click", "pydantic", "httpx", "sqlalchemy", "fastapi")
"""Libraries the fast path must not load (each costs 20-80 ms to import here)."""
FORBIDDEN_SUANLI = ("suanli.catalog", "suanli.model.estimator", "suanli.placement", "suanli.service", "suanli.schemas")
"""suanli's own heavy parts: the catalogue, the estimator, the planner, the services."""
PLAN_SPEC = Path(__file__).resolve().parent.parent / "examples" / "qwen2.5-7b-finetune.yaml"
"""The spec bench/bench_cli.py plans."""

PROBE = """
import gc, json, os, sys
sys.argv = ["suanli", *json.loads(sys.argv[1])]


def _exit(status):  # the in-process commands end with os._exit (suanli.cli.entry.NO_TEARDOWN): read them first
    raise SystemExit(status)


os._exit = _exit
code = 0
try:
    from suanli.cli.entry import run
    run()
except SystemExit as exc:
    code = exc.code
found = {{
    "code": code,
    "modules": sorted(sys.modules),
    "frozen": gc.get_freeze_count(),
    "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
    "plugin_scan": None if "pydantic.plugin._loader" not in sys.modules
    else sys.modules["pydantic.plugin._loader"]._plugins is not None,
}}
with open({out!r}, "w") as handle:
    json.dump(found, handle)
"""


class _Stand(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/v1/jobs":
            self._answer(200, {"jobs": [job_json()]})
        elif path == "/v1/jobs/j-1/logs":
            self._answer(200, {"job": "j-1", "text": "hello\n", "next_offset": 6, "done": True})
        elif path == "/v1/jobs/j-1":
            self._answer(200, job_json())
        else:
            self._answer(404, {"code": "NOT_FOUND", "message": path, "details": None})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(201, job_json())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stand)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def probe(args: list[str], server: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    """Run ``suanli ARGS`` through the console-script entry in a fresh interpreter; what
    its process held at the end (exit code, modules, frozen objects, BLAS threads asked)."""
    out = tmp_path / "probe.json"
    base = {"SUANLI_SERVER": server, "SUANLI_TOKEN": "tok", "SUANLI_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin"}
    subprocess.run(
        [sys.executable, "-c", PROBE.format(out=str(out)), json.dumps(args)],
        env={**base, **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    found: dict[str, Any] = json.loads(out.read_text())
    return found


def imported(args: list[str], server: str, tmp_path: Path) -> tuple[int, set[str]]:
    found = probe(args, server, tmp_path)
    return found["code"], set(found["modules"])


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in FORBIDDEN or any(m == s or m.startswith(s + ".") for s in FORBIDDEN_SUANLI)
    )


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec_dict(run={"command": ["python3", "train.py"]})))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "--help"],
        ["submit", "SPEC", "--json"],
        ["submit", "SPEC", "SPEC", "--json"],
        ["status", "j-1"],
        ["status", "j-1", "--json"],
        ["jobs"],
        ["jobs", "-o", "csv"],
        ["logs", "j-1"],
        ["cancel", "j-1"],
        ["plan", "--help"],
        ["estimate", "--help"],
        ["validate", "--help"],
    ],
    ids=" ".join,
)
def test_the_everyday_commands_import_nothing_heavy(
    args: list[str], server: str, spec_file: Path, tmp_path: Path
) -> None:
    argv = [str(spec_file) if a == "SPEC" else a for a in args]
    code, modules = imported(argv, server, tmp_path)
    assert code == 0, "the command itself must work, or the test proves nothing"
    assert heavy(modules) == [], "the fast path loads these again (see the module docstring of suanli.cli.control)"
    assert "suanli.client._wire" in modules or args[-1] == "--help"


def test_plan_loads_the_planner_but_not_typer_rich_or_the_server(server: str, tmp_path: Path) -> None:
    """`suanli plan --json` needs numpy, pydantic and the catalogue (it plans in-process),
    but not typer, rich (tables only), httpx or the server's libraries."""
    code, modules = imported(["plan", str(PLAN_SPEC), "--json", "--offline"], server, tmp_path)
    assert code == 0
    roots = {m.split(".")[0] for m in modules}
    assert {"numpy", "pydantic"} <= roots, "the probe sees what the planner loads"
    assert roots.isdisjoint({"typer", "click", "rich", "httpx", "sqlalchemy", "fastapi"})


def test_a_training_plan_leaves_the_serving_model_unloaded(server: str, tmp_path: Path) -> None:
    """suanli.model.inference loads with the first inference job (suanli.model.performance)."""
    code, modules = imported(["plan", str(PLAN_SPEC), "--json", "--offline"], server, tmp_path)
    assert code == 0
    assert "suanli.model.performance" in modules
    assert "suanli.model.inference" not in modules


def test_the_probe_sees_heavy_imports_where_there_are_some(server: str, tmp_path: Path) -> None:
    """The check can fail: `suanli simulate --help` goes through typer, and the probe sees it."""
    code, modules = imported(["simulate", "--help"], server, tmp_path)
    assert code == 0
    assert {"typer", "pydantic"} <= {m.split(".")[0] for m in heavy(modules)}


@pytest.mark.parametrize(
    "args",
    [
        ["plan", str(PLAN_SPEC), "--json", "--offline"],
        ["estimate", str(PLAN_SPEC), "-a", "h800", "-n", "8", "--json", "--offline"],
        ["validate", str(PLAN_SPEC)],
    ],
    ids=lambda args: " ".join(a if a != str(PLAN_SPEC) else "SPEC" for a in args),
)
def test_the_in_process_commands_start_numpy_with_one_blas_thread_and_skip_the_last_collection(
    args: list[str], server: str, tmp_path: Path
) -> None:
    """The two settings that keep a plan's process short (see suanli.cli.plan_cmds): the
    variable is set only while numpy is not loaded yet, so finding it set means it was set
    in time; a frozen heap is one the exit's collection does not walk."""
    found = probe(args, server, tmp_path)
    assert found["code"] == 0
    assert "numpy" in found["modules"], "the probe sees numpy loaded after the setting"
    assert found["blas_threads"] == "1"
    assert found["frozen"] > 10_000, "the imported modules' objects are frozen before exit"


def test_a_users_own_blas_threads_are_kept(server: str, tmp_path: Path) -> None:
    found = probe(["plan", str(PLAN_SPEC), "--json", "--offline"], server, tmp_path, OPENBLAS_NUM_THREADS="4")
    assert found["code"] == 0
    assert found["blas_threads"] == "4"


def test_a_plan_skips_pydantics_plugin_scan_unless_the_user_asks_for_it(server: str, tmp_path: Path) -> None:
    """The entry point sets PYDANTIC_DISABLE_PLUGINS for its short commands (suanli.cli.entry);
    a user who sets it (empty: every plugin) keeps theirs, and the scan runs."""
    args = ["plan", str(PLAN_SPEC), "--json", "--offline"]
    found = probe(args, server, tmp_path)
    assert found["code"] == 0
    assert found["plugin_scan"] is False, "pydantic built its models without scanning for plugins"
    found = probe(args, server, tmp_path, PYDANTIC_DISABLE_PLUGINS="")
    assert found["code"] == 0
    assert found["plugin_scan"] is True, "the user's own setting is kept"


def test_the_fast_path_leaves_blas_and_the_collector_alone(server: str, tmp_path: Path) -> None:
    """`suanli status` loads no numpy and builds no heap worth freezing: nothing to set."""
    found = probe(["status", "j-1"], server, tmp_path)
    assert found["code"] == 0
    assert found["blas_threads"] is None
    assert found["frozen"] == 0


def test_each_registered_command_is_found_in_the_module_that_registers_it() -> None:
    from suanli.cli import registry

    registry.load()
    assert {name: cmd.run.__module__ for name, cmd in registry.COMMANDS.items()} == registry.MODULE_OF


def test_a_plan_imports_no_other_commands_module(server: str, tmp_path: Path) -> None:
    """The console script imports only the module of the command it runs."""
    code, modules = imported(["plan", str(PLAN_SPEC), "--json", "--offline"], server, tmp_path)
    assert code == 0
    assert "suanli.cli.plan_cmds" in modules
    assert {"suanli.cli.control", "suanli.cli.completion"}.isdisjoint(modules)
    code, modules = imported(["status", "j-1"], server, tmp_path)
    assert code == 0 and "suanli.cli.control" in modules and "suanli.cli.plan_cmds" not in modules


def test_a_reader_that_goes_away_ends_the_command_quietly(server: str, tmp_path: Path, spec_file: Path) -> None:
    """``suanli status ID | head -5`` printed a BrokenPipeError traceback: the registered
    commands now end as ``cat`` does when its reader is gone (128 + SIGPIPE), saying nothing."""
    import os

    for args in (["plan", str(spec_file), "--offline", "--json"], ["status", "j-1", "--server", server]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # nobody reads: the first write fails
        try:
            done = subprocess.run(
                [sys.executable, "-c", "from suanli.cli.entry import run; run()", *args],
                check=False,
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "SUANLI_TOKEN": "tok", "SUANLI_CONFIG_DIR": str(tmp_path)},
                timeout=60,
            )
        finally:
            os.close(write_end)
        assert (done.returncode, done.stderr) == (141, ""), (args, done.returncode, done.stderr[-2000:])


TEARDOWN_MARK = """
import atexit, sys
atexit.register(lambda: open({mark!r}, "w").close())  # stands for the interpreter's teardown
from suanli.cli.entry import run
run()
"""


@pytest.mark.parametrize(
    ("deadline", "code"),
    [("+30d", 0), ("+1h", 3)],
    ids=["a plan with options", "a plan with nothing feasible"],
)
def test_a_plan_ends_without_the_teardown_with_its_output_whole_and_its_exit_code(
    deadline: str, code: int, tmp_path: Path
) -> None:
    """`plan` ends with os._exit once its output is flushed (suanli.cli.entry.NO_TEARDOWN):
    the JSON on a pipe is whole, the exit code is the command's, and the teardown (here an
    atexit handler standing for it) is skipped."""
    import os

    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(constraints={"deadline": deadline})))
    mark = tmp_path / "torn-down"
    done = subprocess.run(
        [sys.executable, "-c", TEARDOWN_MARK.format(mark=str(mark)), "plan", str(spec), "--json", "--offline"],
        capture_output=True,
        text=True,
        env={**os.environ, "SUANLI_CONFIG_DIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert (len(answer.get("options") or []) > 0) == (code == 0)
    assert not mark.exists(), "the process ran the teardown"


def test_the_other_commands_end_with_the_teardown(server: str, tmp_path: Path) -> None:
    import os

    mark = tmp_path / "torn-down"
    done = subprocess.run(
        [sys.executable, "-c", TEARDOWN_MARK.format(mark=str(mark)), "status", "j-1", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "SUANLI_SERVER": server, "SUANLI_TOKEN": "tok", "SUANLI_CONFIG_DIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["id"] == job_json()["id"]
    assert mark.exists()


def test_a_plan_leaves_the_modules_it_does_not_use_unloaded(server: str, tmp_path: Path) -> None:
    """suanli.cli.plan_cmds.UNUSED_MODULES: pydantic's plugin loader takes entry_points from
    importlib.metadata (which loads email, zipfile, socket) and calls it only to look for
    plugins, pydantic.types imports secrets (hmac) for its secret types, numpy ctypes for
    ndarray.ctypes, the catalogue needs tempfile only to write its cache and csv only to read a
    Sia profile: with plugins off they stay unloaded; a user who asks for plugins gets the scan."""
    args = ["plan", str(PLAN_SPEC), "--json", "--offline"]
    code, modules = imported(args, server, tmp_path)
    assert code == 0
    unused = {
        "email.message",
        "zipfile",
        "socket",
        "importlib.metadata._adapters",
        "hmac",
        "tempfile",
        "csv",
        "_ctypes",
    }
    assert unused.isdisjoint(modules)
    found = probe(args, server, tmp_path, PYDANTIC_DISABLE_PLUGINS="")
    assert found["code"] == 0 and found["plugin_scan"] is True
    assert "importlib.metadata._adapters" in found["modules"]


DEFERRED = """
import json, sys
from suanli._lazy import defer


def stand_in(name):
    return "Stands for" in (sys.modules[name].__doc__ or "")


defer("importlib.metadata", functions=("entry_points",))
defer("calendar")
from importlib.metadata import entry_points  # what pydantic's plugin loader does
import calendar
seen = {"taken": [stand_in("importlib.metadata"), stand_in("calendar"), "email.message" in sys.modules]}
seen["plugins"] = list(entry_points(group="suanli-test-no-such-group"))
seen["called"] = [stand_in("importlib.metadata"), "email.message" in sys.modules]
import importlib.metadata
seen["version"] = importlib.metadata.version("pydantic")
seen["leap"] = [calendar.isleap(2024), stand_in("calendar")]
print(json.dumps(seen))
"""


def test_a_deferred_module_loads_on_first_use_and_then_is_the_real_one() -> None:
    """suanli._lazy.defer: a stand-in until an attribute is read or a named function called,
    then the real module, in sys.modules and behind the stand-in's references."""
    done = subprocess.run([sys.executable, "-c", DEFERRED], capture_output=True, text=True, check=True, timeout=60)
    import pydantic

    assert json.loads(done.stdout) == {
        "taken": [True, True, False],
        "plugins": [],
        "called": [False, True],
        "version": pydantic.VERSION,
        "leap": [True, False],
    }
