"""The ``suanli`` command: help, JSON shapes, objective ordering, exit codes and one-line errors.

Subprocess runs (``suanli`` fixture) check the real process contract: exit code, a single
``error: ...`` line on stderr, no traceback. Everything else runs in-process through Typer's
test runner, which is much faster.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from suanli import __version__
from suanli.catalog import Catalog
from suanli.cli.app import app
from tests.conftest import EXAMPLES, Result, spec_yaml
from tests.test_catalog import REQUIRED_ACCELERATORS, REQUIRED_MODELS, REQUIRED_SITES

NOW = "2025-01-01T00:00:00Z"
DEEPSEEK = EXAMPLES / "deepseek-v3-pretrain.yaml"
FINETUNE = EXAMPLES / "qwen2.5-7b-finetune.yaml"
DEEPSEEK_V3_H800_HOURS = 2_664_000
"""DeepSeek-V3 technical report (arXiv:2412.19437): 2.664M H800 GPU-hours of pre-training."""

REQUIRED_IDS = {"accelerators": REQUIRED_ACCELERATORS, "sites": REQUIRED_SITES, "models": REQUIRED_MODELS}

IMPOSSIBLE = """\
apiVersion: suanli/v1
kind: Training
name: impossible
model: llama-3.1-405b
tokens_b: 15000
resources:
  accelerators: [any]
  count: {min: 8, max: 1024}
constraints:
  earliest_start: 2025-01-01T00:00:00Z
  deadline: 2025-01-01T01:00:00Z
"""
"""405B parameters on 15T tokens (~3.6e25 FLOP) cannot finish one hour after it starts."""


def invoke(*args: str) -> Result:
    """Run the command in-process (no subprocess) and return code, stdout and stderr."""
    done = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return Result(done.exit_code, done.stdout, done.stderr)


def as_json(result: Result) -> Any:
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(result: Result, code: int = 2) -> str:
    """The documented failure: the exit code, one 'error: ...' line on stderr, no traceback."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# -- help and version -----------------------------------------------------------------------


def test_help_lists_every_command(suanli: Callable[..., Result]) -> None:
    result = suanli("--help")
    assert result.code == 0
    for command in ("catalog", "estimate", "plan", "validate"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("catalog", ["--catalog", "--json"]),
        ("estimate", ["--accelerator", "--count", "--site", "--start", "--catalog", "--profiles", "--json"]),
        ("plan", ["--objective", "--now", "--limit", "--catalog", "--profiles", "--json"]),
        ("validate", ["--catalog"]),
    ],
)
def test_each_command_help_describes_its_options(command: str, options: list[str]) -> None:
    result = invoke(command, "--help")
    assert result.code == 0
    for option in options:
        assert re.search(rf"{option}\b.*\S", result.stdout), f"{option} undocumented in:\n{result.stdout}"


def test_version_prints_the_package_version(suanli: Callable[..., Result]) -> None:
    result = suanli("--version")
    assert result.code == 0
    assert result.stdout.strip() == f"suanli {__version__}"


# -- estimate ------------------------------------------------------------------------------


ESTIMATE_KEYS = {
    "accelerator",
    "count",
    "site",
    "flops",
    "duration_h",
    "accelerator_hours",
    "energy_kwh",
    "carbon_kg",
    "cost_usd",
    "breakdown",
}


@pytest.fixture(scope="module")
def deepseek_estimate() -> dict[str, Any]:
    result = invoke("estimate", DEEPSEEK, "--accelerator", "h800", "--count", "2048", "--json", "--start", NOW)
    data = as_json(result)
    assert isinstance(data, dict), "one JSON object"
    return data


def test_estimate_json_has_every_figure(deepseek_estimate: dict[str, Any], catalog: Catalog) -> None:
    assert set(deepseek_estimate) >= ESTIMATE_KEYS
    assert deepseek_estimate["accelerator"] == "h800"
    assert deepseek_estimate["count"] == 2048
    assert deepseek_estimate["site"] in catalog.sites
    assert deepseek_estimate["start"] == NOW
    assert isinstance(deepseek_estimate["breakdown"], dict)
    assert deepseek_estimate["breakdown"], "the derivation is shown"
    for key in ("flops", "duration_h", "accelerator_hours", "energy_kwh", "carbon_kg", "cost_usd"):
        assert deepseek_estimate[key] > 0, key


def test_estimate_reproduces_the_published_deepseek_v3_accelerator_hours(deepseek_estimate: dict[str, Any]) -> None:
    assert deepseek_estimate["accelerator_hours"] == pytest.approx(DEEPSEEK_V3_H800_HOURS, rel=0.10)
    assert deepseek_estimate["accelerator_hours"] == pytest.approx(deepseek_estimate["duration_h"] * 2048, rel=1e-6)


def test_estimate_at_a_named_site_uses_that_site() -> None:
    data = as_json(invoke("estimate", DEEPSEEK, "-a", "h800", "-n", "2048", "--site", "qingyang", "--json"))
    assert data["site"] == "qingyang"


def test_estimate_prints_a_table_and_a_summary_without_json() -> None:
    result = invoke("estimate", DEEPSEEK, "-a", "h800", "-n", "2048", "--start", NOW)
    assert result.code == 0
    assert "accelerator-hours" in result.stdout
    assert "h800" in result.stdout


def test_estimate_with_a_count_below_one_is_refused() -> None:
    result = invoke("estimate", DEEPSEEK, "-a", "h800", "-n", "0")
    assert_one_line_error(result)
    assert "count" in result.stderr


# -- plan ----------------------------------------------------------------------------------


OPTION_KEYS = {
    "site",
    "accelerator",
    "count",
    "start",
    "duration_h",
    "accelerator_hours",
    "energy_kwh",
    "carbon_kg",
    "cost_usd",
    "pareto",
}
REJECTION_KEYS = {"site", "accelerator", "count", "code", "message"}


def plan_json(spec: Path, *extra: str) -> dict[str, Any]:
    data = as_json(invoke("plan", spec, "--json", "--now", NOW, *extra))
    assert isinstance(data, dict)
    return data


def test_plan_json_has_the_documented_shape(catalog: Catalog) -> None:
    data = plan_json(FINETUNE)
    assert data["job"] == "qwen2.5-7b-support-bot"
    assert data["objective"] == "balanced", "the spec's own objective"
    assert data["options"], "the example has feasible options"
    for option in data["options"]:
        assert set(option) >= OPTION_KEYS
        assert option["site"] in catalog.sites
        assert option["accelerator"] in catalog.accelerators
        assert 8 <= option["count"] <= 64, "within the spec's count range"
        assert isinstance(option["pareto"], bool)
    for rejection in data["rejected"]:
        assert set(rejection) >= REJECTION_KEYS
        assert rejection["code"]
        assert rejection["message"]


ORDER_KEYS = {"time": "finish", "cost": "cost_usd", "carbon": "carbon_kg"}


@pytest.mark.parametrize("objective", ["time", "cost", "carbon"])
def test_plan_options_are_sorted_by_the_objective(objective: str) -> None:
    data = plan_json(FINETUNE, "--objective", objective)
    assert data["objective"] == objective
    key = ORDER_KEYS[objective]
    figures = [option[key] for option in data["options"]]
    assert len(figures) > 1
    assert figures == sorted(figures), f"options not in {key} order for objective {objective}"
    assert data["options"][0]["pareto"], "the pick is on the Pareto front"


def test_plan_with_the_balanced_objective_picks_from_the_front() -> None:
    data = plan_json(FINETUNE, "-o", "balanced")
    assert data["objective"] == "balanced"
    assert data["options"][0]["pareto"]


def test_plan_with_a_fixed_now_is_reproducible_and_starts_no_earlier() -> None:
    first = invoke("plan", DEEPSEEK, "--json", "--now", NOW)
    second = invoke("plan", DEEPSEEK, "--json", "--now", NOW)
    assert first.stdout == second.stdout
    options = json.loads(first.stdout)["options"]
    assert options
    assert all(option["start"] >= NOW for option in options)


def test_plan_prints_a_table_with_the_pick() -> None:
    result = invoke("plan", FINETUNE, "--now", NOW, "--limit", "3")
    assert result.code == 0
    assert "pick" in result.stdout.lower()
    assert "qwen2.5-7b-support-bot" in result.stdout


# -- validate ------------------------------------------------------------------------------


def test_validate_accepts_every_example(suanli: Callable[..., Result]) -> None:
    examples = sorted(EXAMPLES.glob("*.yaml"))
    result = suanli("validate", *(str(p) for p in examples))
    assert result.code == 0, result.stderr
    for path in examples:
        assert f"{path}: ok" in result.stdout


# -- errors: exit code 2, one line, no traceback (real subprocesses) -----------------------


def test_an_invalid_spec_is_one_error_line_naming_file_line_and_field(
    suanli: Callable[..., Result], write_spec: Callable[[str], Path]
) -> None:
    text = spec_yaml(tokens_b="lots")
    path = write_spec(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("tokens_b:"))
    for command in (["validate", str(path)], ["plan", str(path), "--now", NOW]):
        error = assert_one_line_error(suanli(*command))
        assert error.startswith(f"error: {path}:{line}: field 'tokens_b': ")


def test_an_unknown_nested_field_is_named_by_its_path(
    suanli: Callable[..., Result], write_spec: Callable[[str], Path]
) -> None:
    path = write_spec(spec_yaml(resources={"accelerators": ["any"], "cpus": 4}))
    error = assert_one_line_error(suanli("estimate", str(path), "-a", "h800", "-n", "8"))
    assert re.match(rf"error: {re.escape(str(path))}:\d+: field 'resources\.cpus': ", error)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["estimate", "missing-spec.yaml", "-a", "h800", "-n", "8"], "missing-spec.yaml"),
        (["estimate", str(DEEPSEEK), "--accelerator", "h999", "--count", "8"], "h999"),
        (["estimate", str(DEEPSEEK), "-a", "h800", "-n", "8", "--start", "yesterday"], "--start"),
        (["catalog", "gpus"], "gpus"),
        (["plan", str(DEEPSEEK), "--objective", "fastest"], "fastest"),
        (["plan", str(DEEPSEEK), "--now", "not-a-time"], "--now"),
    ],
    ids=[
        "missing-spec-file",
        "unknown-accelerator",
        "bad-start-time",
        "unknown-catalogue-kind",
        "bad-objective",
        "bad-now",
    ],
)
def test_bad_input_exits_2_with_one_error_line(suanli: Callable[..., Result], args: list[str], fragment: str) -> None:
    error = assert_one_line_error(suanli(*args))
    assert fragment in error


@pytest.mark.parametrize(
    ("args", "valid"),
    [
        (["estimate", str(DEEPSEEK), "--accelerator", "h999", "--count", "8"], REQUIRED_ACCELERATORS),
        (["catalog", "gpus"], ["accelerators", "sites", "models", "grid", "network"]),
        (["plan", str(DEEPSEEK), "--objective", "fastest"], ["time", "cost", "carbon", "balanced"]),
        (["estimate", str(DEEPSEEK), "-a", "h800", "-n", "8", "--site", "atlantis"], REQUIRED_SITES),
    ],
    ids=["accelerators", "catalogue-kinds", "objectives", "sites"],
)
def test_an_unknown_name_error_lists_the_valid_names(args: list[str], valid: Sequence[str]) -> None:
    error = assert_one_line_error(invoke(*args))
    for name in valid:
        assert name in error


# -- no feasible placement: exit code 3 ------------------------------------------------------


def test_nothing_feasible_exits_3_with_the_reasons(
    suanli: Callable[..., Result], write_spec: Callable[[str], Path]
) -> None:
    result = suanli("plan", str(write_spec(IMPOSSIBLE)), "--now", NOW)
    assert result.code == 3
    assert "Traceback" not in result.stderr + result.stdout
    assert "error: no feasible placement for job 'impossible'" in result.stderr
    reasons = result.stdout + result.stderr
    assert "DEADLINE_MISSED" in reasons, "the near misses say why"
    assert re.search(r"rejected \d+ option", reasons)


def test_nothing_feasible_with_json_prints_the_rejected_list(
    suanli: Callable[..., Result], write_spec: Callable[[str], Path], catalog: Catalog
) -> None:
    result = suanli("plan", str(write_spec(IMPOSSIBLE)), "--now", NOW, "--json")
    assert result.code == 3
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["job"] == "impossible"
    assert data["options"] == []
    assert data["rejected"]
    for rejection in data["rejected"]:
        assert set(rejection) >= REJECTION_KEYS
        assert rejection["site"] is None or rejection["site"] in catalog.sites
        assert rejection["accelerator"] in catalog.accelerators
    assert any(r["code"] == "DEADLINE_MISSED" for r in data["rejected"])


def test_an_infeasible_estimate_exits_3_with_its_reason(suanli: Callable[..., Result]) -> None:
    # 671B parameters cannot be held by 8 x 24 GB
    result = suanli("estimate", str(DEEPSEEK), "-a", "rtx4090", "-n", "8")
    assert result.code == 3
    assert "Traceback" not in result.stderr
    assert "INSUFFICIENT_MEMORY" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no feasible placement")


def test_an_infeasible_estimate_with_json_prints_the_rejection() -> None:
    result = invoke("estimate", DEEPSEEK, "-a", "rtx4090", "-n", "8", "--json")
    assert result.code == 3
    data = json.loads(result.stdout)
    assert [r["code"] for r in data["rejected"]] == ["INSUFFICIENT_MEMORY"]
    assert data["rejected"][0]["accelerator"] == "rtx4090"


# -- catalogue listings --------------------------------------------------------------------


KINDS = ["accelerators", "sites", "models", "grid", "network"]


@pytest.mark.parametrize("kind", KINDS)
def test_catalog_json_lists_every_entry(kind: str, catalog: Catalog) -> None:
    records = as_json(invoke("catalog", kind, "--json"))
    assert isinstance(records, list)
    assert records
    if kind == "network":
        n = len(catalog.sites)
        assert len(records) == n * (n - 1) // 2
        assert {r["a"] for r in records} | {r["b"] for r in records} == set(catalog.sites)
        assert all(r["latency_ms"] > 0 for r in records)
        return
    ids = {r["id"] for r in records if "id" in r}
    expected = {"accelerators": catalog.accelerators, "sites": catalog.sites, "models": catalog.models}.get(
        kind, catalog.grid_regions
    )
    assert ids == set(expected)
    assert set(REQUIRED_IDS.get(kind, [])) <= ids
    assert all(r["source"] for r in records if "id" in r)


@pytest.mark.parametrize("kind", KINDS)
def test_catalog_table_shows_every_entry(kind: str, catalog: Catalog) -> None:
    result = invoke("catalog", kind)
    assert result.code == 0
    assert kind in result.stdout.splitlines()[0]
    names = {"accelerators": catalog.accelerators, "models": catalog.models, "grid": catalog.grid_regions}.get(
        kind, catalog.sites
    )
    for name in names:
        assert name in result.stdout, f"{name} missing from the {kind} table"


def test_the_catalogue_has_at_least_twelve_models() -> None:
    assert len(as_json(invoke("catalog", "models", "--json"))) >= 12


# -- catalogue overrides reach the command --------------------------------------------------


@pytest.fixture
def qingyang_override(tmp_path: Path, catalog: Catalog) -> tuple[Path, float]:
    """A directory whose sites.yaml replaces qingyang with a different PUE."""
    site = catalog.site("qingyang").model_dump(mode="json")
    site["pue"] = round(catalog.site("qingyang").pue + 0.23, 2)
    body = {"schema_version": 1, "kind": "sites", "items": [site]}
    directory = tmp_path / "catalog"
    directory.mkdir()
    (directory / "sites.yaml").write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return directory, site["pue"]


def _pue(result: Result, site: str) -> float:
    records = as_json(result)
    return next(r["pue"] for r in records if r["id"] == site)


def test_the_catalog_option_overrides_the_packaged_catalogue(
    suanli: Callable[..., Result], qingyang_override: tuple[Path, float], catalog: Catalog
) -> None:
    directory, pue = qingyang_override
    assert pue != catalog.site("qingyang").pue
    assert _pue(suanli("catalog", "sites", "--json", "--catalog", str(directory)), "qingyang") == pue
    assert _pue(invoke("catalog", "sites", "--json"), "qingyang") == catalog.site("qingyang").pue


def test_the_environment_variable_overrides_the_packaged_catalogue(
    suanli: Callable[..., Result], qingyang_override: tuple[Path, float]
) -> None:
    directory, pue = qingyang_override
    env = {**os.environ, "SUANLI_CATALOG": str(directory)}
    assert _pue(suanli("catalog", "sites", "--json", env=env), "qingyang") == pue


def test_a_bad_override_directory_is_one_error_line_naming_the_file(
    suanli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text("schema_version: 1\nkind: sites\nitems:\n- id: x\n  colour: blue\n", encoding="utf-8")
    error = assert_one_line_error(suanli("catalog", "sites", "--catalog", str(tmp_path)))
    assert error.startswith(f"error: {path}:")
    missing = assert_one_line_error(invoke("catalog", "sites", "--catalog", tmp_path / "absent"))
    assert str(tmp_path / "absent") in missing


def test_the_command_runs_from_any_directory(suanli: Callable[..., Result], tmp_path: Path) -> None:
    result = suanli("validate", str(FINETUNE), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "ok" in result.stdout
