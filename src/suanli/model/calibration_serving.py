"""Published inference measurements the estimator is checked against (suanli's own rows, cited).

Like :mod:`suanli.model.calibration_runs` (which defines :class:`PublishedRun`), for
serving: NVIDIA NIM's and TensorRT-LLM's published benchmarks on H100 and H200, and
DeepSeek's note on its production inference system (H800).
"""

from __future__ import annotations

from suanli.model.calibration_runs import PublishedRun

INFERENCE_RUNS: tuple[PublishedRun, ...] = (
    PublishedRun(
        "nim-llama3.3-70b-fp8-2xh100-peak",
        "inference",
        "llama-3.1-70b",
        "fp8",
        "h100",
        2,
        "output_tokens_per_s",
        920.9,
        "NVIDIA NIM LLM benchmarking 1.0.0, Llama-3.3-70B-Instruct NIM 1.8.0, 2 x H100 80G, FP8 TP2, "
        "5,000 in / 500 out, "
        "concurrency 150 (saturated)",
        caveat="the 70B weights nearly fill the replica: KV room sets the batch",
        input_tokens=5000,
        output_tokens=500,
        parallelism={"tp": 2},
    ),
    PublishedRun(
        "nim-llama3.3-70b-fp8-2xh100-c1",
        "inference",
        "llama-3.1-70b",
        "fp8",
        "h100",
        2,
        "decode_tokens_per_s",
        1000 / 18.58,
        "NIM benchmarking 1.0.0 (as above), concurrency 1: inter-token latency 18.58 ms",
        in_sample=True,
        caveat="the per-layer decode overhead (20 us) was chosen with this row in view",
        input_tokens=5000,
        output_tokens=500,
        parallelism={"tp": 2},
        concurrency=1,
    ),
    PublishedRun(
        "nim-llama3.3-70b-fp8-2xh100-ttft",
        "inference",
        "llama-3.1-70b",
        "fp8",
        "h100",
        2,
        "input_tokens_per_s",
        5000 / 0.40677,
        "NIM benchmarking 1.0.0 (as above), concurrency 1: time to first token 406.77 ms for 5,000 input tokens",
        in_sample=True,
        caveat="sets the prefill compute efficiency",
        input_tokens=5000,
        output_tokens=500,
        parallelism={"tp": 2},
        concurrency=1,
    ),
    PublishedRun(
        "deepseek-v3-decode-node",
        "inference",
        "deepseek-v3",
        "fp8",
        "h800",
        144,
        "decode_tokens_per_s",
        14_800 * 18,
        "deepseek-ai/open-infra-index, day_6 inference system overview: "
        "~14.8k output tokens/s per H800 node in decode, "
        "decode instances of 18 nodes (EP144), 20-22 tokens/s per user; shared calibration.csv",
        caveat="per-node average over a day of production load; input/output lengths derived from the day's totals "
        "(608B input, 168B output tokens: ~3.6 input per output token; 1,800 / 500 assumed)",
        input_tokens=1800,
        output_tokens=500,
        prefix_cache_hit=0.563,
        tpot_ms=1000 / 21,
        parallelism={"ep": 144},
    ),
    PublishedRun(
        "deepseek-v3-prefill-node",
        "inference",
        "deepseek-v3",
        "fp8",
        "h800",
        32,
        "input_tokens_per_s",
        73_700 * 4,
        "deepseek-ai/open-infra-index, day_6: ~73.7k input tokens/s per H800 node in prefill (including 56.3 % "
        "KV-cache hits), prefill instances of 4 nodes (EP32)",
        caveat="per-node daily average of production load; lengths as above",
        input_tokens=1800,
        output_tokens=500,
        prefix_cache_hit=0.563,
        parallelism={"ep": 32},
    ),
)


TRTLLM = (
    "NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md (v1.0, commit 00f3768): offline maximum-throughput "
    "'Total Output Throughput (tokens/sec)', FP8 ModelOpt checkpoints, trtllm-bench, fixed input/output lengths"
)
TRTLLM_ROWS: tuple[tuple[str, str, int, int, int, float], ...] = (
    # model, accelerator, tp, input, output, output tokens/s
    ("llama-3.1-8b", "h100", 1, 1000, 1000, 15_220),
    ("llama-3.1-8b", "h100", 1, 5000, 500, 3_459),
    ("llama-3.1-8b", "h100", 1, 2048, 2048, 9_305),
    ("llama-3.1-8b", "h200", 1, 1000, 1000, 17_744),
    ("llama-3.1-8b", "h200", 1, 5000, 500, 3_902),
    ("llama-3.1-8b", "h200", 1, 2048, 2048, 12_194),
    ("llama-3.1-70b", "h100", 2, 1000, 1000, 4_205),
    ("llama-3.1-70b", "h100", 2, 5000, 500, 898),
    ("llama-3.1-70b", "h100", 2, 2048, 2048, 3_082),
    ("llama-3.1-70b", "h200", 1, 1000, 1000, 2_909),
    ("llama-3.1-70b", "h200", 1, 5000, 500, 566),
    ("llama-3.1-70b", "h200", 1, 2048, 2048, 2_003),
    ("llama-3.1-405b", "h100", 8, 1000, 1000, 2_919),
    ("llama-3.1-405b", "h100", 8, 5000, 500, 610),
    ("llama-3.1-405b", "h200", 8, 1000, 1000, 3_330),
    ("llama-3.1-405b", "h200", 8, 5000, 500, 650),
    ("qwen3-235b-a22b", "h100", 8, 1000, 1000, 14_898),
    ("qwen3-235b-a22b", "h100", 8, 5000, 500, 3_225),
    ("qwen3-235b-a22b", "h200", 8, 1000, 1000, 23_789),
    ("qwen3-235b-a22b", "h200", 8, 5000, 500, 3_623),
)


def _trtllm(model: str, accelerator: str, tp: int, isl: int, osl: int, tps: float) -> PublishedRun:
    return PublishedRun(
        f"trtllm-{model}-{accelerator}-tp{tp}-{isl}-{osl}",
        "inference",
        model,
        "fp8",
        accelerator,
        tp,
        "output_tokens_per_s",
        tps,
        TRTLLM,
        caveat="Llama 3.3 70B measured, catalogue's Llama 3.1 70B shape (the same)" if "70b" in model else "",
        input_tokens=isl,
        output_tokens=osl,
        parallelism={"tp": tp},
    )


INFERENCE_RUNS = INFERENCE_RUNS + tuple(_trtllm(*row) for row in TRTLLM_ROWS)
