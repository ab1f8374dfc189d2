"""``suanli login``: the one tenant command on typer, because it prompts for the token with
the input hidden (typer's prompt; ``getpass`` would need a terminal). ``whoami`` and
``logout`` are in :mod:`suanli.cli.control`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from suanli.cli.app import handles_errors

    app.command("login")(handles_errors(login_cmd))


def login_cmd(
    server: Annotated[
        str, typer.Option("--server", help="Server URL, e.g. http://127.0.0.1:8470.", show_default=False)
    ],
    token: Annotated[
        str,
        typer.Option("--token", help="API token (asked for, hidden, when not given).", prompt=True, hide_input=True),
    ],
) -> None:
    """Check that the server answers and accepts the token, then save both (mode 0600) for
    the other commands: $SUANLI_CONFIG_DIR/credentials.json, default ~/.config/suanli."""
    from suanli.cli import control
    from suanli.client._credentials import write_credentials
    from suanli.client._wire import Wire

    with Wire(server, token, transport=control._transport) as client:
        health = client.health_json()
        client.jobs_json(limit=1)
        path = write_credentials(client.server, token)
    version = health.get("version", "?")
    sys.stdout.write(f"logged in to {client.server} (suanli {version}); credentials saved to {path}\n")
