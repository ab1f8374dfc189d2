"""Every ``suanli ...`` command written in README.md and docs/*.md parses: its command (and
subcommand) exists, and every flag it shows is one that command's ``--help`` lists.

The commands come from :func:`tests.mdscan.doc_commands`: shell lines in fenced blocks (``$``
prompts, after ``&&``, ``;``, ``|``, behind ``NAME=VALUE``), inline code (the docs' synopsis
notation: ``[--flag X]`` optional, ``A|B`` alternatives, ``...`` for any), and the option
tables under a ``suanli X`` heading. Each ``--help`` runs once per session, through
``python -m suanli.cli`` (the console script's entry point: argparse for the tenant
commands, typer for the rest), all of them in parallel on first use.

Values and positional arguments are not checked: only that the words that name things
(commands, subcommands, flags) exist.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.mdscan import DocCommand, FlagMention, doc_commands, flag_mentions

DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
HELP_TIMEOUT_S = 60.0
"""Per ``--help``; they take 0.1-0.5 s each, several at once."""

_SECTION = re.compile(r"^(\S[^:]*):\s*$")
_FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)")
_OPTION_LINE = re.compile(r"^[ │┃|]{1,5}-")
"""An option's own line in a help text: indented a little (its description's continuation
lines are indented further), in click's, argparse's or rich's layout."""


@dataclass(frozen=True)
class Help:
    """What one ``suanli ... --help`` says: the flags it lists and, for a group, its
    subcommands."""

    argv: tuple[str, ...]
    flags: frozenset[str]
    commands: frozenset[str]
    error: str = ""


def parse_help(argv: tuple[str, ...], text: str) -> Help:
    """The flags (from each option's own line, before its description) and subcommands (the
    first word of each line of a ``Commands:`` section) of a help text."""
    flags: set[str] = set()
    commands: set[str] = set()
    section = ""
    for line in text.splitlines():
        heading = _SECTION.match(line)
        if heading:
            section = heading.group(1).strip().lower()
            continue
        if _OPTION_LINE.match(line):
            for cell in re.split(r"\s{2,}", line.strip(" │┃|")):
                if not cell.startswith("-"):
                    break
                flags.update(_FLAG.findall(cell))
        elif section == "commands" and re.match(r"^ {1,4}[a-z]", line):
            commands.add(line.split()[0])
    return Help(argv, frozenset(flags), frozenset(commands))


def _run_help(argv: tuple[str, ...]) -> Help:
    shown = " ".join(("suanli", *argv, "--help"))
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "suanli.cli", *argv, "--help"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=HELP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Help(argv, frozenset(), frozenset(), f"`{shown}` took over {HELP_TIMEOUT_S} s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return Help(argv, frozenset(), frozenset(), f"`{shown}` exited {done.returncode}: {last}")
    return parse_help(argv, done.stdout)


@cache
def helps() -> dict[tuple[str, ...], Help]:
    """Every command's and subcommand's ``--help``, run once, in parallel, a level at a time."""
    found: dict[tuple[str, ...], Help] = {(): _run_help(())}
    level: list[tuple[str, ...]] = [(name,) for name in sorted(found[()].commands)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        while level:
            found.update(zip(level, pool.map(_run_help, level), strict=True))
            level = [(*argv, name) for argv in level for name in sorted(found[argv].commands)]
    return found


def _flags(words: Iterable[str]) -> list[str]:
    """The flags among a command's words: ``--name=VALUE`` read as ``--name``, ``-a|-b`` as
    both; a negative number or a lone ``-`` is a value."""
    out: list[str] = []
    for word in words:
        if word.startswith("-") and len(word) > 1 and not re.match(r"-\d", word):
            out.extend(alt.split("=", 1)[0] for alt in word.split("|") if alt.startswith("-"))
    return out


def problems(command: DocCommand, known: dict[tuple[str, ...], Help]) -> list[str]:
    """What is wrong with a documented command, against the commands' ``--help``."""
    return _check((), list(command.words), known)


def _check(argv: tuple[str, ...], words: list[str], known: dict[tuple[str, ...], Help]) -> list[str]:
    here = known[argv]
    if here.error:
        return [here.error]
    if here.commands and words and not words[0].startswith("-"):
        written, rest = words[0], words[1:]
        names = sorted(here.commands) if written == "..." else written.split("|")
        found = []
        for name in names:
            if name not in here.commands:
                where = f"suanli {' '.join(argv)}".strip()
                found.append(f"`{where}` has no command {name!r} (it has: {', '.join(sorted(here.commands))})")
            else:
                found.extend(_check((*argv, name), rest, known))
        return found
    where = " ".join(("suanli", *argv))
    return [f"`{where}` has no flag {flag} (see `{where} --help`)" for flag in _flags(words) if flag not in here.flags]


def _commands(doc: Path) -> list[DocCommand]:
    return doc_commands(doc, ROOT)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_documented_command_parses(doc: Path) -> None:
    known = helps()
    top = known[()].commands
    commands = [c for c in _commands(doc) if not c.bare or c.words[0] in top]
    failures = [f"{command}: {problem}" for command in commands for problem in problems(command, known)]
    assert not failures, f"{len(failures)} documented command(s) do not parse:\n" + "\n".join(failures)


def flag_problems(mention: FlagMention, known: dict[tuple[str, ...], Help]) -> list[str]:
    """A flag written alone must be one of the commands named beside it (any of their
    subcommands), or of some command when none is named."""
    top = known[()].commands
    named = [word for word in mention.beside if word in top]
    owners = [argv for argv in known if argv and (not named or argv[0] in named)]
    accepted = set().union(*(known[argv].flags for argv in owners))
    where = " or ".join(f"`suanli {n}`" for n in named) or "any command"
    return [f"{flag} is not a flag of {where}" for flag in _flags(mention.text.split()[:1]) if flag not in accepted]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_flag_written_alone_belongs_to_the_command_beside_it(doc: Path) -> None:
    known = helps()
    failures = [f"{m}: {problem}" for m in flag_mentions(doc, ROOT) for problem in flag_problems(m, known)]
    assert not failures, f"{len(failures)} flag(s) in the text that no command beside them takes:\n" + "\n".join(
        failures
    )


def test_the_docs_show_commands_in_every_form_the_scan_reads() -> None:
    """The scan finds what the docs hold (a scan that found nothing would pass everything)."""
    readme = _commands(ROOT / "README.md")
    assert len(readme) > 30
    assert {c.synopsis for c in readme} == {True, False}
    assert any(c.bare for c in readme)
    assert {"plan", "simulate", "submit", "admin", "serve", "agent"} <= {c.words[0] for c in readme}


def test_every_command_has_a_help_with_flags() -> None:
    """Each help ran and was read: a command lists at least --help, a group its subcommands."""
    known = helps()
    assert len(known) > 20
    for argv, help_ in known.items():
        assert not help_.error, help_.error
        assert help_.commands or "--help" in help_.flags, f"`suanli {' '.join(argv)} --help` read no flags"
    assert {"upgrade", "current"} <= known[("db",)].commands


SAMPLE = """\
# Try

```console
$ suanli plan a.yaml --limit 3 && suanli jobs -o json | head
plan for ...  --not-a-flag
```

```sh
SUANLI_SERVER=http://x SUANLI_TOKEN=$(cat t) suanli submit a.yaml \\
    --wait   # comment; suanli bogus --x
export X=1; .venv/bin/suanli logs ID -f &
```

| command | what |
|---|---|
| `suanli db upgrade\\|current [--json]` | `jobs [-o table\\|json]`, `status ID`; `fifo` |

### `suanli serve`

| option | default |
|---|---|
| `--host`, `--port` | |

Prose: `suanli simulate ... --outage S:0:1`, `plan --json` and `suanli.client`; `--now ISO`.
"""


def test_the_scan_reads_prompts_operators_prefixes_tables_option_tables_and_lone_flags(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(SAMPLE, encoding="utf-8")
    got = [(c.line, c.words, c.bare) for c in doc_commands(doc, tmp_path)]
    assert got == [
        (4, ("plan", "a.yaml", "--limit", "3"), False),
        (4, ("jobs", "-o", "json"), False),
        (9, ("submit", "a.yaml", "--wait"), False),
        (11, ("logs", "ID", "-f"), False),
        (16, ("db", "upgrade|current", "--json"), False),
        (16, ("jobs", "-o", "table|json"), True),
        (16, ("status", "ID"), True),
        (16, ("fifo",), True),
        (18, ("serve",), False),
        (22, ("serve", "--host", "--port"), False),
        (24, ("simulate", "...", "--outage", "S:0:1"), False),
        (24, ("plan", "--json"), True),
    ]
    mentions = [(m.line, m.text, m.beside) for m in flag_mentions(doc, tmp_path)]
    assert mentions == [
        (22, "--host", ("serve",)),
        (22, "--port", ("serve",)),
        (24, "--now ISO", ("simulate", "plan")),
    ]


def test_a_wrong_subcommand_or_flag_is_named() -> None:
    known = {
        (): Help((), frozenset({"--help"}), frozenset({"db", "plan"})),
        ("db",): Help(("db",), frozenset({"--help"}), frozenset({"upgrade", "current"})),
        ("db", "upgrade"): Help(("db", "upgrade"), frozenset({"--help", "--json"}), frozenset()),
        ("db", "current"): Help(("db", "current"), frozenset({"--help"}), frozenset()),
        ("plan",): Help(("plan",), frozenset({"--help", "--now", "-o", "--objective"}), frozenset()),
    }

    def check(*words: str) -> list[str]:
        return problems(DocCommand("d.md", 1, " ".join(words), words, synopsis=True), known)

    assert check("plan", "X", "-o", "time|cost", "--now=2025-01-01", "--objective") == []
    assert check("db", "upgrade|current") == []
    assert check("db", "...", "--json") == ["`suanli db current` has no flag --json (see `suanli db current --help`)"]
    assert check("db", "downgrade") == ["`suanli db` has no command 'downgrade' (it has: current, upgrade)"]
    assert check("plan", "--limit", "-1") == ["`suanli plan` has no flag --limit (see `suanli plan --help`)"]
    assert check("nope") == ["`suanli` has no command 'nope' (it has: db, plan)"]


@pytest.mark.parametrize(
    ("layout", "text"),
    [
        ("click", "Options:\n  -o, --objective <str>  Override.\n  --json / --no-json  JSON.\n      --not-this one\n"),
        (
            "argparse",
            "options:\n  -o OBJ, --objective OBJ\n                  Override.\n  --json  JSON, like --not-this\n",
        ),
        ("rich", "╭─ Options ─╮\n│ --objective  -o  TEXT  Override. │\n│ --json           JSON. --not-this│\n"),
    ],
)
def test_help_flags_are_read_in_each_layout(layout: str, text: str) -> None:
    flags = parse_help((), text).flags
    assert {"-o", "--objective", "--json"} <= flags, layout
    assert "--not-this" not in flags, layout
