"""Published measured runs the estimator is checked against: suanli's own rows, each cited.

Each :class:`PublishedRun` says what was measured (``metric``), on what, with which
layout where the source states it, and whether it set a constant (``in_sample``) or is
an independent check. Throughputs reported as achieved TFLOP/s are turned into tokens/s
per device with the source's own FLOP count (:func:`megatron_tokens_per_s` and
friends); the arithmetic is in each helper. Figures transcribed from papers in this
session were not re-checked against the PDFs where the caveat says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from suanli.workload import InlineModel

Metric = Literal[
    "tokens_per_s_per_device", "accelerator_hours", "output_tokens_per_s", "decode_tokens_per_s", "input_tokens_per_s"
]


@dataclass(frozen=True)
class PublishedRun:
    id: str
    kind: Literal["training", "inference"]
    model: str | InlineModel
    precision: str
    accelerator: str
    count: int
    metric: Metric
    value: float
    source: str
    in_sample: bool = False
    caveat: str = ""
    tokens_b: float = 1.0
    """Training tokens (for ``accelerator_hours``)."""
    seq: int | None = None
    global_batch_tokens: int | None = None
    parallelism: dict[str, int] = field(default_factory=dict)
    recompute: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    prefix_cache_hit: float = 0.0
    concurrency: int | None = None
    """Inference: sequences in flight per replica (None: as many as fit)."""
    tpot_ms: float | None = None
    """Inference: the per-token objective the measured system ran under."""
    flash_attention: bool = True
    """False for runs before FlashAttention (Dao et al., May 2022)."""
    vocab: int = 0
    """The model's (padded) vocabulary, from its config or paper (0: not given)."""
    tied_embeddings: bool = False
    """The LM head shares the input embedding (GPT-2/3-style models, BLOOM, GLM)."""


def megatron_tokens_per_s(tflops: float, layers: int, hidden: int, seq: int, vocab: int) -> float:
    """Narayanan et al. SC'21 eq. 3 counts 96 B s l h^2 (1 + s/6h + V/16lh) FLOPs per
    iteration (with full recomputation), so tokens/s = TFLOP/s / (96 l h^2 (1 + ...))."""
    per_token = 96 * layers * hidden**2 * (1 + seq / (6 * hidden) + vocab / (16 * layers * hidden))
    return tflops * 1e12 / per_token


def korthikanti_tokens_per_s(mfu: float, peak_tflops: float, layers: int, hidden: int, seq: int, vocab: int) -> float:
    """Korthikanti et al. 2022 MFU counts 72 B s l h^2 (1 + s/6h + V/12lh) model FLOPs."""
    per_token = 72 * layers * hidden**2 * (1 + seq / (6 * hidden) + vocab / (12 * layers * hidden))
    return mfu * peak_tflops * 1e12 / per_token


def six_nd_tokens_per_s(tflops: float, params_b: float, layers: int, hidden: int, seq: int) -> float:
    """Reports quoting model TFLOP/s as 6N plus causal attention (6 s h L per token)."""
    return tflops * 1e12 / (6 * params_b * 1e9 + 6 * seq * hidden * layers)


def _gpt(params_b: float, layers: int, hidden: int, heads: int, seq: int) -> InlineModel:
    return InlineModel(params_b=params_b, layers=layers, hidden=hidden, heads=heads, kv_heads=heads, context=seq)


SC21 = (
    "Narayanan et al., 'Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM', "
    "SC'21, Table 1"
)
KORTH = "Korthikanti et al., 'Reducing Activation Recomputation in Large Transformer Models', arXiv:2205.05198, Table 5"
NEMO = (
    "NVIDIA NeMo Framework 24.12 performance summary "
    "(docs.nvidia.com/nemo-framework/user-guide/24.12/performance), FP8 pre-training on DGX H100"
)
ASCEND = "Ascend AscendSpeed/ModelLink README throughput table (public copy; see shared SOURCES.md 1.4)"
MODELLINK = "ModelLink git history (gitee.com/ascend/ModelLink; public mirror github.com/aeeeeeep/ModelLink)"
GPT_VOCAB = 51_200
"""GPT-2's BPE vocabulary padded as Megatron-LM pads it (the V of Narayanan et al. and
Korthikanti et al.'s FLOP formulas), tied to the input embedding."""
LLAMA2_VOCAB = 32_000
LLAMA3_VOCAB = 128_256
"""Llama 2 and Llama 3 tokenizers (config.json vocab_size), untied."""
NOT_CHECKED = "transcribed from the paper's table from memory in this session, not re-checked against the PDF"


def _sc21(
    params: float, hidden: int, heads: int, layers: int, tp: int, pp: int, gpus: int, batch: int, tflops: float
) -> PublishedRun:
    return PublishedRun(
        id=f"megatron-sc21-{params:g}b",
        kind="training",
        model=_gpt(params, layers, hidden, heads, 2048),
        precision="fp16",
        accelerator="a100-80g",
        count=gpus,
        metric="tokens_per_s_per_device",
        value=megatron_tokens_per_s(tflops, layers, hidden, 2048, 51200),
        source=SC21,
        caveat=f"{tflops:g} TFLOP/s per GPU with full recomputation; {NOT_CHECKED}",
        seq=2048,
        global_batch_tokens=batch * 2048,
        parallelism={"tp": tp, "pp": pp},
        recompute="full",
        flash_attention=False,
        vocab=GPT_VOCAB,
        tied_embeddings=True,
    )


def _korth(
    params: float, hidden: int, heads: int, layers: int, tp: int, pp: int, gpus: int, batch: int, mfu: float
) -> PublishedRun:
    return PublishedRun(
        id=f"korthikanti-{params:g}b",
        kind="training",
        model=_gpt(params, layers, hidden, heads, 2048),
        precision="bf16",
        accelerator="a100-80g",
        count=gpus,
        metric="tokens_per_s_per_device",
        value=korthikanti_tokens_per_s(mfu, 312, layers, hidden, 2048, 51200),
        source=KORTH,
        in_sample=params == 175,
        caveat=("sets Ampere's GEMM efficiency; " if params == 175 else "")
        + f"MFU {mfu:.1%} with selective recomputation and sequence parallelism; {NOT_CHECKED}",
        seq=2048,
        global_batch_tokens=batch * 2048,
        parallelism={"tp": tp, "pp": pp},
        recompute="selective",
        flash_attention=False,
        vocab=GPT_VOCAB,
        tied_embeddings=True,
    )


def _nemo(
    name: str,
    model: InlineModel,
    gpus: int,
    gbs: int,
    mbs: int,
    seq: int,
    tp: int,
    pp: int,
    cp: int,
    vp: int,
    tps: float,
    in_sample: bool = False,
    vocab: int = 0,
) -> PublishedRun:
    return PublishedRun(
        id=f"nemo-h100-fp8-{name}-{gpus}",
        kind="training",
        model=model,
        precision="fp8",
        accelerator="h100",
        count=gpus,
        metric="tokens_per_s_per_device",
        value=tps,
        source=NEMO,
        in_sample=in_sample,
        caveat="steady-state throughput of a tuned recipe",
        seq=seq,
        global_batch_tokens=gbs * seq,
        parallelism={"tp": tp, "pp": pp, "cp": cp, "vp": vp, "micro_batch": mbs},
        vocab=vocab or GPT_VOCAB,
        tied_embeddings=not vocab,
    )


def _llama(params_b: float, layers: int, hidden: int, heads: int, kv_heads: int, seq: int) -> InlineModel:
    return InlineModel(params_b=params_b, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, context=seq)


TRAINING_RUNS: tuple[PublishedRun, ...] = (
    # ---- H800: DeepSeek (the anchor, in-sample) ----
    PublishedRun(
        "deepseek-v3-pretrain",
        "training",
        "deepseek-v3",
        "fp8",
        "h800",
        2048,
        "accelerator_hours",
        2_664_000,
        "DeepSeek-V3 Technical Report, arXiv:2412.19437, Table 1 and sec. 3.2 (PP16 DualPipe, EP64, ZeRO-1, no TP; "
        "batch ramped to 15,360 x 4K)",
        in_sample=True,
        caveat="anchor: the MoE terms (all-to-all exposure 0.5, per-expert GEMM half-rate at 256 tokens) were chosen "
        "with this run in view",
        tokens_b=14_800,
        seq=4096,
        vocab=129_280,
        global_batch_tokens=15_360 * 4096,
        parallelism={"tp": 1, "pp": 16, "ep": 64},
    ),
    PublishedRun(
        "deepseek-v2-pretrain",
        "training",
        InlineModel(
            params_b=236,
            active_params_b=21,
            layers=60,
            hidden=5120,
            heads=128,
            kv_heads=128,
            kv_dim=576,
            context=4096,
            top_k=6,
            experts=160,
        ),
        "bf16",
        "h800",
        1024,
        "accelerator_hours",
        172_800 * 8.1,
        "DeepSeek-V2 report, arXiv:2405.04434, sec. 3.1.3-3.1.4: 172.8K GPU-hours per trillion tokens, 8.1T tokens, "
        "16-way zero-bubble PP, 8-way EP, ZeRO-1, no TP, 'a portion of the operators are recomputed'",
        caveat="GPU count not published (1,024 assumed); batch 9,216 x 4K; the same sentence gives DeepSeek 67B 300.6K "
        "GPU-hours per trillion tokens on that cluster, which the model also misses by ~-29 % (docs/estimator.md)",
        tokens_b=8_100,
        seq=4096,
        vocab=102_400,
        global_batch_tokens=9216 * 4096,
        parallelism={"tp": 1, "pp": 16, "ep": 8},
        recompute="selective",
    ),
    # ---- H100 BF16: Llama 3 405B ----
    PublishedRun(
        "llama3-405b-8k-gpus",
        "training",
        _llama(405, 126, 16384, 128, 8, 8192),
        "bf16",
        "h100",
        8192,
        "tokens_per_s_per_device",
        six_nd_tokens_per_s(430, 405, 126, 16384, 8192),
        "Meta, 'The Llama 3 Herd of Models', arXiv:2407.21783, Table 4 "
        "(430 TFLOP/s per GPU, TP8 CP1 PP16 DP64, 16M tokens)",
        in_sample=True,
        caveat="sets Hopper BF16 GEMM efficiency; FLOP convention assumed 6N + causal attention",
        seq=8192,
        vocab=LLAMA3_VOCAB,
        global_batch_tokens=16 * 2**20,
        parallelism={"tp": 8, "pp": 16, "cp": 1},
    ),
    PublishedRun(
        "llama3-405b-16k-gpus",
        "training",
        _llama(405, 126, 16384, 128, 8, 8192),
        "bf16",
        "h100",
        16384,
        "tokens_per_s_per_device",
        six_nd_tokens_per_s(400, 405, 126, 16384, 8192),
        "Meta, arXiv:2407.21783, Table 4 (400 TFLOP/s per GPU, TP8 CP1 PP16 DP128, 16M tokens)",
        caveat="FLOP convention assumed 6N + causal attention",
        seq=8192,
        vocab=LLAMA3_VOCAB,
        global_batch_tokens=16 * 2**20,
        parallelism={"tp": 8, "pp": 16, "cp": 1},
    ),
    PublishedRun(
        "llama3.1-405b-total",
        "training",
        _llama(405, 126, 16384, 128, 8, 8192),
        "bf16",
        "h100",
        16384,
        "accelerator_hours",
        30_840_000,
        "Meta Llama 3.1 model card (30.84M H100-80GB GPU-hours for 405B) and arXiv:2407.21783 (15.6T tokens)",
        caveat="cumulative hours include the long-context phase; goodput applies",
        tokens_b=15_600,
        seq=8192,
        vocab=LLAMA3_VOCAB,
        global_batch_tokens=16 * 2**20,
        parallelism={"tp": 8, "pp": 16},
    ),
    # ---- H100 FP8: NeMo 24.12 performance summary ----
    _nemo("gpt3-5b", _gpt(5, 24, 4096, 32, 2048), 64, 2048, 4, 2048, 1, 1, 1, 1, 23406),
    _nemo("gpt3-20b", _gpt(20, 44, 6144, 48, 2048), 64, 256, 2, 2048, 2, 1, 1, 1, 5851),
    _nemo("gpt3-175b", _gpt(175, 96, 12288, 96, 2048), 128, 256, 1, 2048, 4, 8, 1, 6, 716),
    _nemo("gpt3-175b", _gpt(175, 96, 12288, 96, 2048), 512, 2048, 2, 2048, 4, 8, 1, 6, 825),
    _nemo("llama2-7b", _llama(6.74, 32, 4096, 32, 32, 4096), 8, 128, 1, 4096, 1, 1, 1, 1, 16934, True, LLAMA2_VOCAB),
    _nemo("llama2-13b", _llama(13.0, 40, 5120, 40, 40, 4096), 16, 128, 1, 4096, 1, 4, 1, 10, 8715, vocab=LLAMA2_VOCAB),
    _nemo("llama2-70b", _llama(69.0, 80, 8192, 64, 8, 4096), 64, 128, 1, 4096, 4, 4, 1, 20, 1728, vocab=LLAMA2_VOCAB),
    # Nemotron-4 340B: 256K vocabulary, untied (arXiv:2406.11704 / its config)
    _nemo("nemotron4-340b", _llama(341, 96, 18432, 96, 8, 4096), 128, 32, 1, 4096, 8, 8, 1, 12, 326, vocab=256_000),
    _nemo("llama3-8b", _llama(8.03, 32, 4096, 32, 8, 8192), 8, 128, 1, 8192, 1, 1, 2, 1, 12273, vocab=LLAMA3_VOCAB),
    _nemo("llama3-70b", _llama(70.6, 80, 8192, 64, 8, 8192), 64, 128, 1, 8192, 4, 4, 2, 5, 1524, vocab=LLAMA3_VOCAB),
    # ---- A100: Megatron-LM scaling (SC'21) and selective recomputation (2022) ----
    _sc21(1.7, 2304, 24, 24, 1, 1, 32, 512, 137),
    _sc21(3.6, 3072, 32, 30, 2, 1, 64, 512, 138),
    _sc21(7.5, 4096, 32, 36, 4, 1, 128, 512, 142),
    _sc21(18.4, 6144, 48, 40, 8, 1, 256, 1024, 135),
    _sc21(39.1, 8192, 64, 48, 8, 2, 512, 1536, 138),
    _sc21(76.1, 10240, 80, 60, 8, 4, 1024, 1792, 140),
    _sc21(145.6, 12288, 96, 80, 8, 8, 1536, 2304, 148),
    _sc21(310.1, 16384, 128, 96, 8, 16, 1920, 2160, 155),
    _sc21(529.6, 20480, 128, 105, 8, 35, 2520, 2520, 163),
    _sc21(1008, 25600, 160, 128, 8, 64, 3072, 3072, 163),
    _korth(22, 6144, 64, 48, 8, 1, 8, 4, 0.415),
    _korth(175, 12288, 96, 96, 8, 8, 64, 64, 0.514),
    _korth(530, 20480, 128, 105, 8, 35, 280, 280, 0.560),
    _korth(1000, 25600, 160, 128, 8, 64, 512, 512, 0.563),
    PublishedRun(
        "mt-nlg-530b",
        "training",
        _gpt(530, 105, 20480, 128, 2048),
        "bf16",
        "a100-80g",
        2240,
        "tokens_per_s_per_device",
        65_430 / 2240,
        "Smith et al., 'Using DeepSpeed and Megatron to Train MT-NLG 530B', arXiv:2201.11990, sec. 2.4 (60.1 s per "
        "1,920 x 2,048-token batch = 65.43K tokens/s on 280 DGX A100, 126 TFLOP/s per GPU, TP8 PP35 DP8, DeepSpeed's "
        "1F1B pipeline); shared calibration.csv",
        caveat="126 TFLOP/s is 4/3 of the 6N + attention model FLOPs at that speed (MFU 30.2 %, calibration.csv): "
        "the paper's count includes a recomputed forward, so activations were fully recomputed",
        seq=2048,
        vocab=GPT_VOCAB,
        tied_embeddings=True,
        global_batch_tokens=1920 * 2048,
        parallelism={"tp": 8, "pp": 35, "vp": 1},
        recompute="full",
        flash_attention=False,
    ),
    PublishedRun(
        "glm-130b",
        "training",
        _gpt(130, 70, 12288, 96, 2048),
        "fp16",
        "a100-40g",
        768,
        "tokens_per_s_per_device",
        six_nd_tokens_per_s(0.325 * 312, 130, 70, 12288, 2048),
        "Zeng et al., 'GLM-130B', ICLR 2023, sec. 3 (MFU 32.5 % and HFU 43.3 % on 768 A100-40G, TP4 PP8, "
        "PipeDream-Flush 1F1B pipeline without interleaving, batch 4,224 x 2K)",
        caveat="MFU assumed counted as 6N + causal attention; HFU / MFU = 4/3 is a recomputed forward (full "
        "recomputation)",
        seq=2048,
        vocab=150_528,
        tied_embeddings=True,
        global_batch_tokens=4224 * 2048,
        parallelism={"tp": 4, "pp": 8, "vp": 1},
        recompute="full",
        flash_attention=False,
    ),
    PublishedRun(
        "opt-175b",
        "training",
        _gpt(175, 96, 12288, 96, 2048),
        "fp16",
        "a100-80g",
        992,
        "tokens_per_s_per_device",
        six_nd_tokens_per_s(147, 175, 96, 12288, 2048),
        "Zhang et al., 'OPT: Open Pre-trained Transformer Language Models', arXiv:2205.01068, sec. 2.4 "
        "(147 TFLOP/s per "
        "GPU on 992 A100-80GB, FSDP with Megatron TP8, 2M-token batch)",
        caveat=f"'up to' 147 TFLOP/s; {NOT_CHECKED}",
        seq=2048,
        vocab=50_272,
        tied_embeddings=True,
        global_batch_tokens=2 * 2**20,
        parallelism={"tp": 8},
        flash_attention=False,
    ),
    PublishedRun(
        "llama1-65b",
        "training",
        _llama(65.2, 80, 8192, 64, 64, 2048),
        "bf16",
        "a100-80g",
        2048,
        "tokens_per_s_per_device",
        380,
        "Touvron et al., 'LLaMA', arXiv:2302.13971, sec. 2.4 (380 tokens/s/GPU on 2,048 A100-80GB, 4M-token batch)",
        caveat="the paper uses tensor and sequence parallelism (Korthikanti et al.) without its degree: 8, one node, "
        "assumed; it saves linear-layer outputs and recomputes the rest (selective recomputation); xformers attention",
        seq=2048,
        vocab=LLAMA2_VOCAB,
        global_batch_tokens=4 * 2**20,
        parallelism={"tp": 8},
        recompute="selective",
    ),
    PublishedRun(
        "bloom-176b",
        "training",
        _gpt(176.2, 70, 14336, 112, 2048),
        "bf16",
        "a100-80g",
        384,
        "accelerator_hours",
        1_082_990,
        "Luccioni et al., 'Estimating the Carbon Footprint of BLOOM' (2022); "
        "BigScience, arXiv:2211.05100 (TP4 PP12 DP8); the run's script, github.com/bigscience-workshop/bigscience "
        "train/tr11-176B-ml/tr11-176B-ml.slurm (micro-batch 2, --checkpoint-activations, DeepSpeed's 1F1B pipeline)",
        caveat="hours include restarts, hardware failures and evaluation over 118 days; the script also sets "
        "CUDA_LAUNCH_BLOCKING=1 (kernels and collectives do not overlap), which the model does not represent",
        tokens_b=366,
        seq=2048,
        vocab=250_880,
        tied_embeddings=True,
        global_batch_tokens=2048 * 2048,
        parallelism={"tp": 4, "pp": 12, "vp": 1, "micro_batch": 2},
        recompute="full",
        flash_attention=False,
    ),
    PublishedRun(
        "falcon-180b",
        "training",
        _llama(179.5, 80, 14848, 232, 8, 2048),
        "bf16",
        "a100-40g",
        4096,
        "accelerator_hours",
        7_000_000,
        "Almazrouei et al., 'The Falcon Series of Open Language Models', arXiv:2311.16867 (~7M GPU-hours, 3.5T tokens, "
        "up to 4,096 A100-40GB, TP8 PP8)",
        caveat="~7M: one significant digit",
        tokens_b=3_500,
        seq=2048,
        vocab=65_024,
        tied_embeddings=True,
        global_batch_tokens=4 * 2**20,
        parallelism={"tp": 8, "pp": 8},
    ),
    # ---- Ascend 910B (ModelLink READMEs; each row's layout from the example script of the same commit) ----
    PublishedRun(
        "ascendspeed-llama2-7b",
        "training",
        _llama(6.74, 32, 4096, 32, 32, 4096),
        "bf16",
        "ascend-910b",
        8,
        "tokens_per_s_per_device",
        4241,
        f"{ASCEND}; {MODELLINK} commit 377695e8 ('optimal performance configuration'), examples/llama2/README.md "
        "and pretrain_llama2_7b_ptd.sh (TP1 PP2, micro-batch 1, global batch 256, distributed optimiser)",
        in_sample=True,
        caveat="sets Ascend's GEMM efficiency",
        seq=4096,
        vocab=LLAMA2_VOCAB,
        global_batch_tokens=256 * 4096,
        parallelism={"tp": 1, "pp": 2, "vp": 1, "micro_batch": 1},
    ),
    PublishedRun(
        "ascendspeed-llama2-7b-tp8",
        "training",
        _llama(6.74, 32, 4096, 32, 32, 4096),
        "bf16",
        "ascend-910b",
        8,
        "tokens_per_s_per_device",
        2730,
        f"{ASCEND}; {MODELLINK} commit 993384a9, examples/llama2/README_en.md and pretrain_llama2_7b_ptd.sh "
        "(TP8 PP1, micro-batch 4, global batch 16)",
        caveat="the earlier recipe of the same model (until April 2024 this row set Ascend's efficiency, searched "
        "instead of pinned to its TP8 layout)",
        seq=4096,
        vocab=LLAMA2_VOCAB,
        global_batch_tokens=16 * 4096,
        parallelism={"tp": 8, "pp": 1, "micro_batch": 4},
    ),
    PublishedRun(
        "ascendspeed-internlm-7b",
        "training",
        _llama(7.0, 32, 4096, 32, 32, 2048),
        "bf16",
        "ascend-910b",
        8,
        "tokens_per_s_per_device",
        2943,
        f"{ASCEND}; {MODELLINK} commit af1347cd, examples/intern/README_en.md and pretrain_internlm_7b_zero.sh "
        "(DeepSpeed ZeRO-2, TP1 PP1, micro-batch 2, global batch 256, sequence 2,048, activation checkpointing)",
        seq=2048,
        vocab=103_168,
        global_batch_tokens=256 * 2048,
        parallelism={"tp": 1, "pp": 1, "micro_batch": 2},
        recompute="full",
    ),
    PublishedRun(
        "ascendspeed-baichuan2-7b",
        "training",
        _llama(7.5, 32, 4096, 32, 32, 4096),
        "bf16",
        "ascend-910b",
        8,
        "tokens_per_s_per_device",
        2664,
        f"{ASCEND}; {MODELLINK} commit 42ca349b, examples/baichuan2/README_en.md and pretrain_baichuan2_ptd_7B.sh "
        "(TP8 PP1, micro-batch 4, global batch 64)",
        seq=4096,
        vocab=125_696,
        global_batch_tokens=64 * 4096,
        parallelism={"tp": 8, "pp": 1, "micro_batch": 4},
    ),
    PublishedRun(
        "ascendspeed-qwen1.5-4b",
        "training",
        _llama(3.95, 40, 2560, 20, 20, 8192),
        "bf16",
        "ascend-910b",
        8,
        "tokens_per_s_per_device",
        5033,
        f"{ASCEND}; {MODELLINK} commit 161e876a, README.md (8K row) and examples/qwen15/pretrain_qwen15_4b_ptd.sh "
        "(TP1 PP2, micro-batch 1, global batch 64, sequence 8,192)",
        caveat="this row assumed a 4,096 sequence before; the README's row and the script say 8K",
        seq=8192,
        vocab=151_936,
        global_batch_tokens=64 * 8192,
        parallelism={"tp": 1, "pp": 2, "vp": 1, "micro_batch": 1},
    ),
    PublishedRun(
        "ascendspeed-chatglm3-6b-8k",
        "training",
        _llama(6.24, 28, 4096, 32, 2, 8192),
        "fp16",
        "ascend-910b",
        8,
        "tokens_per_s_per_device",
        4297,
        f"{ASCEND}; {MODELLINK} examples/chatglm3/README_en.md and pretrain_chatglm3_6B_8K.sh "
        "(TP1 PP2, micro-batch 1, global batch 128, FP16)",
        seq=8192,
        vocab=65_024,
        global_batch_tokens=128 * 8192,
        parallelism={"tp": 1, "pp": 2, "vp": 1, "micro_batch": 1},
    ),
    PublishedRun(
        "ascendspeed-chatglm3-6b-32k",
        "training",
        _llama(6.24, 28, 4096, 32, 2, 32768),
        "fp16",
        "ascend-910b",
        8,
        "tokens_per_s_per_device",
        2501,
        f"{ASCEND}; {MODELLINK} commit 90c9e355, examples/mcore/chatglm3/README_en.md and "
        "pretrain_chatglm3_6B_32K.sh (TP1 PP1, context parallel 8 (Ulysses), micro-batch 1, global batch 32, FP16)",
        seq=32768,
        vocab=65_024,
        global_batch_tokens=32 * 32768,
        parallelism={"tp": 1, "pp": 1, "cp": 8, "micro_batch": 1},
    ),
    PublishedRun(
        "pangu-ultra-135b",
        "training",
        _llama(135, 94, 12288, 96, 8, 8192),
        "bf16",
        "ascend-910b",
        8192,
        "tokens_per_s_per_device",
        six_nd_tokens_per_s(0.52 * 320, 135, 94, 12288, 8192),
        "Yin et al., 'Pangu Ultra', arXiv:2504.07866 "
        "(8,192 Ascend NPUs, MFU 52 % per an Ascend README; shared SOURCES.md)",
        caveat="secondary MFU figure; the peak it is relative to is not stated (catalogue 320 assumed)",
        seq=8192,
        vocab=153_376,
    ),
)
