"""``suanli completion bash``: a bash completion script for every command, subcommand and
option, generated from the commands themselves (the argparse ones of
:mod:`suanli.cli.registry` and the typer app's), so it never falls behind them.

The script is static: it holds the whole tree in two associative arrays (the words after
``suanli [group]``, and the options of each command) and runs no ``suanli`` process when
you press Tab. Where a command expects a value or a file, bash's default (file names)
completes it. Install it once::

    suanli completion bash > ~/.local/share/bash-completion/completions/suanli

or, for this shell only, ``source <(suanli completion bash)``.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from suanli import __version__
from suanli.cli.registry import COMMANDS, command

SHELLS = ("bash",)


def command_tree() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(subcommands by command path, options by command path): ``""`` is ``suanli`` itself,
    ``"admin"`` a group, ``"admin create-tenant"`` one of its commands (the script keys
    them ``suanli ...``: bash arrays take no empty key)."""
    import typer.main

    from suanli.cli.app import app

    subs: dict[str, list[str]] = {}
    opts: dict[str, list[str]] = {}
    for name, cmd in COMMANDS.items():
        parser = argparse.ArgumentParser(add_help=True)
        cmd.arguments(parser)
        opts[name] = sorted({flag for action in parser._actions for flag in action.option_strings})

    def walk(group: Any, path: str) -> None:  # typer's (vendored) click groups and commands
        children = {name: sub for name, sub in group.commands.items() if not getattr(sub, "hidden", False)}
        subs[path] = sorted(children)
        for name, sub in children.items():
            key = f"{path} {name}".strip()
            if key in opts:
                continue
            if isinstance(getattr(sub, "commands", None), dict):
                walk(sub, key)
            else:
                options = [p for p in sub.params if getattr(p, "param_type_name", "") == "option"]
                opts[key] = sorted({f for p in options for f in (*p.opts, *p.secondary_opts)} | {"--help"})

    walk(typer.main.get_command(app), "")
    subs[""] = sorted({*subs[""], *COMMANDS})
    return subs, opts


def bash_script() -> str:
    subs, opts = command_tree()

    def entries(table: dict[str, list[str]]) -> str:
        return "\n".join(
            f"        [{shlex.quote(f'suanli {key}'.strip())}]={shlex.quote(' '.join(words))}"
            for key, words in table.items()
        )

    return f"""# bash completion for suanli {__version__} (`suanli completion bash`; regenerate after upgrading)
_suanli_complete() {{
    local -A subs=(
{entries(subs)}
    )
    local -A opts=(
{entries(opts)}
    )
    local cur="${{COMP_WORDS[COMP_CWORD]}}" key=suanli next i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *)
                next="$key ${{COMP_WORDS[i]}}"
                if [[ -n "${{subs[$next]+x}}" || -n "${{opts[$next]+x}}" ]]; then key="$next"; fi
                ;;
        esac
    done
    if [[ -n "${{subs[$key]+x}}" && "$cur" != -* ]]; then
        COMPREPLY=($(compgen -W "${{subs[$key]}}" -- "$cur"))
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "${{opts[$key]:---help}}" -- "$cur"))
    else
        COMPREPLY=()  # a value or a file: bash's default completion
    fi
}}
complete -o default -F _suanli_complete suanli
"""


def _completion_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for (bash)")


@command("completion", _completion_args)
def completion_cmd(args: argparse.Namespace) -> int:
    """Print a shell completion script for every suanli command, subcommand and option.

    Install it once:  suanli completion bash > ~/.local/share/bash-completion/completions/suanli
    or for this shell: source <(suanli completion bash)"""
    print(bash_script(), end="")
    return 0
