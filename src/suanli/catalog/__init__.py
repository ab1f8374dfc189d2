"""L1: the catalogue of accelerators, sites, grid regions, network paths and models."""

from suanli.catalog.catalog import Catalog, Path, canonical_id, great_circle_km
from suanli.catalog.loader import load_catalog
from suanli.catalog.schema import (
    PRECISIONS,
    SCHEMA_VERSION,
    Accelerator,
    GridRegion,
    HourProfile,
    Link,
    Model,
    NetworkDefaults,
    Precision,
    Pricing,
    Site,
)
from suanli.catalog.throughput import ThroughputTable, load_gavel, load_profiles, load_sia

__all__ = [
    "PRECISIONS",
    "SCHEMA_VERSION",
    "Accelerator",
    "Catalog",
    "GridRegion",
    "HourProfile",
    "Link",
    "Model",
    "NetworkDefaults",
    "Path",
    "Precision",
    "Pricing",
    "Site",
    "ThroughputTable",
    "canonical_id",
    "great_circle_km",
    "load_catalog",
    "load_gavel",
    "load_profiles",
    "load_sia",
]
