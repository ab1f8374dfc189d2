"""The parallel layout of a training job: a bounded search for the fastest one that fits.

Searched (:func:`candidates`): tensor parallel ``tp`` in {1, 2, 4, 8} within one node
and dividing the heads; context parallel ``cp`` in {1} or, for sequences of 16K tokens
and more, {1, 2, 4, 8, 16} (as Llama 3 used CP 16 at 128K, Table 4); pipeline ``pp`` any
divisor of ``count / (tp cp)`` up to the layer count; ``dp`` the rest; expert parallel
``ep`` a power of two dividing ``dp`` (MoE only, up to 256); recomputation none,
selective or full; ZeRO-1 or ZeRO-3. The micro-batch is one sequence and ``v`` (chunks
per pipeline stage) the largest of 1, 2, 4, 8 that leaves two layers per chunk (stages
may be uneven, as Llama 3 trimmed its first and last): both are
what Megatron-style recipes use for long sequences (an assumption of the search; a
pinned layout may set them). At most a few thousand layouts, scored at once with numpy
(:func:`suanli.model.training.score`) and cached per (model, hardware, count, batch).

A pinned layout (the spec's ``parallelism``) is scored the same way, with the rest of
the choices (recomputation, ZeRO) searched around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.model.hardware import Hardware
from suanli.model.training import RECOMPUTE, Candidates, Scores, TrainingWork, score

TP_CHOICES = (1, 2, 4, 8)
CP_CHOICES = (1, 2, 4, 8, 16)
LONG_SEQUENCE = 16_384
"""Context parallelism is searched from this sequence length up."""
MAX_EP = 256
V_CHOICES = (8, 4, 2, 1)


@dataclass(frozen=True)
class Pinned:
    """Parts of the layout the spec fixes (``None``: searched)."""

    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    ep: int | None = None
    cp: int | None = None
    mbs: int | None = None
    v: int | None = None
    recompute: str | None = None
    zero: int | None = None


@dataclass(frozen=True)
class Layout:
    """A parallel layout: ways of each parallelism, micro-batch, recomputation, ZeRO stage."""

    tp: int
    cp: int
    pp: int
    dp: int
    ep: int
    mbs: int
    v: int
    recompute: str
    zero: int

    def describe(self) -> str:
        parts = f"TP{self.tp} CP{self.cp} PP{self.pp} DP{self.dp}"
        if self.ep > 1:
            parts += f" EP{self.ep}"
        if self.v > 1:
            parts += f" VP{self.v}"
        return f"{parts}, micro-batch {self.mbs}, recompute {self.recompute}, ZeRO-{self.zero}"


@dataclass(frozen=True)
class Chosen:
    """The fastest layout that fits, with its step-time and memory parts."""

    layout: Layout
    step_s: float
    parts_s: dict[str, float]
    memory_bytes: dict[str, float]
    microbatches: int
    searched: int


@dataclass(frozen=True)
class NoLayout:
    """Why no layout fits: the smallest memory need found, or a pinned layout's problem."""

    reason: str
    least_memory_bytes: float


def _pinned_text(pin: Pinned) -> str:
    return ", ".join(f"{name} {value}" for name, value in vars(pin).items() if value is not None)


def _divisors(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def _interleave(layers: int, pp: int) -> int:
    if pp == 1:
        return 1
    for v in V_CHOICES:
        if pp * v * 2 <= layers:
            return v
    return 1


def candidates(work: TrainingWork, devices_per_node: int, heads: int, count: int, pin: Pinned) -> Candidates | str:
    """Every layout the search scores, or why none can be formed."""
    rows: list[tuple[float, ...]] = []
    tps = [pin.tp] if pin.tp else [t for t in TP_CHOICES if t <= devices_per_node and heads % t == 0]
    long_seq = work.seq >= LONG_SEQUENCE
    cps = [pin.cp] if pin.cp else [c for c in CP_CHOICES if c == 1 or (long_seq and work.seq // c >= 4096)]
    recomputes = [RECOMPUTE.index(pin.recompute)] if pin.recompute else [0, 1, 2]
    zeros = [pin.zero] if pin.zero else ([1] if work.lora else [1, 3])
    mbs = pin.mbs or 1
    for tp in tps:
        for cp in cps:
            if count % (tp * cp):
                continue
            rest = count // (tp * cp)
            pps = [pin.pp] if pin.pp else _divisors(rest, work.layers)
            for pp in pps:
                if rest % pp:
                    continue
                dp = rest // pp
                if pin.dp and dp != pin.dp:
                    continue
                if work.global_batch_seqs < dp * mbs:
                    continue
                if work.is_moe:
                    eps = [pin.ep] if pin.ep else [e for e in (2**i for i in range(9)) if e <= min(dp, MAX_EP)]
                    eps = [e for e in eps if dp % e == 0]
                else:
                    eps = [1]
                v = pin.v or _interleave(work.layers, pp)
                for ep in eps:
                    for rec in recomputes:
                        for zero in zeros:
                            rows.append((tp, cp, pp, dp, ep, mbs, v, rec, zero, work.global_batch_seqs))
    if not rows:
        return (
            f"no layout of {count} devices divides into tensor x context x pipeline x data parallel "
            f"with at least one sequence of the {work.global_batch_seqs:,.0f}-sequence global batch "
            "per data-parallel rank" + (f" as pinned ({_pinned_text(pin)})" if any(vars(pin).values()) else "")
        )
    table = np.array(rows, dtype=np.float64)
    return Candidates(*(table[:, i] for i in range(10)))


def _pick(scores: Scores, cands: Candidates, usable_bytes: float, searched: int) -> Chosen | NoLayout:
    memory = scores.memory_bytes
    fits = memory <= usable_bytes
    if not fits.any():
        return NoLayout("no layout fits in memory", float(memory.min()))
    step = np.where(fits, scores.step_s, np.inf)
    i = int(np.argmin(step))
    layout = Layout(
        tp=int(cands.tp[i]),
        cp=int(cands.cp[i]),
        pp=int(cands.pp[i]),
        dp=int(cands.dp[i]),
        ep=int(cands.ep[i]),
        mbs=int(cands.mbs[i]),
        v=int(cands.v[i]),
        recompute=RECOMPUTE[int(cands.recompute[i])],
        zero=int(cands.zero[i]),
    )
    parts = {
        "gemm_s": scores.gemm_s[i],
        "attention_s": scores.attention_s[i],
        "elementwise_s": scores.elementwise_s[i],
        "optimizer_s": scores.optimizer_s[i],
        "tp_comm_s": scores.tp_s[i],
        "cp_comm_s": scores.cp_s[i],
        "ep_comm_s": scores.ep_s[i],
        "dp_comm_s": scores.dp_s[i],
        "pp_p2p_s": scores.pp_p2p_s[i],
        "bubble_s": scores.bubble_s[i],
    }
    mem = {
        "weights_grads_gb": scores.weights_bytes[i] / 1e9,
        "optimizer_gb": scores.optimizer_bytes[i] / 1e9,
        "activations_gb": scores.activation_bytes[i] / 1e9,
    }
    return Chosen(
        layout=layout,
        step_s=float(scores.step_s[i]),
        parts_s={k: float(v) for k, v in parts.items()},
        memory_bytes={k: float(v) for k, v in mem.items()},
        microbatches=int(scores.microbatches[i]),
        searched=searched,
    )


def _slice(scores: Scores, part: slice) -> Scores:
    return Scores(**{name: getattr(scores, name)[part] for name in Scores.__dataclass_fields__})


def _subset(cands: Candidates, part: slice) -> Candidates:
    return Candidates(**{name: getattr(cands, name)[part] for name in Candidates.__dataclass_fields__})


def search_many(
    works: list[TrainingWork],
    counts: list[int],
    hw: Hardware,
    attention_flops_rate: float,
    heads: int,
    usable_bytes: float,
    pin: Pinned = Pinned(),
) -> list[Chosen | NoLayout]:
    """The fastest layout that fits in ``usable_bytes`` per device for each (work, count):
    the works differ only in their global batch (which may grow with the count), so every
    candidate of every count is scored in one numpy pass. The planner asks for all of a
    job's counts at once (:func:`suanli.model.performance.choose_layout` caches them)."""
    groups: list[Candidates | str] = [
        candidates(work, hw.devices_per_node, heads, count, pin) for work, count in zip(works, counts, strict=True)
    ]
    built = [g for g in groups if not isinstance(g, str)]
    results: list[Chosen | NoLayout] = []
    if not built:
        return [NoLayout(g, float("inf")) for g in groups if isinstance(g, str)]
    joined = Candidates(
        **{name: np.concatenate([getattr(g, name) for g in built]) for name in Candidates.__dataclass_fields__}
    )
    scores = score(works[0], hw, attention_flops_rate, joined)
    start = 0
    for group in groups:
        if isinstance(group, str):
            results.append(NoLayout(group, float("inf")))
            continue
        part = slice(start, start + len(group.tp))
        start = part.stop
        results.append(_pick(_slice(scores, part), _subset(joined, part), usable_bytes, len(group.tp)))
    return results


def search(
    work: TrainingWork,
    hw: Hardware,
    attention_flops_rate: float,
    heads: int,
    count: int,
    usable_bytes: float,
    pin: Pinned = Pinned(),
) -> Chosen | NoLayout:
    """The fastest layout of ``count`` devices that fits (:func:`search_many` for one)."""
    return search_many([work], [count], hw, attention_flops_rate, heads, usable_bytes, pin)[0]
