"""Tokens from files, so they never sit on a command line (``ps`` shows every local user
the arguments of every process): ``SUANLI_TOKEN_FILE`` for the SDK and every command, and
``--token-file PATH`` for ``agent`` and ``admin``. The tenant commands read it through the
SDK's credential resolution, here against the real API in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suanli.cli import control
from suanli.cli.app import app
from suanli.cli.ops import token_from
from suanli.client import CredentialsError
from suanli.client._credentials import resolve
from suanli.errors import InputError
from suanli.store import Store
from tests.api_builders import TENANT_A, Network

SERVER = "http://suanli.test:8000"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No suanli variables from the developer's shell; a private login directory."""
    for name in ("SUANLI_SERVER", "SUANLI_TOKEN", "SUANLI_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUANLI_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


def token_file(directory: Path, text: str, mode: int = 0o600) -> Path:
    path = directory / "tenant.token"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# -- the SDK ----------------------------------------------------------------------------------


def test_the_sdk_reads_the_token_file_the_environment_names(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_TOKEN_FILE", str(token_file(env, "  sl_from-file\n")))
    assert resolve(SERVER, None).token == "sl_from-file"


def test_a_token_given_or_in_suanli_token_comes_before_the_file(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_TOKEN_FILE", str(token_file(env, "sl_from-file")))
    assert resolve(SERVER, "sl_argument").token == "sl_argument"
    monkeypatch.setenv("SUANLI_TOKEN", "sl_from-env")
    assert resolve(SERVER, None).token == "sl_from-env"


@pytest.mark.parametrize(
    ("content", "message"),
    [pytest.param(None, "cannot read the token file", id="a missing file"), pytest.param("\n", "empty", id="empty")],
)
def test_an_unreadable_or_empty_token_file_is_a_clear_error(
    env: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, message: str
) -> None:
    path = token_file(env, content) if content is not None else env / "missing.token"
    monkeypatch.setenv("SUANLI_TOKEN_FILE", str(path))
    with pytest.raises(CredentialsError, match=message) as caught:
        resolve(SERVER, None)
    assert str(path) in str(caught.value)


# -- --token-file ---------------------------------------------------------------------------------


def test_token_file_reads_the_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert token_from(None, token_file(env, "sl_abc\n")) == "sl_abc"
    assert capsys.readouterr().err == ""


def test_a_token_file_others_may_read_is_used_with_a_warning(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert token_from(None, token_file(env, "sl_abc", mode=0o644)) == "sl_abc"
    assert "readable by others (mode 644); chmod 600" in capsys.readouterr().err


def test_token_and_token_file_together_are_refused(env: Path) -> None:
    with pytest.raises(InputError, match="not both"):
        token_from("sl_abc", token_file(env, "sl_abc"))


def test_a_missing_token_file_names_it(env: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.token: cannot read it"):
        token_from(None, env / "missing.token")


# -- the commands, against the API in-process -----------------------------------------------------


@pytest.fixture
def served(store: Store, env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    net = Network.build(store)
    monkeypatch.setattr(control, "_transport", net.api._transport)
    monkeypatch.setenv("SUANLI_SERVER", str(net.api.base_url))
    yield net


def test_a_tenant_command_authenticates_with_suanli_token_file(
    served: Network, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUANLI_TOKEN_FILE", str(token_file(env, served.tokens["tenant_a"] + "\n")))
    done = CliRunner().invoke(app, ["whoami"], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    assert TENANT_A in done.stdout
    assert served.tokens["tenant_a"] not in done.stdout + done.stderr


def test_admin_over_the_api_takes_token_file(served: Network, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from suanli.client import Client

    path = token_file(env, served.tokens["operator"])
    monkeypatch.setattr(  # the admin backend imports the SDK's Client when it runs: this one, in-process
        "suanli.client.Client",
        lambda server, token, profile=None: Client(server, token, profile=profile, transport=served.api._transport),
    )
    done = CliRunner().invoke(app, ["admin", "tenants", "--token-file", str(path)], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    assert TENANT_A in done.stdout
