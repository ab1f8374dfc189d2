"""Every shipped example spec plans on the day the tests run: the real clock, no ``--now``.

A spec with fixed dates stops planning once its deadline passes (the fine-tuning example
did, on 2025-01-08); the examples' times are relative (``earliest_start: now``,
``deadline: +7d``) so that a newcomer's first ``suanli plan`` works on any day.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli.app import app
from tests.conftest import EXAMPLES

SPECS = sorted(EXAMPLES.glob("*.yaml")) + sorted((EXAMPLES / "jobs").glob("*.yaml"))
"""The planning examples (``examples/*.yaml``, which ``make demo`` plans) and the submit
examples (``examples/jobs/*.yaml``: planning ignores their ``run:`` section)."""


def _label(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def test_there_are_examples_to_plan() -> None:
    assert len(list(EXAMPLES.glob("*.yaml"))) >= 5
    assert list((EXAMPLES / "jobs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[f"{_label(p)} plans today" for p in SPECS])
def test_an_example_plans_on_the_real_clock_with_at_least_one_option(path: Path) -> None:
    done = CliRunner().invoke(app, ["plan", str(path), "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["options"], f"{_label(path)}: no option; rejected: {result['rejected'][:3]}"
    assert not any(r["code"] == "DEADLINE_PASSED" for r in result["rejected"])


@pytest.mark.parametrize("path", SPECS, ids=[f"{_label(p)} has no fixed date" for p in SPECS])
def test_an_example_writes_its_times_relative_to_now(path: Path) -> None:
    constraints = yaml.safe_load(path.read_text(encoding="utf-8")).get("constraints") or {}
    for field in ("earliest_start", "deadline"):
        value = constraints.get(field)
        assert value is None or (isinstance(value, str) and (value == "now" or value.startswith("+"))), (
            f"{_label(path)}: constraints.{field} is {value!r}; a fixed date stops planning once it passes"
        )
