"""``suanli completion bash`` as a user installs it: the script the real console script
prints, sourced into a real bash, completing what people type."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suanli.cli.completion import command_tree
from suanli.cli.registry import COMMANDS

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "suanli.cli", "completion", "bash"], capture_output=True, text=True, check=True
    )
    path = tmp_path_factory.mktemp("completion") / "suanli.bash"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def complete(script: Path, *words: str) -> list[str]:
    """What Tab offers after ``words`` (the last one is being typed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    code = f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _suanli_complete; "
    code += 'printf "%s\\n" "${COMPREPLY[@]}"; complete -p suanli >&2'
    done = subprocess.run([BASH or "bash", "-c", code], capture_output=True, text=True, check=True)
    assert "_suanli_complete" in done.stderr, "the function is registered for suanli"
    return [line for line in done.stdout.splitlines() if line]


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (("suanli", "su"), ["submit"]),
        (("suanli", "adm"), ["admin"]),
        (("suanli", "admin", "cre"), ["create-tenant", "create-token"]),
        (("suanli", "admin", "create-tenant", "--d"), ["--data-dir", "--db"]),
        (("suanli", "submit", "--wa"), ["--wait"]),
        (("suanli", "plan", "--json", "--of"), ["--offline"]),
        (("suanli", "db", ""), ["current", "upgrade"]),
        (("suanli", "plan", "ex"), []),  # a file: bash's default completion takes over
    ],
)
def test_tab_offers_the_commands_subcommands_and_options_there_are(
    script: Path, words: tuple[str, ...], offered: list[str]
) -> None:
    assert complete(script, *words) == offered


def test_the_tree_has_every_command_of_both_command_sets() -> None:
    subs, opts = command_tree()
    assert set(COMMANDS) <= set(subs[""]), "the fast (argparse) commands"
    assert {"serve", "agent", "simulate", "admin", "db"} <= set(subs[""]), "the typer app's"
    assert "--heartbeat-interval" in opts["agent"] and "--workers" in opts["serve"]
    assert "--array" in opts["submit"]


CASES = [
    (("suanli", "su"), ["submit"]),
    (("suanli", "admin", "cre"), ["create-tenant", "create-token"]),
    (("suanli", "admin", "create-tenant", "--d"), ["--data-dir", "--db"]),
    (("suanli", "plan", "--json", "--of"), ["--offline"]),
    (("suanli", "db", ""), ["current", "upgrade"]),
]


def script_for(shell: str, tmp_path: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "suanli.cli", "completion", shell], capture_output=True, text=True, check=True
    )
    path = tmp_path / f"suanli.{shell}"
    path.write_text(done.stdout, encoding="utf-8")
    return path


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)")
@pytest.mark.parametrize(("words", "offered"), CASES)
def test_zsh_offers_the_same_through_its_bash_completion_emulation(
    tmp_path: Path, words: tuple[str, ...], offered: list[str]
) -> None:
    script = script_for("zsh", tmp_path)
    quoted = " ".join(f"'{w}'" for w in words)
    code = f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _suanli_complete; "
    code += "print -l -- $COMPREPLY; print -r -- ${_comps[suanli]} >&2"
    env = {"PATH": "/usr/bin:/bin", "ZDOTDIR": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(["zsh", "-f", "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "_suanli_complete" in done.stderr, "registered with zsh's completion system"
    assert [line for line in done.stdout.splitlines() if line] == offered


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (apt-get install fish)")
@pytest.mark.parametrize(("words", "offered"), CASES)
def test_fish_offers_the_same(tmp_path: Path, words: tuple[str, ...], offered: list[str]) -> None:
    script = script_for("fish", tmp_path)
    line = " ".join(words)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source '{script}'; complete -C '{line}'"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert [entry.split("\t")[0] for entry in done.stdout.splitlines() if entry] == offered
