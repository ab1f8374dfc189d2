"""Profiles in ``~/.config/suanli/config.toml`` (``suanli.client._credentials``): which server
and token a command uses, in which order (argument, environment, profile, login), the
listing format a profile sets, and one-line errors for a profile that is not there or a
file that is wrong. The server is :class:`tests.test_client.FakeServer`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from suanli.cli import control
from suanli.client._credentials import read_profile, resolve, write_credentials
from suanli.client._errors import CredentialsError
from tests.test_cli_control import invoke
from tests.test_client import FakeServer, job_json

CONFIG = """
profile = "lab"

[profiles.lab]
server = "http://lab.test:8470/"
token_file = "lab.token"
output = "json"

[profiles.prod]
server = "https://prod.test"
token_file = "{prod_token}"
"""


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("SUANLI_SERVER", "SUANLI_TOKEN", "SUANLI_TOKEN_FILE", "SUANLI_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "config"
    directory.mkdir()
    monkeypatch.setenv("SUANLI_CONFIG_DIR", str(directory))
    prod_token = tmp_path / "elsewhere" / "prod.token"
    prod_token.parent.mkdir()
    prod_token.write_text("sl_prod\n")
    (directory / "lab.token").write_text("sl_lab\n")
    (directory / "config.toml").write_text(CONFIG.format(prod_token=prod_token))
    return directory


def test_the_files_profile_is_used_and_its_relative_token_file_is_beside_it(config: Path) -> None:
    creds = resolve(None, None)
    assert (creds.server, creds.token) == ("http://lab.test:8470", "sl_lab")


def test_a_profile_chosen_by_name_or_environment_wins_over_the_files_choice(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve(None, None, "prod").token == "sl_prod"
    monkeypatch.setenv("SUANLI_PROFILE", "prod")
    assert resolve(None, None).server == "https://prod.test"
    assert resolve(None, None, "lab").server == "http://lab.test:8470", "--profile over $SUANLI_PROFILE"


def test_arguments_and_environment_come_before_any_profile(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve("http://given.test", "sl_given") == resolve("http://given.test", "sl_given", "prod")
    monkeypatch.setenv("SUANLI_SERVER", "http://env.test")
    creds = resolve(None, None)
    assert (creds.server, creds.token) == ("http://env.test", "sl_lab"), "the token still from the profile"


def test_without_a_profile_the_login_file_is_used_as_before(config: Path) -> None:
    (config / "config.toml").write_text('[profiles.prod]\nserver = "https://prod.test"\n')
    write_credentials("http://saved.test", "sl_saved")
    creds = resolve(None, None)
    assert (creds.server, creds.token) == ("http://saved.test", "sl_saved")


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ('[profiles.prod]\nserver = "x"\n', "prd", "no profile 'prd' (did you mean 'prod'? profiles: prod)"),
        ('[profiles.prod]\nsrever = "x"\n', "prod", "unknown key 'srever' (keys: server, token_file, output)"),
        ('[profiles.prod]\noutput = "xml"\n', "prod", "output must be one of table, json, yaml, csv"),
        ('[profiles.prod\nserver = "x"\n', "prod", "not valid TOML"),
    ],
)
def test_a_wrong_profile_or_file_is_one_clear_error(config: Path, text: str, name: str, message: str) -> None:
    (config / "config.toml").write_text(text)
    with pytest.raises(CredentialsError, match=r"config\.toml") as refused:
        read_profile(name)
    assert message in str(refused.value)


def test_commands_take_profile_and_its_output_format(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer()
    server.on("GET", "/v1/jobs", (200, {"jobs": [job_json(state="RUNNING")]}))
    monkeypatch.setattr(control, "_transport", server.transport())
    listed = invoke("jobs")  # the lab profile: JSON by default
    assert listed.code == 0, listed.stderr
    assert json.loads(listed.stdout)["jobs"][0]["id"] == "j-1"
    assert server.requests[0].headers["Authorization"] == "Bearer sl_lab"
    assert str(server.requests[0].url).startswith("http://lab.test:8470/v1/jobs")
    table = invoke("jobs", "--profile", "prod")
    assert table.code == 0 and "j-1" in table.stdout and not table.stdout.lstrip().startswith("{")
    assert server.requests[-1].headers["Authorization"] == "Bearer sl_prod"
    missing = invoke("jobs", "--profile", "nope")
    assert missing.code == 2 and "no profile 'nope'" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("admin", "--profile", "{name}", "tenants"),
        ("agent", "--profile", "{name}", "--site", "qingyang", "--sandbox", "off", "--work-dir", "{work}"),
    ],
    ids=["admin", "agent"],
)
def test_the_typer_commands_take_a_profile_too(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """`suanli admin --profile NAME` and `suanli agent --profile NAME` reach the profile's
    server (nothing listens on port 1) and refuse a profile that is not there."""
    (config / "config.toml").write_text(
        CONFIG.format(prod_token=config / "lab.token") + '\n[profiles.down]\nserver = "http://127.0.0.1:1"\n'
        'token_file = "lab.token"\n'
    )
    from tests.conftest import run_suanli

    env = {k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")} | {"SUANLI_CONFIG_DIR": str(config)}
    fill = {"work": str(tmp_path / "work")}
    down = run_suanli(*(a.format(name="down", **fill) for a in args), env=env, cwd=tmp_path)
    assert down.code == 1 and "cannot reach the suanli server at http://127.0.0.1:1" in down.stderr, down.stderr
    missing = run_suanli(*(a.format(name="nosuch", **fill) for a in args), env=env, cwd=tmp_path)
    assert missing.code != 0 and "nosuch" in missing.stderr and "Traceback" not in missing.stderr, missing.stderr
