"""Time of one collective over ``n`` ranks, bandwidth-optimal ring algorithms (alpha-beta model).

For a payload of ``size`` bytes per rank (Thakur, Rabenseifner and Gropp, "Optimization of
Collective Communication Operations in MPICH", IJHPCA 2005; the bus-bandwidth factors of
nccl-tests' PERFORMANCE.md):

- all-reduce:        2 (n - 1) / n x size / bw + 2 (n - 1) x latency is the ring; NCCL
  switches to trees for small messages, so the latency term is taken as 2 log2(n) x latency
- all-gather, reduce-scatter: (n - 1) / n x size / bw + log2(n) x latency (``size`` is the
  gathered total per rank)
- all-to-all:        (n - 1) / n x size / bw + latency (each rank sends size/n to each peer)
- point-to-point:    size / bw + latency

Every function takes numbers or numpy arrays (the layout search scores its candidates at
once) and returns 0 where ``n`` is 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
T = float | Array
"""A number, or one per candidate layout."""


def _log2(n: T) -> Array:
    return np.log2(np.maximum(n, 1.0))


def all_reduce_s(size: T, n: T, bw: T, latency: T) -> Array:
    busy = np.where(n > 1, 2.0 * (n - 1.0) / np.maximum(n, 1.0) * size / bw + 2.0 * _log2(n) * latency, 0.0)
    return np.asarray(busy, dtype=np.float64)


def all_gather_s(size: T, n: T, bw: T, latency: T) -> Array:
    """Also the time of a reduce-scatter of the same total ``size``."""
    busy = np.where(n > 1, (n - 1.0) / np.maximum(n, 1.0) * size / bw + _log2(n) * latency, 0.0)
    return np.asarray(busy, dtype=np.float64)


def all_to_all_s(size: T, n: T, bw: T, latency: T) -> Array:
    busy = np.where(n > 1, (n - 1.0) / np.maximum(n, 1.0) * size / bw + latency, 0.0)
    return np.asarray(busy, dtype=np.float64)


def p2p_s(size: T, bw: T, latency: T) -> Array:
    return np.asarray(np.divide(size, bw) + latency, dtype=np.float64)


def hierarchical_all_gather_s(size: T, n: T, local: T, intra_bw: T, inter_bw: T, latency: T) -> Array:
    """All-gather (or reduce-scatter) over ``n`` ranks, ``local`` of them per node: the
    node's share moves over the fabric, and each rank's NIC carries only ``1/local`` of
    the inter-node part (NCCL's one ring per NIC rail; Jeaugey, "Massively Scale Your DL
    Training with NCCL 2.4", NVIDIA blog 2019)."""
    local = np.clip(local, 1.0, n)
    nodes = n / local
    inside = all_gather_s(size, local, intra_bw, latency)
    across = all_gather_s(size / local, nodes, inter_bw, latency)
    return np.asarray(inside + across, dtype=np.float64)


def hierarchical_all_to_all_s(size: T, n: T, local: T, intra_bw: T, inter_bw: T, latency: T) -> Array:
    """All-to-all over ``n`` ranks, ``local`` per node: the part for peers in the node goes
    over the fabric, the rest over the rank's own NIC, at the same time."""
    local = np.clip(local, 1.0, n)
    inside = size * (local - 1.0) / np.maximum(n, 1.0) / intra_bw
    across = size * (n - local) / np.maximum(n, 1.0) / inter_bw
    return np.asarray(np.where(n > 1, np.maximum(inside, across) + latency, 0.0), dtype=np.float64)
