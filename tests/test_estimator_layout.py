"""The layout-aware training model and the KV-cache-aware inference model (issue 11)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.catalog import load_catalog
from suanli.model import goodput, memory
from suanli.model.performance import choose_layout, performance, training_work
from suanli.model.reasons import Infeasible
from suanli.model.shapes import resolve_shape
from suanli.model.training import slowest_stage
from suanli.units import SECONDS_PER_HOUR
from suanli.workload import JobSpec, Resources

CATALOG = load_catalog()
PARTS = (
    "gemm_s",
    "attention_s",
    "elementwise_s",
    "optimizer_s",
    "tp_comm_s",
    "cp_comm_s",
    "ep_comm_s",
    "dp_comm_s",
    "pp_p2p_s",
    "bubble_s",
)


def training(model: Any, accelerator: str, count: int, **extra: Any) -> JobSpec:
    return JobSpec.model_validate(
        {
            "apiVersion": "suanli/v1",
            "kind": "Training",
            "name": "t",
            "model": model,
            "precision": extra.pop("precision", "bf16"),
            "tokens_b": 10,
            "resources": Resources(accelerators=(accelerator,), count=count),
            **extra,
        }
    )


def lines_of(job: JobSpec, accelerator: str, count: int) -> dict[str, Any] | None:
    try:
        perf = performance(job, resolve_shape(job, CATALOG), CATALOG.accelerator(accelerator), count)
    except Infeasible:
        return None
    return {line.name: line.value for line in perf.lines} | {"duration_h": perf.duration_h}


@pytest.mark.parametrize(
    ("model", "accelerator", "count"),
    [
        pytest.param("qwen2.5-7b", "h100", 8, id="a 7B model on one H100 node"),
        pytest.param("llama-3.1-70b", "a100-80g", 64, id="a 70B model on eight A100 nodes"),
        pytest.param("deepseek-v3", "h800", 2048, id="DeepSeek-V3 on 2,048 H800"),
    ],
)
def test_the_step_is_the_sum_of_its_parts_and_the_duration_adds_goodput(
    model: str, accelerator: str, count: int
) -> None:
    found = lines_of(training(model, accelerator, count), accelerator, count)
    assert found is not None
    assert found["step_s"] == pytest.approx(sum(found[p] for p in PARTS), rel=1e-9)
    steps = 10e9 / found["global_batch_tokens"]
    expected_h = steps * found["step_s"] / goodput.goodput(count) / SECONDS_PER_HOUR
    assert found["duration_h"] == pytest.approx(expected_h, rel=1e-9)


def test_goodput_matches_the_llama3_report_at_16k_accelerators() -> None:
    """466 interruptions in 54 days, >90 % effective time on 16,384 H100 (sec. 3.3.4)."""
    assert goodput.goodput(16_384) == pytest.approx(1 / 1.1, rel=1e-9)
    assert goodput.goodput(8) > 0.999


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(("qwen2.5-7b", "llama-3.1-8b", "qwen2.5-32b", "llama-3.1-70b")),
    accelerator=st.sampled_from(("h100", "a100-80g", "h800", "ascend-910b", "b200")),
    count=st.sampled_from((1, 8, 16, 64, 256)),
)
def test_a_layout_the_search_returns_always_fits_in_memory(model: str, accelerator: str, count: int) -> None:
    job = training(model, accelerator, count)
    accel = CATALOG.accelerator(accelerator)
    shape = resolve_shape(job, CATALOG)
    assert shape is not None
    _, chosen = choose_layout(job, shape, accel, count, accel.tflops["bf16"] * 1e12)
    if hasattr(chosen, "layout"):
        used_gb = sum(chosen.memory_bytes.values())  # type: ignore[union-attr]
        assert used_gb <= memory.usable_bytes(accel.memory_gb) / 1e9 + 1e-9
        lay = chosen.layout  # type: ignore[union-attr]
        assert lay.tp * lay.cp * lay.pp * lay.dp == count


@settings(max_examples=30, deadline=None)
@given(
    model=st.sampled_from(("qwen2.5-7b", "llama-3.1-70b", "qwen2.5-32b")),
    accelerator=st.sampled_from(("h100", "a100-80g", "ascend-910b")),
    count=st.sampled_from((8, 16, 64, 128)),
)
def test_pinning_parallelism_to_the_searched_layout_gives_the_same_step_time(
    model: str, accelerator: str, count: int
) -> None:
    found = lines_of(training(model, accelerator, count), accelerator, count)
    if found is None:
        return
    words = found["layout"].replace(",", "").split()
    names = ("TP", "CP", "PP", "DP", "EP", "VP")
    layout = {w[:2].lower(): int(w[2:]) for w in words if w[:2] in names and w[2:].isdigit()}
    recompute = words[words.index("recompute") + 1]
    pinned = training(
        model,
        accelerator,
        count,
        parallelism={k: v for k, v in layout.items() if k != "vp"} | ({"vp": layout["vp"]} if "vp" in layout else {}),
        recompute=recompute,
    )
    again = lines_of(pinned, accelerator, count)
    assert again is not None
    assert again["step_s"] == pytest.approx(found["step_s"], rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(("qwen2.5-7b", "llama-3.1-8b", "qwen2.5-32b", "llama-3.1-70b")),
    accelerator=st.sampled_from(("h100", "a100-80g", "h800", "ascend-910b", "h200")),
    fewer=st.sampled_from((8, 16, 64)),
    factor=st.sampled_from((2, 4, 8, 16)),
)
def test_more_accelerators_never_cost_more_than_ideal_plus_the_modelled_communication(
    model: str, accelerator: str, fewer: int, factor: int
) -> None:
    """Accelerator-time on ``more`` (steady, without goodput) is at most the compute of the
    work spread ideally (the smaller run's compute time x its count, paced by the larger
    layout's busiest pipeline stage when the LM head makes one stage busier) plus what the
    larger layout spends on communication and bubble."""
    more = fewer * factor
    small = lines_of(training(model, accelerator, fewer), accelerator, fewer)
    if small is None:
        return  # does not fit on the smaller count: nothing to compare
    recompute = small["layout"].split("recompute ")[1].split(",")[0]  # like for like: same recomputation
    large = lines_of(training(model, accelerator, more, recompute=recompute), accelerator, more)
    assert large is not None  # what fits on fewer devices fits on more
    compute = ("gemm_s", "attention_s", "elementwise_s", "optimizer_s")
    steps_small = 10e9 / small["global_batch_tokens"]
    steps_large = 10e9 / large["global_batch_tokens"]
    job = training(model, accelerator, more, recompute=recompute)
    shape = resolve_shape(job, CATALOG)
    assert shape is not None
    work = training_work(job, shape, more)
    head_stage = float(slowest_stage(work.layers, np.array([large["pp"]]), work.head_layers)[0])
    small_stage = float(slowest_stage(work.layers, np.array([small["pp"]]), work.head_layers)[0])
    ideal = steps_small * sum(small[p] for p in compute) * fewer * max(1.0, head_stage / small_stage)
    overhead = steps_large * sum(large[p] for p in PARTS if p not in compute) * more
    assert steps_large * large["step_s"] * more <= ideal + overhead + 1e-6 * ideal


def batch_job(model: str, accelerator: str, count: int, precision: str = "fp8") -> JobSpec:
    return JobSpec.model_validate(
        {
            "apiVersion": "suanli/v1",
            "kind": "BatchInference",
            "name": "b",
            "model": model,
            "precision": precision,
            "requests": 10_000,
            "input_tokens": 2000,
            "output_tokens": 500,
            "resources": Resources(accelerators=(accelerator,), count=count),
        }
    )


def test_a_70b_fp8_model_on_two_80gb_gpus_gets_a_kv_limited_batch_and_throughput_rises_with_the_replica() -> None:
    """The weights (70.6 GB in FP8) nearly fill one 80 GB GPU, so one-GPU replicas hold few
    sequences; the estimator picks the 2-GPU replica, whose KV room holds many, and its
    throughput is the higher of the two (issue 11)."""
    from suanli.model import hardware, inference
    from suanli.model.performance import workload

    job = batch_job("llama-3.1-70b", "h100", 2)
    accel = CATALOG.accelerator("h100")
    shape = resolve_shape(job, CATALOG)
    assert shape is not None
    peak = accel.tflops["fp8"] * 1e12
    hw = hardware.hardware(accel, "fp8", peak)
    load = workload(job)
    one = inference.replica(shape, "fp8", accel, hw, peak, 2, 1, load)
    two = inference.replica(shape, "fp8", accel, hw, peak, 2, 2, load)
    assert two is not None
    assert one is None or one.output_tps < two.output_tps
    assert two.batch > 32  # KV room, not a fixed cap, sets the batch
    found = lines_of(job, "h100", 2)
    assert found is not None
    assert found["decode_batch"] == two.batch
    assert found["output_tokens_per_s"] == pytest.approx(two.output_tps)


def service(rate_rps: float, input_tokens: int, **extra: Any) -> JobSpec:
    return JobSpec.model_validate(
        {
            "apiVersion": "suanli/v1",
            "kind": "InferenceService",
            "name": "s",
            "model": "llama-3.1-8b",
            "precision": "bf16",
            "rate_rps": rate_rps,
            "input_tokens": input_tokens,
            "output_tokens": 200,
            "latency_slo_ms": 60_000,
            "duration_h": 1,
            "resources": Resources(accelerators=("h100",), count=1),
            **extra,
        }
    )


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(100, 16_000), min_size=2, max_size=4, unique=True).map(sorted),
    rates=st.lists(st.floats(0.05, 3.0), min_size=2, max_size=4, unique=True).map(sorted),
)
def test_ttft_grows_with_input_length_and_with_load(lengths: list[int], rates: list[float]) -> None:
    """Mean time to first token never falls as prompts get longer (at a fixed rate) or as the
    request rate rises (at a fixed length), wherever the service is feasible."""
    by_length = [lines_of(service(0.2, n), "h100", 1) for n in lengths]
    by_load = [lines_of(service(r, 2000), "h100", 1) for r in rates]
    ttft_len = [f["ttft_ms"] for f in by_length if f is not None]
    ttft_load = [f["ttft_ms"] for f in by_load if f is not None]
    assert ttft_len == sorted(ttft_len)
    assert ttft_load == sorted(ttft_load)
    feasible = [f for f in by_length if f is not None]
    if len(feasible) >= 2:
        assert feasible[0]["ttft_ms"] < feasible[-1]["ttft_ms"]


def test_a_service_missing_its_tpot_objective_says_by_how_much() -> None:
    job = service(1.0, 2000, tpot_ms=0.5)
    with pytest.raises(Infeasible) as caught:
        performance(job, resolve_shape(job, CATALOG), CATALOG.accelerator("h100"), 1)
    assert caught.value.rejection.code.value == "SLO_NOT_MET"
    assert "tpot" in caught.value.rejection.message and "%" in caught.value.rejection.message


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        pytest.param("parallelism", {"tp": 0}, "parallelism.tp", id="a zero tensor-parallel size"),
        pytest.param("parallelism", {"tq": 2}, "parallelism.tq", id="a misspelt layout field"),
        pytest.param("recompute", "half", "recompute", id="an unknown recompute policy"),
        pytest.param("global_batch_tokens", -5, "global_batch_tokens", id="a negative global batch"),
    ],
)
def test_bad_training_fields_are_refused_naming_the_field(field: str, value: Any, says: str) -> None:
    from suanli.errors import SpecError
    from suanli.workload import parse_spec

    text = f"apiVersion: suanli/v1\nkind: Training\nname: x\nmodel: qwen2.5-7b\ntokens_b: 10\n{field}: {value}\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "spec.yaml", CATALOG)
    assert says in str(caught.value)


def test_a_length_distribution_with_p90_below_its_mean_is_refused_with_that_reason() -> None:
    from suanli.errors import SpecError
    from suanli.workload import parse_spec

    text = (
        "apiVersion: suanli/v1\nkind: BatchInference\nname: x\nmodel: qwen2.5-7b\nrequests: 10\n"
        "input_tokens: {mean: 100, p90: 50}\noutput_tokens: 10\n"
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "spec.yaml", CATALOG)
    assert "input_tokens" in str(caught.value) and "below the mean" in str(caught.value)


def test_a_spread_of_input_lengths_makes_prefill_slower_than_all_requests_at_the_mean() -> None:
    def prefill_ms(lengths: Any) -> float:
        job = batch_job("llama-3.1-8b", "h100", 1, precision="bf16").copy_with(
            input_tokens=JobSpec.model_validate(
                {"apiVersion": "suanli/v1", "kind": "BatchInference", "name": "b", "input_tokens": lengths}
            ).input_tokens
        )
        found = lines_of(job, "h100", 1)
        assert found is not None
        return float(found["prefill_ms"])

    assert prefill_ms({"mean": 8000, "p90": 20000}) > prefill_ms(8000)


def test_a_pinned_layout_that_does_not_divide_the_count_is_a_layout_mismatch() -> None:
    job = training("qwen2.5-7b", "h100", 8, parallelism={"tp": 8, "pp": 3})
    with pytest.raises(Infeasible) as caught:
        performance(job, resolve_shape(job, CATALOG), CATALOG.accelerator("h100"), 8)
    assert caught.value.rejection.code.value == "LAYOUT_MISMATCH"
    assert "tp 8, pp 3" in caught.value.rejection.message
