"""Job spec parsing: every error names the file, the line of the offending key and its field path."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.catalog import Catalog
from suanli.errors import InputError, SpecError
from suanli.workload import JOB_KINDS, InlineModel, JobSpec, load_spec, parse_spec
from tests.conftest import EXAMPLES, spec_dict, spec_yaml

LABEL = "job.yaml"


def line_of(text: str, *needles: str) -> int:
    """1-based line of the last needle, each searched for on or after the line of the one before.

    ``line_of(text, "resources:", "cpus:")`` is the line of the ``cpus`` key under ``resources``.
    """
    lines = text.splitlines()
    start = 0
    for needle in needles:
        for index in range(start, len(lines)):
            if needle in lines[index]:
                start = index
                break
        else:
            raise AssertionError(f"{needle!r} not found in the spec text after line {start + 1}")
    return start + 1


def parse_error(text: str, catalog: Catalog | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(text, LABEL, catalog)
    return info.value


def assert_located(error: SpecError, text: str, field: str, *needles: str) -> None:
    """The error names the file, the expected field and the line of the key it is about."""
    expected_line = line_of(text, *needles)
    assert error.path == LABEL
    assert error.field == field, str(error)
    assert error.line == expected_line, str(error)
    assert str(error).startswith(f"{LABEL}:{expected_line}: field '{field}': ")


# -- the examples ----------------------------------------------------------------------


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_examples_to_check() -> None:
    assert len(EXAMPLE_FILES) >= 5


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_parses_against_the_catalogue(path: Path, catalog: Catalog) -> None:
    spec = load_spec(path, catalog)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(spec, JobSpec)
    assert spec.kind == raw["kind"]
    assert spec.name == raw["name"]
    assert spec.kind in JOB_KINDS


def test_the_base_spec_of_these_tests_is_valid(catalog: Catalog) -> None:
    spec = parse_spec(spec_yaml(), LABEL, catalog)
    assert spec.kind == "Training"
    assert spec.tokens_b == 10
    assert spec.resources.count_range == (8, 64)


# -- YAML-level problems -----------------------------------------------------------------


def test_a_yaml_syntax_error_names_the_line_it_is_on() -> None:
    text = "apiVersion: suanli/v1\nkind: Training\nname: a: b\nmodel: qwen2.5-7b\n"
    error = parse_error(text)
    assert error.path == LABEL
    assert error.line == 3
    assert str(error).startswith(f"{LABEL}:3: ")
    assert "invalid YAML" in str(error)


def test_a_duplicate_key_is_refused_at_its_second_occurrence() -> None:
    text = spec_yaml() + "tokens_b: 20\n"
    error = parse_error(text)
    second = len(text.splitlines())
    assert error.line == second
    assert "duplicate key 'tokens_b'" in str(error)
    assert f"line {line_of(text, 'tokens_b:')}" in str(error), "the message points back at the first occurrence"


def test_a_duplicate_nested_key_is_refused_too() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: suanli/v1
        kind: Training
        name: dup
        model: qwen2.5-7b
        tokens_b: 1
        resources:
          count: 8
          count: 16
        """
    )
    error = parse_error(text)
    assert error.line == 8
    assert "duplicate key 'count'" in str(error)


@pytest.mark.parametrize(
    "text",
    ["- apiVersion: suanli/v1\n- kind: Training\n", "just a sentence\n", "42\n", ""],
    ids=["a-list", "a-string", "a-number", "an-empty-file"],
)
def test_a_document_that_is_not_a_mapping_is_refused(text: str) -> None:
    error = parse_error(text)
    assert str(error).startswith(LABEL)
    assert "mapping" in error.reason


# -- schema problems, each at the line of its key ---------------------------------------


def _unknown_nested() -> str:
    return spec_yaml(resources={"accelerators": ["any"], "cpus": 4, "count": 8})


SCHEMA_CASES: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]] = [
    # id, text, field, needles locating the key, fragments the reason must contain
    ("unknown-top-level-field", spec_yaml(colour="blue"), "colour", ("colour:",), ("unknown field",)),
    ("unknown-nested-field", _unknown_nested(), "resources.cpus", ("resources:", "cpus:"), ("unknown field",)),
    ("tokens-as-a-word", spec_yaml(tokens_b="lots"), "tokens_b", ("tokens_b:",), ("number",)),
    ("negative-tokens", spec_yaml(tokens_b=-1), "tokens_b", ("tokens_b:",), ("greater than 0",)),
    ("zero-tokens", spec_yaml(tokens_b=0), "tokens_b", ("tokens_b:",), ("greater than 0",)),
    ("absurd-tokens", spec_yaml(tokens_b=1e12), "tokens_b", ("tokens_b:",), ("less than or equal",)),
    ("zero-count", spec_yaml(resources={"count": 0}), "resources.count", ("resources:", "count:"), ("count",)),
    (
        "absurd-count",
        spec_yaml(resources={"count": 10_000_000}),
        "resources.count",
        ("resources:", "count:"),
        ("count",),
    ),
    ("wrong-api-version", spec_yaml(apiVersion="suanli/v2"), "apiVersion", ("apiVersion:",), ("suanli/v1",)),
    ("bad-name", spec_yaml(name="has spaces!"), "name", ("name:",), ("pattern",)),
    ("bad-precision", spec_yaml(precision="fp4"), "precision", ("precision:",), ("bf16", "fp8")),
    ("bad-objective", spec_yaml(objective="speed"), "objective", ("objective:",), ("time", "cost", "carbon")),
    (
        "negative-budget",
        spec_yaml(constraints={"max_cost_usd": -5}),
        "constraints.max_cost_usd",
        ("constraints:", "max_cost_usd:"),
        ("greater than or equal to 0",),
    ),
    (
        "resources-as-a-list",
        spec_yaml(resources=[8]),
        "resources",
        ("resources:",),
        ("dictionary",),
    ),
    (
        "unparseable-deadline",
        spec_yaml(constraints={"deadline": "next tuesday"}),
        "constraints.deadline",
        ("constraints:", "deadline:"),
        ("ISO 8601", "+7d"),
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "needles", "fragments"),
    [case[1:] for case in SCHEMA_CASES],
    ids=[case[0] for case in SCHEMA_CASES],
)
def test_a_schema_error_names_file_line_and_field(
    text: str, field: str, needles: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    error = parse_error(text)
    assert_located(error, text, field, *needles)
    for fragment in fragments:
        assert fragment in error.reason


def test_a_wrong_kind_lists_the_valid_kinds() -> None:
    text = spec_yaml(kind="Pretraining")
    error = parse_error(text)
    assert_located(error, text, "kind", "kind:")
    for kind in JOB_KINDS:
        assert kind in error.reason


def test_a_missing_api_version_is_named() -> None:
    error = parse_error(spec_yaml(apiVersion=None))
    assert error.field == "apiVersion"
    assert "missing" in error.reason


@pytest.mark.parametrize(
    ("count", "bad_bound"),
    [({"min": 64, "max": 8}, "min"), ({"min": 0, "max": 8}, "min"), ({"min": 8, "max": 10_000_000}, "max")],
    ids=["min-above-max", "min-zero", "max-absurd"],
)
def test_a_bad_count_range_is_reported_against_its_bounds(count: dict[str, int], bad_bound: str) -> None:
    text = spec_yaml(resources={"accelerators": ["any"], "count": count})
    error = parse_error(text)
    assert error.field is not None
    assert error.field in {"resources.count", f"resources.count.{bad_bound}"}, str(error)
    needles = ("resources:", "count:") if error.field == "resources.count" else ("count:", f"{bad_bound}:")
    assert_located(error, text, error.field, *needles)
    # the bound is named either by the field path or by the sentence
    assert error.field.endswith(bad_bound) or bad_bound in error.reason, str(error)


def test_a_count_range_with_min_above_max_says_so() -> None:
    error = parse_error(spec_yaml(resources={"count": {"min": 64, "max": 8}}))
    assert "64" in error.reason
    assert "8" in error.reason
    assert "greater than" in error.reason, str(error)


# -- kind-specific fields --------------------------------------------------------------------


def test_batch_inference_without_requests_names_the_missing_field() -> None:
    text = spec_yaml(kind="BatchInference", tokens_b=None, input_tokens=1000, output_tokens=200)
    error = parse_error(text)
    assert "requests" in error.reason
    assert "input_tokens" not in error.reason, "only what is missing is named"
    assert error.line == line_of(text, "kind:")


def test_an_inference_service_names_every_missing_field() -> None:
    error = parse_error(spec_yaml(kind="InferenceService", tokens_b=None, rate_rps=5))
    for name in ("input_tokens", "output_tokens", "latency_slo_ms", "duration_h"):
        assert name in error.reason
    assert "rate_rps" not in error.reason


@pytest.mark.parametrize(
    ("field", "value", "owner"),
    [("rate_rps", 5, "InferenceService"), ("requests", 100, "BatchInference"), ("method", "lora", "FineTuning")],
    ids=["rate-on-training", "requests-on-training", "method-on-training"],
)
def test_a_field_of_another_kind_is_refused_at_its_line(field: str, value: Any, owner: str) -> None:
    text = spec_yaml(**{field: value})
    error = parse_error(text)
    assert_located(error, text, field, f"{field}:")
    assert "Training" in error.reason
    assert owner in str(error)


def test_training_without_tokens_or_profile_names_tokens_b() -> None:
    error = parse_error(spec_yaml(tokens_b=None))
    assert "tokens_b" in error.reason


def test_training_with_a_profile_needs_no_tokens() -> None:
    spec = parse_spec(spec_yaml(tokens_b=None, profile={"job_class": "ResNet-50 (batch size 64)", "steps": 1000}))
    assert spec.profile is not None
    assert spec.tokens_b is None


def test_a_spec_without_a_model_or_profile_is_refused() -> None:
    text = spec_yaml(model=None)
    error = parse_error(text)
    assert error.field == "model"
    assert "missing" in error.reason


# -- names checked against the catalogue -------------------------------------------------


NAMED = textwrap.dedent(
    """\
    apiVersion: suanli/v1
    kind: Training
    name: names
    model: {model}
    tokens_b: 1
    resources:
      accelerators:
        - any
        - {accelerator}
      count: 8
    constraints:
      regions:
        - {region}
      residency: {residency}
      data:
        size_gb: 10
        site: {site}
    """
)
GOOD_NAMES = {
    "model": "qwen2.5-7b",
    "accelerator": "h800",
    "region": "gansu",
    "residency": "cn",
    "site": "zhangjiakou",
}


def named(**bad: str) -> str:
    return NAMED.format(**{**GOOD_NAMES, **bad})


def test_the_names_template_is_valid(catalog: Catalog) -> None:
    spec = parse_spec(named(), LABEL, catalog)
    assert spec.resources.accelerators == ("any", "h800")
    assert spec.constraints.data is not None
    assert spec.constraints.data.site == "zhangjiakou"


def _valid_names(catalog: Catalog, what: str) -> list[str]:
    if what == "model":
        return sorted(catalog.models)
    if what == "accelerator":
        return sorted(catalog.accelerators)
    if what == "region":
        return sorted(catalog.sites)  # every site id is a valid region (and so are hubs, provinces, zones)
    if what == "residency":
        return sorted({site.zone for site in catalog.sites.values()})
    return sorted(catalog.sites)


@pytest.mark.parametrize(
    ("what", "field", "needles"),
    [
        ("model", "model", ("model:",)),
        ("accelerator", "resources.accelerators[1]", ("accelerators:", "- nowhere-")),
        ("region", "constraints.regions[0]", ("regions:", "- nowhere-")),
        ("residency", "constraints.residency", ("residency:",)),
        ("site", "constraints.data.site", ("data:", "site:")),
    ],
    ids=["unknown-model", "unknown-accelerator", "unknown-region", "unknown-residency", "unknown-data-site"],
)
def test_an_unknown_name_lists_the_valid_ones(
    catalog: Catalog, what: str, field: str, needles: tuple[str, ...]
) -> None:
    bad = f"nowhere-{what}"
    text = named(**{what: bad})
    error = parse_error(text, catalog)
    assert_located(error, text, field, *needles)
    assert bad in error.reason
    for name in _valid_names(catalog, what):
        assert name in str(error), f"{name} missing from: {error}"


def test_names_are_not_checked_without_a_catalogue() -> None:
    spec = parse_spec(named(model="nowhere-model", accelerator="nowhere-accelerator"))
    assert spec.model == "nowhere-model"


@pytest.mark.parametrize("region", ["qingyang", "gansu", "Gansu", "cn", "inner-mongolia"])
def test_a_region_may_name_a_site_hub_province_or_zone(catalog: Catalog, region: str) -> None:
    spec = parse_spec(named(region=region), LABEL, catalog)
    assert spec.constraints.regions == (region.lower(),), "read into the catalogue's spelling"


# -- time windows and inline models -------------------------------------------------------


@pytest.mark.parametrize(
    "deadline",
    ["2025-01-01T00:00:00Z", "2024-12-31T00:00:00Z"],
    ids=["deadline-equal-to-start", "deadline-before-start"],
)
def test_a_deadline_not_after_earliest_start_is_refused(deadline: str) -> None:
    text = spec_yaml(constraints={"earliest_start": "2025-01-01T00:00:00Z", "deadline": deadline})
    error = parse_error(text)
    assert error.field in {"constraints", "constraints.deadline"}, str(error)
    key = "constraints:" if error.field == "constraints" else "deadline:"
    assert_located(error, text, error.field, key)
    assert "deadline" in error.reason
    assert "earliest_start" in error.reason


def test_an_inline_model_needs_only_its_size(catalog: Catalog) -> None:
    spec = parse_spec(spec_yaml(model={"params_b": 7}), LABEL, catalog)
    assert isinstance(spec.model, InlineModel)
    assert spec.model.params_b == 7
    assert spec.model.active_params_b is None


def test_an_inline_model_with_more_active_than_total_parameters_is_refused() -> None:
    text = spec_yaml(model={"params_b": 7, "active_params_b": 8})
    error = parse_error(text)
    assert "active_params_b" in error.reason, str(error)
    assert error.field in {"model", "model.active_params_b"}, str(error)
    assert error.line == line_of(text, "model:") or error.line == line_of(text, "active_params_b:")


@pytest.mark.parametrize(
    ("model", "field"),
    [({"params_b": 0}, "model.params_b"), ({"params_b": 7, "colour": "red"}, "model.colour")],
    ids=["zero-params", "unknown-inline-field"],
)
def test_an_inline_model_error_names_the_inline_field(model: dict[str, Any], field: str) -> None:
    text = spec_yaml(model=model)
    error = parse_error(text)
    assert error.field == field, str(error)
    assert error.line == line_of(text, "model:", field.split(".")[1] + ":")


# -- files ----------------------------------------------------------------------------------


def test_an_error_in_a_file_starts_with_the_file_path(write_spec: Callable[[str], Path]) -> None:
    text = spec_yaml(resources={"accelerators": ["any"], "cpus": 4})
    path = write_spec(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    line = line_of(text, "cpus:")
    assert str(info.value).startswith(f"{path}:{line}: field 'resources.cpus': ")


def test_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(missing)
    assert isinstance(info.value, InputError)
    assert info.value.exit_code == 2
    assert str(missing) in str(info.value)
    assert "not found" in str(info.value)


def test_a_file_that_is_not_utf8_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes((spec_yaml() + "# caf\xe9\n").encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(str(path))


def test_parsed_specs_are_immutable() -> None:
    spec = parse_spec(spec_yaml())
    with pytest.raises(ValueError, match="frozen"):
        spec.tokens_b = 5  # type: ignore[misc]
    assert spec.copy_with(tokens_b=5).tokens_b == 5
    assert spec.tokens_b == 10


# -- arbitrary mutations never escape as anything but SpecError -----------------------------

SPEC_FIELDS = [*JobSpec.model_fields, "apiVersion", "count", "accelerators", "min", "max", "params_b", "deadline"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["any", "h800", "qingyang", "cn", "Training", "2025-01-01T00:00:00Z", "suanli/v1"])
    | st.dates()
    | st.datetimes()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
keys = st.sampled_from(SPEC_FIELDS) | st.text(min_size=1, max_size=10) | st.integers(-5, 5)


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every mapping and list in ``node`` (the root included)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        found.append(path)
        for key, value in node.items():
            found += _containers(value, (*path, key))
    elif isinstance(node, list):
        found.append(path)
        for index, value in enumerate(node):
            found += _containers(value, (*path, index))
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(
        st.sampled_from(
            [
                "training",
                "finetune",
                "batch",
                "service",
            ]
        )
    )
    spec = {
        "training": spec_dict(constraints={"earliest_start": "2025-01-01T00:00:00Z", "regions": ["gansu"]}),
        "finetune": spec_dict(kind="FineTuning", method="lora", model={"params_b": 7, "active_params_b": 2}),
        "batch": spec_dict(kind="BatchInference", tokens_b=None, requests=100, input_tokens=10, output_tokens=5),
        "service": spec_dict(
            kind="InferenceService",
            tokens_b=None,
            rate_rps=2,
            input_tokens=10,
            output_tokens=5,
            latency_slo_ms=1000,
            duration_h=24,
            constraints={"data": {"site": "qingyang", "size_gb": 10}},
        ),
    }[base]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_containers(spec)))
        container = _at(spec, path)
        operation = draw(st.sampled_from(["add", "replace", "remove"]))
        if isinstance(container, dict):
            if operation == "add" or not container:
                container[draw(keys)] = draw(values)
            elif operation == "replace":
                container[draw(st.sampled_from(sorted(container, key=str)))] = draw(values)
            else:
                del container[draw(st.sampled_from(sorted(container, key=str)))]
        elif operation == "add" or not container:
            container.append(draw(values))
        elif operation == "replace":
            container[draw(st.integers(0, len(container) - 1))] = draw(values)
        else:
            del container[draw(st.integers(0, len(container) - 1))]
    return spec


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=mutated_specs())
def test_a_mutated_spec_parses_or_raises_a_located_spec_error(catalog: Catalog, spec: dict[str, Any]) -> None:
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    try:
        parsed = parse_spec(text, LABEL, catalog)
    except SpecError as error:
        message = str(error)
        assert message.startswith(f"{LABEL}"), message
        assert re.match(rf"{re.escape(LABEL)}(:\d+)?: ", message), message
        if error.line is not None:
            assert 1 <= error.line <= max(1, len(text.splitlines()))
        if error.field is not None:
            assert f"field '{error.field}': " in message
        assert "\n" not in error.reason, "one line, so the CLI prints one line"
    else:
        assert isinstance(parsed, JobSpec)
        assert parsed.kind in JOB_KINDS


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tokens_b": True}, "tokens_b"),
        ({"resources": {"accelerators": ["any"], "count": True}}, "resources.count"),
        ({"objective": False}, "objective"),
    ],
    ids=["tokens-true", "count-true", "objective-false"],
)
def test_a_boolean_where_a_number_or_name_is_meant_is_refused(overrides: dict[str, object], field: str) -> None:
    error = parse_error(spec_yaml(**overrides))
    assert error.field == field
    assert "boolean" in error.reason


def test_public_is_a_flag_and_takes_a_boolean() -> None:
    text = spec_yaml(
        kind="InferenceService",
        tokens_b=None,
        rate_rps=1,
        input_tokens=100,
        output_tokens=100,
        latency_slo_ms=60000,
        duration_h=1,
        public=True,
    )
    assert parse_spec(text, "job.yaml").public is True
