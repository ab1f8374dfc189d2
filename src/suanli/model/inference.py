"""Inference: replicas sized for throughput, batches limited by KV-cache memory.

For a replica of ``size`` devices (tensor parallel ``tp = min(size, devices per node)``,
pipeline ``size / tp``; a MoE model spreads its experts over all of them, EP = size):

- KV room = size x (usable memory) - weights; batch ``B`` = KV room / (KV bytes per token x
  (input + output / 2)): with paged attention (Kwon et al., SOSP'23) a sequence holds, on
  average over its generation, its prompt and half its output. No fixed cap.
- Decode step (memory-bound, Pope et al., "Efficiently Scaling Transformer Inference",
  MLSys'23): max(bytes read / bandwidth, (2 x active + 4 w L x context) x B / compute), w the
  attention width (:attr:`ModelShape.decode_attention_width`), bytes = the weights
  (for MoE the shared part and the ``E (1 - (1 - k/E)^B)`` of ``E`` experts that ``B``
  tokens taking ``k`` each pick, :func:`touched_params`) + the KV cache of the batch, each
  device reading its 1/size; plus 2 all-reduces of B x h BF16 values per layer for tensor
  parallelism (Megatron-LM's row/column split) and, for MoE, 2 all-to-alls per layer.
- Prefill (compute-bound): 2 x active x new tokens + attention 4 x w' x L x new tokens x
  mean context (causal), w' the attention width of training and prefill
  (:attr:`ModelShape.attention_width`: MLA's heads decompressed), at ``PREFILL_EFFICIENCY``
  of the replica's peak; new tokens = input x (1 - prefix cache hit) (DeepSeek's serving note reports 56.3 % hits).
- Continuous batching: a replica serves ``lambda = 1 / (prefill + output x step(B) / B)``
  requests/s (prefill and decode share the devices; chunked prefill interleaves them).

The replica size is chosen to maximise the throughput of all replicas that fit in
``count``, not the smallest that holds the weights.

Services (M/G/1-style per replica, an approximation of the batch scheduler): at a request
rate ``lambda_r`` per replica, the decode batch is what Little's law gives,
``B = lambda_r x output x step(B)`` (solved by fixed point), prefill waits
``rho / (1 - rho)`` prefill times where ``rho = lambda_r x prefill``, so
``TTFT = prefill / (1 - rho)`` and ``TPOT = step(B) / (1 - rho)`` (decode gets the time
prefill leaves); busy = ``lambda_r x (prefill + output x step(B_max) / B_max)``, the share of
the replica's capacity in use, must stay under ``MAX_BUSY`` so a replica is never sized to
run near saturation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.catalog import Accelerator
from suanli.model import comm, memory, training
from suanli.model.hardware import Hardware
from suanli.model.shapes import ModelShape

PREFILL_EFFICIENCY = 0.51
"""Share of the dense peak prefill reaches. In-sample: set on NIM's Llama-3.3-70B FP8 TTFT
on 2 x H100 (406.77 ms for 5,000 tokens, calibration set)."""
DECODE_COMPUTE_EFFICIENCY = 0.5
"""Share of peak for decode's small GEMMs when the batch is large enough to be compute-bound
(an assumption)."""
DECODE_LAYER_OVERHEAD_S = 20e-6
"""Fixed time per layer per decode step beyond its bytes and FLOPs: ~10 kernels (norms,
attention, GEMMs, activation) at a few microseconds of launch and tail each, even under CUDA
graphs (an estimate; it is what keeps batch-1 decode of a 70B model on two H100 at ~57 %
of the memory bandwidth in NIM's measurement rather than 80 %)."""
MAX_BUSY = 0.85
"""A service replica is sized to at most 85 % of its capacity (queueing delay grows as
1 / (1 - rho); an assumption in line with serving practice)."""


@dataclass(frozen=True)
class Workload:
    """The requests an inference job serves: mean tokens in and out, and its limits."""

    input_tokens: float
    output_tokens: float
    prefix_cache_hit: float = 0.0
    input_p90: float = 0.0
    """90th percentile of input tokens (0: every request at the mean). Prefill attention grows
    with the square of the length, so a spread raises its mean cost: E[n^2] = mean^2 + sd^2,
    sd = (p90 - mean) / 1.2816 (a normal spread; an assumption)."""
    max_batch: int | None = None
    """Cap on sequences in flight per replica (None: what KV memory allows)."""
    max_step_s: float | None = None
    """Per-token objective (TPOT): the batch is cut until a decode step meets it."""


@dataclass(frozen=True)
class Replica:
    """``replicas`` copies of the model on ``size`` devices each, at one batch, and what they serve."""

    size: int
    tp: int
    pp: int
    replicas: int
    batch: int
    kv_capacity_tokens: float
    step_s: float
    prefill_s: float
    decode_tps: float
    """Decode-only output tokens/s of all replicas at this batch."""
    prefill_tps: float
    """Prefill-only input tokens/s of all replicas."""
    requests_per_s: float
    """Continuous batching (prefill + decode) request rate of all replicas."""
    output_tps: float
    moe: bool = False

    def describe(self) -> str:
        split = f"attention DP{self.size} EP{self.size}" if self.moe else f"TP{self.tp} PP{self.pp}"
        return f"{self.replicas} x {self.size} ({split}), batch {self.batch}"


def _sizes(count: int, devices_per_node: int) -> list[int]:
    found = {s for s in (2**i for i in range(20)) if s <= count}
    found.add(count)
    return sorted(found)


def expert_slowdown(shape: ModelShape, tokens: float) -> float:
    """How much longer a MoE model's GEMMs take than their FLOPs at the large-GEMM rate, when
    ``tokens`` pass through a layer at once: each expert sees ``tokens x top_k / experts``
    and runs at ``t / (t + 256)`` (the training model's per-expert term,
    :data:`suanli.model.training.EXPERT_GEMM_HALF_TOKENS`, on the routed share)."""
    if not shape.is_moe:
        return 1.0
    per_expert = max(tokens * shape.top_k / shape.experts, 1e-9)
    slow = (per_expert + training.EXPERT_GEMM_HALF_TOKENS) / per_expert
    return 1.0 - training.ROUTED_SHARE + training.ROUTED_SHARE * slow


def touched_params(shape: ModelShape, tokens: float) -> float:
    """Parameters one decode step reads for ``tokens`` tokens: all of a dense model; for MoE
    the shared part and the routed experts any token picks. With ``E`` experts of which each
    token takes ``k`` (taken as independent and uniform), an expert is idle with probability
    ``(1 - k/E)^tokens``, so ``E (1 - (1 - k/E)^tokens)`` experts are read per layer: ``k``
    at one token, nearly all after ``E / k`` or so. The routed parameters are
    ``(params - active) / (1 - k/E)`` (``active`` holds ``k/E`` of them)."""
    if not shape.is_moe:
        return shape.params
    share = min(1.0, shape.top_k / shape.experts)
    if share >= 1.0:
        return shape.params
    routed = min(shape.params, (shape.params - shape.active_params) / (1.0 - share))
    picked = 1.0 - float((1.0 - share) ** max(tokens, 1.0))
    return shape.params - routed + routed * picked


def decode_step_s(
    shape: ModelShape,
    precision: str,
    hw: Hardware,
    peak: float,
    size: int,
    tp: int,
    pp: int,
    batch: float,
    context: float,
) -> float:
    """One decode step of ``batch`` sequences with ``context`` tokens each on one replica.

    A MoE replica runs attention data-parallel (each device its ``batch / size`` sequences,
    as DeepSeek's serving system does) and its experts expert-parallel over all ``size``
    devices, so it pays all-to-alls instead of tensor-parallel all-reduces, overlapped with
    compute by two micro-batches (DeepSeek, open-infra-index day 6 note)."""
    weights = memory.weight_bytes(shape, precision)
    width = weights / shape.params
    touched = touched_params(shape, batch)
    kv = batch * context * memory.kv_bytes_per_token(shape, precision)
    read_s = (touched * width + kv) / (size * hw.memory_bps)
    attention_flops = 4.0 * (shape.decode_attention_width or shape.hidden) * context * shape.layers * batch
    gemm_flops = 2.0 * shape.active_params * batch * expert_slowdown(shape, batch)
    compute_s = (gemm_flops + attention_flops) / (size * peak * DECODE_COMPUTE_EFFICIENCY)
    layers = shape.layers
    if shape.is_moe:
        comm_s = 0.0
        if size > 1:
            local = min(size, hw.devices_per_node)
            per_rank = batch / size * shape.top_k * shape.hidden * 1.5
            a2a = comm.hierarchical_all_to_all_s(
                per_rank, float(size), float(local), hw.intra_bps, hw.inter_bps, hw.latency_s(size)
            )
            comm_s = 2.0 * layers * float(a2a)
        # DeepSeek's serving overlaps the all-to-alls with compute across two micro-batches.
        return max(read_s, compute_s, comm_s) + layers * DECODE_LAYER_OVERHEAD_S
    else:
        tp_bw = hw.link_bps(tp)
        allreduce = float(comm.all_reduce_s(batch * shape.hidden * 2.0, float(tp), tp_bw, hw.latency_s(tp)))
        comm_s = 2.0 * layers * allreduce
        if pp > 1:
            comm_s += (pp - 1) * float(comm.p2p_s(batch * shape.hidden * 2.0, hw.inter_bps, hw.latency_s(2, size)))
    return max(read_s, compute_s) + comm_s + layers * DECODE_LAYER_OVERHEAD_S


def prefill_s(shape: ModelShape, hw: Hardware, peak: float, size: int, tp: int, load: Workload) -> float:
    """Prefill of one request on one replica (see module docstring)."""
    new = load.input_tokens * (1.0 - load.prefix_cache_hit)
    spread = max(0.0, load.input_p90 - load.input_tokens) / 1.2816
    square = 1.0 + (spread / load.input_tokens) ** 2  # E[n^2] / mean^2
    mean_context = load.input_tokens * (1.0 + load.prefix_cache_hit) / 2.0 * square
    flops = 2.0 * shape.active_params * new * expert_slowdown(shape, new) + (
        4.0 * (shape.attention_width or shape.hidden) * shape.layers * new * mean_context
    )
    compute = flops / (size * peak * PREFILL_EFFICIENCY)
    if shape.is_moe:
        local = min(size, hw.devices_per_node)
        per_rank = new / size * shape.top_k * shape.hidden * 1.5
        a2a = comm.hierarchical_all_to_all_s(
            per_rank, float(size), float(local), hw.intra_bps, hw.inter_bps, hw.latency_s(size)
        )
        return max(compute, 2.0 * shape.layers * float(a2a))  # overlapped, as in decode
    allreduce = float(comm.all_reduce_s(new * shape.hidden * 2.0, float(tp), hw.link_bps(tp), hw.latency_s(tp)))
    return compute + 2.0 * shape.layers * allreduce


def replica(
    shape: ModelShape,
    precision: str,
    accel: Accelerator,
    hw: Hardware,
    peak: float,
    count: int,
    size: int,
    load: Workload,
) -> Replica | None:
    """The throughput of ``count // size`` replicas of ``size`` devices, or None if the
    weights leave no KV room for one sequence."""
    tp = min(size, accel.devices_per_node)
    pp = max(1, size // tp)
    usable = memory.usable_bytes(accel.memory_gb)
    room = size * usable - memory.weight_bytes(shape, precision)
    context = load.input_tokens + load.output_tokens / 2.0
    per_seq = memory.kv_bytes_per_token(shape, precision) * context
    if room < per_seq:
        return None
    batch = int(room // per_seq)
    if load.max_batch is not None:
        batch = min(batch, load.max_batch)
    replicas = count // size
    step = decode_step_s(shape, precision, hw, peak, size, tp, pp, batch, context)
    if load.max_step_s is not None and step > load.max_step_s:
        low, high = 1, batch  # the step grows with the batch: bisect for the largest that meets it
        while low < high:
            mid = (low + high + 1) // 2
            if decode_step_s(shape, precision, hw, peak, size, tp, pp, mid, context) <= load.max_step_s:
                low = mid
            else:
                high = mid - 1
        batch = low
        step = decode_step_s(shape, precision, hw, peak, size, tp, pp, batch, context)
    pre = prefill_s(shape, hw, peak, size, tp, load)
    rate = replicas / (pre + load.output_tokens * step / batch)
    return Replica(
        size=size,
        tp=tp,
        pp=pp,
        replicas=replicas,
        batch=batch,
        kv_capacity_tokens=room / memory.kv_bytes_per_token(shape, precision),
        step_s=step,
        prefill_s=pre,
        decode_tps=replicas * batch / step,
        prefill_tps=replicas * load.input_tokens / pre,
        requests_per_s=rate,
        output_tps=rate * load.output_tokens,
        moe=shape.is_moe,
    )


def options(
    shape: ModelShape,
    precision: str,
    accel: Accelerator,
    hw: Hardware,
    peak: float,
    count: int,
    load: Workload,
    sizes: list[int] | None = None,
) -> list[Replica]:
    """Every replica size that fits, fastest (most output tokens/s) first."""
    found = []
    for size in sizes or _sizes(count, accel.devices_per_node):
        r = replica(shape, precision, accel, hw, peak, count, size, load)
        if r is not None:
            found.append(r)
    return sorted(found, key=lambda r: -r.output_tps)


@dataclass(frozen=True)
class Served:
    """A service's operating point on one replica choice."""

    replica: Replica
    batch: float
    ttft_s: float
    tpot_s: float
    latency_s: float
    busy: float


def serve(
    shape: ModelShape, precision: str, hw: Hardware, peak: float, r: Replica, load: Workload, rate_rps: float
) -> Served:
    """Operating point at ``rate_rps`` over ``r.replicas`` replicas (module docstring)."""
    lam = rate_rps / r.replicas
    context = load.input_tokens + load.output_tokens / 2.0
    rho = min(0.999, lam * r.prefill_s)  # share of time the replica spends on prefill
    batch = 1.0
    tpot = r.step_s
    for _ in range(30):
        tpot = decode_step_s(shape, precision, hw, peak, r.size, r.tp, r.pp, batch, context) / (1.0 - rho)
        nxt = min(float(r.batch), max(1.0, lam * load.output_tokens * tpot))
        if abs(nxt - batch) < 1e-3 * batch:
            break
        batch = nxt
    busy = lam * (r.prefill_s + load.output_tokens * r.step_s / r.batch)
    ttft = r.prefill_s / (1.0 - rho) if busy < 1.0 else math.inf
    return Served(r, batch, ttft, tpot, ttft + load.output_tokens * tpot, busy)
