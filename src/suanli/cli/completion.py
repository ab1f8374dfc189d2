"""``suanli completion bash|zsh|fish``: a completion script for every command, subcommand
and option, generated from the commands themselves (the argparse ones of
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

SHELLS = ("bash", "zsh", "fish")


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
    [[ -n "${{ZSH_VERSION-}}" ]] && setopt localoptions ksharrays  # zsh (bashcompinit): arrays from 0, as in bash
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
    COMPREPLY=()
    if [[ -n "${{subs[$key]+x}}" && "$cur" != -* ]]; then
        _suanli_starting "${{subs[$key]}}" "$cur"
    elif [[ "$cur" == -* ]]; then
        _suanli_starting "${{opts[$key]:---help}}" "$cur"
    fi  # else a value or a file: the shell's default completion
}}
_suanli_starting() {{  # the words of $1 that start with $2 (not compgen: zsh's emulation does not filter)
    local word
    for word in $(printf '%s\n' $1); do
        [[ "$word" == "$2"* ]] && COMPREPLY+=("$word")
    done
}}
complete -o default -F _suanli_complete suanli
"""


def zsh_script() -> str:
    """The bash script under zsh's bash-completion emulation (``bashcompinit``), which
    runs bash's ``complete``/``compgen`` on zsh's completion system."""
    return (
        f"# zsh completion for suanli {__version__} (`suanli completion zsh`; regenerate after upgrading)\n"
        "autoload -U +X compinit && { (( ${+_comps} )) || compinit -u }\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script().split("\n", 1)[1]
    )


def fish_script() -> str:
    """The same tree as fish functions: ``__suanli_subs KEY`` and ``__suanli_opts KEY``
    print the words after ``suanli [group]`` and a command's options (status 1 for a key
    that is neither), ``__suanli_key`` walks the command line as the bash script does."""
    subs, opts = command_tree()

    def cases(table: dict[str, list[str]]) -> str:
        return "\n".join(
            f"        case {shlex.quote(f'suanli {key}'.strip())}\n            printf '%s\\n' "
            + " ".join(shlex.quote(word) for word in words)
            for key, words in table.items()
        )

    return f"""# fish completion for suanli {__version__} (`suanli completion fish`; regenerate after upgrading)
function __suanli_subs
    switch $argv[1]
{cases(subs)}
        case '*'
            return 1
    end
end
function __suanli_opts
    switch $argv[1]
{cases(opts)}
        case '*'
            return 1
    end
end
function __suanli_key
    set -l key suanli
    for word in (commandline -opc)[2..-1]
        string match -q -- '-*' $word; and continue
        if __suanli_subs "$key $word" >/dev/null; or __suanli_opts "$key $word" >/dev/null
            set key "$key $word"
        end
    end
    echo $key
end
function __suanli_words
    set -l key (__suanli_key)
    if string match -q -- '-*' (commandline -ct)
        __suanli_opts $key; or echo --help
    else
        __suanli_subs $key
    end
end
function __suanli_wants_words
    string match -q -- '-*' (commandline -ct); or __suanli_subs (__suanli_key) >/dev/null
end
complete -c suanli -n __suanli_wants_words -f -a '(__suanli_words)'
"""


SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def _completion_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for: bash, zsh or fish")


@command("completion", _completion_args)
def completion_cmd(args: argparse.Namespace) -> int:
    """Print a shell completion script for every suanli command, subcommand and option.

    Install it once:
      bash: suanli completion bash > ~/.local/share/bash-completion/completions/suanli
      zsh:  suanli completion zsh > ~/.zsh/suanli.zsh, and `source ~/.zsh/suanli.zsh` in ~/.zshrc
      fish: suanli completion fish > ~/.config/fish/completions/suanli.fish
    or for this shell: source <(suanli completion bash)"""
    print(SCRIPTS[args.shell](), end="")
    return 0
