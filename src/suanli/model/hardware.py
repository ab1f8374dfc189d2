"""What one accelerator achieves, as hardware properties: GEMM efficiency, memory and link speeds.

The training and inference models (:mod:`suanli.model.training`,
:mod:`suanli.model.inference`) build step times from these; nothing here depends on the
job. Every figure is a property of a family (hopper, ampere, ascend, ...) and precision.

- ``GEMM_EFFICIENCY[family][precision]``: fraction of the dense peak reached by the large
  matrix multiplications of a transformer layer (cuBLAS / Transformer Engine / CANN).
  Sources: A100 BF16 large GEMMs reach 250-270 of 312 TFLOP/s (0.80-0.87; NVIDIA
  cuBLAS benchmarks, Megatron-LM SC'21 sec. 5 reports 44-52 % end-to-end); H100 BF16
  reaches ~700-750 of 989 (0.72) and FP8 ~1,250-1,400 of 1,979 (0.66) at 700 W, where
  power capping costs Hopper more than Ampere; Ascend 910B BF16 GEMM measured at 328
  TFLOP/s (gameofdimension/limulidae README) against the catalogue's 320 dense peak for
  the unnamed 910B variant, a microbenchmark; the table's 0.63 is set in-sample on
  ModelLink's LLaMA2-7B run with its own layout (4,241 tokens/s per NPU at TP1 PP2,
  ModelLink commit 377695e8; the 0.40 before was set on the same model's earlier TP8
  recipe scored with a searched layout); Blackwell as Hopper (assumption, no independent
  measurement at hand). Families not listed use ``DEFAULT_GEMM_EFFICIENCY`` (assumption).
- ``MEMORY_BW_EFFICIENCY = 0.8``: fraction of the peak HBM bandwidth reached by
  element-wise kernels and decode reads (memory-bound kernel benchmarks measure 70-85 %;
  limulidae measured 642 of 800 GB/s-class on 910B with torch.exp, 884 on A800's 2,039
  is lower, so this is an assumption for tuned kernels).
- Links: ``interconnect_gbps`` in the catalogue is bidirectional, as vendors quote it, so
  one direction is half (NVLink 4: 900 -> 450 GB/s). Collectives reach
  ``LINK_EFFICIENCY = 0.8`` of it (NCCL all-reduce bus bandwidth ~360 of 450 GB/s on
  DGX H100, nccl-tests). Parts without a fabric use PCIe 4.0 x16, 32 GB/s one way
  (``PCIE_GBPS``). Between nodes each accelerator has ``scale_out_gbps`` (one NIC per
  accelerator), at the same efficiency.
- ``COLLECTIVE_LATENCY_S``: the fixed cost of one collective: 8 us inside a node (NCCL
  small-message all-reduce on NVLink, nccl-tests ~5-10 us), 25 us across nodes
  (InfiniBand RDMA plus tree/ring set-up; assumption in that range).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.catalog import Accelerator
from suanli.model.memory import BYTES_PER_CATALOGUE_GB

GEMM_EFFICIENCY: dict[str, dict[str, float]] = {
    "ampere": {"bf16": 0.63, "fp16": 0.63, "fp32": 0.80},
    "hopper": {"bf16": 0.61, "fp16": 0.61, "fp8": 0.49, "fp32": 0.80},
    "blackwell": {"bf16": 0.61, "fp16": 0.61, "fp8": 0.49, "fp32": 0.80},
    "ascend": {"bf16": 0.63, "fp16": 0.63, "fp32": 0.80},
    "ada": {"bf16": 0.70, "fp16": 0.70, "fp8": 0.62, "fp32": 0.80},
    "volta": {"fp16": 0.75, "fp32": 0.80},
}
"""Achieved fraction of the dense peak in large GEMMs, by family and precision (see module)."""
DEFAULT_GEMM_EFFICIENCY = 0.55
"""A family or precision the table does not know: a conservative assumption (Hygon's K100
measured 0.33 and BW200 0.63-0.95 of peak in rocBLAS, wangzy0327/hblas-bench)."""
MEMORY_BW_EFFICIENCY = 0.8
LINK_EFFICIENCY = 0.8
PCIE_GBPS = 32.0
COLLECTIVE_LATENCY_S = {"intra": 8e-6, "inter": 25e-6}


@dataclass(frozen=True)
class Hardware:
    """The achieved rates of one accelerator type at one precision."""

    gemm_flops: float
    """Achieved FLOP/s of large GEMMs at the job's precision."""
    memory_bps: float
    """Achieved HBM bytes/s."""
    intra_bps: float
    """Achieved one-way bytes/s per accelerator to its node peers."""
    inter_bps: float
    """Achieved one-way bytes/s per accelerator to other nodes."""
    devices_per_node: int
    memory_bytes: float

    def link_bps(self, group: int, stride: int = 1) -> float:
        """Bandwidth of a collective over ``group`` ranks placed ``stride`` apart: inside a
        node while ``group x stride`` fits in one, else the scale-out NIC."""
        return self.intra_bps if group * stride <= self.devices_per_node else self.inter_bps

    def latency_s(self, group: int, stride: int = 1) -> float:
        inside = group * stride <= self.devices_per_node
        return COLLECTIVE_LATENCY_S["intra" if inside else "inter"]


def gemm_efficiency(accel: Accelerator, precision: str) -> float:
    family = GEMM_EFFICIENCY.get(accel.family, {})
    return family.get(precision, DEFAULT_GEMM_EFFICIENCY)


def hardware(accel: Accelerator, precision: str, peak_flops: float) -> Hardware:
    """The achieved rates of ``accel`` at ``precision`` (``peak_flops`` from
    :func:`suanli.model.efficiency.peak_flops`)."""
    link_gbps = accel.interconnect_gbps / 2 if accel.interconnect_gbps > 0 else PCIE_GBPS
    return Hardware(
        gemm_flops=peak_flops * gemm_efficiency(accel, precision),
        memory_bps=accel.memory_bw_tbps * 1e12 * MEMORY_BW_EFFICIENCY,
        intra_bps=link_gbps * 1e9 * LINK_EFFICIENCY,
        inter_bps=accel.scale_out_gbps * 1e9 * LINK_EFFICIENCY,
        devices_per_node=accel.devices_per_node,
        memory_bytes=accel.memory_gb * BYTES_PER_CATALOGUE_GB,
    )
