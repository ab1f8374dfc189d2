"""Specs as people write them: did-you-mean, catalogue names in any case, SkyPilot's
``h800:8``, quantities with units, and a command as one shell string.

Each case is real YAML through :func:`parse_spec`; errors are checked word for word.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from suanli.catalog import Catalog, canonical_id
from suanli.errors import SpecError, UnknownNameError, closest
from suanli.policy import register_builtins
from suanli.workload import JobSpec, RunSpec, parse_spec, validate_spec
from tests.test_cli import NOW, as_json, assert_one_line_error, invoke

LABEL = "job.yaml"

TRAINING = """\
apiVersion: suanli/v1
kind: Training
name: forms
model: qwen2.5-7b
tokens_b: 10
resources:
  accelerators: [h800]
  count: 8
"""
"""The spec each case edits: line 4 is the model, 5 the tokens, 7 the accelerators, 8 the count."""


def edit(old: str, new: str, text: str = TRAINING) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def parsed(text: str, catalog: Catalog) -> JobSpec:
    return parse_spec(text, LABEL, catalog)


def error_of(text: str, catalog: Catalog | None = None) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, LABEL, catalog)
    return str(info.value)


# -- did you mean ---------------------------------------------------------------------------------

EXACT_ERRORS = {
    "a misspelt key is matched to the closest key": (
        edit("tokens_b: 10", "token_b: 10"),
        "job.yaml:5: field 'token_b': unknown field; did you mean 'tokens_b'?",
    ),
    "a misspelt nested key is matched within its own mapping": (
        edit("  count: 8", "  cout: 8"),
        "job.yaml:8: field 'resources.cout': unknown field; did you mean 'count'?",
    ),
    "a key at the wrong level is pointed to where it belongs": (
        TRAINING + "regions: [gansu]\n",
        "job.yaml:9: field 'regions': unknown field here; did you mean 'constraints.regions'?",
    ),
    "a key nothing resembles is only refused": (
        TRAINING + "colour: blue\n",
        "job.yaml:9: field 'colour': unknown field. To fix: remove it or check its spelling (see docs/spec.md)",
    ),
    "a misspelt kind is matched to the closest kind": (
        edit("kind: Training", "kind: Trainig"),
        "job.yaml:2: field 'kind': Input should be 'Training', 'FineTuning', 'BatchInference' or "
        "'InferenceService'; did you mean 'Training'?",
    ),
    "a kind in the wrong case is matched too": (
        edit("kind: Training", "kind: finetuning"),
        "job.yaml:2: field 'kind': Input should be 'Training', 'FineTuning', 'BatchInference' or "
        "'InferenceService'; did you mean 'FineTuning'?",
    ),
    "a misspelt precision is matched": (
        TRAINING + "precision: bf61\n",
        "job.yaml:9: field 'precision': Input should be 'fp32', 'bf16', 'fp16', 'fp8' or 'int8'; did you mean 'bf16'?",
    ),
}


@pytest.mark.parametrize(("text", "expected"), EXACT_ERRORS.values(), ids=EXACT_ERRORS.keys())
def test_a_misspelling_gets_one_line_with_a_suggestion(catalog: Catalog, text: str, expected: str) -> None:
    assert error_of(text, catalog) == expected


NAME_ERRORS = {
    "a misspelt model": (
        edit("model: qwen2.5-7b", "model: qwen2.5-7"),
        "job.yaml:4: field 'model': unknown model 'qwen2.5-7'; did you mean 'qwen2.5-7b'? To fix: use one of ",
    ),
    "a misspelt accelerator": (
        edit("[h800]", "[h80]"),
        "job.yaml:7: field 'resources.accelerators[0]': unknown accelerator 'h80'; did you mean 'h800'? "
        "To fix: use 'any' or one of ",
    ),
    "a misspelt region": (
        TRAINING + "constraints: {regions: [qinyang]}\n",
        "job.yaml:9: field 'constraints.regions[0]': unknown region 'qinyang'; did you mean 'qingyang'? "
        "To fix: use a site, hub, province or zone: ",
    ),
    "a misspelt data site": (
        TRAINING + "constraints:\n  data: {site: zhangjiako, size_gb: 10}\n",
        "job.yaml:10: field 'constraints.data.site': unknown site 'zhangjiako'; did you mean 'zhangjiakou'? "
        "To fix: use one of ",
    ),
}


@pytest.mark.parametrize(("text", "head"), NAME_ERRORS.values(), ids=NAME_ERRORS.keys())
def test_a_misspelt_catalogue_name_gets_the_closest_id_then_the_list(catalog: Catalog, text: str, head: str) -> None:
    error = error_of(text, catalog)
    assert error.startswith(head), error
    assert "\n" not in error


def test_a_name_nothing_resembles_gets_no_suggestion(catalog: Catalog) -> None:
    error = error_of(edit("[h800]", "[tpu-v5e]"), catalog)
    assert error.startswith("job.yaml:7: field 'resources.accelerators[0]': unknown accelerator 'tpu-v5e'. To fix: ")
    assert "did you mean" not in error


def test_an_unknown_policy_suggests_the_closest_one() -> None:
    with pytest.raises(UnknownNameError) as info:
        register_builtins().create("fifoo")
    assert str(info.value) == (
        "unknown policy 'fifoo'; did you mean 'fifo'? valid: backfill, carbon, cheapest, fifo, gavel, las, suanli"
    )
    assert info.value.suggestion == "fifo"


def test_an_unknown_name_without_a_close_one_reads_as_before() -> None:
    assert str(UnknownNameError("site", "x", ["b", "a"])) == "unknown site 'x'; valid: a, b"


@pytest.mark.parametrize(
    ("name", "valid", "expected"),
    [
        ("token_b", ["tokens_b", "requests"], "tokens_b"),
        ("H100", ["h100", "h800"], "h100"),
        ("gpus", ["count", "accelerators"], None),
    ],
    ids=["one letter short", "only the case differs", "nothing close"],
)
def test_closest(name: str, valid: list[str], expected: str | None) -> None:
    assert closest(name, valid) == expected


# -- catalogue names in any case ---------------------------------------------------------------


def test_catalogue_names_are_read_into_the_catalogues_ids(catalog: Catalog) -> None:
    text = edit("model: qwen2.5-7b", "model: Qwen2.5-7B", edit("[h800]", "[H100, H800, h800, Any]"))
    text += "constraints:\n  regions: [Inner Mongolia, Qingyang]\n  residency: CN\n"
    text += "  data: {site: Zhangjiakou, size_gb: 10}\n"
    spec = parsed(text, catalog)
    assert spec.model == "qwen2.5-7b"
    assert spec.resources.accelerators == ("h100", "h800", "any"), "duplicates after matching are dropped"
    assert spec.constraints.regions == ("inner-mongolia", "qingyang")
    assert spec.constraints.residency == "cn"
    assert spec.constraints.data is not None and spec.constraints.data.site == "zhangjiakou"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("h100", "h100"), ("H100", "h100"), ("A100_80G", "a100-80g"), ("a100 80g", "a100-80g"), ("h10", None)],
)
def test_canonical_id(name: str, expected: str | None) -> None:
    assert canonical_id(name, ["h100", "h800", "a100-80g"]) == expected


def test_without_a_catalogue_names_are_kept_as_written() -> None:
    assert parse_spec(edit("[h800]", "[H800]")).resources.accelerators == ("H800",)


# -- accelerators: one name, SkyPilot's type:count ----------------------------------------------

ACCELERATOR_FORMS = {
    "one name is a one-item list": ("accelerators: h800\n  count: 8", ("h800",), 8),
    "a type with a count sets the count": ("accelerators: h800:8", ("h800",), 8),
    "a type with a count, in any case": ("accelerators: H800:16", ("h800",), 16),
    "a list of types with the same count": ("accelerators: [h800:8, a800:8]", ("h800", "a800"), 8),
    "a count beside them that agrees": ("accelerators: [h800:8]\n  count: 8", ("h800",), 8),
}


@pytest.mark.parametrize(("written", "types", "count"), ACCELERATOR_FORMS.values(), ids=ACCELERATOR_FORMS.keys())
def test_accelerator_short_forms(catalog: Catalog, written: str, types: tuple[str, ...], count: int) -> None:
    spec = parsed(edit("accelerators: [h800]\n  count: 8", written), catalog)
    assert spec.resources.accelerators == types
    assert spec.resources.count == count


ACCELERATOR_ERRORS = {
    "types that ask for different counts": (
        "accelerators: [h800:8, a800:16]",
        "job.yaml:7: field 'resources.accelerators[1]': 'a800:16' asks for 16 accelerators but 'h800:8' for 8; "
        "a job has one count for all its types. To fix: give them the same count, or list the types alone "
        "with count: {min: 8, max: 16}",
    ),
    "a type without a count beside one with": (
        "accelerators: [h800:8, a800]",
        "job.yaml:7: field 'resources.accelerators[1]': 'a800' has no count but 'h800:8' has. "
        "To fix: write a800:8, or list the types alone and set count",
    ),
    "a count beside them that disagrees": (
        "accelerators: h800:8\n  count: 16",
        "job.yaml:8: field 'resources.count': 16 disagrees with 'h800:8' in resources.accelerators. "
        "To fix: keep one of them: count: 8, or the types without ':8'",
    ),
    "a count that is not a number": (
        "accelerators: h800:eight",
        "job.yaml:7: field 'resources.accelerators[0]': 'h800:eight': the count after ':' must be a whole "
        "number from 1, like h800:8",
    ),
    "a count of zero": (
        "accelerators: [h800:0]",
        "job.yaml:7: field 'resources.accelerators[0]': 'h800:0': the count after ':' must be a whole "
        "number from 1, like h800:8",
    ),
}


@pytest.mark.parametrize(("written", "expected"), ACCELERATOR_ERRORS.values(), ids=ACCELERATOR_ERRORS.keys())
def test_accelerator_short_form_errors(catalog: Catalog, written: str, expected: str) -> None:
    assert error_of(edit("accelerators: [h800]\n  count: 8", written), catalog) == expected


# -- quantities with units -----------------------------------------------------------------------

BATCH = """\
apiVersion: suanli/v1
kind: BatchInference
name: batch
model: qwen2.5-7b
requests: 1000
input_tokens: 512
output_tokens: 256
"""
SERVICE = """\
apiVersion: suanli/v1
kind: InferenceService
name: svc
model: qwen2.5-7b
rate_rps: 10
input_tokens: 512
output_tokens: 256
latency_slo_ms: 2000
duration_h: 24
"""

QUANTITIES: dict[str, tuple[str, str, str, Callable[[JobSpec], Any], float | int]] = {
    "tokens in millions are billions / 1000": (TRAINING, "tokens_b: 10", "tokens_b: 150M", lambda s: s.tokens_b, 0.15),
    "tokens in trillions": (TRAINING, "tokens_b: 10", "tokens_b: 14.8T", lambda s: s.tokens_b, 14_800.0),
    "tokens in billions, lower case": (TRAINING, "tokens_b: 10", "tokens_b: 2b", lambda s: s.tokens_b, 2.0),
    "a bare number string is the field's unit": (
        TRAINING,
        "tokens_b: 10",
        "tokens_b: '150'",
        lambda s: s.tokens_b,
        150.0,
    ),
    "an exponent YAML leaves as a string": (BATCH, "requests: 1000", "requests: 1e6", lambda s: s.requests, 10**6),
    "requests in millions": (BATCH, "requests: 1000", "requests: 1.5M", lambda s: s.requests, 1_500_000),
    "input tokens in thousands": (BATCH, "input_tokens: 512", "input_tokens: 4K", lambda s: s.input_tokens, 4000),
    "parameters in billions": (
        TRAINING,
        "model: qwen2.5-7b",
        "model: {params_b: 7B}",
        lambda s: s.model.params_b,
        7.0,
    ),
    "a duration in hours": (SERVICE, "duration_h: 24", "duration_h: 24h", lambda s: s.duration_h, 24.0),
    "a duration in minutes": (SERVICE, "duration_h: 24", "duration_h: 90m", lambda s: s.duration_h, 1.5),
    "a duration in days": (SERVICE, "duration_h: 24", "duration_h: 2d", lambda s: s.duration_h, 48.0),
    "a latency in seconds": (SERVICE, "latency_slo_ms: 2000", "latency_slo_ms: 2s", lambda s: s.latency_slo_ms, 2000.0),
    "a latency in milliseconds": (
        SERVICE,
        "latency_slo_ms: 2000",
        "latency_slo_ms: 500ms",
        lambda s: s.latency_slo_ms,
        500.0,
    ),
    "a data size in TB": (
        TRAINING + "constraints: {data: {site: qingyang, size_gb: 2TB}}\n",
        "",
        "",
        lambda s: s.constraints.data.size_gb,
        2000.0,
    ),
    "a data size in GB with a space": (
        TRAINING + "constraints: {data: {site: qingyang, size_gb: 500 GB}}\n",
        "",
        "",
        lambda s: s.constraints.data.size_gb,
        500.0,
    ),
    "a data size in TiB": (
        TRAINING + "constraints: {data: {site: qingyang, size_gb: 1TiB}}\n",
        "",
        "",
        lambda s: s.constraints.data.size_gb,
        1099.511627776,
    ),
}


@pytest.mark.parametrize(("text", "old", "new", "read", "expected"), QUANTITIES.values(), ids=QUANTITIES.keys())
def test_a_quantity_with_a_unit_is_read_in_the_fields_unit(
    catalog: Catalog, text: str, old: str, new: str, read: Callable[[JobSpec], Any], expected: float | int
) -> None:
    value = read(parsed(edit(old, new, text) if old else text, catalog))
    assert value == expected
    assert type(value) is type(expected), "whole-number fields are ints, the others floats"


UNIT_ERRORS = {
    "a token count with an unknown suffix": (
        TRAINING,
        "tokens_b: 10",
        "tokens_b: 150Q",
        "job.yaml:5: field 'tokens_b': '150Q' is not understood: use a number (billions of tokens), or a count "
        "with a suffix K, M, B or T (1e3, 1e6, 1e9, 1e12), like 150M (= 0.15) or 2T (= 2000)",
    ),
    "a duration with an unknown unit": (
        SERVICE,
        "duration_h: 24",
        "duration_h: 2 days",
        "job.yaml:9: field 'duration_h': '2 days' is not understood: use a number (hours), or a duration with "
        "a unit ms, s, m, h, d or w, like 24h, 90m (= 1.5) or 2d (= 48)",
    ),
    "a data size in bits": (
        TRAINING + "constraints:\n  data: {site: qingyang, size_gb: 2Tbit}\n",
        "",
        "",
        "job.yaml:10: field 'constraints.data.size_gb': '2Tbit' is not understood: use a number (GB), or a size "
        "with a unit KB, MB, GB, TB, PB (powers of 1000) or KiB, MiB, GiB, TiB, PiB (powers of 1024), "
        "like 500GB or 2TB (= 2000)",
    ),
    "a fraction of a request": (
        BATCH,
        "requests: 1000",
        "requests: 1.2345K",
        "job.yaml:5: field 'requests': Input should be a valid integer, got a number with a fractional part",
    ),
    "a negative count": (
        TRAINING,
        "tokens_b: 10",
        "tokens_b: -5M",
        "job.yaml:5: field 'tokens_b': Input should be greater than 0",
    ),
}


@pytest.mark.parametrize(("text", "old", "new", "expected"), UNIT_ERRORS.values(), ids=UNIT_ERRORS.keys())
def test_a_bad_unit_names_the_field_and_the_accepted_forms(
    catalog: Catalog, text: str, old: str, new: str, expected: str
) -> None:
    assert error_of(edit(old, new, text) if old else text, catalog) == expected


# -- run.command as a shell string -------------------------------------------------------------


def test_a_command_string_runs_with_sh_c(catalog: Catalog) -> None:
    spec = parsed(TRAINING + 'run:\n  command: "python train.py --epochs 3 > log.txt"\n', catalog)
    assert spec.run is not None
    assert spec.run.command == ("sh", "-c", "python train.py --epochs 3 > log.txt")


def test_an_argv_list_is_kept_as_it_is(catalog: Catalog) -> None:
    spec = parsed(TRAINING + "run:\n  command: [python, train.py, --epochs, '3']\n", catalog)
    assert spec.run is not None
    assert spec.run.command == ("python", "train.py", "--epochs", "3")


def test_the_agent_reads_a_stored_command_string_the_same_way() -> None:
    """Agents validate the stored ``run:`` section alone (``RunSpec``), not the whole spec."""
    assert RunSpec.model_validate({"command": "echo hi"}).command == ("sh", "-c", "echo hi")


def test_an_empty_command_string_is_refused(catalog: Catalog) -> None:
    assert error_of(TRAINING + "run:\n  command: '  '\n", catalog) == (
        "job.yaml:10: field 'run.command': the command is empty: write a shell command line, "
        "or an argv list like [python, train.py]"
    )


# -- the API reads the same forms --------------------------------------------------------------


def test_a_json_spec_takes_the_same_short_forms(catalog: Catalog) -> None:
    data = {
        "apiVersion": "suanli/v1",
        "kind": "Training",
        "name": "api",
        "model": "Qwen2.5-7B",
        "tokens_b": "150M",
        "resources": {"accelerators": "H800:8"},
        "run": {"command": "python train.py"},
    }
    spec = validate_spec(data, "spec", catalog)
    assert (spec.model, spec.tokens_b, spec.resources.accelerators, spec.resources.count) == (
        "qwen2.5-7b",
        0.15,
        ("h800",),
        8,
    )
    assert data["resources"] == {"accelerators": "H800:8"}, "the caller's data is not changed"


# -- the command line -------------------------------------------------------------------------

AS_PEOPLE_WRITE_IT = """\
apiVersion: suanli/v1
kind: FineTuning
name: as-written
model: Qwen2.5-7B
tokens_b: 150M
resources:
  accelerators: [H100:8, h800:8]
constraints:
  regions: [Gansu, Ningxia]
  data: {site: Qingyang, size_gb: 500GB}
"""


def test_plan_reads_a_spec_as_people_write_it(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(AS_PEOPLE_WRITE_IT, encoding="utf-8")
    plan = as_json(invoke("plan", str(path), "--now", NOW, "--json"))
    assert plan["options"], plan["rejected"]
    assert {option["accelerator"] for option in plan["options"]} <= {"h100", "h800"}
    assert {option["count"] for option in plan["options"]} == {8}
    assert {row["accelerator"] for row in plan["rejected"]} - {None} <= {"h100", "h800"}


def test_validate_suggests_the_key_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(textwrap.dedent(edit("tokens_b: 10", "token_b: 10")), encoding="utf-8")
    error = assert_one_line_error(invoke("validate", str(path)))
    assert error == f"error: {path}:5: field 'token_b': unknown field; did you mean 'tokens_b'?"


def test_estimate_matches_command_line_names_like_spec_names(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(AS_PEOPLE_WRITE_IT, encoding="utf-8")
    found = as_json(
        invoke("estimate", str(path), "--accelerator", "H800", "--count", "8", "--site", "Qingyang", "--json")
    )
    assert (found["accelerator"], found["site"]) == ("h800", "qingyang")


def test_an_unknown_command_line_name_gets_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(AS_PEOPLE_WRITE_IT, encoding="utf-8")
    error = assert_one_line_error(invoke("estimate", str(path), "--accelerator", "h80", "--count", "8"))
    assert error.startswith("error: unknown accelerator 'h80'; did you mean 'h800'? valid: a100-40g, ")
