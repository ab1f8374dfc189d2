"""How long a job runs on N accelerators of one type, and how hard it works them.

Independent of site and start time: those change energy prices and carbon, not speed.
The serving model (:mod:`suanli.model.inference`) loads with the first inference job, so
a training plan's short process does not import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TYPE_CHECKING

from suanli.catalog import Accelerator
from suanli.catalog.throughput import ThroughputTable
from suanli.model import efficiency, goodput, hardware, layout, memory, training
from suanli.model.breakdown import Line, Section, sci
from suanli.model.reasons import Code, Infeasible, Rejection
from suanli.model.shapes import ModelShape
from suanli.units import SECONDS_PER_HOUR
from suanli.workload import JobSpec
from suanli.workload.spec import token_p90

if TYPE_CHECKING:
    from suanli.model import inference

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


@dataclass(frozen=True)
class Performance:
    """Speed of one job on one accelerator type and count."""

    duration_h: float
    flops: float | None
    power_load: float
    """Average accelerator draw as a fraction of TDP."""
    derivation: Section | Callable[[], Section] = field(repr=False, compare=False)
    """:attr:`lines`, or what writes them when they are first read: a plan reads the
    duration and load of every type and count it tries (56 for the README's fine-tuning)
    and the derivation of none, which took 2.5 ms of its 20 here to write."""

    @cached_property
    def lines(self) -> Section:
        """Each figure of the estimate with its unit and how it was found."""
        return self.derivation() if callable(self.derivation) else self.derivation


def performance(
    job: JobSpec,
    shape: ModelShape | None,
    accel: Accelerator,
    count: int,
    profiles: ThroughputTable | None = None,
    flash_attention: bool = True,
) -> Performance:
    """Duration and load of ``job`` on ``count`` x ``accel``; raises :class:`Infeasible`.

    ``flash_attention=False`` models software before FlashAttention (published runs of
    2020-2022 in the calibration set); plans assume current kernels."""
    if job.profile is not None:
        return _profiled(job, accel, count, profiles)
    if shape is None:  # parse_spec guarantees a model or a profile
        raise ValueError("a job needs a model or a profile")
    peak = efficiency.peak_flops(accel, job.precision)
    if peak is None:
        have = ", ".join(sorted(accel.tflops))
        raise Infeasible(Rejection(Code.PRECISION_UNSUPPORTED, f"{accel.id} has no {job.precision} peak (has {have})"))
    if job.kind in ("Training", "FineTuning"):
        return _training(job, shape, accel, count, peak, flash_attention)
    if job.kind == "BatchInference":
        return _batch_inference(job, shape, accel, count, peak)
    return _service(job, shape, accel, count, peak)


DEFAULT_BATCH_TOKENS = 4 * 2**20
"""Global batch where the spec gives none: 4M tokens (Llama 2 and GPT-3 175B used 4M-3.2M),
raised to one sequence per accelerator on large clusters (an assumption: the critical
batch grows with scale; Llama 3 405B used 16M on 16K GPUs, DeepSeek-V3 63M on 2,048)."""


def training_work(job: JobSpec, shape: ModelShape, count: int, flash_attention: bool = True) -> training.TrainingWork:
    """The sizes of ``job`` that set its step time (sequence: ``sequence_tokens``, else the
    model's context, at most :data:`memory.TRAINING_SEQUENCE`)."""
    seq = job.sequence_tokens or min(shape.context, memory.TRAINING_SEQUENCE)
    batch_tokens = job.global_batch_tokens or max(DEFAULT_BATCH_TOKENS, count * seq)
    return training.TrainingWork(
        params=shape.params,
        active=shape.active_params,
        expert_params=shape.params - shape.active_params,
        layers=shape.layers,
        hidden=shape.hidden,
        kv_per_layer=max(1, shape.kv_values_per_token // shape.layers),
        seq=seq,
        global_batch_seqs=max(1.0, batch_tokens / seq),
        top_k=shape.top_k,
        precision=job.precision,
        lora=job.kind == "FineTuning" and job.method == "lora",
        heads=shape.heads or max(1, shape.hidden // 128),
        experts=shape.experts,
        flash_attention=flash_attention,
        attention_width=shape.attention_width,
        vocab=shape.vocab,
        tied_embeddings=shape.tied_embeddings,
    )


def _pinned(job: JobSpec) -> layout.Pinned:
    par = job.parallelism
    if par is None:
        return layout.Pinned(recompute=job.recompute)
    return layout.Pinned(
        tp=par.tp, pp=par.pp, dp=par.dp, ep=par.ep, cp=par.cp, mbs=par.micro_batch, v=par.vp, recompute=job.recompute
    )


_LAYOUTS: dict[tuple[object, ...], layout.Chosen | layout.NoLayout] = {}
LAYOUT_CACHE_SIZE = 16_384
"""Layout searches kept per (work without its batch, hardware, pin, count)."""


def choose_layout(
    job: JobSpec, shape: ModelShape, accel: Accelerator, count: int, peak: float, flash_attention: bool = True
) -> tuple[training.TrainingWork, layout.Chosen | layout.NoLayout]:
    """The training job's work and its fastest layout on ``count`` x ``accel``. On a miss the
    search runs for every count the job's resources name at once (a plan asks for each)."""
    work = training_work(job, shape, count, flash_attention)
    hw = hardware.hardware(accel, job.precision, peak)
    bf16 = efficiency.peak_flops(accel, "bf16") or peak
    attention_rate = bf16 * hardware.gemm_efficiency(accel, "bf16")
    usable = memory.usable_bytes(accel.memory_gb)
    heads = shape.heads or 1
    pin = _pinned(job)
    key = (dataclasses.replace(work, global_batch_seqs=0.0), hw, attention_rate, heads, usable, pin)
    if (key, count) not in _LAYOUTS:
        if len(_LAYOUTS) >= LAYOUT_CACHE_SIZE:
            _LAYOUTS.clear()
        missing = [n for n in sorted({count, *job.resources.counts()}) if (key, n) not in _LAYOUTS]
        works = [training_work(job, shape, n, flash_attention) for n in missing]
        found_all = layout.search_many(works, missing, hw, attention_rate, heads, usable, pin)
        for n, found in zip(missing, found_all, strict=True):
            _LAYOUTS[(key, n)] = found
    return work, _LAYOUTS[(key, count)]


_TRAINING_CACHE: dict[tuple[object, ...], Performance] = {}
TRAINING_CACHE_SIZE = 8192
"""Training estimates kept per (job's training fields, shape, accelerator, count): a plan asks
for each accelerator type and count once per call, and the same again on the next plan."""


def _accel_key(accel: Accelerator) -> tuple[object, ...]:
    return (
        accel.id,
        accel.family,
        accel.memory_gb,
        accel.memory_bw_tbps,
        accel.interconnect_gbps,
        accel.scale_out_gbps,
        accel.devices_per_node,
        tuple(sorted(accel.tflops.items())),
    )


def _training(
    job: JobSpec, shape: ModelShape, accel: Accelerator, count: int, peak: float, flash_attention: bool = True
) -> Performance:
    key = (
        job.kind,
        job.method,
        job.precision,
        job.tokens_b,
        job.sequence_tokens,
        job.global_batch_tokens,
        job.parallelism,
        job.recompute,
        shape,
        _accel_key(accel),
        count,
        peak,
        flash_attention,
    )
    found = _TRAINING_CACHE.get(key)
    if found is None:
        if len(_TRAINING_CACHE) >= TRAINING_CACHE_SIZE:
            _TRAINING_CACHE.clear()
        found = _TRAINING_CACHE[key] = _training_uncached(job, shape, accel, count, peak, flash_attention)
    return found


def _training_uncached(
    job: JobSpec, shape: ModelShape, accel: Accelerator, count: int, peak: float, flash_attention: bool = True
) -> Performance:
    if job.precision == "int8":
        raise Infeasible(Rejection(Code.PRECISION_UNSUPPORTED, "int8 is for inference; train in bf16 or fp8"))
    work, chosen = choose_layout(job, shape, accel, count, peak, flash_attention)
    usable_gb = memory.usable_bytes(accel.memory_gb) / 1e9
    if isinstance(chosen, layout.NoLayout):
        if chosen.least_memory_bytes == float("inf"):
            code = Code.LAYOUT_MISMATCH if job.parallelism is not None else Code.INSUFFICIENT_ACCELERATORS
            raise Infeasible(Rejection(code, chosen.reason))
        raise Infeasible(
            Rejection(
                Code.INSUFFICIENT_MEMORY,
                f"no parallel layout fits on {count} x {accel.id}: the leanest needs "
                f"{chosen.least_memory_bytes / 1e9:.1f} GB per device, {usable_gb:.1f} GB usable",
            )
        )
    assert job.tokens_b is not None
    tokens = job.tokens_b * 1e9
    tokens_per_step = work.global_batch_seqs * work.seq
    steps = tokens / tokens_per_step
    kept = goodput.goodput(count)
    seconds = steps * chosen.step_s / kept
    per_token = LORA_FLOPS_PER_PARAM_TOKEN if work.lora else TRAINING_FLOPS_PER_PARAM_TOKEN
    flops = per_token * shape.active_params * tokens
    derivation = partial(_training_lines, job, shape, accel, count, peak, work, chosen, steps, seconds)
    return Performance(seconds / SECONDS_PER_HOUR, flops, POWER_LOAD[job.kind], derivation)


def _training_lines(
    job: JobSpec,
    shape: ModelShape,
    accel: Accelerator,
    count: int,
    peak: float,
    work: training.TrainingWork,
    chosen: layout.Chosen,
    steps: float,
    seconds: float,
) -> Section:
    """The derivation of a training estimate (:attr:`Performance.lines`), from the figures
    :func:`_training_uncached` found."""
    assert job.tokens_b is not None
    tokens = job.tokens_b * 1e9
    tokens_per_step = work.global_batch_seqs * work.seq
    usable_gb = memory.usable_bytes(accel.memory_gb) / 1e9
    kept = goodput.goodput(count)
    per_token = LORA_FLOPS_PER_PARAM_TOKEN if work.lora else TRAINING_FLOPS_PER_PARAM_TOKEN
    flops = per_token * shape.active_params * tokens
    attention = work.attention_flops_per_token * tokens
    mfu = flops / (seconds * kept * count * peak)
    parts = chosen.parts_s
    mem = chosen.memory_bytes
    return (
        Line(
            "flops", flops, "FLOP", f"{per_token:g} x {sci(shape.active_params)} active params x {sci(tokens)} tokens"
        ),
        Line(
            "attention_flops",
            attention,
            "FLOP",
            f"2 x {work.seq} seq x {work.attention_width or shape.hidden} attention width x {shape.layers} x 3",
        ),
        Line("peak_flops_per_device", peak, "FLOP/s", f"{accel.id} dense {job.precision} peak"),
        Line(
            "gemm_efficiency",
            hardware.gemm_efficiency(accel, job.precision),
            "",
            f"achieved share of peak in large GEMMs ({accel.family}, {job.precision})",
        ),
        Line("layout", chosen.layout.describe(), "", f"fastest that fits of {chosen.searched} searched"),
        *(
            Line(name, float(getattr(chosen.layout, name)), "", "ways" if name != "mbs" else "sequences")
            for name in ("tp", "cp", "pp", "dp", "ep", "v", "mbs")
        ),
        Line("recompute", chosen.layout.recompute, "", "activation recomputation"),
        Line("zero_stage", float(chosen.layout.zero), "", "optimiser-state sharding"),
        Line("global_batch_tokens", tokens_per_step, "tokens", f"{chosen.microbatches} micro-batches per pipeline"),
        Line("step_s", chosen.step_s, "s", "compute + exposed communication + bubble"),
        *(Line(name, value, "s", "per step") for name, value in parts.items()),
        Line("mfu", mfu, "", "6 x active x tokens / (steady time x count x peak)"),
        Line("memory_per_device_gb", sum(mem.values()), "GB", f"of {usable_gb:.1f} GB usable"),
        *(Line(name, value, "GB", "per device") for name, value in mem.items()),
        Line("goodput", kept, "", f"restarts and lost work on {count} accelerators (Llama 3 report)"),
        Line("duration_h", seconds / SECONDS_PER_HOUR, "h", f"{steps:,.0f} steps x step time / goodput / 3600"),
    )


def workload(job: JobSpec, max_batch: int | None = None) -> inference.Workload:
    """The request lengths of an inference job (means of a length distribution); a batch
    job's ``tpot_ms`` caps its decode batch."""
    from suanli.model import inference

    return inference.Workload(
        input_tokens=job.input_mean,
        output_tokens=job.output_mean,
        prefix_cache_hit=job.prefix_cache_hit or 0.0,
        input_p90=token_p90(job.input_tokens),
        max_batch=max_batch,
        max_step_s=job.tpot_ms / 1e3 if job.tpot_ms is not None and job.kind == "BatchInference" else None,
    )


def _no_replica(job: JobSpec, shape: ModelShape, accel: Accelerator, count: int) -> Infeasible:
    usable = memory.usable_bytes(accel.memory_gb) / 1e9 * count
    return Infeasible(
        Rejection(
            Code.INSUFFICIENT_MEMORY,
            f"{memory.weight_bytes(shape, job.precision) / 1e9:.0f} GB of {job.precision} weights plus one "
            f"sequence's KV cache do not fit on {count} x {accel.id} ({usable:.0f} GB usable)",
        )
    )


def _replica_lines(r: inference.Replica, accel: Accelerator, considered: int) -> tuple[Line, ...]:
    return (
        Line("replicas", r.replicas, "", f"{r.describe()} on {accel.id}; best of {considered} replica sizes"),
        Line("decode_batch", r.batch, "sequences", "KV-cache room / (KV bytes per token x (input + output / 2))"),
        Line("kv_capacity_tokens", r.kv_capacity_tokens, "tokens", "per replica, after the weights"),
        Line("decode_step_ms", r.step_s * 1e3, "ms", "max(bytes read / bandwidth, FLOPs / compute) + TP all-reduce"),
        Line("prefill_ms", r.prefill_s * 1e3, "ms", "one request's new tokens at prefill efficiency"),
        Line("decode_tokens_per_s", r.decode_tps, "tokens/s", "decode only: replicas x batch / step"),
        Line("input_tokens_per_s", r.prefill_tps, "tokens/s", "prefill only: replicas x input / prefill"),
        Line("output_tokens_per_s", r.output_tps, "tokens/s", "continuous batching: prefill and decode share devices"),
    )


def batch_inference(
    job: JobSpec,
    shape: ModelShape,
    accel: Accelerator,
    count: int,
    max_batch: int | None = None,
    replica_size: int | None = None,
) -> Performance:
    """A BatchInference job with at most ``max_batch`` sequences in flight per replica and,
    if given, replicas of ``replica_size`` devices (the calibration's measurements of a
    stated system); ``performance`` for the rest."""
    peak = efficiency.peak_flops(accel, job.precision)
    if peak is None:
        raise Infeasible(Rejection(Code.PRECISION_UNSUPPORTED, f"{accel.id} has no {job.precision} peak"))
    return _batch_inference(job, shape, accel, count, peak, max_batch, replica_size)


def _batch_inference(
    job: JobSpec,
    shape: ModelShape,
    accel: Accelerator,
    count: int,
    peak: float,
    max_batch: int | None = None,
    replica_size: int | None = None,
) -> Performance:
    from suanli.model import inference

    load = workload(job, max_batch)
    hw = hardware.hardware(accel, job.precision, peak)
    sizes = [replica_size] if replica_size else None
    found = inference.options(shape, job.precision, accel, hw, peak, count, load, sizes)
    if not found:
        raise _no_replica(job, shape, accel, count)
    r = found[0]
    assert job.requests is not None
    seconds = job.requests / r.requests_per_s
    tokens = load.input_tokens + load.output_tokens
    flops = INFERENCE_FLOPS_PER_PARAM_TOKEN * shape.active_params * job.requests * tokens
    lines = (
        Line(
            "flops",
            flops,
            "FLOP",
            f"2 x {sci(shape.active_params)} active params x {job.requests} requests x {tokens:g} tokens",
        ),
        *_replica_lines(r, accel, len(found)),
        Line("duration_h", seconds / SECONDS_PER_HOUR, "h", "requests / request rate / 3600"),
    )
    return Performance(seconds / SECONDS_PER_HOUR, flops, POWER_LOAD["BatchInference"], lines)


def _slo_misses(job: JobSpec, s: inference.Served) -> list[str]:
    from suanli.model import inference

    misses = []
    if s.busy > inference.MAX_BUSY:
        misses.append(f"{s.busy:.0%} busy (at most {inference.MAX_BUSY:.0%})")
    checks = (
        ("ttft", s.ttft_s, job.ttft_ms),
        ("tpot", s.tpot_s, job.tpot_ms),
        ("latency", s.latency_s, job.latency_slo_ms),
    )
    for name, value_s, slo_ms in checks:
        if slo_ms is not None and value_s * 1e3 > slo_ms:
            over = "inf" if math.isinf(value_s) else f"{value_s * 1e3:,.0f} ms, {value_s * 1e3 / slo_ms - 1:+.0%}"
            misses.append(f"{name} {over} over the {slo_ms:,.0f} ms objective")
    return misses


def _service(job: JobSpec, shape: ModelShape, accel: Accelerator, count: int, peak: float) -> Performance:
    """The replica choice that meets every objective (TTFT, TPOT, latency, busy) with the
    most headroom; else ``SLO_NOT_MET`` or ``CAPACITY_TOO_LOW`` naming the nearest miss."""
    from suanli.model import inference

    load = workload(job)
    hw = hardware.hardware(accel, job.precision, peak)
    found = inference.options(shape, job.precision, accel, hw, peak, count, load)
    if not found:
        raise _no_replica(job, shape, accel, count)
    assert job.rate_rps and job.duration_h
    served = [inference.serve(shape, job.precision, hw, peak, r, load, job.rate_rps) for r in found]
    ok = [s for s in served if not _slo_misses(job, s)]
    if not ok:
        nearest = min(served, key=lambda s: s.busy)
        misses = _slo_misses(job, nearest)
        capacity = nearest.replica.requests_per_s
        if nearest.busy >= 1.0 or all(s.busy > inference.MAX_BUSY for s in served):
            raise Infeasible(
                Rejection(
                    Code.CAPACITY_TOO_LOW,
                    f"{count} x {accel.id} serve at most {capacity:,.2f} requests/s "
                    f"({nearest.replica.describe()}); {job.rate_rps:g} needed",
                )
            )
        raise Infeasible(
            Rejection(
                Code.SLO_NOT_MET,
                f"nearest: {nearest.replica.describe()}: "
                + "; ".join(misses)
                + f" (ttft {nearest.ttft_s * 1e3:,.0f} ms, tpot {nearest.tpot_s * 1e3:,.1f} ms)",
            )
        )
    best = min(ok, key=lambda s: s.latency_s)
    r = best.replica
    load_frac = SERVICE_IDLE_LOAD + (POWER_LOAD["BatchInference"] - SERVICE_IDLE_LOAD) * min(1.0, best.busy)
    seconds = job.duration_h * SECONDS_PER_HOUR
    tokens = load.input_tokens + load.output_tokens
    flops = INFERENCE_FLOPS_PER_PARAM_TOKEN * shape.active_params * job.rate_rps * seconds * tokens
    lines = (
        Line("flops", flops, "FLOP", "2 x active params x rate x duration x tokens per request"),
        *_replica_lines(r, accel, len(found)),
        Line("batch_in_flight", best.batch, "sequences", "Little's law: rate per replica x output x step"),
        Line("ttft_ms", best.ttft_s * 1e3, "ms", "prefill / (1 - prefill utilisation)"),
        Line("tpot_ms", best.tpot_s * 1e3, "ms", "decode step at the batch in flight"),
        Line(
            "latency_ms",
            best.latency_s * 1e3,
            "ms",
            f"ttft + {load.output_tokens:g} x tpot; SLO {job.latency_slo_ms:g} ms" if job.latency_slo_ms else "",
        ),
        Line("busy_fraction", best.busy, "", f"share of capacity in use (at most {inference.MAX_BUSY:.0%})"),
        Line("duration_h", job.duration_h, "h", "as the spec asks"),
    )
    return Performance(job.duration_h, flops, load_frac, lines)


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
