"""How long a job runs on N accelerators of one type, and how hard it works them.

Independent of site and start time: those change energy prices and carbon, not speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.catalog import Accelerator
from suanli.catalog.throughput import ThroughputTable
from suanli.model import efficiency, memory
from suanli.model.breakdown import Line, Section, sci
from suanli.model.reasons import Code, Infeasible, Rejection
from suanli.model.shapes import ModelShape
from suanli.units import SECONDS_PER_HOUR
from suanli.workload import JobSpec

TRAINING_FLOPS_PER_PARAM_TOKEN = 6.0
"""Forward 2 + backward 4 FLOPs per active parameter per token (Kaplan et al. 2020, sec. 2.1)."""
LORA_FLOPS_PER_PARAM_TOKEN = 4.0
"""LoRA skips weight gradients of frozen weights: forward 2 + activation gradients 2."""
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
"""One multiply-add per active parameter per token."""

POWER_LOAD: dict[str, float] = {"Training": 0.85, "FineTuning": 0.85, "BatchInference": 0.7}
"""Average accelerator draw as a fraction of TDP. Training runs near TDP and inference
well below it (Patel et al., "Characterizing Power Management Opportunities for LLMs in
the Cloud", ASPLOS'24); the exact fractions are assumptions."""
SERVICE_IDLE_LOAD = 0.3
"""Draw of an idle serving accelerator as a fraction of TDP (assumption); a service draws
``SERVICE_IDLE_LOAD + (POWER_LOAD['BatchInference'] - SERVICE_IDLE_LOAD) x busy``."""
MAX_DECODE_BATCH = 256
"""Largest decode batch per replica (vLLM's default ``max_num_seqs``)."""


@dataclass(frozen=True)
class Performance:
    """Speed of one job on one accelerator type and count."""

    duration_h: float
    flops: float | None
    power_load: float
    """Average accelerator draw as a fraction of TDP."""
    lines: Section


def performance(
    job: JobSpec,
    shape: ModelShape | None,
    accel: Accelerator,
    count: int,
    profiles: ThroughputTable | None = None,
) -> Performance:
    """Duration and load of ``job`` on ``count`` x ``accel``; raises :class:`Infeasible`."""
    if job.profile is not None:
        return _profiled(job, accel, count, profiles)
    if shape is None:  # parse_spec guarantees a model or a profile
        raise ValueError("a job needs a model or a profile")
    peak = efficiency.peak_flops(accel, job.precision)
    if peak is None:
        have = ", ".join(sorted(accel.tflops))
        raise Infeasible(Rejection(Code.PRECISION_UNSUPPORTED, f"{accel.id} has no {job.precision} peak (has {have})"))
    if job.kind in ("Training", "FineTuning"):
        return _training(job, shape, accel, count, peak)
    if job.kind == "BatchInference":
        return _batch_inference(job, shape, accel, count, peak)
    return _service(job, shape, accel, count, peak)


def _training(job: JobSpec, shape: ModelShape, accel: Accelerator, count: int, peak: float) -> Performance:
    if job.precision == "int8":
        raise Infeasible(Rejection(Code.PRECISION_UNSUPPORTED, "int8 is for inference; train in bf16 or fp8"))
    lora = job.kind == "FineTuning" and job.method == "lora"
    need = memory.training_memory(shape, count, accel.memory_gb, job.precision, lora=lora)
    if not need.fits:
        raise Infeasible(
            Rejection(
                Code.INSUFFICIENT_MEMORY,
                f"needs {need.per_device_gb:.1f} GB per device on {count} x {accel.id} "
                f"({need.states_gb:.1f} GB states + {need.activations_gb:.1f} GB activations), "
                f"{need.usable_gb:.1f} GB usable",
            )
        )
    assert job.tokens_b is not None
    tokens = job.tokens_b * 1e9
    per_token = LORA_FLOPS_PER_PARAM_TOKEN if lora else TRAINING_FLOPS_PER_PARAM_TOKEN
    flops = per_token * shape.active_params * tokens
    util = efficiency.training_utilisation(accel, count, job.precision, shape.is_moe)
    achieved = peak * util.total
    seconds = flops / (achieved * count)
    lines = (
        Line(
            "flops", flops, "FLOP", f"{per_token:g} x {sci(shape.active_params)} active params x {sci(tokens)} tokens"
        ),
        Line("peak_flops_per_device", peak, "FLOP/s", f"{accel.id} dense {job.precision} peak"),
        Line(
            "utilisation",
            util.total,
            "",
            f"base {util.base:.2f} ({accel.family}) x precision {util.precision:.2f} x moe {util.moe:.2f}"
            f" x intra-node {util.intra_node:.3f} x inter-node {util.inter_node:.3f}"
            f" ({efficiency.nodes_for(accel, count)} nodes)",
        ),
        Line("achieved_flops_per_device", achieved, "FLOP/s", "peak x utilisation"),
        Line("memory_per_device_gb", need.per_device_gb, "GB", f"of {need.usable_gb:.1f} GB usable"),
        Line("duration_h", seconds / SECONDS_PER_HOUR, "h", f"flops / (achieved x {count}) / 3600"),
    )
    return Performance(seconds / SECONDS_PER_HOUR, flops, POWER_LOAD[job.kind], lines)


@dataclass(frozen=True)
class _Replicas:
    size: int
    count: int
    batch: int
    kv_per_token: float


def _replicas(job: JobSpec, shape: ModelShape, accel: Accelerator, count: int) -> _Replicas:
    """Smallest power-of-two replica that holds the weights and one full sequence's KV cache."""
    weights = memory.weight_bytes(shape, job.precision)
    kv_per_token = memory.kv_bytes_per_token(shape, job.precision)
    assert job.input_tokens is not None and job.output_tokens is not None
    sequence = job.input_tokens + job.output_tokens
    usable = accel.memory_gb * 1e9 * memory.USABLE_MEMORY_FRACTION
    size = 1
    while size * usable < weights + kv_per_token * sequence:
        size *= 2
        if size > count:
            raise Infeasible(
                Rejection(
                    Code.INSUFFICIENT_MEMORY,
                    f"{weights / 1e9:.0f} GB of {job.precision} weights plus one sequence's KV cache "
                    f"do not fit on {count} x {accel.id} ({usable * count / 1e9:.0f} GB usable)",
                )
            )
    batch = int((size * usable - weights) // (kv_per_token * sequence))
    return _Replicas(
        size=size, count=count // size, batch=max(1, min(MAX_DECODE_BATCH, batch)), kv_per_token=kv_per_token
    )


def _decode_step_s(job: JobSpec, shape: ModelShape, accel: Accelerator, peak: float, r: _Replicas, batch: int) -> float:
    """One decode step of ``batch`` sequences on one replica: the slower of reading the
    weights (all of them for dense models; up to active x batch for MoE) plus the KV cache
    at mid-generation, and computing 2 x active FLOPs per sequence."""
    assert job.input_tokens is not None and job.output_tokens is not None
    width = memory.weight_bytes(shape, job.precision) / shape.params
    weights_read = min(shape.params, shape.active_params * batch) * width
    kv_read = batch * (job.input_tokens + job.output_tokens / 2) * r.kv_per_token
    bandwidth = r.size * accel.memory_bw_tbps * 1e12 * efficiency.INFERENCE_BANDWIDTH_UTILISATION
    compute = r.size * peak * efficiency.INFERENCE_COMPUTE_UTILISATION
    return max(
        (weights_read + kv_read) / bandwidth, INFERENCE_FLOPS_PER_PARAM_TOKEN * shape.active_params * batch / compute
    )


def _prefill_s(job: JobSpec, shape: ModelShape, peak: float, devices: int) -> float:
    assert job.input_tokens is not None
    compute = devices * peak * efficiency.INFERENCE_COMPUTE_UTILISATION
    return INFERENCE_FLOPS_PER_PARAM_TOKEN * shape.active_params * job.input_tokens / compute


def _batch_inference(job: JobSpec, shape: ModelShape, accel: Accelerator, count: int, peak: float) -> Performance:
    r = _replicas(job, shape, accel, count)
    assert job.requests is not None and job.input_tokens is not None and job.output_tokens is not None
    prefill_s = _prefill_s(job, shape, peak, r.size) * job.requests / r.count
    step_s = _decode_step_s(job, shape, accel, peak, r, r.batch)
    steps = math.ceil(job.requests / (r.batch * r.count)) * job.output_tokens
    decode_s = steps * step_s
    seconds = prefill_s + decode_s
    flops = (
        INFERENCE_FLOPS_PER_PARAM_TOKEN * shape.active_params * job.requests * (job.input_tokens + job.output_tokens)
    )
    lines = (
        Line(
            "flops",
            flops,
            "FLOP",
            f"2 x {sci(shape.active_params)} active params x {job.requests} requests"
            f" x {job.input_tokens + job.output_tokens} tokens",
        ),
        Line(
            "replicas", r.count, "", f"{r.count} x {r.size} {accel.id} (smallest power of two that holds the weights)"
        ),
        Line("decode_batch", r.batch, "sequences", f"KV cache room per replica, at most {MAX_DECODE_BATCH}"),
        Line(
            "prefill_h",
            prefill_s / SECONDS_PER_HOUR,
            "h",
            "2 x active x input tokens per request / (replica peak x 0.5)",
        ),
        Line("decode_step_ms", step_s * 1e3, "ms", "max(bytes read / (bandwidth x 0.8), FLOPs / (peak x 0.5))"),
        Line("decode_h", decode_s / SECONDS_PER_HOUR, "h", f"{steps} steps x step time"),
        Line("duration_h", seconds / SECONDS_PER_HOUR, "h", "prefill + decode"),
    )
    return Performance(seconds / SECONDS_PER_HOUR, flops, POWER_LOAD["BatchInference"], lines)


def _service(job: JobSpec, shape: ModelShape, accel: Accelerator, count: int, peak: float) -> Performance:
    """Smallest decode batch whose throughput carries ``rate_rps`` x output tokens, then the
    request latency (time to first token + output tokens x step time) against the SLO."""
    r = _replicas(job, shape, accel, count)
    assert job.rate_rps and job.output_tokens and job.latency_slo_ms and job.duration_h and job.input_tokens
    needed_tps = job.rate_rps * job.output_tokens
    prefill_busy = _prefill_s(job, shape, peak, r.size) * job.rate_rps / r.count
    if prefill_busy >= 1.0:
        raise Infeasible(
            Rejection(
                Code.CAPACITY_TOO_LOW, f"prefill alone needs {prefill_busy:.1f}x the compute of {count} x {accel.id}"
            )
        )
    batch, step_s, tps = 1, 0.0, 0.0
    while True:
        step_s = _decode_step_s(job, shape, accel, peak, r, batch)
        tps = r.count * batch / step_s * (1.0 - prefill_busy)
        if tps >= needed_tps or batch >= r.batch:
            break
        batch = min(r.batch, batch * 2)
    if tps < needed_tps:
        raise Infeasible(
            Rejection(
                Code.CAPACITY_TOO_LOW,
                f"{count} x {accel.id} decode at most {tps:,.0f} tokens/s; {needed_tps:,.0f} needed",
            )
        )
    ttft_s = _prefill_s(job, shape, peak, r.size)
    latency_ms = (ttft_s + job.output_tokens * step_s) * 1e3
    if latency_ms > job.latency_slo_ms:
        raise Infeasible(
            Rejection(
                Code.SLO_NOT_MET, f"request latency {latency_ms:,.0f} ms exceeds the {job.latency_slo_ms:,.0f} ms SLO"
            )
        )
    busy = min(1.0, needed_tps / (tps / (1.0 - prefill_busy)) + prefill_busy)
    load = SERVICE_IDLE_LOAD + (POWER_LOAD["BatchInference"] - SERVICE_IDLE_LOAD) * busy
    seconds = job.duration_h * SECONDS_PER_HOUR
    flops = (
        INFERENCE_FLOPS_PER_PARAM_TOKEN
        * shape.active_params
        * job.rate_rps
        * seconds
        * (job.input_tokens + job.output_tokens)
    )
    lines = (
        Line("flops", flops, "FLOP", "2 x active params x rate x duration x tokens per request"),
        Line("replicas", r.count, "", f"{r.count} x {r.size} {accel.id}"),
        Line("decode_batch", batch, "sequences", "smallest power of two that carries the rate"),
        Line("throughput_tokens_per_s", tps, "tokens/s", f"needed {needed_tps:,.0f}"),
        Line("ttft_ms", ttft_s * 1e3, "ms", "prefill of one request on one replica"),
        Line(
            "latency_ms",
            latency_ms,
            "ms",
            f"ttft + {job.output_tokens} x {step_s * 1e3:.1f} ms step; SLO {job.latency_slo_ms:g} ms",
        ),
        Line("busy_fraction", busy, "", "share of capacity in use"),
        Line("duration_h", job.duration_h, "h", "as the spec asks"),
    )
    return Performance(job.duration_h, flops, load, lines)


def _profiled(job: JobSpec, accel: Accelerator, count: int, profiles: ThroughputTable | None) -> Performance:
    assert job.profile is not None
    if profiles is None:
        raise Infeasible(
            Rejection(Code.NO_PROFILE, f"job class '{job.profile.job_class}' needs a throughput table (--profiles)")
        )
    found = profiles.steps_per_s(job.profile.job_class, accel, count)
    if found is None:
        raise Infeasible(
            Rejection(
                Code.NO_PROFILE,
                f"no measured or scalable throughput for '{job.profile.job_class}' on {count} x {accel.id}",
            )
        )
    steps_per_s, how = found
    seconds = job.profile.steps / steps_per_s
    lines = (
        Line("steps", job.profile.steps, "steps", f"job class '{job.profile.job_class}'"),
        Line("steps_per_s", steps_per_s, "steps/s", how),
        Line("duration_h", seconds / SECONDS_PER_HOUR, "h", "steps / steps_per_s / 3600"),
    )
    return Performance(seconds / SECONDS_PER_HOUR, None, POWER_LOAD.get(job.kind, POWER_LOAD["Training"]), lines)
