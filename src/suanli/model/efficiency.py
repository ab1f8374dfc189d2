"""Achieved FLOP/s: peak at the chosen precision x a utilisation (MFU) model.

    u = base_mfu[family] x precision_factor[precision] x moe_factor
        x intra_node_efficiency x inter_node_efficiency

- ``base_mfu``: model-FLOPs utilisation of one 8-device server training a dense
  transformer at bf16. Sources: Llama 3 405B, 38-43 % BF16 MFU on 16K H100 (Meta, "The
  Llama 3 Herd of Models", 2024, Table 4); MT-NLG 530B, 30.2 % on 2,240 A100 and
  GLM-130B, 32.5 % on 768 A100 (``calibration.csv``); BLOOM 176B, 31.8 % derived from
  1,082,990 A100-hours for 366B tokens; Ascend 910B single-server runs of 131.96 and
  145.69 TFLOP/s per NPU for LLaMA2-7B and InternLM-7B (AscendSpeed README, 37-41 % of
  the 910B2's 353.8 TFLOP/s). Older and PCIe-class families are assumptions, flagged.
- ``precision_factor``: FP8 doubles the peak but attention, normalisation, optimizer and
  communication stay in higher precision, so utilisation of the FP8 peak is lower.
  0.6 is calibrated on DeepSeek-V3 (FP8 on 2,048 H800, 2.664M H800-hours for
  6 x 37B x 14.8T FLOPs = 343 TFLOP/s per GPU, 17.3 % of the FP8 peak).
- ``moe_factor``: expert-parallel all-to-all and load imbalance; 0.8, assumption
  calibrated with the line above (DeepSeek-V3 report, sec. 3.2: without overlap the
  computation-to-communication ratio of cross-node expert parallelism is about 1:1).
- ``intra_node_efficiency = min(1, interconnect / 900 GB/s) ^ 0.1`` (PCIe-only parts count
  as 32 GB/s, PCIe 4.0 x16): cuts in scale-up bandwidth cost a little (A800/H800 were
  sold with 400 GB/s and ran the same models).
- ``inter_node_efficiency = 1 / (1 + 0.02 x log2(nodes) x sqrt(50 GB/s / scale_out))``:
  collective costs grow with the log of the number of servers (ring/tree all-reduce),
  more slowly with fatter NICs. 0.02 reproduces the drop from ~43 % to ~38 % MFU between
  8K and 16K H100 in the Llama 3 report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.catalog import Accelerator

BASE_MFU: dict[str, float] = {
    "hopper": 0.45,
    "blackwell": 0.42,
    "ampere": 0.42,
    "ada": 0.40,
    "volta": 0.40,
    "turing": 0.35,
    "pascal": 0.35,
    "kepler": 0.30,
    "ascend": 0.46,
    "mlu": 0.30,
    "dcu": 0.30,
}
"""Single-server dense bf16 training MFU by family (see module docstring for sources)."""
DEFAULT_BASE_MFU = 0.30
"""For a family the table does not know: a conservative assumption."""

PRECISION_FACTOR: dict[str, float] = {"fp32": 1.0, "bf16": 1.0, "fp16": 1.0, "fp8": 0.6, "int8": 0.6}
MOE_FACTOR = 0.8
PCIE_GBPS = 32.0
"""PCIe 4.0 x16, one direction, GB/s: the scale-up bandwidth of parts without a fabric."""
REFERENCE_INTERCONNECT_GBPS = 900.0
"""NVLink 4 (H100 SXM), the best scale-up fabric in the base MFU sources."""
REFERENCE_SCALE_OUT_GBPS = 50.0
"""One 400 Gb/s NIC per GPU, as in the Llama 3 and DeepSeek-V3 clusters."""
INTER_NODE_COST = 0.02

INFERENCE_COMPUTE_UTILISATION = 0.5
"""Fraction of peak reached by prefill GEMMs (large batches of prompt tokens); assumption."""
INFERENCE_BANDWIDTH_UTILISATION = 0.8
"""Fraction of peak memory bandwidth reached by decode (weight and KV reads); assumption
in line with the 70-85 % measured by memory-bound kernel benchmarks."""


@dataclass(frozen=True)
class Utilisation:
    """The factors of the MFU model for one accelerator type, count and model."""

    base: float
    precision: float
    moe: float
    intra_node: float
    inter_node: float

    @property
    def total(self) -> float:
        return self.base * self.precision * self.moe * self.intra_node * self.inter_node


def nodes_for(accel: Accelerator, count: int) -> int:
    return max(1, math.ceil(count / accel.devices_per_node))


def intra_node_efficiency(accel: Accelerator, count: int) -> float:
    if count <= 1:
        return 1.0
    link = accel.interconnect_gbps if accel.interconnect_gbps > 0 else PCIE_GBPS
    return float(min(1.0, link / REFERENCE_INTERCONNECT_GBPS) ** 0.1)


def inter_node_efficiency(accel: Accelerator, count: int) -> float:
    nodes = nodes_for(accel, count)
    if nodes <= 1:
        return 1.0
    penalty = INTER_NODE_COST * math.log2(nodes) * math.sqrt(REFERENCE_SCALE_OUT_GBPS / accel.scale_out_gbps)
    return 1.0 / (1.0 + penalty)


def training_utilisation(accel: Accelerator, count: int, precision: str, is_moe: bool) -> Utilisation:
    return Utilisation(
        base=BASE_MFU.get(accel.family, DEFAULT_BASE_MFU),
        precision=PRECISION_FACTOR[precision],
        moe=MOE_FACTOR if is_moe else 1.0,
        intra_node=intra_node_efficiency(accel, count),
        inter_node=inter_node_efficiency(accel, count),
    )


def peak_flops(accel: Accelerator, precision: str) -> float | None:
    """Dense peak FLOP/s of one accelerator at ``precision``; None when unsupported.

    fp16 and bf16 stand in for each other (same tensor-core rate on every part listed).
    """
    tflops = accel.tflops.get(precision)  # type: ignore[call-overload]
    if tflops is None and precision in ("bf16", "fp16"):
        tflops = accel.tflops.get("fp16" if precision == "bf16" else "bf16")
    return None if tflops is None else tflops * 1e12


def relative_speed(accel: Accelerator, reference: Accelerator) -> float:
    """How much faster ``accel`` runs a typical deep-learning job than ``reference``.

    speed = sqrt(peak ratio x memory-bandwidth ratio), with the peak taken at fp16/bf16
    where the part has it, else fp32: training steps mix compute-bound GEMMs and
    bandwidth-bound element-wise work, so neither ratio alone predicts them (a roofline
    blend; an assumption). Measured throughputs (Gavel, Sia) replace it where a job's
    class was profiled.
    """

    def peak(a: Accelerator) -> float:
        return a.tflops.get("fp16") or a.tflops.get("bf16") or a.tflops.get("fp32") or 1.0

    return math.sqrt((peak(accel) / peak(reference)) * (accel.memory_bw_tbps / reference.memory_bw_tbps))
