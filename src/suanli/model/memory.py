"""Does the job fit in the accelerators' memory?

Training (Rajbhandari et al., "ZeRO", SC'20, sec. 3.1): mixed-precision Adam keeps
16 bytes per parameter: 2 (half weights) + 2 (half gradients) + 12 (fp32 master weights,
momentum, variance). With FP8 training the weights and gradients still need ~2+2 bytes
(DeepSeek-V3 keeps BF16 master copies and FP32 optimizer moments, report sec. 3.3), so
16 bytes is kept. States are fully sharded over N devices (ZeRO-3 / FSDP).

LoRA fine-tuning keeps frozen weights at the compute precision (2 bytes, or 1 at
fp8/int8) and adapter state that is negligible (< 1 % of parameters).

Activations with full recomputation (Korthikanti et al., "Reducing Activation
Recomputation in Large Transformer Models", 2022, sec. 4): 2 x s x h bytes per layer
kept for the backward pass, plus one layer's full activations, 34 x s x h bytes
(ignoring the attention-score term, which FlashAttention removes), for a micro-batch of
one sequence of ``s`` = min(context, 4,096) tokens.

Capacity: the catalogue's ``memory_gb`` is the vendor's figure, and HBM capacities are
binary: an "H100 80GB" reports 81,559 MiB total in nvidia-smi (85.5e9 bytes; e.g.
huggingface/text-generation-inference issue 2572), an Ascend 910B "64 GB" shows 60.96 GiB to
torch after the runtime's reservation (vllm-project/vllm-ascend issue 5020), HBM stacks come in
16 and 24 GiB. So a catalogue GB is ``2**30`` bytes here (``BYTES_PER_CATALOGUE_GB``); reading
it as 1e9 took 7 % off every device (with the FP32 gradient buffer the training model also
assumed then, it forced NeMo's Nemotron-4 340B layout into full recomputation).

Usable memory is 90 % of the capacity (framework, allocator fragmentation, buffers).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.model.shapes import ModelShape
from suanli.units import BYTES_PER_GB, BYTES_PER_VALUE

TRAINING_BYTES_PER_PARAM = 16.0
USABLE_MEMORY_FRACTION = 0.9
TRAINING_SEQUENCE = 4096
ACTIVATION_BYTES_PER_TOKEN_HIDDEN_LAYER = 2.0
FULL_LAYER_ACTIVATION_BYTES = 34.0
BYTES_PER_CATALOGUE_GB = float(2**30)
"""Bytes in one GB of the catalogue's ``memory_gb`` (binary: see the module docstring)."""


def usable_bytes(memory_gb: float) -> float:
    """Bytes of one device's memory a job may use: 90 % of its binary capacity."""
    return memory_gb * BYTES_PER_CATALOGUE_GB * USABLE_MEMORY_FRACTION


@dataclass(frozen=True)
class MemoryNeed:
    """Memory a training job needs per device (GB), of what is usable."""

    per_device_gb: float
    usable_gb: float
    states_gb: float
    activations_gb: float

    @property
    def fits(self) -> bool:
        return self.per_device_gb <= self.usable_gb


def training_memory(shape: ModelShape, count: int, memory_gb: float, precision: str, lora: bool = False) -> MemoryNeed:
    """Per-device memory for (full or LoRA) training on ``count`` devices."""
    if lora:
        states = shape.params * BYTES_PER_VALUE[precision if precision != "fp32" else "fp32"]
    else:
        states = shape.params * TRAINING_BYTES_PER_PARAM
    seq = min(shape.context, TRAINING_SEQUENCE)
    activations = (
        seq * shape.hidden * (ACTIVATION_BYTES_PER_TOKEN_HIDDEN_LAYER * shape.layers + FULL_LAYER_ACTIVATION_BYTES)
    )
    states_gb = states / count / BYTES_PER_GB
    activations_gb = activations / BYTES_PER_GB
    return MemoryNeed(
        per_device_gb=states_gb + activations_gb,
        usable_gb=usable_bytes(memory_gb) / BYTES_PER_GB,
        states_gb=states_gb,
        activations_gb=activations_gb,
    )


def weight_bytes(shape: ModelShape, precision: str) -> float:
    return shape.params * BYTES_PER_VALUE[precision]


def kv_bytes_per_token(shape: ModelShape, precision: str) -> float:
    """KV cache bytes per token: values per token x 2 bytes (1 byte at fp8/int8)."""
    width = 1.0 if precision in ("fp8", "int8") else 2.0
    return shape.kv_values_per_token * width
