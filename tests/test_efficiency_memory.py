"""The utilisation (MFU) model and the memory fit checks, against their documented formulas."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.catalog import Catalog
from suanli.model import Code, Infeasible, efficiency, estimate, memory
from suanli.model.shapes import ModelShape, resolve_shape
from suanli.workload import JobSpec
from tests.conftest import T0_S, spec_dict
from tests.strategies import ACCELERATOR_IDS, CATALOG

GB = 1e9


def training(model: object, accelerator: str, count: int, precision: str = "bf16", **extra: object) -> JobSpec:
    return JobSpec.model_validate(
        spec_dict(model=model, precision=precision, resources={"accelerators": [accelerator], "count": count}, **extra)
    )


def rejection_code(spec: JobSpec, catalog: Catalog, accelerator: str, count: int) -> Code | None:
    try:
        estimate(spec, catalog, accelerator, count, "qingyang", T0_S)
    except Infeasible as exc:
        return exc.rejection.code
    return None


# -- efficiency ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accelerator", "count", "expected"),
    [
        pytest.param("h800", 1, 0.45, id="one h800 runs at the hopper base"),
        pytest.param("h800", 8, 0.45 * (400 / 900) ** 0.1, id="eight h800 pay for a 400 GB/s NVLink"),
        pytest.param("h100", 8, 0.45, id="eight h100 on full NVLink pay nothing"),
        pytest.param(
            "h800",
            2048,
            0.45 * (400 / 900) ** 0.1 / (1 + 0.02 * math.log2(256)),
            id="256 h800 nodes pay log2(nodes) on a 50 GB/s NIC",
        ),
        pytest.param(
            "l20",
            16,
            0.40 * (32 / 900) ** 0.1 / (1 + 0.02 * 1 * math.sqrt(50 / 12.5)),
            id="two l20 nodes over PCIe and a 12.5 GB/s NIC",
        ),
        pytest.param("a800", 4, 0.42 * (400 / 900) ** 0.1, id="half a node of a800"),
    ],
)
def test_training_utilisation_follows_the_documented_formula(
    catalog: Catalog, accelerator: str, count: int, expected: float
) -> None:
    util = efficiency.training_utilisation(catalog.accelerator(accelerator), count, "bf16", is_moe=False)
    assert util.total == pytest.approx(expected, rel=1e-12)


def test_fp8_and_moe_scale_utilisation_by_their_factors(catalog: Catalog) -> None:
    h800 = catalog.accelerator("h800")
    dense = efficiency.training_utilisation(h800, 64, "bf16", is_moe=False).total
    assert efficiency.training_utilisation(h800, 64, "fp8", is_moe=True).total == pytest.approx(dense * 0.6 * 0.8)


def test_an_unknown_family_gets_the_conservative_default(catalog: Catalog) -> None:
    odd = catalog.accelerator("h800").model_copy(update={"family": "not-a-family"})
    assert efficiency.training_utilisation(odd, 1, "bf16", is_moe=False).base == efficiency.DEFAULT_BASE_MFU


@settings(max_examples=150, deadline=None)
@given(
    accelerator=st.sampled_from(ACCELERATOR_IDS),
    counts=st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)).map(sorted),
    precision=st.sampled_from(["bf16", "fp8"]),
    moe=st.booleans(),
)
def test_utilisation_never_rises_with_more_accelerators(
    accelerator: str, counts: list[int], precision: str, moe: bool
) -> None:
    accel = CATALOG.accelerator(accelerator)
    fewer, more = counts
    u_fewer = efficiency.training_utilisation(accel, fewer, precision, moe)
    u_more = efficiency.training_utilisation(accel, more, precision, moe)
    assert 0 < u_more.total <= u_fewer.total <= 1
    assert efficiency.nodes_for(accel, more) >= efficiency.nodes_for(accel, fewer) >= 1


@pytest.mark.parametrize(
    ("accelerator", "precision", "tflops"),
    [
        pytest.param("h800", "fp8", 1979.0, id="h800 fp8"),
        pytest.param("v100", "bf16", 125.0, id="v100 has no bf16 and stands in its fp16 peak"),
        pytest.param("ascend-910c", "fp16", 800.0, id="910c fp16 is its own figure"),
        pytest.param("a100-80g", "fp8", None, id="a100 has no fp8"),
        pytest.param("k80", "bf16", None, id="k80 has only fp32"),
    ],
)
def test_peak_flops_reads_the_catalogue_with_fp16_and_bf16_standing_in(
    catalog: Catalog, accelerator: str, precision: str, tflops: float | None
) -> None:
    peak = efficiency.peak_flops(catalog.accelerator(accelerator), precision)
    assert peak == (None if tflops is None else tflops * 1e12)


# -- memory ----------------------------------------------------------------------------


def test_training_memory_is_sixteen_bytes_per_parameter_sharded_plus_activations(catalog: Catalog) -> None:
    shape = resolve_shape(training("qwen2.5-7b", "h800", 8), catalog)
    assert shape is not None
    need = memory.training_memory(shape, 8, 80.0, "bf16")
    states = 7.61e9 * 16 / 8 / GB
    activations = 4096 * 3584 * (2 * 28 + 34) / GB
    assert need.states_gb == pytest.approx(states)
    assert need.activations_gb == pytest.approx(activations)
    assert need.per_device_gb == pytest.approx(states + activations)
    assert need.usable_gb == pytest.approx(0.9 * 80 * 2**30 / GB)  # binary capacity: 77.3 GB
    assert need.fits


def test_lora_keeps_only_the_frozen_weights(catalog: Catalog) -> None:
    shape = resolve_shape(training("qwen2.5-72b", "h800", 8), catalog)
    assert shape is not None
    full = memory.training_memory(shape, 8, 80.0, "bf16")
    lora = memory.training_memory(shape, 8, 80.0, "bf16", lora=True)
    assert lora.states_gb == pytest.approx(72.7e9 * 2 / 8 / GB)
    assert lora.states_gb == pytest.approx(full.states_gb / 8)


def test_short_context_models_keep_activations_for_their_context_only() -> None:
    shape = ModelShape("tiny", 1e9, 1e9, layers=10, hidden=1000, kv_values_per_token=1, context=1024)
    need = memory.training_memory(shape, 1, 80.0, "bf16")
    assert need.activations_gb == pytest.approx(1024 * 1000 * (2 * 10 + 34) / GB)


@settings(max_examples=100, deadline=None)
@given(params_b=st.floats(0.1, 1000), few=st.integers(1, 4096), factor=st.integers(2, 64))
def test_more_devices_never_need_more_memory_each(params_b: float, few: int, factor: int) -> None:
    shape = ModelShape("m", params_b * 1e9, params_b * 1e9, layers=32, hidden=4096, kv_values_per_token=1, context=8192)
    assert (
        memory.training_memory(shape, few * factor, 80, "bf16").per_device_gb
        <= memory.training_memory(shape, few, 80, "bf16").per_device_gb
    )


def test_weights_and_kv_cache_are_sized_by_precision(catalog: Catalog) -> None:
    shape = resolve_shape(training("qwen2.5-72b", "h800", 8), catalog)
    assert shape is not None
    assert memory.weight_bytes(shape, "bf16") == pytest.approx(72.7e9 * 2)
    assert memory.weight_bytes(shape, "fp8") == pytest.approx(72.7e9)
    assert memory.kv_bytes_per_token(shape, "bf16") == 2 * 163840
    assert memory.kv_bytes_per_token(shape, "int8") == 163840


def test_a_671b_model_cannot_train_on_eight_h800(catalog: Catalog) -> None:
    spec = training("deepseek-v3", "h800", 8, precision="fp8", tokens_b=100)
    assert 671e9 * 16 / 8 / GB > 0.9 * 80  # the states alone need 1,342 GB per device
    assert rejection_code(spec, catalog, "h800", 8) == Code.INSUFFICIENT_MEMORY


def test_a_671b_model_fits_on_2048_h800(catalog: Catalog) -> None:
    spec = training("deepseek-v3", "h800", 2048, precision="fp8", tokens_b=100)
    per_device = 671e9 * 16 / 2048 / GB + 4096 * 7168 * (2 * 61 + 34) / GB
    assert per_device < 0.9 * 80
    assert rejection_code(spec, catalog, "h800", 2048) is None


def test_qwen_72b_bf16_inference_does_not_fit_one_a100_40g(catalog: Catalog) -> None:
    spec = JobSpec.model_validate(
        spec_dict(
            model="qwen2.5-72b",
            kind="BatchInference",
            tokens_b=None,
            requests=1000,
            input_tokens=512,
            output_tokens=128,
            resources={"accelerators": ["a100-40g"], "count": 1},
        )
    )
    assert 72.7e9 * 2 / GB > 40 * 0.9
    assert rejection_code(spec, catalog, "a100-40g", 1) == Code.INSUFFICIENT_MEMORY
    assert rejection_code(spec, catalog, "a100-40g", 8) is None  # 8 x 36 GB usable holds 145 GB


def test_fp8_on_an_a100_is_an_unsupported_precision(catalog: Catalog) -> None:
    spec = training("qwen2.5-7b", "a100-80g", 8, precision="fp8")
    assert rejection_code(spec, catalog, "a100-80g", 8) == Code.PRECISION_UNSUPPORTED


def test_int8_training_is_refused_even_where_the_part_has_int8(catalog: Catalog) -> None:
    assert "int8" in catalog.accelerator("h800").tflops
    spec = training("qwen2.5-7b", "h800", 8, precision="int8")
    assert rejection_code(spec, catalog, "h800", 8) == Code.PRECISION_UNSUPPORTED


def test_int8_inference_is_allowed_where_the_part_has_int8(catalog: Catalog) -> None:
    spec = JobSpec.model_validate(
        spec_dict(
            kind="BatchInference",
            precision="int8",
            tokens_b=None,
            requests=100,
            input_tokens=256,
            output_tokens=64,
            resources={"accelerators": ["h800"], "count": 1},
        )
    )
    assert rejection_code(spec, catalog, "h800", 1) is None
