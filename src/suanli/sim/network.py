"""Simulated networks: the pools of accelerators a simulation schedules onto.

The default network is the catalogue's national one. Any other network is a YAML file in
the catalogue's ``sites.yaml`` format (``schema_version: 1``, ``kind: sites``, ``items``:
sites with PUE, grid region, prices and inventory); its sites replace the catalogue's.
``examples/networks/`` has Gavel's 16 V100 + 16 P100 + 16 K80 cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from suanli.catalog import Catalog, Site
from suanli.catalog.loader import load_sites_file
from suanli.errors import InputError
from suanli.model.efficiency import relative_speed
from suanli.model.footprint import hourly_cost_rate
from suanli.model.performance import POWER_LOAD
from suanli.policy import PoolTable
from suanli.sim.carbon_series import CarbonSeries
from suanli.units import W_PER_KW

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
    """The named network (``national``) or a sites file, with pool speeds relative to ``reference``."""
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
    table = pool_table(catalog, sites, reference, capacity_scale)
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


def pool_table(catalog: Catalog, sites: tuple[Site, ...], reference: str, capacity_scale: float = 1.0) -> PoolTable:
    """One pool per site x accelerator type in the sites' inventories.

    kW per busy accelerator = (TDP x training load + host power) x PUE; USD per
    accelerator-hour = the rental price, or for ownership sites amortised capital
    (capex / (years x 8,760 h x utilisation)) plus that energy at the site's price.
    """
    ref = catalog.accelerator(reference)
    names, site_of, type_of, capacity, speed, usd, kw = [], [], [], [], [], [], []
    type_names: list[str] = []
    for index, site in enumerate(sites):
        for accel_id in sorted(site.inventory):
            count = int(site.inventory[accel_id] * capacity_scale)
            if count <= 0:
                continue
            accel = catalog.accelerator(accel_id)
            if accel_id not in type_names:
                type_names.append(accel_id)
            power_kw = (accel.tdp_w * POWER_LOAD["Training"] + accel.host_power_w) / W_PER_KW * site.pue
            per_accel_h, per_kwh = hourly_cost_rate(site, accel)
            price = per_accel_h + power_kw * per_kwh
            names.append(f"{site.id}/{accel_id}")
            site_of.append(index)
            type_of.append(type_names.index(accel_id))
            capacity.append(count)
            speed.append(relative_speed(accel, ref))
            usd.append(price)
            kw.append(power_kw)
    if not names:
        raise InputError("the network has no accelerators")
    return PoolTable(
        names=tuple(names),
        site=tuple(site_of),
        type=tuple(type_of),
        capacity=tuple(capacity),
        speed=tuple(speed),
        usd_per_accel_h=tuple(usd),
        kw_per_accel=tuple(kw),
        site_names=tuple(s.id for s in sites),
        type_names=tuple(type_names),
        intensity_g_per_kwh=tuple(catalog_intensity(catalog, s) for s in sites),
        utc_offset_h=tuple(s.utc_offset_h for s in sites),
        zone=tuple(s.zone for s in sites),
    )


def catalog_intensity(catalog: Catalog, site: Site) -> tuple[float, ...]:
    region = catalog.grid_region(site.grid_region)
    average = region.intensity_g_per_kwh[max(region.intensity_g_per_kwh)]
    return tuple(average * m for m in catalog.hour_profile(region.profile).multipliers)
