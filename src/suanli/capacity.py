"""A normalised capacity unit: what an hour of each accelerator type is worth, in hours of
a reference type, so quotas and fair share can count capacity rather than chips (an
H800-hour is not an L20-hour).

Definition. For an accelerator type ``a`` of the catalogue and the reference type ``r``
(:data:`REFERENCE_ACCELERATOR`, ``h800``, where the catalogue has it)::

    value(a) = T(a) / T(r)        [r-hours per a-hour]
    T(a)     = tokens / (duration_h(W, 8 x a) x 8)      tokens per accelerator-hour

where ``duration_h(W, 8 x a)`` is the estimator's time
(:func:`suanli.model.performance.performance`, the figure ``suanli plan`` shows) for the
reference workload ``W`` (:func:`reference_workload`) on one 8-accelerator node of ``a``.
So ``used_capacity_hours = sum over runs of accelerator-hours x value(type)``: 1 h on
8 x H800 is 8 H800-equivalent hours, and 1 h on 8 x L20 about 1.2.

The reference workload ``W``: full-parameter training of a Qwen2.5-1.5B-architecture model
(1.54 B parameters, 28 layers, hidden 1,536, 12 query / 2 KV heads, vocabulary 151,936 with
tied embeddings: Qwen/Qwen2.5-1.5B config.json) on 4,096-token sequences in 4 M-token
batches, at the fastest precision a practitioner would use on the part (bf16 where it has
it, else fp16, else fp32). Why this one: it is the largest common model that every type of
the packaged catalogue, down to the K80 (12 GB, fp32 only), can train on one node, so every
value comes from the same formula on the same work. On the 20 types that can also train
Qwen2.5-7B on one node, that workload's values are 0-11 % lower (median 3 %; RTX 4090
-11 %, RTX 6000 -9 %, H20 -8 %): a small model favours small parts a little. The tests pin
the ordering and the values' agreement with the estimator, not the decimals.

Why the H800: it is already the reference of the live scheduler's pool speeds
(``service.control.live.live_pools``), it is the NVIDIA training part the packaged network
holds most of (9,216, beside 24,064 Ascend 910B), and "H800-hours" is how the largest
published runs trained in China report their compute (DeepSeek-V3: 2.788 M). A catalogue
without an H800 uses its first type by id.

A type the estimator cannot run ``W`` on (a future part with too little memory or no usable
precision) is valued by the roofline blend of peak FLOP/s and memory bandwidth
(:func:`suanli.model.efficiency.relative_speed`), and says so (``source = "roofline"``).

The values follow the estimator and the catalogue: change either and they move (a test
checks them against the estimator directly). They are computed once per catalogue object
(about 20 ms for the packaged 24 types) and cached; the module does no I/O and reads no
clock. Values are per accelerator-hour of *training*; inference runs are charged at the
same rate (a unit, not a forecast).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from suanli.catalog import Accelerator, Catalog
from suanli.errors import CatalogError
from suanli.model.efficiency import relative_speed
from suanli.model.performance import performance
from suanli.model.reasons import Infeasible
from suanli.model.shapes import resolve_shape
from suanli.workload import JobSpec

__all__ = [
    "REFERENCE_ACCELERATOR",
    "REFERENCE_COUNT",
    "CapacityTable",
    "CapacityValue",
    "capacity_table",
    "reference_accelerator",
    "reference_workload",
]

REFERENCE_ACCELERATOR = "h800"
"""The unit is one hour of this type (see the module docstring for why)."""
REFERENCE_COUNT = 8
"""Accelerators the reference workload runs on: one server of every packaged type
(``devices_per_node`` is 8 for all 24), so no value pays for scale-out links."""
REFERENCE_TOKENS = 1e9
"""Tokens of the reference run; the value is a ratio of rates, so the amount only has to
be large enough that a run's fixed costs do not matter."""
REFERENCE_MODEL = {
    "params_b": 1.54,
    "layers": 28,
    "hidden": 1536,
    "heads": 12,
    "kv_heads": 2,
    "context": 32768,
    "vocab": 151936,
    "tied_embeddings": True,
}
"""Qwen2.5-1.5B: huggingface.co/Qwen/Qwen2.5-1.5B config.json (hidden_size 1536,
num_hidden_layers 28, num_attention_heads 12, num_key_value_heads 2, vocab_size 151936,
tie_word_embeddings true, max_position_embeddings 32768); 1.54 B parameters (model card)."""
REFERENCE_SEQUENCE_TOKENS = 4096
REFERENCE_BATCH_TOKENS = 4 * 2**20
"""4 M tokens a step (the estimator's default batch; Llama 2 and GPT-3 used 4 M)."""
PRECISIONS = ("bf16", "fp16", "fp32")
"""The precision the reference workload runs at on a part: the first it has."""

Source = Literal["estimator", "roofline"]


@dataclass(frozen=True)
class CapacityValue:
    """One type's worth: ``per_accelerator_hour`` reference-hours for each of its hours."""

    accelerator: str
    per_accelerator_hour: float
    tokens_per_accelerator_h: float | None
    """The reference workload's estimated rate on this type (None when valued by roofline)."""
    precision: str | None
    source: Source


@dataclass(frozen=True)
class CapacityTable:
    """Every catalogue type's value in hours of ``reference``."""

    reference: str
    values: Mapping[str, CapacityValue]

    @property
    def unit(self) -> str:
        """The unit's name, as the API and the dashboard show it (``H800-equivalent hours``)."""
        return f"{self.reference.upper()}-equivalent hours"

    def per_accelerator_hour(self, accelerator: str) -> float:
        """Reference-hours per hour of ``accelerator``; raises :class:`CatalogError` naming the
        valid types for one the catalogue does not have."""
        value = self.values.get(accelerator)
        if value is None:
            valid = ", ".join(sorted(self.values))
            raise CatalogError(f"unknown accelerator type '{accelerator}' has no capacity value; valid: {valid}")
        return value.per_accelerator_hour

    def capacity_hours(self, accelerator: str, accelerator_hours: float) -> float:
        """``accelerator_hours`` of ``accelerator`` in reference-hours."""
        return accelerator_hours * self.per_accelerator_hour(accelerator)


def reference_accelerator(catalog: Catalog) -> str:
    """:data:`REFERENCE_ACCELERATOR` where the catalogue has it, else its first type by id."""
    if REFERENCE_ACCELERATOR in catalog.accelerators:
        return REFERENCE_ACCELERATOR
    if not catalog.accelerators:
        raise CatalogError("the catalogue has no accelerator types to value capacity in")
    return sorted(catalog.accelerators)[0]


def reference_workload(accelerator: Accelerator) -> JobSpec | None:
    """The reference workload at the precision it runs at on ``accelerator`` (None: the
    part has none of :data:`PRECISIONS`)."""
    precision = next((p for p in PRECISIONS if accelerator.tflops.get(p)), None)  # type: ignore[call-overload]
    if precision is None:
        return None
    spec = {
        "apiVersion": "suanli/v1",
        "kind": "Training",
        "name": "capacity-reference",
        "model": REFERENCE_MODEL,
        "precision": precision,
        "tokens_b": REFERENCE_TOKENS / 1e9,
        "sequence_tokens": REFERENCE_SEQUENCE_TOKENS,
        "global_batch_tokens": REFERENCE_BATCH_TOKENS,
        "method": "full",
        "resources": {"accelerators": [accelerator.id], "count": REFERENCE_COUNT},
    }
    return JobSpec.model_validate(spec)


def _rate(accelerator: Accelerator, catalog: Catalog) -> tuple[float, str] | None:
    """Tokens per accelerator-hour of the reference workload, and its precision (None:
    infeasible there)."""
    job = reference_workload(accelerator)
    if job is None:
        return None
    try:
        perf = performance(job, resolve_shape(job, catalog), accelerator, REFERENCE_COUNT)
    except Infeasible:
        return None
    return REFERENCE_TOKENS / (perf.duration_h * REFERENCE_COUNT), str(job.precision)


def _build(catalog: Catalog, reference: str) -> CapacityTable:
    ref = catalog.accelerator(reference)
    ref_rate = _rate(ref, catalog)
    values: dict[str, CapacityValue] = {}
    for ident in sorted(catalog.accelerators):
        accel = catalog.accelerators[ident]
        rate = _rate(accel, catalog) if ref_rate is not None else None
        if rate is not None and ref_rate is not None:
            tokens, precision = rate
            values[ident] = CapacityValue(ident, tokens / ref_rate[0], tokens, precision, "estimator")
        else:
            values[ident] = CapacityValue(ident, relative_speed(accel, ref), None, None, "roofline")
    return CapacityTable(reference, MappingProxyType(values))


_CACHE: dict[tuple[int, str], tuple[weakref.ref[Catalog], CapacityTable]] = {}
_LOCK = threading.Lock()


def capacity_table(catalog: Catalog, reference: str | None = None) -> CapacityTable:
    """Every type's value in hours of ``reference`` (default :func:`reference_accelerator`),
    computed once per catalogue object and reference."""
    ref = reference if reference is not None else reference_accelerator(catalog)
    key = (id(catalog), ref)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is catalog:
            return hit[1]
    table = _build(catalog, ref)
    with _LOCK:
        _CACHE[key] = (weakref.ref(catalog, lambda _gone: _CACHE.pop(key, None)), table)
    return table
