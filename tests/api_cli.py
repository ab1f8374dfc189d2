"""The CLI pointed at an in-process API (:class:`tests.api_builders.Network`), for tests
that drive ``suanli submit``/``jobs``/``explain`` against a real control plane: its
fast-path transport is the API's own, its server, token and config dir are the test's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli import control
from suanli.cli.app import app
from tests.api_builders import Network


def point_cli_at(net: Network, monkeypatch: pytest.MonkeyPatch, config_dir: Path, who: str = "tenant_a") -> Network:
    """Make the CLI talk to ``net``'s API as ``who`` (one of its tokens); returns ``net``."""
    monkeypatch.setattr(control, "_transport", net.api._transport)
    monkeypatch.setenv("SUANLI_SERVER", str(net.api.base_url))
    monkeypatch.setenv("SUANLI_TOKEN", net.tokens[who])
    monkeypatch.setenv("SUANLI_CONFIG_DIR", str(config_dir))
    return net


def write(tmp_path: Path, name: str, spec: dict[str, Any]) -> Path:
    """``spec`` as ``tmp_path/<name>.yaml``, keys in the order given."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def invoke(*args: str | Path) -> Any:
    """``suanli ARGS`` through typer's test runner (which forwards to the fast path)."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
