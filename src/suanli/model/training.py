"""Training step time and memory per device for a parallel layout (scored many layouts at once).

Notation: ``L`` layers, ``h`` hidden size, ``s`` sequence length, ``N`` active parameters,
``G`` global batch in sequences; a layout splits ``count = tp x cp x pp x dp`` devices
(tensor, context, pipeline, data parallel; experts over ``ep`` of the data-parallel ranks),
with micro-batches of ``mbs`` sequences, ``m = G / (dp x mbs)`` of them per pipeline and
``v`` interleaved chunks per stage.

Per step (all work divides evenly over the ``count`` devices):

- GEMM FLOPs = ``G s x 2N x 3`` (forward 2N, backward 4N: Kaplan et al. 2020; LoRA skips
  the weight gradients: 2N x 2), plus one more forward with full recomputation.
- Attention FLOPs = ``G s x 2 s w L x 3``: QK^T and AV, 4 s w per token per layer (``w`` the
  attention width, heads x head size: ``h`` for most dense models, wider for MLA),
  halved by the causal mask that FlashAttention skips (Dao 2023), forward + backward;
  the term 6ND leaves out. Attention runs in BF16 even in FP8 training (Transformer
  Engine), at ``ATTENTION_EFFICIENCY`` of the BF16 GEMM rate (FlashAttention-2 reaches
  50-73 % of A100 peak against ~80 % for GEMMs; FlashAttention-3 ~75 % of H100's BF16 peak).
- Element-wise traffic = ``G s x L x h x ELEMENTWISE_BYTES[precision]`` through HBM
  (norms, residuals, rotary, SwiGLU, and in FP8 the casts and transposes), the term that
  makes small models and FP8 less efficient than their GEMMs and H200 faster than H100.
- Optimiser: Adam reads and writes ``OPTIMIZER_BYTES`` per parameter of its shard.
- Tensor parallel with sequence parallelism: per layer and micro-batch, 4 all-gathers
  and 4 reduce-scatters of ``mbs s h / cp`` BF16 values (Korthikanti et al. 2022, sec.
  4.2.2), 6 each with full recomputation; ``TP_EXPOSED`` of it is on the critical path.
- Context parallel (ring attention): each layer passes K and V around the ``cp`` ranks,
  twice that in the backward pass, hidden behind that layer's attention where it can be.
- Expert parallel: 4 all-to-alls per MoE layer and micro-batch (dispatch and combine,
  forward and backward) of ``top_k`` x the micro-batch's hidden states; ``EP_EXPOSED``
  of it is exposed (DeepSeek-V3 sec. 3.2.1 overlaps nearly all; Megatron-Core overlaps
  with the shared experts).
- Data parallel: reduce-scatter of the gradients and all-gather of the parameters
  (distributed optimiser, ZeRO-1) once per step, overlapped with the last micro-batch's
  backward and the first one's forward; with ZeRO-3 the parameters are gathered for
  every micro-batch's forward and backward, overlapped with compute.
- Pipeline bubble = ``(pp - 1) / v`` micro-batch times (Narayanan et al. SC'21, sec. 2.2),
  plus the fill and drain point-to-point transfers.
- Vocabulary (where the model states it): an untied input embedding is a lookup, not a GEMM
  (its ``V h`` parameters leave the GEMM count), and the last pipeline stage also runs the
  LM head, ``V h / (one layer's parameters)`` layers' worth: every micro-batch goes at the
  pace of the busiest stage (:func:`slowest_stage`; the docs listed this imbalance as a gap).

Memory per device (Korthikanti et al. 2022 for activations; Megatron-Core's distributed
optimiser for states): weights 2 bytes + BF16 gradient buffer 2 bytes per parameter of the
device's share (``/(tp pp)``, experts also ``/ep``; ``WEIGHT_GRAD_BYTES``), Adam's 12 bytes
sharded over the data-parallel ranks (ZeRO-1) or all 16 bytes sharded (ZeRO-3); activations
per layer and micro-batch ``ACTIVATION_BYTES[recompute] x mbs s h / (tp cp)`` (34 with none:
the attention-score term is gone with FlashAttention; 2 per layer plus one full layer with
full recomputation), with keys and values at the cache's width (``MHA_KV_BYTES``), and
``min(m, pipeline_in_flight(pp, v))`` micro-batches in flight on the first stage (1F1B, or
the interleaved schedule's longer warm-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.model import comm
from suanli.model.hardware import Hardware

Array = npt.NDArray[np.float64]

RECOMPUTE = ("none", "selective", "full")
ATTENTION_EFFICIENCY = 0.75
ELEMENTWISE_BYTES: dict[str, float] = {"bf16": 140.0, "fp16": 140.0, "fp32": 280.0, "fp8": 200.0}
"""HBM bytes per token, per layer, per unit of hidden size, forward + backward. Counted:
two RMSNorms (read + write h, 8h), two residual adds (12h), rotary (~5h), SwiGLU on a
3.5h FFN (21h) = ~46h forward at 2 bytes, ~3x with backward = ~140; FP8 adds the casts
and transposes of the four GEMM inputs (~7.5h values read at 2 and written at 1 byte,
forward and backward) = ~60 more. Counted by hand from the Llama layer (an estimate)."""
LOSS_BYTES_PER_LOGIT = 24.0
"""HBM bytes per token per vocabulary entry for the LM head's softmax cross-entropy, forward
+ backward: the BF16 logits written (2) and read (2), upcast to FP32 for the max, the exp
and sum and the softmax (~4 x 4), and the BF16 logit gradient written (2) and read by the
head's backward GEMMs (2) (Megatron-LM's vocab-parallel cross-entropy; counted by hand, an
estimate)."""
EAGER_SCORE_BYTES = 33.0
RECOMPUTE_ELEMENTWISE = {"none": 1.0, "selective": 1.15, "full": 4.0 / 3.0}
"""Selective recomputation redoes the norms and activation functions (Megatron-Core
``recompute_modules``), about half the forward element-wise work; full redoes the forward."""
ACTIVATION_BYTES = {"none": 34.0, "selective": 24.0, "full": 2.0}
"""Bytes per token per unit of hidden per layer kept for the backward pass (Korthikanti et
al. 2022, eq. 2 without the 5as/h attention term; selective also drops the SwiGLU and norm
outputs, ~10; full keeps only each layer's input)."""
MHA_KV_BYTES = 4.0
"""Of those 34 (none) or 24 (selective), the keys and values: 2 bytes each at width ``h``
(Korthikanti et al. count 4sbh for Q and K and 2sbh for V, multi-head). A model with fewer
key-value heads (GQA) keeps ``2 x kv_per_layer`` bytes of them instead, and a latent cache
(MLA) its latent, as DeepSeek-V3 recomputes the up-projections in the backward pass (report
sec. 3.2.3; that recomputation's time is not charged). Nemotron-4 340B, 8 of 96 heads: 30.3
instead of 34; Llama 3 405B, 8 of 128: 30.25."""
OPTIMIZER_BYTES = 30.0
"""Adam reads FP32 master, moments and gradient (16 B) and writes master, moments and the
BF16 copy (14 B) per parameter."""
WEIGHT_GRAD_BYTES = 4.0
"""BF16 weight (2) + BF16 gradient buffer (2) per parameter, the buffer the data-parallel
reduce-scatter sends (``GRAD_REDUCE_BYTES``): Megatron-Core's distributed optimiser holds
``4 + 12/d`` bytes per parameter with gradients kept and reduced in BF16, as NeMo's
performance recipes run it (``grad_reduce_in_fp32=False`` in
``nemo/collections/llm/recipes/nemotron4_340b.py``, ``grad_sync_dtype: bf16`` in
NeMo-Framework-Launcher's ``nemotron_340b.yaml``); Megatron-LM's FP32 accumulation default is
``6 + 12/d`` and doubles the reduction's bytes. The FP32 copy of a gradient shard exists only
during the optimiser step, when the activations are freed."""
ADAM_STATE_BYTES = 12.0
"""FP32 master weight, momentum and variance."""
GRAD_REDUCE_BYTES = 2.0
"""Gradients reduced in BF16 (an assumption; FP32 reduction doubles the data-parallel traffic)."""
TP_EXPOSED = 0.6
"""Share of tensor-parallel communication not hidden behind GEMMs (Transformer Engine's
user-buffer overlap hides part; an assumption)."""
EP_EXPOSED = 0.5
"""Share of expert all-to-all not hidden (an assumption between Megatron-Core's partial and
DeepSeek's DualPipe near-full overlap)."""
DP_OVERLAP = 1.0
"""The data-parallel collectives overlap up to one micro-batch of compute."""
ZERO3_OVERLAP = 0.9
"""ZeRO-3 parameter gathers are prefetched behind up to 90 % of the compute."""
EXPERT_GEMM_HALF_TOKENS = 256.0
"""Tokens per expert at which a grouped expert GEMM reaches half its large-GEMM efficiency:
``f = t / (t + 256)``, ``t`` = tokens routed to each local expert per micro-batch. Small
per-expert batches leave the tensor cores idle (an estimate from the shape of cuBLAS
efficiency curves for K = 7,168, N = 2,048; a DeepSeek-V3 expert)."""
ROUTED_SHARE = 0.6
"""Share of active parameters in routed experts (DeepSeek-V3 ~0.55: 8 x 58 layers x 44M of
37B; Qwen3-235B-A22B ~0.65); an assumption for MoE models that do not say."""
A2A_BYTES = {"fp8": 1.5}
"""Bytes per value sent by expert all-to-all: FP8 dispatch and BF16 combine (DeepSeek-V3
sec. 3.3); 2 (BF16) otherwise."""


@dataclass(frozen=True)
class TrainingWork:
    """The sizes of one training job that set its step time and memory."""

    params: float
    active: float
    expert_params: float
    """Parameters in routed experts (0 for dense models)."""
    layers: int
    hidden: int
    kv_per_layer: int
    """K and V values per token per layer."""
    seq: int
    global_batch_seqs: float
    top_k: int
    precision: str
    lora: bool
    heads: int = 1
    experts: int = 128
    flash_attention: bool = True
    """False for runs before FlashAttention (2022): the attention scores go through HBM."""
    attention_width: int = 0
    """Width of the score and value products (:attr:`ModelShape.attention_width`; 0: hidden)."""
    vocab: int = 0
    """Vocabulary size (0: unknown, no embedding or LM-head terms)."""
    tied_embeddings: bool = False

    @property
    def is_moe(self) -> bool:
        return self.expert_params > 0

    @property
    def dense_params(self) -> float:
        return self.params - self.expert_params

    @property
    def embedding_params(self) -> float:
        """Parameters of one vocabulary matrix (``vocab x hidden``)."""
        return float(self.vocab * self.hidden)

    @property
    def gemm_params(self) -> float:
        """Active parameters that multiply: all but an untied input embedding, a table lookup."""
        return self.active - (0.0 if self.tied_embeddings else self.embedding_params)

    @property
    def head_layers(self) -> float:
        """The LM head's work in layers: ``vocab x h`` over one layer's active parameters."""
        if not self.vocab:
            return 0.0
        per_layer = (self.active - self.embedding_params * (1.0 if self.tied_embeddings else 2.0)) / self.layers
        return self.embedding_params / max(per_layer, 1.0)

    @property
    def gemm_flops_per_token(self) -> float:
        """Forward + backward GEMM FLOPs per token, no recomputation."""
        return 2.0 * self.gemm_params * (2.0 if self.lora else 3.0)

    @property
    def attention_flops_per_token(self) -> float:
        """Causal FlashAttention skips the masked half; eager attention computes it all."""
        width = self.attention_width or self.hidden
        return 2.0 * self.seq * width * self.layers * 3.0 * (1.0 if self.flash_attention else 2.0)

    @property
    def score_bytes_per_token_layer(self) -> float:
        """Eager attention writes, normalises, masks and reads ``heads x s`` scores per token
        per layer: ~11 bytes each forward (BF16 scores, softmax in and out, a dropout mask),
        ~3x that with the backward pass (Korthikanti et al. 2022 store 5 a s of them)."""
        return 0.0 if self.flash_attention else EAGER_SCORE_BYTES * self.heads * self.seq


@dataclass(frozen=True)
class Candidates:
    """Layouts to score, one entry per layout (numpy arrays of equal length)."""

    tp: Array
    cp: Array
    pp: Array
    dp: Array
    ep: Array
    mbs: Array
    v: Array
    recompute: Array
    """Index into :data:`RECOMPUTE`."""
    zero: Array
    """1 (distributed optimiser) or 3 (fully sharded)."""
    gbs: Array
    """Global batch in sequences (the layouts of several counts are scored together, and the
    default batch grows with the count)."""


@dataclass(frozen=True)
class Scores:
    """Per-layout step time parts (s) and memory parts (bytes), arrays like the candidates."""

    step_s: Array
    compute_s: Array
    gemm_s: Array
    attention_s: Array
    elementwise_s: Array
    optimizer_s: Array
    tp_s: Array
    cp_s: Array
    ep_s: Array
    dp_s: Array
    pp_p2p_s: Array
    bubble_s: Array
    weights_bytes: Array
    optimizer_bytes: Array
    activation_bytes: Array
    microbatches: Array

    @property
    def memory_bytes(self) -> Array:
        return self.weights_bytes + self.optimizer_bytes + self.activation_bytes


def slowest_stage(layers: int, pp: Array, head: float) -> Array:
    """The busiest pipeline stage's work over the mean stage's, when one stage also runs the
    LM head (``head`` layers' worth) and whole layers are placed to balance the stages (uneven
    stages, as Llama 3 trimmed its first and last). The smallest feasible maximum ``T`` is the
    least of: the head stage full to an integer ``T`` (``T pp - ceil(head) >= L``), the head
    stage at ``j + head`` with the others at ``j + floor(head)`` (``j pp + floor(head)(pp - 1)
    >= L``), and the head stage alone (``T = max(head, ceil(L / (pp - 1)))``). 1 where ``pp``
    is 1 or the vocabulary is unknown."""
    if head <= 0.0:
        return np.ones_like(pp)
    full = np.ceil((layers + math.ceil(head)) / pp)
    j = np.maximum(0.0, np.ceil((layers - math.floor(head) * (pp - 1.0)) / pp))
    alone = np.maximum(head, np.ceil(layers / np.maximum(pp - 1.0, 1.0)))
    busiest = np.minimum(np.minimum(full, j + head), np.where(pp > 1, alone, np.inf))
    mean = (layers + head) / pp
    return np.where(pp > 1, np.maximum(1.0, busiest / mean), 1.0)


def pipeline_in_flight(pp: Array, v: Array) -> Array:
    """Micro-batches whose activations the first pipeline stage holds at its peak, in whole
    stages' worth: ``pp`` with 1F1B (Narayanan et al. SC'21, sec. 2.2: stage ``r`` runs
    ``pp - r - 1`` warm-up forwards, then one forward per backward); with ``v`` interleaved
    chunks, Megatron-Core's schedule warms up ``2 (pp - 1) + (v - 1) pp`` chunks on the first
    stage before its first backward (``forward_backward_pipelining_with_interleaving`` in
    ``megatron/core/pipeline_parallel/schedules.py``), ``v pp + pp - 1`` chunks at the peak:
    ``pp (1 + (pp - 1) / (pp v))`` stages' worth (Korthikanti et al. 2022 sec. 4.2.3's factor).
    The caller caps it at the ``m`` micro-batches of the step."""
    return np.where(v > 1, pp + (pp - 1.0) / v, pp)


def score(work: TrainingWork, hw: Hardware, attention_flops_rate: float, c: Candidates) -> Scores:
    """Step time and memory of every layout in ``c`` (see the module docstring); the global
    batch is each candidate's ``gbs``, not ``work.global_batch_seqs``."""
    count = c.tp * c.cp * c.pp * c.dp
    rec_full = c.recompute == 2
    rec_sel = c.recompute == 1
    tokens = c.gbs * work.seq
    m = np.maximum(1.0, np.ceil(c.gbs / (c.dp * c.mbs)))

    gemm_tok = work.gemm_flops_per_token + np.where(rec_full, 2.0 * work.gemm_params, 0.0)
    attn_tok = work.attention_flops_per_token * np.where(rec_full, 4.0 / 3.0, 1.0)
    elem_factor = np.where(rec_full, RECOMPUTE_ELEMENTWISE["full"], np.where(rec_sel, 1.15, 1.0))
    gemm_s = tokens * gemm_tok / (count * hw.gemm_flops)
    if work.is_moe:
        per_expert = c.mbs * work.seq / c.cp * work.top_k * c.ep / work.experts
        slow = (per_expert + EXPERT_GEMM_HALF_TOKENS) / per_expert
        gemm_s = gemm_s * (1.0 - ROUTED_SHARE + ROUTED_SHARE * slow)
    attention_s = tokens * attn_tok / (count * attention_flops_rate * ATTENTION_EFFICIENCY)
    score_factor = np.where(rec_full | rec_sel, 4.0 / 3.0, 1.0)
    elementwise_s = (
        tokens
        * work.layers
        * (
            work.hidden * ELEMENTWISE_BYTES.get(work.precision, 140.0) * elem_factor
            + work.score_bytes_per_token_layer * score_factor
        )
        + tokens * work.vocab * LOSS_BYTES_PER_LOGIT
    ) / (count * hw.memory_bps)
    compute_s = gemm_s + attention_s + elementwise_s

    # Parameters held per device: dense part over tp x pp, routed experts also over ep.
    dense_dev = work.dense_params / (c.tp * c.pp)
    expert_dev = work.expert_params / (c.tp * c.pp * c.ep)
    held = dense_dev + expert_dev
    dp_dense = c.dp * c.cp
    dp_expert = np.maximum(1.0, c.dp * c.cp / c.ep)
    shard = dense_dev / dp_dense + expert_dev / dp_expert
    optimizer_s = np.where(work.lora, 0.0, shard * OPTIMIZER_BYTES / hw.memory_bps)

    layers_dev = work.layers / c.pp
    tokens_mb = c.mbs * work.seq / c.cp
    act_values = tokens_mb * work.hidden

    # Tensor parallel (sequence parallel): 8 gathers/scatters per layer per micro-batch.
    tp_bw = np.where(c.tp <= hw.devices_per_node, hw.intra_bps, hw.inter_bps)
    tp_lat = np.where(c.tp <= hw.devices_per_node, 8e-6, 25e-6)
    tp_ops = np.where(rec_full, 12.0, 8.0)
    tp_one = comm.all_gather_s(act_values * 2.0, c.tp, tp_bw, tp_lat)
    tp_s = TP_EXPOSED * tp_ops * tp_one * layers_dev * m

    # Context parallel: K and V chunks around the ring, hidden behind the layer's attention.
    # (Parts that no candidate uses are skipped: the search scores a plan's every option.)
    zeros = np.zeros_like(compute_s)
    dpn = float(hw.devices_per_node)
    cp_s = zeros
    if (c.cp > 1).any():
        cp_bw = np.where(c.tp * c.cp <= hw.devices_per_node, hw.intra_bps, hw.inter_bps)
        kv_chunk = tokens_mb * work.kv_per_layer * 2.0 / c.tp
        cp_layer = 3.0 * (c.cp - 1.0) * kv_chunk / cp_bw
        attn_layer = attention_s / (layers_dev * m)
        cp_s = np.where(c.cp > 1, np.maximum(0.0, cp_layer - attn_layer) * layers_dev * m, 0.0)

    # Expert parallel all-to-all, 4 per MoE layer per micro-batch (6 with full recompute);
    # EP ranks are strided by tp x cp, so a node holds devices_per_node / (tp cp) of them.
    ep_s = zeros
    if work.is_moe:
        ep_local = np.maximum(1.0, np.minimum(c.ep, dpn / (c.tp * c.cp)))
        a2a_size = act_values / c.tp * work.top_k * A2A_BYTES.get(work.precision, 2.0)
        a2a_ops = np.where(rec_full, 6.0, 4.0)
        a2a_lat = np.where(ep_local < c.ep, 25e-6, 8e-6)
        a2a_one = comm.hierarchical_all_to_all_s(a2a_size, c.ep, ep_local, hw.intra_bps, hw.inter_bps, a2a_lat)
        ep_s = EP_EXPOSED * a2a_ops * a2a_one * layers_dev * m

    # The slowest pipeline stage sets every micro-batch's pace: the one that also runs the LM head.
    stage = slowest_stage(work.layers, c.pp, work.head_layers)
    compute_s, tp_s, cp_s, ep_s = (part * stage for part in (compute_s, tp_s, cp_s, ep_s))
    gemm_s, attention_s, elementwise_s = (part * stage for part in (gemm_s, attention_s, elementwise_s))
    per_mb_s = (compute_s + tp_s + cp_s + ep_s) / m

    # Data parallel: gradient reduce-scatter + parameter all-gather (ZeRO-1) once per step,
    # over dp x cp ranks strided by tp, hierarchically (intra-node first, then one NIC rail each).
    dp_local = np.maximum(1.0, np.minimum(dp_dense, dpn / c.tp))
    ex_local = np.maximum(1.0, np.minimum(dp_expert, dpn / (c.tp * c.ep)))
    dp_lat = np.where(count <= dpn, 8e-6, 25e-6)

    def gather(size: Array, n: Array, local: Array) -> Array:
        return comm.hierarchical_all_gather_s(size, n, local, hw.intra_bps, hw.inter_bps, dp_lat)

    def both(bytes_per_param: float) -> Array:
        dense = gather(dense_dev * bytes_per_param, dp_dense, dp_local)
        return dense + gather(expert_dev * bytes_per_param, dp_expert, ex_local) if work.is_moe else dense

    zero1 = zeros if work.lora else 2.0 * both(GRAD_REDUCE_BYTES)
    dp_s = np.maximum(0.0, zero1 - DP_OVERLAP * per_mb_s)
    if (c.zero == 3).any():
        zero3 = 2.0 * m * both(2.0) + zero1 / 2.0
        dp_s = np.where(c.zero == 3, np.maximum(0.0, zero3 - ZERO3_OVERLAP * compute_s), dp_s)

    # Pipeline: bubble of (pp - 1) / v micro-batches, plus fill and drain transfers.
    pp_bw = np.where(count <= hw.devices_per_node, hw.intra_bps, hw.inter_bps)
    p2p_one = comm.p2p_s(act_values * 2.0 / c.tp, pp_bw, 25e-6)
    pp_p2p_s = np.where(c.pp > 1, 2.0 * (c.pp - 1.0) * c.v * p2p_one, 0.0)
    bubble_s = (c.pp - 1.0) / c.v * per_mb_s

    step_s = compute_s + optimizer_s + tp_s + cp_s + ep_s + dp_s + pp_p2p_s + bubble_s

    # Memory per device.
    if work.lora:
        weight_bytes = held * (1.0 if work.precision in ("fp8", "int8") else 2.0)
        opt_bytes = np.zeros_like(held)
    else:
        weight_bytes = np.where(c.zero == 3, shard * WEIGHT_GRAD_BYTES, held * WEIGHT_GRAD_BYTES)
        opt_bytes = shard * ADAM_STATE_BYTES
        # ZeRO-3 gathers one layer's weights at a time, two in flight (prefetch).
        weight_bytes = weight_bytes + np.where(c.zero == 3, 2.0 * 2.0 * held / layers_dev, 0.0)
    scores_kept = 0.0 if work.flash_attention else 5.0 * work.heads * work.seq / c.cp / work.hidden
    # K and V are kept at the cache's width (grouped-query heads, or MLA's latent), not h.
    kv_kept = 2.0 * work.kv_per_layer / work.hidden - MHA_KV_BYTES
    per_layer = np.where(
        rec_full,
        ACTIVATION_BYTES["full"] * act_values / c.tp,
        np.where(rec_sel, ACTIVATION_BYTES["selective"], ACTIVATION_BYTES["none"] + scores_kept) * act_values / c.tp
        + kv_kept * act_values / c.tp,
    )
    in_flight = np.minimum(m, pipeline_in_flight(c.pp, c.v))
    activation_bytes = per_layer * layers_dev * in_flight + np.where(
        rec_full, ACTIVATION_BYTES["none"] * act_values / c.tp, 0.0
    )
    return Scores(
        step_s=step_s,
        compute_s=compute_s,
        gemm_s=gemm_s,
        attention_s=attention_s,
        elementwise_s=elementwise_s,
        optimizer_s=optimizer_s,
        tp_s=tp_s,
        cp_s=cp_s,
        ep_s=ep_s,
        dp_s=dp_s,
        pp_p2p_s=pp_p2p_s,
        bubble_s=bubble_s,
        weights_bytes=np.asarray(weight_bytes, dtype=np.float64),
        optimizer_bytes=np.asarray(opt_bytes, dtype=np.float64),
        activation_bytes=activation_bytes,
        microbatches=m,
    )
