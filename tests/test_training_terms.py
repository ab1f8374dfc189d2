"""Terms of the training model that published runs exposed (issue 11): the attention width of
wide or latent heads, the vocabulary (untied input embedding, LM head on the last pipeline
stage, softmax cross-entropy traffic) and the published layouts of the calibration rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from suanli.catalog import load_catalog
from suanli.model.calibration import PUBLISHED_RUNS, calibrate, job_for
from suanli.model.layout import Chosen
from suanli.model.performance import choose_layout, performance
from suanli.model.shapes import MLA_HEAD_DIM, attention_width, resolve_shape
from suanli.model.training import slowest_stage
from suanli.workload import JobSpec

CATALOG = load_catalog()
RUNS = {run.id: run for run in PUBLISHED_RUNS}


@pytest.mark.parametrize(
    ("hidden", "heads", "kv_heads", "kv_dim", "width"),
    [
        pytest.param(8192, 64, 8, None, 8192, id="no cache size given: the hidden size"),
        pytest.param(8192, 64, 8, 2 * 8 * 128, 8192, id="Llama-style heads of hidden / heads: the hidden size"),
        pytest.param(4096, 64, 4, 2 * 4 * 128, 64 * 128, id="Qwen3-235B's 64 heads of 128 are twice its hidden"),
        pytest.param(7168, 128, 128, 576, 128 * MLA_HEAD_DIM, id="an MLA latent: the decompressed heads"),
    ],
)
def test_the_attention_width_is_heads_times_head_size(
    hidden: int, heads: int, kv_heads: int, kv_dim: int | None, width: int
) -> None:
    assert attention_width(hidden, heads, kv_heads, kv_dim) == width


def test_deepseek_v3_trains_with_its_decompressed_heads_attention_flops() -> None:
    """DeepSeek-V3: 128 heads of (192 + 128) / 2 against a hidden size of 7,168."""
    run = RUNS["deepseek-v3-pretrain"]
    lines = {line.name: line.value for line in calibrate(CATALOG, (run,))[0].perf.lines}
    tokens = run.tokens_b * 1e9
    assert lines["attention_flops"] == pytest.approx(2 * 4096 * 128 * 160 * 61 * 3 * tokens, rel=1e-9)


@pytest.mark.parametrize(
    ("layers", "pp", "head", "expected"),
    [
        pytest.param(105, 1, 0.2, 1.0, id="one stage: no imbalance"),
        pytest.param(105, 35, 0.0, 1.0, id="vocabulary unknown: no imbalance"),
        pytest.param(105, 35, 0.2, 3.2 / (105.2 / 35), id="MT-NLG: 3 layers + the head on the last of 35"),
        pytest.param(126, 16, 0.66, 8.0 / (126.66 / 16), id="Llama 3 405B: the head stage holds one layer less"),
        pytest.param(40, 2, 4.9, 22.9 / (44.9 / 2), id="Qwen1.5-4B: 18 layers + a ~5-layer head against 22"),
    ],
)
def test_the_busiest_pipeline_stage_carries_the_lm_head_with_layers_rebalanced(
    layers: int, pp: int, head: float, expected: float
) -> None:
    factor = slowest_stage(layers, np.array([float(pp)]), head)
    assert float(factor[0]) == pytest.approx(expected, rel=1e-9)


def _work_and_step(run_id: str, vocab: int, tied: bool) -> tuple[float, float]:
    run = dataclasses.replace(RUNS[run_id], vocab=vocab, tied_embeddings=tied)
    job = job_for(run)
    shape = resolve_shape(job, CATALOG)
    assert shape is not None
    shape = dataclasses.replace(shape, vocab=run.vocab, tied_embeddings=run.tied_embeddings)
    accel = CATALOG.accelerator(run.accelerator)
    work, chosen = choose_layout(job, shape, accel, run.count, accel.tflops["bf16"] * 1e12)
    assert isinstance(chosen, Chosen)
    return work.gemm_flops_per_token, chosen.step_s


def test_an_untied_input_embedding_is_a_lookup_and_a_tied_one_is_the_lm_head() -> None:
    """Qwen1.5-4B (151,936 x 2,560, untied): its input embedding leaves the GEMM FLOPs; the
    same matrix tied stays in them (it is the LM head)."""
    none, _ = _work_and_step("ascendspeed-qwen1.5-4b", 0, False)
    untied, _ = _work_and_step("ascendspeed-qwen1.5-4b", 151_936, False)
    tied, _ = _work_and_step("ascendspeed-qwen1.5-4b", 151_936, True)
    assert none - untied == pytest.approx(6 * 151_936 * 2560, rel=1e-9)
    assert tied == none


def test_a_stated_vocabulary_slows_a_pipelined_step_by_its_head_stage_and_its_loss() -> None:
    """MT-NLG on TP8 PP35: the last stage runs 3 layers and the LM head, so the step is slower
    with the vocabulary than without (the head's FLOPs are in the count either way: tied)."""
    _, without = _work_and_step("mt-nlg-530b", 0, True)
    _, with_vocab = _work_and_step("mt-nlg-530b", 51_200, True)
    assert with_vocab / without == pytest.approx(3.2 / (105.2 / 35), rel=0.02)


@pytest.mark.parametrize(
    ("model", "vocab"),
    [
        pytest.param("llama-3.1-405b", 128_256, id="Llama 3.1: 128,256 (config.json)"),
        pytest.param("deepseek-v3", 129_280, id="DeepSeek-V3: 129,280"),
        pytest.param("qwen2.5-72b", 152_064, id="Qwen2.5: 152,064"),
    ],
)
def test_a_catalogue_model_brings_its_vocabulary_to_the_plan(model: str, vocab: int) -> None:
    job = JobSpec.model_validate(
        {"apiVersion": "suanli/v1", "kind": "Training", "name": "t", "model": model, "tokens_b": 1}
    )
    shape = resolve_shape(job, CATALOG)
    assert shape is not None
    assert (shape.vocab, shape.tied_embeddings) == (vocab, False)


def test_an_inline_model_states_its_vocabulary_and_the_estimate_uses_it() -> None:
    """Without ``vocab`` the vocabulary terms are left out; with it (Llama 3 8B, untied) the
    input embedding's 128,256 x 4,096 parameters are a lookup, not GEMMs, and the loss adds
    its traffic: the estimate moves."""
    base = {"apiVersion": "suanli/v1", "kind": "Training", "name": "t", "tokens_b": 100, "precision": "bf16"}
    sizes = {"params_b": 8.03, "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8}
    plain = JobSpec.model_validate(base | {"model": sizes})
    stated = JobSpec.model_validate(base | {"model": sizes | {"vocab": 128_256}})
    shapes = [resolve_shape(job, CATALOG) for job in (plain, stated)]
    assert [s.vocab if s else None for s in shapes] == [0, 128_256]
    h100 = CATALOG.accelerator("h100")
    hours = [performance(job, shape, h100, 8).duration_h for job, shape in zip((plain, stated), shapes, strict=True)]
    assert hours[1] != pytest.approx(hours[0], rel=1e-3)
