"""Shared Hypothesis strategies: job spec dicts of every kind, constraints, points.

Specs are built as plain dicts (what a YAML file would hold) and validated with
``JobSpec.model_validate``; names are drawn from the packaged catalogue so every spec
also passes ``parse_spec(..., catalog)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from suanli.catalog import load_catalog
from suanli.workload import JobSpec
from tests.conftest import T0_S

CATALOG = load_catalog()
"""The packaged catalogue, loaded once for drawing names (tests use the ``catalog`` fixture)."""

ACCELERATOR_IDS = tuple(sorted(CATALOG.accelerators))
SITE_IDS = tuple(sorted(CATALOG.sites))
REGION_NAMES = tuple(sorted(CATALOG.region_names()))
ZONES = tuple(sorted({site.zone for site in CATALOG.sites.values()} | {"intl"}))
"""Residency/tenant zones: those of the sites plus one that no site is in."""

SMALL_MODELS = ("deepseek-r1-distill-qwen-1.5b", "qwen2.5-7b", "llama-3.1-8b", "glm-4-9b", "qwen2.5-14b")
LARGE_MODELS = ("qwen2.5-72b", "qwen3-235b-a22b", "deepseek-v3")
TRAIN_PRECISIONS = ("bf16", "fp16", "fp8")
ALL_PRECISIONS = ("fp32", "bf16", "fp16", "fp8", "int8")
POWERS_OF_TWO = tuple(2**k for k in range(13))  # 1 .. 4096


def utc(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, tz=UTC)


def inline_models(max_params_b: float = 20.0) -> st.SearchStrategy[dict[str, Any]]:
    """Inline ``{params_b: ...}`` models, sometimes MoE (active < total)."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        params = round(draw(st.floats(0.1, max_params_b)), 3)
        model: dict[str, Any] = {"params_b": params}
        if draw(st.booleans()):
            model["active_params_b"] = max(0.001, min(params, round(params * draw(st.floats(0.05, 1.0)), 3)))
        if draw(st.booleans()):
            model["context"] = draw(st.sampled_from([2048, 4096, 32768]))
        return model

    return build()


def models(large: bool = True) -> st.SearchStrategy[str | dict[str, Any]]:
    names = SMALL_MODELS + (LARGE_MODELS if large else ())
    return st.one_of(st.sampled_from(names), inline_models())


def counts() -> st.SearchStrategy[int | dict[str, int]]:
    """A fixed count or a ``{min, max}`` range, mostly powers of two, sometimes odd."""
    one = st.one_of(st.sampled_from(POWERS_OF_TWO), st.integers(1, 5000))

    @st.composite
    def ranged(draw: st.DrawFn) -> dict[str, int]:
        a, b = draw(one), draw(one)
        return {"min": min(a, b), "max": max(a, b)}

    return st.one_of(one, ranged())


def accelerator_lists() -> st.SearchStrategy[list[str]]:
    named = st.lists(st.sampled_from(ACCELERATOR_IDS), min_size=1, max_size=4)
    return st.one_of(st.just(["any"]), named, named.map(lambda names: [*names, "any"]))


@st.composite
def constraints(draw: st.DrawFn) -> dict[str, Any]:
    """Any subset of regions, residency, tenant zone, window, budget, carbon cap, data."""
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["regions"] = draw(st.lists(st.sampled_from(REGION_NAMES), min_size=1, max_size=3, unique=True))
    if draw(st.integers(0, 3)) == 0:
        out["residency"] = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        out["tenant_zone"] = draw(st.sampled_from(ZONES))
    earliest_h = 0.0
    if draw(st.integers(0, 3)) == 0:
        earliest_h = draw(st.floats(0, 72))
        if draw(st.booleans()):  # relative to the plan's now (T0 in these tests), in whole minutes
            earliest_h = round(earliest_h * 60) / 60
            out["earliest_start"] = f"+{round(earliest_h * 60)}m"
        else:
            out["earliest_start"] = utc(T0_S + earliest_h * 3600)
    if draw(st.booleans()):
        # without an earliest start the deadline may already have passed at T0
        lead_h = draw(st.floats(0.5 if "earliest_start" in out else -24, 24 * 90))
        deadline_h = earliest_h + lead_h
        if deadline_h >= 0 and draw(st.booleans()):
            out["deadline"] = f"+{max(round(deadline_h * 60), round(earliest_h * 60) + 1)}m"
        else:
            out["deadline"] = utc(T0_S + deadline_h * 3600)
    if draw(st.booleans()):
        out["max_cost_usd"] = draw(st.floats(0, 1e7))
    if draw(st.booleans()):
        out["max_carbon_kg"] = draw(st.floats(0, 1e7))
    if draw(st.integers(0, 3)) == 0:
        out["data"] = {"site": draw(st.sampled_from(SITE_IDS)), "size_gb": draw(st.floats(0, 1e6))}
    return out


@st.composite
def spec_dicts(draw: st.DrawFn, kinds: tuple[str, ...] | None = None, large_models: bool = True) -> dict[str, Any]:
    """A valid job spec dict of a random kind with random resources and constraints."""
    kind = draw(st.sampled_from(kinds or ("Training", "FineTuning", "BatchInference", "InferenceService")))
    spec: dict[str, Any] = {
        "apiVersion": "suanli/v1",
        "kind": kind,
        "name": "prop-job",
        "model": draw(models(large=large_models)),
        "resources": {"accelerators": draw(accelerator_lists()), "count": draw(counts())},
        "objective": draw(st.sampled_from(("time", "cost", "carbon", "balanced"))),
    }
    if kind in ("Training", "FineTuning"):
        spec["precision"] = draw(st.sampled_from(TRAIN_PRECISIONS))
        spec["tokens_b"] = draw(st.floats(0.001, 2000))
        if kind == "FineTuning":
            spec["method"] = draw(st.sampled_from(("full", "lora")))
    else:
        spec["precision"] = draw(st.sampled_from(("bf16", "fp8", "int8")))
        spec["input_tokens"] = draw(st.integers(1, 8192))
        spec["output_tokens"] = draw(st.integers(1, 4096))
        if kind == "BatchInference":
            spec["requests"] = draw(st.integers(1, 10**7))
        else:
            spec["rate_rps"] = draw(st.floats(0.01, 200))
            spec["latency_slo_ms"] = draw(st.floats(50, 600_000))
            spec["duration_h"] = draw(st.floats(0.5, 24 * 30))
    spec["constraints"] = draw(constraints())
    return spec


def job_specs(**kwargs: Any) -> st.SearchStrategy[JobSpec]:
    return spec_dicts(**kwargs).map(JobSpec.model_validate)


def objective_point() -> st.SearchStrategy[tuple[float, float, float]]:
    """A (finish, cost, carbon) triple, mostly on a coarse grid so that ties are common."""
    coarse = st.integers(0, 4).map(float)
    fine = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
    value = st.one_of(coarse, coarse, fine)
    return st.tuples(value, value, value)


def objective_points(max_size: int = 40) -> st.SearchStrategy[list[tuple[float, float, float]]]:
    """Lists of :func:`objective_point`, with ties and duplicates."""
    return st.lists(objective_point(), max_size=max_size)
