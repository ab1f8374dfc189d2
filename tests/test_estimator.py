"""The estimator: FLOPs and durations by hand, monotonicity, inference, profiled jobs."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from suanli.catalog import Catalog, ThroughputTable, load_gavel
from suanli.model import Code, Infeasible, estimate, resolve_shape
from suanli.model.performance import performance
from suanli.placement import plan
from suanli.workload import JobSpec, parse_spec
from tests.conftest import T0_S, spec_dict, spec_yaml
from tests.strategies import CATALOG, SMALL_MODELS, inline_models

HOUR = 3600.0
SITE = "qingyang"
"""An ownership site: it can cost any accelerator type, stocked or not."""
TRAINING_ACCELERATORS = ("h800", "h20", "a800", "a100-80g", "l20", "ascend-910b", "ascend-910c", "mlu370-x8", "v100")
SERVING_ACCELERATORS = ("h800", "h20", "a800", "l20", "rtx4090", "ascend-910b")


def spec(**overrides: Any) -> JobSpec:
    return JobSpec.model_validate(spec_dict(**overrides))


def batch(**overrides: Any) -> JobSpec:
    base: dict[str, Any] = {
        "kind": "BatchInference",
        "tokens_b": None,
        "requests": 10_000,
        "input_tokens": 512,
        "output_tokens": 256,
    }
    return spec(**{**base, **overrides})


def service(**overrides: Any) -> JobSpec:
    base: dict[str, Any] = {
        "kind": "InferenceService",
        "tokens_b": None,
        "rate_rps": 5,
        "input_tokens": 512,
        "output_tokens": 256,
        "latency_slo_ms": 60_000,
        "duration_h": 24,
    }
    return spec(**{**base, **overrides})


def duration(job: JobSpec, accelerator: str, count: int) -> float | None:
    """Hours on ``count`` x ``accelerator``, or None when infeasible."""
    try:
        return performance(job, resolve_shape(job, CATALOG), CATALOG.accelerator(accelerator), count).duration_h
    except Infeasible:
        return None


def line_value(section: tuple, name: str) -> Any:
    return next(ln.value for ln in section if ln.name == name)


# -- FLOPs and durations by hand ------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "active_params", "kind", "method", "per_token"),
    [
        pytest.param("qwen2.5-7b", 7.61e9, "Training", "full", 6, id="dense training is 6 x params x tokens"),
        pytest.param("deepseek-v3", 37e9, "Training", "full", 6, id="MoE training counts active params only"),
        pytest.param("qwen2.5-7b", 7.61e9, "FineTuning", "full", 6, id="full fine-tuning is training"),
        pytest.param("qwen2.5-7b", 7.61e9, "FineTuning", "lora", 4, id="LoRA skips weight gradients"),
        pytest.param({"params_b": 3, "active_params_b": 1}, 1e9, "Training", "full", 6, id="inline MoE model"),
    ],
)
def test_training_flops_follow_the_per_token_rule(
    catalog: Catalog, model: Any, active_params: float, kind: str, method: str, per_token: float
) -> None:
    extra = {"method": method} if kind == "FineTuning" else {}
    job = spec(model=model, kind=kind, tokens_b=20, precision="bf16", **extra)
    est = estimate(job, catalog, "h800", 2048, SITE, T0_S)
    assert est.flops == pytest.approx(per_token * active_params * 20e9, rel=1e-12)


def test_the_estimate_serialises_with_its_breakdown(catalog: Catalog) -> None:
    est = estimate(spec(), catalog, "h800", 8, SITE, T0_S)
    data = est.as_dict()
    assert data["start"] == "2025-01-01T00:00:00Z"
    assert data["breakdown"]["energy"]["energy_kwh"]["value"] == est.energy_kwh
    assert set(data["breakdown"]) == {"compute", "energy", "carbon", "cost"}
    json.dumps(data)


def test_a_training_estimates_derivation_is_written_when_first_read(catalog: Catalog) -> None:
    """A plan reads the duration and load of each type and count, never their derivation
    (suanli.model.performance.Performance.derivation): it is written on first read, from the
    figures the estimate found, and survives a pickle (a sweep's worker processes)."""
    import pickle

    job = spec(tokens_b=13)
    shape = resolve_shape(job, catalog)
    perf = performance(job, shape, catalog.accelerator("h800"), 64)
    assert "lines" not in vars(perf), "nothing has read the derivation yet"
    lines = {line.name: line.value for line in perf.lines}
    assert lines["duration_h"] == perf.duration_h
    assert lines["flops"] == perf.flops
    assert perf.lines is perf.lines, "written once"
    copy = pickle.loads(pickle.dumps(perf))
    assert (copy.duration_h, copy.lines) == (perf.duration_h, perf.lines)
    breakdown = estimate(job, catalog, "h800", 64, SITE, T0_S).as_dict()["breakdown"]
    assert breakdown["compute"]["mfu"]["value"] == lines["mfu"]


# -- monotonicity ----------------------------------------------------------------------

training_models = st.one_of(st.sampled_from(SMALL_MODELS), inline_models(max_params_b=5))


@settings(max_examples=80, deadline=None)
@given(
    model=training_models,
    accelerator=st.sampled_from(TRAINING_ACCELERATORS),
    count=st.sampled_from([1, 4, 8, 32, 256]),
    tokens=st.tuples(st.floats(0.001, 5000), st.floats(0.001, 5000)).map(sorted),
)
def test_more_tokens_never_take_less_time(model: Any, accelerator: str, count: int, tokens: list[float]) -> None:
    fewer, more = tokens
    short = duration(spec(model=model, tokens_b=fewer), accelerator, count)
    long = duration(spec(model=model, tokens_b=more), accelerator, count)
    assume(short is not None and long is not None)
    assert long >= short
    assert long == pytest.approx(short * more / fewer, rel=1e-9)  # the work is linear in tokens


# -- batch inference and services ------------------------------------------------------

serving_models = st.sampled_from(("deepseek-r1-distill-qwen-1.5b", "qwen2.5-7b", "llama-3.1-8b", "qwen2.5-14b"))


@settings(max_examples=80, deadline=None)
@given(
    model=serving_models,
    accelerator=st.sampled_from(SERVING_ACCELERATORS),
    count=st.sampled_from([1, 2, 8, 16]),
    requests=st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)).map(sorted),
    input_tokens=st.integers(1, 4096),
    output_tokens=st.integers(1, 2048),
)
def test_more_requests_never_take_less_time(
    model: str, accelerator: str, count: int, requests: list[int], input_tokens: int, output_tokens: int
) -> None:
    fewer, more = requests
    common = {"model": model, "input_tokens": input_tokens, "output_tokens": output_tokens}
    short = duration(batch(requests=fewer, **common), accelerator, count)
    long = duration(batch(requests=more, **common), accelerator, count)
    assume(short is not None and long is not None)
    assert long >= short > 0


def test_batch_inference_flops_are_two_per_active_parameter_per_token(catalog: Catalog) -> None:
    job = batch(model="qwen2.5-7b", requests=1000, input_tokens=300, output_tokens=200)
    est = estimate(job, catalog, "h800", 8, SITE, T0_S)
    assert est.flops == pytest.approx(2 * 7.61e9 * 1000 * 500)


def test_a_service_with_an_impossible_slo_is_refused_for_it(catalog: Catalog) -> None:
    job = service(model="qwen2.5-7b", rate_rps=0.1, latency_slo_ms=1, output_tokens=100)
    with pytest.raises(Infeasible) as caught:
        estimate(job, catalog, "h800", 8, SITE, T0_S)
    assert caught.value.rejection.code == Code.SLO_NOT_MET
    result = plan(job, catalog, T0_S)
    assert not result.options
    assert Code.SLO_NOT_MET in {r.code for r in result.rejected}


def test_a_service_beyond_any_capacity_is_refused_as_too_small(catalog: Catalog) -> None:
    job = service(model="qwen2.5-72b", rate_rps=10_000, output_tokens=1000)
    with pytest.raises(Infeasible) as caught:
        estimate(job, catalog, "h20", 8, SITE, T0_S)
    assert caught.value.rejection.code == Code.CAPACITY_TOO_LOW


def test_a_feasible_service_runs_for_its_requested_duration(catalog: Catalog) -> None:
    job = service(model="qwen2.5-7b", duration_h=48, rate_rps=2)
    est = estimate(job, catalog, "h800", 8, SITE, T0_S)
    assert est.duration_h == 48
    assert est.accelerator_hours == 48 * 8
    assert est.flops == pytest.approx(2 * 7.61e9 * 2 * 48 * HOUR * (512 + 256))


@settings(max_examples=80, deadline=None)
@given(
    model=serving_models,
    accelerator=st.sampled_from(SERVING_ACCELERATORS),
    rates=st.tuples(st.floats(0.01, 500), st.floats(0.01, 500)).map(sorted),
    slo_ms=st.floats(500, 120_000),
    output_tokens=st.integers(16, 1024),
)
def test_a_higher_rate_needs_at_least_as_many_accelerators(
    model: str, accelerator: str, rates: list[float], slo_ms: float, output_tokens: int
) -> None:
    low, high = rates
    common = {"model": model, "latency_slo_ms": slo_ms, "output_tokens": output_tokens}
    counts = [1, 2, 3, 4, 6, 8, 12, 16, 32, 64]
    feasible_low = [n for n in counts if duration(service(rate_rps=low, **common), accelerator, n) is not None]
    feasible_high = [n for n in counts if duration(service(rate_rps=high, **common), accelerator, n) is not None]
    assert set(feasible_high) <= set(feasible_low)
    if feasible_high:
        assert min(feasible_high) >= min(feasible_low)


# -- profiled jobs ---------------------------------------------------------------------


def profiled(job_class: str = "resnet50", steps: float = 36_000) -> JobSpec:
    return spec(model=None, tokens_b=None, profile={"job_class": job_class, "steps": steps})


@pytest.fixture
def table(catalog: Catalog) -> ThroughputTable:
    """resnet50 measured on v100 at 1 and 4 devices (the 4-device rate is below linear)."""
    measured = {"resnet50": MappingProxyType({"v100": MappingProxyType({1: 10.0, 4: 36.0})})}
    accels = {a: catalog.accelerator(a) for a in ("v100", "p100", "k80")}
    return ThroughputTable(MappingProxyType(measured), MappingProxyType(accels), source="test table")


def test_a_profiled_job_parses_without_a_model_or_tokens(catalog: Catalog) -> None:
    text = spec_yaml(model=None, tokens_b=None, profile={"job_class": "resnet50", "steps": 1000})
    job = parse_spec(text, "test", catalog)
    assert job.model is None and job.profile is not None


@pytest.mark.parametrize(
    ("count", "steps_per_s", "how"),
    [
        pytest.param(1, 10.0, "measured at 1", id="measured at one device"),
        pytest.param(4, 36.0, "measured at 4", id="measured at four devices"),
        pytest.param(2, 20.0, "measured at 1, scaled linearly to 2", id="between counts scales the count below"),
        pytest.param(8, 72.0, "measured at 4, scaled linearly to 8", id="above counts scales the largest"),
    ],
)
def test_a_profiled_job_uses_measured_steps_per_second(
    catalog: Catalog, table: ThroughputTable, count: int, steps_per_s: float, how: str
) -> None:
    est = estimate(profiled(steps=36_000), catalog, "v100", count, SITE, T0_S, profiles=table)
    assert est.duration_h == pytest.approx(36_000 / steps_per_s / HOUR)
    assert est.flops is None
    rate = next(ln for ln in est.breakdown["compute"] if ln.name == "steps_per_s")
    assert rate.value == pytest.approx(steps_per_s)
    assert how in rate.how


def test_an_unmeasured_accelerator_is_scaled_by_the_peak_ratio(catalog: Catalog, table: ThroughputTable) -> None:
    est = estimate(profiled(steps=36_000), catalog, "a100-80g", 4, SITE, T0_S, profiles=table)
    ratio = 312.0 / 125.0  # dense fp16 peak of a100 over v100
    assert est.duration_h == pytest.approx(36_000 / (36.0 * ratio) / HOUR)
    rate = next(ln for ln in est.breakdown["compute"] if ln.name == "steps_per_s")
    assert "peak ratio" in rate.how and "v100" in rate.how


@pytest.mark.parametrize(
    ("job_class", "use_table"),
    [
        pytest.param("resnet50", False, id="no throughput table at all"),
        pytest.param("transformer", True, id="a job class the table does not have"),
    ],
)
def test_a_profiled_job_without_a_measurement_is_refused_with_no_profile(
    catalog: Catalog, table: ThroughputTable, job_class: str, use_table: bool
) -> None:
    with pytest.raises(Infeasible) as caught:
        estimate(profiled(job_class), catalog, "v100", 1, SITE, T0_S, profiles=table if use_table else None)
    assert caught.value.rejection.code == Code.NO_PROFILE


def test_planning_a_profiled_job_without_a_table_rejects_everything_for_no_profile(catalog: Catalog) -> None:
    result = plan(profiled(), catalog, T0_S)
    assert not result.options
    assert result.rejected
    assert {r.code for r in result.rejected} == {Code.NO_PROFILE}


def test_a_gavel_file_drives_the_estimate(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "throughputs.json"
    path.write_text(
        json.dumps(
            {
                "v100": {"('ResNet-50 (batch size 64)', 1)": {"null": 4.0, "('A3C', 1)": [1.0, 2.0]}},
                "k80": {"('ResNet-50 (batch size 64)', 1)": {"null": 0.5}},
                "v100_unconsolidated": {"('ResNet-50 (batch size 64)', 1)": {"null": 99.0}},
            }
        ),
        encoding="utf-8",
    )
    table = load_gavel(path, catalog)
    job = profiled("ResNet-50 (batch size 64)", steps=7200)
    on_v100 = estimate(job, catalog, "v100", 1, SITE, T0_S, profiles=table)
    on_k80 = estimate(job, catalog, "k80", 2, SITE, T0_S, profiles=table)
    assert on_v100.duration_h == pytest.approx(7200 / 4.0 / HOUR)
    assert on_k80.duration_h == pytest.approx(7200 / (0.5 * 2) / HOUR)


def test_a_planned_profiled_job_only_offers_what_the_table_can_time(catalog: Catalog, table: ThroughputTable) -> None:
    job = profiled()
    result = plan(job, catalog, T0_S, profiles=table)
    assert result.options
    for option in result.options:
        expected = estimate(job, catalog, option.accelerator, option.count, option.site, option.compute_start_s, table)
        assert option.duration_h == pytest.approx(expected.duration_h)


@pytest.mark.parametrize(
    ("accelerator", "site"),
    [
        pytest.param("v100", "zhangjiakou", id="a rental site asked about a type it neither stocks nor prices"),
        pytest.param("h100", "chongqing", id="the alphabetically first site, the CLI's fallback default"),
    ],
)
def test_estimating_an_unstocked_type_at_a_rental_site_fails_cleanly_or_not_at_all(
    catalog: Catalog, accelerator: str, site: str
) -> None:
    """``estimate`` does not check inventory (its docstring; the CLI adds a note that the
    figure is hypothetical), so a type the site does not rent must still be estimated or
    refused with a suanli error, never crash on a missing price."""
    from suanli.errors import SuanliError

    assert accelerator not in catalog.site(site).pricing.accelerator_usd_per_h
    try:
        est = estimate(spec(), catalog, accelerator, 8, site, T0_S)
    except (Infeasible, SuanliError):
        return
    assert est.cost_usd >= 0
