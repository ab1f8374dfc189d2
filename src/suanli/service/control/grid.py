"""Each catalogue site's grid carbon intensity now and over its day, as the live planner
sees it: what the dashboard's map shows.

The live scheduler's pools (``live.live_pools`` -> ``scheduler.snapshot.pool_table``) take each
site's 24-hour profile from :func:`suanli.sim.network.catalog_intensity` (the grid region's
latest annual average, gCO2/kWh, x its hour-of-day shape) and read it at the site's local
hour (``PoolTable.intensity_at``: ``int((t_s / 3600 + utc_offset_h) % 24)``). This module
reads the same profile at the same hour, and names where the figures come from
(``grid.yaml``'s ``source`` of the region and of its shape, and the fields it flags as
estimated).
"""

from __future__ import annotations

from typing import Any

from suanli.service.control.plane import ControlPlane
from suanli.sim.network import catalog_intensity


def local_hour(now_s: float, utc_offset_h: float) -> int:
    """The hour of day at a site ``utc_offset_h`` hours ahead of UTC (as the pools read it)."""
    return int((now_s / 3600.0 + utc_offset_h) % 24)


def grid_by_site(cp: ControlPlane) -> dict[str, dict[str, Any]]:
    """Per catalogue site: ``g_per_kwh_now``, ``day_g_per_kwh`` (24 values by local hour),
    ``local_hour``, the grid ``region`` and its ``year``, ``profile``, ``source`` and
    ``estimated`` (the region's fields the catalogue flags as estimates)."""
    catalog = cp.planning.catalog
    now = cp.now_s()
    out: dict[str, dict[str, Any]] = {}
    for site in catalog.sites.values():
        region = catalog.grid_region(site.grid_region)
        shape = catalog.hour_profile(region.profile)
        day = catalog_intensity(catalog, site)
        hour = local_hour(now, site.utc_offset_h)
        out[site.id] = {
            "g_per_kwh_now": round(day[hour], 1),
            "day_g_per_kwh": [round(value, 1) for value in day],
            "local_hour": hour,
            "region": region.name,
            "year": max(region.intensity_g_per_kwh),
            "profile": region.profile,
            "source": f"{region.source} Hour-of-day shape '{shape.id}': {shape.source}",
            "estimated": list(region.estimated),
        }
    return out


__all__ = ["grid_by_site", "local_hour"]
