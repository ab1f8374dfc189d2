"""The catalogue: accelerators, sites, grid regions, network and models, looked up by id."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from suanli.catalog.schema import (
    Accelerator,
    GridRegion,
    HourProfile,
    Link,
    Model,
    NetworkDefaults,
    Site,
)
from suanli.errors import UnknownNameError

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), for great-circle distances."""


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Path:
    """The network path between two sites."""

    latency_ms: float
    bandwidth_gbps: float
    derived: bool
    """True when computed from coordinates rather than given as a link."""


def _norm(text: str) -> str:
    return text.strip().lower().replace("_", "-").replace(" ", "-")


def canonical_id(name: str, ids: Iterable[str]) -> str | None:
    """The id in ``ids`` that ``name`` means: itself, else the one id equal to it ignoring
    case, ``_`` for ``-`` and spaces (``H100`` -> ``h100``, ``Qwen2.5-7B`` -> ``qwen2.5-7b``,
    ``Inner Mongolia`` -> ``inner-mongolia``); None when no id, or more than one, matches."""
    options = list(ids)
    if name in options:
        return name
    wanted = _norm(name)
    found = [ident for ident in options if _norm(ident) == wanted]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Catalog:
    """An immutable, validated catalogue. Build it with :func:`suanli.catalog.load_catalog`."""

    accelerators: Mapping[str, Accelerator]
    sites: Mapping[str, Site]
    grid_regions: Mapping[str, GridRegion]
    hour_profiles: Mapping[str, HourProfile]
    links: Mapping[str, Link]
    network_defaults: NetworkDefaults
    models: Mapping[str, Model]
    _link_index: Mapping[frozenset[str], Link] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("accelerators", "sites", "grid_regions", "hour_profiles", "links", "models"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        index = {frozenset((link.a, link.b)): link for link in self.links.values()}
        object.__setattr__(self, "_link_index", MappingProxyType(index))

    def accelerator(self, ident: str) -> Accelerator:
        try:
            return self.accelerators[ident]
        except KeyError:
            raise UnknownNameError("accelerator", ident, self.accelerators) from None

    def site(self, ident: str) -> Site:
        try:
            return self.sites[ident]
        except KeyError:
            raise UnknownNameError("site", ident, self.sites) from None

    def model(self, ident: str) -> Model:
        try:
            return self.models[ident]
        except KeyError:
            raise UnknownNameError("model", ident, self.models) from None

    def grid_region(self, ident: str) -> GridRegion:
        try:
            return self.grid_regions[ident]
        except KeyError:
            raise UnknownNameError("grid region", ident, self.grid_regions) from None

    def hour_profile(self, ident: str) -> HourProfile:
        try:
            return self.hour_profiles[ident]
        except KeyError:
            raise UnknownNameError("hour profile", ident, self.hour_profiles) from None

    # -- regions ---------------------------------------------------------------

    def region_names(self) -> set[str]:
        """Every name a ``regions:`` constraint may use: sites, hubs, provinces, zones."""
        names: set[str] = set()
        for site in self.sites.values():
            names.update({site.id, _norm(site.hub), _norm(site.province), _norm(site.zone)})
        return names

    @staticmethod
    def site_matches(site: Site, region: str) -> bool:
        """True when ``region`` names this site, its hub, its province or its zone."""
        wanted = _norm(region)
        return wanted in {site.id, _norm(site.hub), _norm(site.province), _norm(site.zone)}

    # -- network ---------------------------------------------------------------

    def path(self, a: str, b: str) -> Path:
        """Latency and bandwidth between sites ``a`` and ``b``.

        A link in ``network.yaml`` wins; otherwise latency is derived from coordinates,
        ``max(min_latency_ms, great_circle_km x route_factor / fibre_km_per_ms)``, and
        bandwidth is the default (see ``network.yaml`` for the sources of each).
        """
        site_a, site_b = self.site(a), self.site(b)
        defaults = self.network_defaults
        if a == b:
            return Path(latency_ms=defaults.min_latency_ms, bandwidth_gbps=math.inf, derived=True)
        link = self._link_index.get(frozenset((a, b)))
        if link is not None:
            return Path(link.latency_ms, link.bandwidth_gbps, derived=False)
        km = great_circle_km(site_a.lat, site_a.lon, site_b.lat, site_b.lon)
        latency = max(defaults.min_latency_ms, km * defaults.route_factor / defaults.fibre_km_per_ms)
        return Path(latency_ms=latency, bandwidth_gbps=defaults.bandwidth_gbps, derived=True)

    # -- grid ------------------------------------------------------------------

    def intensity_profile_g_per_kwh(self, site_id: str, year: int | None = None) -> tuple[float, ...]:
        """The site's grid intensity for each local hour of the day, gCO2/kWh.

        intensity[h] = annual average of the site's grid region (``year``, or the latest
        year given) x the region's hour-of-day multiplier for h.
        """
        site = self.site(site_id)
        region = self.grid_region(site.grid_region)
        years = region.intensity_g_per_kwh
        chosen = year if year in years else max(years)
        average = years[chosen]
        shape = self.hour_profile(region.profile).multipliers
        return tuple(average * m for m in shape)
