"""Every figure README.md quotes comes with the command that prints it.

What is checked, and what is not:

- every number with a unit (h, hours, minutes, s, ms, /s, kg, t, kWh, MB..TB, %, x, $, and
  a millions suffix like 2.686M) in a paragraph, list item, table row or shell block names,
  in the same block, a command: ``suanli X``, ``make X``, or a script (``bench/X.py``).
  Inline code and YAML blocks are syntax (``--capacity 0.03``, ``deadline: +36h``), not
  quoted figures, and are not scanned. :data:`NOT_MEASUREMENTS` lists, each with its
  reason, the figures that are not measurements and so need no command;
- the figures whose command takes a second or less are rerun here and must come out as
  quoted: the plan example's output, DeepSeek-V3's estimate in ``make demo``, the
  calibration percentages, the catalogue's counts;
- the benchmark figures (minutes of load on the reference machine) and the simulator's
  reference results (``tests/test_sim_reference.py`` checks those, within its own
  tolerance) are not rerun: only that their command is named.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from suanli.catalog import load_catalog
from tests.conftest import ROOT
from tests.mdscan import SHELL_LANGS, Block, blocks, shell_lines, strip_code

README = ROOT / "README.md"

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
FIGURE = re.compile(
    rf"(?<![\w.$-])(?:\$\s?{_NUMBER}[kKMB]?"
    rf"|[-+−]?{_NUMBER}(?:-{_NUMBER})?(?:M\b|[kKM]?\s?(?:%|x(?!\w)|×|(?:[a-z]+)?/s\b|ms\b|s\b|h\b|hours?\b"
    rf"|minutes?\b|kg\b|t\b|kWh\b|[KMGT]i?B\b)|\s[A-Z]\w*-hours\b))"
)
"""A number with a unit, a range (``0.14-0.26 s``) or a dollar sign."""
COMMAND = re.compile(r"\bsuanli [a-z][\w-]*|\bmake [a-z][\w-]*|\b(?:bench|examples)/\w+\.py\b")
"""A command named in a block's code: ``suanli X``, ``make X``, a script."""

NOT_MEASUREMENTS: dict[str, str] = {
    "24 hours": "a parameter of the planner (placement/planner.py MAX_STARTS: hourly starts over the first 24 h)",
    "3 %": "an input of `make demo` (`--capacity 0.03`), not a result",
}
"""Figures with a unit that are not measurements, each with why it needs no command."""


@dataclass(frozen=True)
class Figure:
    text: str
    line: int
    block: Block

    def __str__(self) -> str:
        excerpt = " ".join(self.block.text.split())[:100]
        return f"README.md:{self.line}: {self.text!r} in {excerpt!r}"


def figures(block: Block) -> list[Figure]:
    """The figures quoted in a block: its text outside inline code; a shell block whole."""
    if block.kind == "code" and block.lang not in SHELL_LANGS:
        return []
    text = block.text if block.kind == "code" else strip_code(block.text)
    return [
        Figure(" ".join(m.group(0).split()), block.line + text.count("\n", 0, m.start()), block)
        for m in FIGURE.finditer(text)
    ]


def commands_named(block: Block) -> list[str]:
    """The commands a block names: in a code block, its command lines; elsewhere, its inline code."""
    if block.kind == "code":
        pieces = [line for _, line in shell_lines(block)]
    else:
        pieces = [m.group(2) for m in re.finditer(r"(`+)(.+?)\1", block.text, re.S)]
    return [name for piece in pieces for name in COMMAND.findall(" ".join(piece.split()))]


def readme_figures() -> list[Figure]:
    return [f for block in blocks(README.read_text(encoding="utf-8")) for f in figures(block)]


def test_every_figure_in_the_readme_names_the_command_that_prints_it() -> None:
    found = readme_figures()
    assert len(found) > 15, "the scan found almost no figures: is FIGURE still right?"
    orphans = [f for f in found if f.text not in NOT_MEASUREMENTS and not commands_named(f.block)]
    assert not orphans, (
        f"{len(orphans)} figure(s) without the command that prints them in the same paragraph, item, "
        "row or block (name it, or list the figure in NOT_MEASUREMENTS with why):\n" + "\n".join(map(str, orphans))
    )


def test_every_figure_listed_as_not_a_measurement_is_still_quoted() -> None:
    quoted = {f.text for f in readme_figures()}
    assert set(NOT_MEASUREMENTS) <= quoted, f"no longer in README.md: {sorted(set(NOT_MEASUREMENTS) - quoted)}"


def test_the_scan_finds_figures_and_their_commands() -> None:
    text = (
        "Takes 2.5 h and $1,200 (`suanli plan x.yaml`); 615 submissions/s, p99 21 ms.\n\n"
        "Carbon 44.2 t at 2.5 x, 0.14-0.26 s; 2.686M accelerator-hours; version 3.11; `--rate 300/s`.\n"
    )
    found = [(f.text, bool(commands_named(f.block))) for b in blocks(text) for f in figures(b)]
    assert found == [
        ("2.5 h", True),
        ("$1,200", True),
        ("615 submissions/s", True),
        ("21 ms", True),
        ("44.2 t", False),
        ("2.5 x", False),
        ("0.14-0.26 s", False),
        ("2.686M", False),
    ]


# -- the figures that are cheap to reproduce -------------------------------------------------------


def suanli(argv: Sequence[str]) -> str:
    """``suanli ARGV``'s standard output (exit code 0 required)."""
    done = subprocess.run(
        [sys.executable, "-m", "suanli.cli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"suanli {' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def _readme_block(starting: str) -> Block:
    for block in blocks(README.read_text(encoding="utf-8")):
        if block.kind == "code" and block.text.lstrip().startswith(starting):
            return block
    raise AssertionError(f"README.md has no code block starting with {starting!r}")


def test_the_plan_example_prints_the_figures_the_readme_shows() -> None:
    """The README's plan output: its command, replayed at the ``--now`` the README gives, prints
    every figure shown (the output lines only; the table's layout may differ)."""
    block = _readme_block("$ suanli plan")
    (command,) = [line for _, line in shell_lines(block)]
    argv = command.split("#")[0].split()[1:]
    now = re.search(r"`--now (\S+)` replays\s+the\s+plan\s+above", README.read_text(encoding="utf-8"))
    assert now, "README.md no longer says which --now replays its plan example"
    printed = suanli([*argv, "--now", now.group(1)])
    output = "\n".join(line for line in block.lines if not line.lstrip().startswith("$"))
    shown = [f.text for f in figures(Block("code", block.line, (output,), "sh"))]
    assert len(shown) >= 4
    missing = [figure for figure in shown if figure not in printed]
    assert not missing, f"`{command.split('#')[0].strip()}` no longer prints {missing}:\n{printed}"


DEMO_ESTIMATE = (
    "estimate",
    "examples/deepseek-v3-pretrain.yaml",
    "--accelerator",
    "h800",
    "--count",
    "2048",
    "--start",
    "2025-01-01T00:00:00Z",
)
"""The estimate ``make demo`` runs (checked against the Makefile below)."""


def test_make_demo_estimates_deepseek_v3_at_the_readmes_accelerator_hours() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"suanli {' '.join(DEMO_ESTIMATE)}" in makefile, "make demo's estimate changed: update DEMO_ESTIMATE"
    quoted = re.search(r"published: ([\d.]+)M H800-hours; suanli: ([\d.]+)M\)", README.read_text(encoding="utf-8"))
    assert quoted, "README.md no longer quotes DeepSeek-V3's accelerator-hours after `make demo`"
    assert f"published: {quoted.group(1)}M H800-hours" in makefile
    hours = json.loads(suanli([*DEMO_ESTIMATE, "--json"]))["accelerator_hours"]
    assert f"{hours / 1e6:.3f}" == quoted.group(2)


def test_the_calibration_script_prints_the_readmes_percentages() -> None:
    text = README.read_text(encoding="utf-8")
    quoted = re.search(r"DeepSeek-V3\s+\(([-+−]?[\d.]+) %\) and checked against BLOOM \(([-+−]?[\d.]+) %\)", text)
    assert quoted, "README.md no longer quotes the calibration against DeepSeek-V3 and BLOOM"
    done = subprocess.run(
        [sys.executable, "bench/calibration.py"], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line.strip()}
    for run, figure in (("deepseek-v3-pretrain", quoted.group(1)), ("bloom-176b", quoted.group(2))):
        assert f" {figure.replace('−', '-')}%" in rows[run], f"bench/calibration.py: {rows[run]!r}, README: {figure} %"


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [(r"(\d+) accelerator types", "accelerators"), (r"(\d+) open models", "models")],
)
def test_the_catalogue_counts_the_readme_quotes(pattern: str, kind: str) -> None:
    """``suanli catalog accelerators|models`` lists this many (the item names ``suanli catalog``)."""
    quoted = re.search(pattern, " ".join(README.read_text(encoding="utf-8").split()))
    assert quoted, f"README.md no longer says {pattern!r}"
    assert len(getattr(load_catalog(), kind)) == int(quoted.group(1))
