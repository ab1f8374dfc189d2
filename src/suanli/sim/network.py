"""Simulated networks: the pools of accelerators a simulation schedules onto.

The default network is the catalogue's national one. Any other network is a YAML file in
the catalogue's ``sites.yaml`` format (``schema_version: 1``, ``kind: sites``, ``items``:
sites with PUE, grid region, prices and inventory); its sites replace the catalogue's.
``examples/networks/`` has Gavel's 16 V100 + 16 P100 + 16 K80 cluster.

The pools themselves are built by the one snapshot builder
(:func:`suanli.scheduler.snapshot.pool_table`), which the control plane's live pools use
too; ``pool_table`` and ``catalog_intensity`` are re-exported here for the simulator's
callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from suanli.catalog import Catalog, Site
from suanli.catalog.loader import load_sites_file
from suanli.errors import InputError
from suanli.policy import PoolTable
from suanli.scheduler.snapshot import catalog_intensity, pool_table, with_capacity_values
from suanli.sim.carbon_series import CarbonSeries

__all__ = ["NETWORKS", "Network", "catalog_intensity", "load_network", "pool_table"]

NETWORKS = ("national",)
"""Built-in network names (anything else is a path to a sites file)."""


@dataclass(frozen=True)
class Network:
    name: str
    sites: tuple[Site, ...]
    pools: PoolTable
    reference: str


def load_network(
    catalog: Catalog,
    name_or_path: str,
    reference: str,
    capacity_scale: float = 1.0,
    series: Mapping[str, CarbonSeries] | None = None,
) -> Network:
    """The named network (``national``) or a sites file, with pool speeds relative to
    ``reference`` and capacity values in the catalogue's unit (:mod:`suanli.capacity`)."""
    if name_or_path in NETWORKS:
        sites = tuple(sorted(catalog.sites.values(), key=lambda s: s.id))
        name = name_or_path
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise InputError(
                f"unknown network '{name_or_path}': not a built-in ({', '.join(NETWORKS)}) nor an existing file"
            )
        sites = tuple(sorted(load_sites_file(path, catalog).values(), key=lambda s: s.id))
        name = path.stem
    if not capacity_scale > 0:
        raise InputError(f"capacity scale must be > 0, got {capacity_scale}")
    unknown = sorted(set(series or {}) - {s.id for s in sites})
    if unknown:
        raise InputError(
            f"carbon series for unknown site(s) {', '.join(unknown)}; valid: {', '.join(s.id for s in sites)}"
        )
    table = with_capacity_values(catalog, pool_table(catalog, sites, reference, capacity_scale))
    if series:
        table = replace(
            table,
            intensity_g_per_kwh=tuple(
                series[s.id].hourly_g_per_kwh if s.id in series else table.intensity_g_per_kwh[i]
                for i, s in enumerate(sites)
            ),
            series_start_s=tuple(series[s.id].start_s if s.id in series else None for s in sites),
        )
    return Network(name, sites, table, reference)
