"""The tenant-facing commands (``suanli submit``, ``jobs``, ``status``, ``logs``, ...) over the
SDK, with the server replaced by :class:`tests.test_client.FakeServer` through
``suanli.cli.control._transport``: exit codes, the JSON shapes, and the help texts."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli import control
from suanli.cli.app import app
from tests.conftest import Result, spec_yaml
from tests.test_client import TOKEN, FakeServer, error_json, job_json, logs_json

SERVER = "http://suanli.test:8000"
RUN = {"command": ["python", "train.py", "--epochs", "3"], "env": {"HF_HOME": "/data/hf"}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> FakeServer:
    server = FakeServer()
    monkeypatch.setattr(control, "_transport", server.transport())
    monkeypatch.setattr(control, "_poll_s", 0.0)
    monkeypatch.setenv("SUANLI_SERVER", SERVER)
    monkeypatch.setenv("SUANLI_TOKEN", TOKEN)
    return server


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("SUANLI_SERVER", raising=False)
    monkeypatch.delenv("SUANLI_TOKEN", raising=False)
    config = tmp_path / "config"
    monkeypatch.setenv("SUANLI_CONFIG_DIR", str(config))
    return config


def invoke(*args: str | Path, input: str | None = None) -> Result:
    done = CliRunner().invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
    return Result(done.exit_code, done.stdout, done.stderr)


@pytest.fixture
def job_file(write_spec: Callable[[str], Path]) -> Path:
    return write_spec(spec_yaml(run=RUN))


# -- submit ------------------------------------------------------------------------------------


def test_submit_json_prints_exactly_the_id_and_state(fake: FakeServer, job_file: Path) -> None:
    fake.on("POST", "/v1/jobs", (201, job_json(id="j-42", state="PENDING")))
    result = invoke("submit", job_file, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {"id": "j-42", "state": "PENDING"}
    sent = fake.body()
    assert sent["spec"] == yaml.safe_load(job_file.read_text()), "the YAML's content, as written"
    assert fake.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_submit_for_people_says_what_to_do_next(fake: FakeServer, job_file: Path) -> None:
    fake.on("POST", "/v1/jobs", (201, job_json(id="j-42")))
    result = invoke("submit", job_file, "--idempotency-key", "k-1")
    assert result.code == 0, result.stderr
    assert "submitted job j-42" in result.stdout
    assert "suanli logs j-42 -f" in result.stdout
    assert fake.requests[0].headers["Idempotency-Key"] == "k-1"


def test_a_bad_spec_exits_2_naming_file_line_and_field(fake: FakeServer, write_spec: Callable[[str], Path]) -> None:
    """The server checks the spec (it has no lines: it saw JSON) and names the field; the
    CLI names the line of that field in its own copy of the file."""
    path = write_spec(spec_yaml(run=RUN).replace("tokens_b: 10", "tokens_b: -10"))
    details = [{"field": "tokens_b", "message": "must be > 0", "hint": None}]
    fake.on("POST", "/v1/jobs", (422, error_json("INVALID_INPUT", "spec: field 'tokens_b': must be > 0", details)))
    result = invoke("submit", path)
    assert result.code == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if "tokens_b" in text)
    assert result.stderr == f"error: {path}:{line}: field 'tokens_b': must be > 0\n"


def test_a_nested_field_error_names_the_nested_line(fake: FakeServer, write_spec: Callable[[str], Path]) -> None:
    path = write_spec(spec_yaml(run=RUN))
    details = [{"field": "run.env.HF_HOME", "message": "bad value", "hint": "use a path"}]
    fake.on("POST", "/v1/jobs", (422, error_json("INVALID_INPUT", "spec: bad", details)))
    result = invoke("submit", path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if "HF_HOME" in text)
    assert result.stderr == f"error: {path}:{line}: field 'run.env.HF_HOME': bad value. To fix: use a path\n"


def test_a_spec_without_run_is_refused_with_the_fix(fake: FakeServer, write_spec: Callable[[str], Path]) -> None:
    result = invoke("submit", write_spec(spec_yaml()))
    assert result.code == 2
    assert "field 'run'" in result.stderr
    assert "To fix: add e.g. `run:" in result.stderr
    assert fake.requests == []


def test_a_422_from_the_server_exits_2(fake: FakeServer, job_file: Path) -> None:
    details = [{"loc": ["body", "spec", "run", "command"], "msg": "program not allowed"}]
    fake.on("POST", "/v1/jobs", (422, error_json("INVALID_INPUT", "invalid job", details)))
    result = invoke("submit", job_file)
    assert result.code == 2
    assert result.stderr == "error: invalid job (HTTP 422 INVALID_INPUT); spec.run.command: program not allowed\n"


def test_a_quota_refusal_is_a_clear_one_line_error(fake: FakeServer, job_file: Path) -> None:
    fake.on("POST", "/v1/jobs", (409, error_json("QUOTA_EXCEEDED", "tenant 'acme' has used its 1000 nvidia hours")))
    result = invoke("submit", job_file)
    assert result.code == 1
    assert result.stderr.count("\n") == 1
    assert "QUOTA_EXCEEDED" in result.stderr


# -- reading jobs ----------------------------------------------------------------------------------


def test_status_of_a_missing_job_exits_1_with_a_clear_message(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs/nope", (404, error_json("NOT_FOUND", "job 'nope' not found")))
    result = invoke("status", "nope")
    assert result.code == 1
    assert result.stderr == "error: job 'nope' not found (HTTP 404 NOT_FOUND)\n"
    assert TOKEN not in result.stderr


def test_status_shows_where_the_job_runs_and_why(fake: FakeServer) -> None:
    estimate = {
        "site": "qingyang",
        "accelerator": "ascend-910b",
        "count": 16,
        "duration_h": 30.0,
        "energy_kwh": 500.0,
        "carbon_kg": 250.0,
        "cost_usd": 900.0,
    }
    reason = {"code": "PLACED_BEST_TIME", "message": "earliest finish among 12 options"}
    job = job_json(
        state="RUNNING", site="qingyang", accelerator="ascend-910b", count=16, estimate=estimate, reasons=[reason]
    )
    fake.on("GET", "/v1/jobs/j-1", (200, job))
    result = invoke("status", "j-1")
    assert result.code == 0, result.stderr
    for text in ("RUNNING", "16 x ascend-910b", "qingyang", "30.00 h", "PLACED_BEST_TIME"):
        assert text in result.stdout
    assert json.loads(invoke("status", "j-1", "--json").stdout)["estimate"] == estimate


def test_jobs_passes_its_filters_and_prints_the_api_shape(fake: FakeServer) -> None:
    fake.on("GET", "/v1/jobs", (200, {"jobs": [job_json(state="RUNNING")]}))
    result = invoke("jobs", "--state", "running", "--all", "--limit", "5", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["jobs"][0]["id"] == "j-1"
    assert dict(fake.requests[0].url.params) == {"state": "RUNNING", "limit": "5", "all": "true"}
    table = invoke("jobs", "--all")
    assert table.code == 0
    assert "j-1" in table.stdout and "acme" in table.stdout


def test_an_unknown_state_lists_the_valid_ones(fake: FakeServer) -> None:
    result = invoke("jobs", "--state", "DONE")
    assert result.code == 2
    assert "unknown job state 'DONE'; valid:" in result.stderr and "SUCCEEDED" in result.stderr
    assert fake.requests == []


def test_logs_follow_prints_everything_until_the_job_is_done(fake: FakeServer) -> None:
    fake.on(
        "GET",
        "/v1/jobs/j-1/logs",
        (200, logs_json("epoch 1\n", 8, False)),
        (200, logs_json("", 8, False)),
        (200, logs_json("epoch 2\n", 16, True)),
    )
    result = invoke("logs", "j-1", "-f")
    assert result.code == 0, result.stderr
    assert result.stdout == "epoch 1\nepoch 2\n"
    assert len(fake.requests) == 3


def test_logs_without_follow_prints_what_there_is_now(fake: FakeServer) -> None:
    fake.on(
        "GET",
        "/v1/jobs/j-1/logs",
        (200, logs_json("part 1\n", 7, False)),
        (200, logs_json("", 7, False)),
    )
    result = invoke("logs", "j-1")
    assert result.code == 0
    assert result.stdout == "part 1\n"
    assert len(fake.requests) == 2


def test_cancel(fake: FakeServer) -> None:
    fake.on("POST", "/v1/jobs/j-1/cancel", (200, job_json(state="CANCELLED")))
    result = invoke("cancel", "j-1")
    assert result.code == 0
    assert result.stdout == "job j-1 ('test-job'): CANCELLED\n"
    assert json.loads(invoke("cancel", "j-1", "--json").stdout)["state"] == "CANCELLED"


def test_explain_shows_reasons_and_options(fake: FakeServer) -> None:
    option = {
        "site": "wuhu",
        "accelerator": "h800",
        "count": 8,
        "duration_h": 3.0,
        "energy_kwh": 40.0,
        "carbon_kg": 20.0,
        "cost_usd": 50.0,
    }
    explained = {
        "id": "j-1",
        "state": "PENDING",
        "summary": "waits for capacity",
        "reasons": [
            {
                "code": "INSUFFICIENT_CAPACITY",
                "message": "all 8 busy",
                "site": "wuhu",
                "accelerator": None,
                "count": 8,
                "until": None,
            }
        ],
        "options": [option],
    }
    fake.on("GET", "/v1/jobs/j-1/explain", (200, explained))
    result = invoke("explain", "j-1")
    assert result.code == 0, result.stderr
    assert "INSUFFICIENT_CAPACITY (wuhu x8): all 8 busy" in result.stdout
    assert "h800" in result.stdout
    assert json.loads(invoke("explain", "j-1", "--json").stdout) == explained


def test_sites_and_usage(fake: FakeServer) -> None:
    site = {
        "id": "qingyang",
        "executor": "local",
        "state": "up",
        "inventory": {"ascend-910b": 64},
        "in_use": {"ascend-910b": 16},
        "last_heartbeat": "2025-01-01T00:00:05Z",
        "region": "gansu",
        "pue": 1.2,
    }
    usage = {
        "tenant": "acme",
        "accelerator_hours": 480.0,
        "energy_kwh": 300.0,
        "carbon_kg": 150.0,
        "cost_usd": 700.0,
        "jobs": {"SUCCEEDED": 2, "FAILED": 0},
    }
    fake.on("GET", "/v1/sites", (200, {"sites": [site]}))
    fake.on("GET", "/v1/usage", (200, {"usage": [usage]}))
    sites = invoke("sites")
    assert sites.code == 0 and "ascend-910b 16/64" in sites.stdout
    assert json.loads(invoke("sites", "--json").stdout) == {"sites": [site]}
    used = invoke("usage")
    assert used.code == 0 and "SUCCEEDED 2" in used.stdout and "FAILED" not in used.stdout
    assert json.loads(invoke("usage", "--json").stdout) == {"usage": [usage]}


def test_sites_says_why_a_degraded_site_takes_no_jobs_and_until_when(fake: FakeServer) -> None:
    broken = {
        "id": "wuhu",
        "executor": "slurm",
        "state": "degraded",
        "inventory": {"h800": 8},
        "in_use": {},
        "faults": 2,
        "fault": "slurm executor: sbatch: error: invalid partition specified: gpu",
        "degraded_until": "2026-12-03T13:55:00Z",
    }
    healthy = {"id": "qingyang", "executor": "local", "state": "up", "inventory": {"h800": 8}, "in_use": {}}
    fake.on("GET", "/v1/sites", (200, {"sites": [broken, healthy]}))
    shown = invoke("sites")
    assert shown.code == 0, shown.stderr
    assert (
        "wuhu: degraded until 2026-12-03 13:55 (UTC) after 2 executor faults in a row: "
        "slurm executor: sbatch: error: invalid partition specified: gpu"
    ) in shown.stdout
    assert "qingyang:" not in shown.stdout, "only degraded sites get a line"


def test_file_model(fake: FakeServer) -> None:
    filing = {
        "id": "f-1",
        "tenant": "acme",
        "model": "my-llm",
        "status": "pending",
        "filing_number": "Beijing-2024-01",
        "note": None,
        "created_at": "2025-01-01T00:00:00Z",
        "decided_at": None,
    }
    fake.on("POST", "/v1/filings", (201, filing))
    result = invoke("file-model", "my-llm", "--filing-number", "Beijing-2024-01")
    assert result.code == 0, result.stderr
    assert result.stdout == "filing f-1 for model 'my-llm': pending\n"
    assert fake.body() == {"model": "my-llm", "filing_number": "Beijing-2024-01", "note": None}


# -- server and token -----------------------------------------------------------------------------


def test_server_and_token_options_override_the_environment(fake: FakeServer) -> None:
    fake.on("GET", "/v1/sites", (200, {"sites": []}))
    result = invoke("sites", "--server", "http://other.test:1", "--token", "other-token")
    assert result.code == 0
    assert str(fake.requests[0].url) == "http://other.test:1/v1/sites"
    assert fake.requests[0].headers["Authorization"] == "Bearer other-token"


def test_an_unreachable_server_says_how_to_start_one(fake: FakeServer) -> None:
    fake.on("POST", "/v1/jobs/j-1/cancel", httpx.ConnectError("connection refused"))
    result = invoke("cancel", "j-1")
    assert result.code == 1
    assert f"cannot reach the suanli server at {SERVER}" in result.stderr
    assert "To fix: start it with `suanli serve` or set SUANLI_SERVER" in result.stderr


def test_login_checks_the_token_then_saves_it_privately(
    monkeypatch: pytest.MonkeyPatch, fake: FakeServer, isolated: Path
) -> None:
    monkeypatch.delenv("SUANLI_SERVER")
    monkeypatch.delenv("SUANLI_TOKEN")
    fake.on("GET", "/v1/health", (200, {"status": "ok", "version": "0.1.0", "leader": True}))
    fake.on("GET", "/v1/jobs", (200, {"jobs": []}))
    result = invoke("login", "--server", "http://login.test:8000/", "--token", TOKEN)
    assert result.code == 0, result.stderr
    assert "logged in to http://login.test:8000 (suanli 0.1.0)" in result.stdout
    assert TOKEN not in result.stdout
    assert fake.requests[1].url.params["limit"] == "1"
    path = isolated / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"server": "http://login.test:8000", "token": TOKEN}
    fake.on("GET", "/v1/sites", (200, {"sites": []}))
    assert invoke("sites").code == 0
    assert str(fake.requests[-1].url) == "http://login.test:8000/v1/sites", "later commands use the login"
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_login_asks_for_the_token_without_echoing_it(fake: FakeServer, isolated: Path) -> None:
    fake.on("GET", "/v1/health", (200, {"status": "ok", "version": "0.1.0", "leader": True}))
    fake.on("GET", "/v1/jobs", (200, {"jobs": []}))
    result = invoke("login", "--server", SERVER, input="typed-token\n")
    assert result.code == 0, result.stderr
    assert "typed-token" not in result.stdout
    assert json.loads((isolated / "credentials.json").read_text())["token"] == "typed-token"


def test_login_with_a_refused_token_saves_nothing(fake: FakeServer, isolated: Path) -> None:
    fake.on("GET", "/v1/health", (200, {"status": "ok", "version": "0.1.0", "leader": True}))
    fake.on("GET", "/v1/jobs", (401, error_json("UNAUTHORIZED", "unknown token")))
    result = invoke("login", "--server", SERVER, "--token", "wrong-token")
    assert result.code == 1
    assert "unknown token" in result.stderr and "wrong-token" not in result.stderr
    assert not (isolated / "credentials.json").exists()


# -- help --------------------------------------------------------------------------------------------

HELP = {
    "submit": "run:",
    "jobs": "newest first",
    "status": "why it is where it is",
    "logs": "until the job finishes",
    "cancel": "stopped at its site",
    "explain": "why it waits",
    "sites": "last heartbeat",
    "usage": "carbon",
    "login": "0600",
    "file-model": "filing",
}


@pytest.mark.parametrize(("command", "phrase"), HELP.items(), ids=[f"{c} --help" for c in HELP])
def test_each_command_explains_itself(command: str, phrase: str) -> None:
    result = invoke(command, "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    assert phrase in text
    assert "--server" in text and "--token" in text


def test_the_main_help_lists_the_commands() -> None:
    text = invoke("--help").stdout
    for command in HELP:
        assert command in text


def test_every_command_is_registered_once() -> None:
    names: list[Any] = [c.name for c in app.registered_commands]
    for command in HELP:
        assert names.count(command) == 1


def test_explain_shows_the_hour_a_held_job_waits_for(fake: FakeServer) -> None:
    held = {
        "code": "HELD_FOR_CLEANER_HOUR",
        "message": "held for a cleaner hour at qingyang: its grid emits 520 gCO2/kWh now and 410 in 3 h",
        "site": "qingyang",
        "accelerator": "h800",
        "until": "2025-01-01T03:00:00Z",
    }
    fake.on(
        "GET",
        "/v1/jobs/j-2/explain",
        (200, {"id": "j-2", "state": "PENDING", "summary": "waiting", "reasons": [held], "options": []}),
    )
    result = invoke("explain", "j-2")
    assert result.code == 0, result.stderr
    assert "HELD_FOR_CLEANER_HOUR (qingyang h800) until 2025-01-01T03:00:00Z: held for a cleaner hour" in result.stdout


# -- submit --wait, ${NAME}, --env -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "exit_code", "expected"), [("SUCCEEDED", 0, 0), ("FAILED", 3, 3), ("CANCELLED", None, 1)]
)
def test_submit_wait_prints_the_output_and_exits_with_the_jobs_code(
    fake: FakeServer, job_file: Path, state: str, exit_code: int | None, expected: int
) -> None:
    fake.on("POST", "/v1/jobs", (201, job_json(id="j-42")))
    fake.on("GET", "/v1/jobs/j-42/logs", (200, logs_json("step 1\n", 7, False)), (200, logs_json("done\n", 12, True)))
    fake.on(
        "GET",
        "/v1/jobs/j-42",
        (200, job_json(id="j-42", state="RUNNING")),
        (200, job_json(id="j-42", state=state, exit_code=exit_code)),
    )
    result = invoke("submit", job_file, "--wait")
    assert result.code == expected
    assert result.stdout == "step 1\ndone\n", "stdout is the job's own output, nothing else"
    assert f"job j-42 {state}" in result.stderr


def test_names_in_the_run_section_are_filled_in_at_submission(
    fake: FakeServer, write_spec: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA", "/from/env")
    run = {"command": ["python", "${CODE}/train.py", "--data", "${DATA}", "--price", "$$5"], "workdir": "${CODE}"}
    fake.on("POST", "/v1/jobs", (201, job_json(id="j-42")))
    result = invoke("submit", write_spec(spec_yaml(run=run)), "--env", "CODE=/src", "--json")
    assert result.code == 0, result.stderr
    sent = fake.body()["spec"]["run"]
    assert sent["command"] == ["python", "/src/train.py", "--data", "/from/env", "--price", "$5"]
    assert sent["workdir"] == "/src"


def test_a_name_set_nowhere_is_an_error_at_its_line(fake: FakeServer, write_spec: Callable[[str], Path]) -> None:
    path = write_spec(spec_yaml(run={"command": ["python", "${NOT_SET_ANYWHERE}/train.py"]}))
    result = invoke("submit", path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if "NOT_SET_ANYWHERE" in text)
    assert result.code == 2
    assert result.stderr.startswith(f"error: {path}:{line}: field 'run.command[1]': ${{NOT_SET_ANYWHERE}} is not set")
    assert fake.requests == [], "nothing is sent"


def test_logout_forgets_the_saved_login(fake: FakeServer, isolated: Path) -> None:
    from suanli.client import write_credentials

    path = write_credentials(SERVER, TOKEN)
    assert invoke("logout").stdout == f"logged out of {SERVER}: removed {path}\n"
    assert not path.exists()
    assert invoke("logout").stdout == "no saved login\n"


def test_jobs_status_and_explain_show_the_eta(fake: FakeServer) -> None:
    eta = {
        "start": "2025-01-01T03:00:00Z",
        "finish": "2025-01-01T05:30:00Z",
        "start_p90": "2025-01-01T04:00:00Z",
        "finish_p90": "2025-01-01T07:45:00Z",
        "computed_at": "2025-01-01T01:00:00Z",
        "method": "forecast:suanli",
    }
    waiting, running = job_json(id="j-1", eta=eta), job_json(id="j-2", state="RUNNING", eta=eta)
    fake.on("GET", "/v1/jobs", (200, {"jobs": [waiting, running]}))
    table = invoke("jobs").stdout
    assert "start 2025-01-01 03:00" in table and "end 2025-01-01 05:30" in table
    fake.on("GET", "/v1/jobs/j-1", (200, waiting))
    status = invoke("status", "j-1").stdout
    assert "start 2025-01-01 03:00, finish 2025-01-01 05:30 (late side 2025-01-01 04:00 .. 2025-01-01 07:45)" in status
    explained = {"id": "j-1", "state": "PENDING", "summary": "waiting", "reasons": [], "options": [], "eta": eta}
    fake.on("GET", "/v1/jobs/j-1/explain", (200, explained))
    assert "ETA (UTC): start 2025-01-01 03:00" in invoke("explain", "j-1").stdout


def test_jobs_watch_lists_again_every_interval_until_ctrl_c(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.on(
        "GET", "/v1/jobs", (200, {"jobs": [job_json(state="PENDING")]}), (200, {"jobs": [job_json(state="RUNNING")]})
    )
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the clock's boundary: Ctrl-C on the second wait
        waits.append(seconds)
        if len(waits) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(control, "_sleep", sleep)
    result = invoke("jobs", "--watch", "0.5")
    assert result.code == 0, result.stderr
    assert waits == [0.5, 0.5]
    assert result.stdout.count("every 0.5 s,") == 2 and "(Ctrl-C to stop)" in result.stdout
    first, second = result.stdout.split("every 0.5 s,")[1:]
    assert "PENDING" in first and "RUNNING" in second
    assert "\x1b[2J" not in result.stdout, "no screen codes when the output is not a terminal"
    assert invoke("jobs", "--watch", "0").code == 2, "a refresh below 0.1 s is refused"
