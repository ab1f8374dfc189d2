"""The commands that run without typer: each registers its name, help, arguments and body
here; :func:`main` parses with :mod:`argparse` and runs one.

Why not typer for these. They are what scripts call thousands of times (``suanli submit``
in a loop, ``suanli status`` in a CI step, ``suanli plan`` from a notebook). Typer, which
validates its parameters with pydantic here, costs about 110 ms to import and set up: ten
times a bare Python start. The console script (:mod:`suanli.cli.entry`) runs a registered
command directly; :func:`register` lists each in the typer app's ``suanli --help`` with an
entry that forwards here (for ``python -m suanli.cli`` and typer's test runner).
"""

from __future__ import annotations

import argparse
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from suanli.errors import SuanliError

if TYPE_CHECKING:
    import typer


@dataclass(frozen=True)
class Command:
    """One command: its name, its help (first line: the summary in ``suanli --help``), the
    function adding its arguments, and the function running it (returns the exit code)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]

    @property
    def summary(self) -> str:
        return self.help.split("\n", 1)[0]


COMMANDS: dict[str, Command] = {}


class _Parser(argparse.ArgumentParser):
    """argparse with suanli's error shape: one ``error: ...`` line naming the fix, exit 2
    (argparse's own prints the whole usage first)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {self.prog}: {message}. To fix: see `{self.prog} --help`\n")


def command(name: str, arguments: Callable[[argparse.ArgumentParser], None]) -> Callable[[Any], Any]:
    """Register the decorated function as command ``name``; its docstring is the help."""

    def add(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        if name in COMMANDS:
            raise ValueError(f"command {name!r} is registered twice")
        COMMANDS[name] = Command(name, (run.__doc__ or "").strip(), arguments, run)
        return run

    return add


def main(argv: list[str]) -> int:
    """Run ``suanli NAME ARGS...`` for a registered command; the exit code. Errors of suanli
    are one ``error: ...`` line and the exception's exit code."""
    cmd = COMMANDS[argv[0]]
    parser = _Parser(
        prog=f"suanli {cmd.name}",
        description=cmd.help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.arguments(parser)
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if hasattr(args, "tz"):  # each command's own: --tz, else $SUANLI_TZ, else UTC
            from suanli.cli.timeshow import use_zone

            use_zone(args.tz)
        return cmd.run(args)
    except SuanliError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


MODULE_OF = {
    **dict.fromkeys(("plan", "estimate", "validate"), "suanli.cli.plan_cmds"),
    **dict.fromkeys(
        ("submit", "jobs", "status", "logs", "cancel", "explain", "sites", "usage", "whoami", "logout", "file-model"),
        "suanli.cli.control",
    ),
    "completion": "suanli.cli.completion",
}
"""Which module registers each command, so a command's process imports only its own
(``tests/test_cli_fast.py`` checks this against what the modules register)."""


def load(name: str | None = None) -> None:
    """Import the module that registers command ``name`` (every registering module when
    ``name`` is None: ``suanli --help`` lists them all). A name no module registers loads
    nothing: it is a typer command."""
    import importlib

    modules = sorted(set(MODULE_OF.values())) if name is None else [m for n, m in MODULE_OF.items() if n == name]
    for module in modules:
        importlib.import_module(module)


def register(app: typer.Typer) -> None:
    """List the registered commands in ``suanli --help`` (called once by :mod:`suanli.cli.app`)."""
    load()
    settings = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
    for cmd in COMMANDS.values():
        app.command(cmd.name, help=cmd.help, short_help=cmd.summary, context_settings=settings)(_forwarder(cmd.name))


def _forwarder(name: str) -> Callable[..., None]:
    import typer

    def forward(ctx: typer.Context) -> None:
        raise typer.Exit(main([name, *ctx.args]))

    forward.__annotations__ = {"ctx": typer.Context, "return": None}  # typer reads them; typer is not global here
    return forward
