"""Typed rows of the catalogue files, validated on load.

Every catalogue file is YAML with this envelope::

    schema_version: 1
    kind: accelerators          # accelerators | sites | grid | network | models
    items: [...]                # one mapping per entry, keyed by ``id``

Every entry carries ``source`` (where its figures come from) and ``estimated``
(the names of the fields that are derived, assumed or low-confidence rather
than read from the source). ``suanli catalog ...`` shows both.
"""

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
"""The catalogue schema version this code reads."""

Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16", "fp8", "int8")


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$", description="catalogue id, lower-case")
    source: str = Field(min_length=1, description="where the figures come from")
    estimated: tuple[str, ...] = Field(default=(), description="fields that are derived, assumed or low-confidence")
    notes: str = ""

    @model_validator(mode="after")
    def _estimated_names_fields(self) -> Self:
        known = set(type(self).model_fields)
        unknown = [name for name in self.estimated if name.split(".")[0] not in known]
        if unknown:
            raise ValueError(f"estimated names unknown field(s) {unknown}; valid: {sorted(known)}")
        return self

    def is_estimated(self, field: str) -> bool:
        """True when ``field`` (or a sub-field ``field.key``) is flagged as an estimate."""
        return any(name == field or name.startswith(field + ".") for name in self.estimated)


class Accelerator(_Row):
    """One accelerator type: peak dense throughput, memory, links and power.

    ``tflops`` holds *dense* peak TFLOP/s (TOP/s for int8) by precision, without
    structured sparsity. ``interconnect_gbps`` is the chip-to-chip (scale-up)
    bandwidth in GB/s, bidirectional, as vendors quote it; ``scale_out_gbps`` is the
    inter-node bandwidth per accelerator in GB/s (e.g. one 400 Gb/s NIC = 50 GB/s).
    """

    name: str
    vendor: str
    family: str = Field(description="efficiency family: hopper, ampere, ascend, ...")
    release_year: int | None = None
    tflops: dict[Precision, float]
    memory_gb: float = Field(gt=0)
    memory_bw_tbps: float = Field(gt=0)
    interconnect_gbps: float = Field(ge=0)
    scale_out_gbps: float = Field(gt=0)
    devices_per_node: int = Field(default=8, ge=1)
    tdp_w: float = Field(gt=0)
    host_power_w: float = Field(ge=0, description="server power per accelerator beyond the chip")
    capex_usd: float = Field(ge=0, description="purchase price per accelerator incl. its server share")
    restricted_zones: tuple[str, ...] = Field(
        default=(), description="tenant zones for which using this type is export-restricted"
    )
    export_control: str = ""

    @field_validator("tflops")
    @classmethod
    def _positive_tflops(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v > 0}
        if bad:
            raise ValueError(f"peak TFLOP/s must be > 0, got {bad}")
        if not value:
            raise ValueError("at least one precision's peak TFLOP/s is required")
        return value


class Pricing(BaseModel):
    """How a site charges: a rental price per accelerator-hour, or ownership.

    ``rental``: cost = accelerator-hours x ``accelerator_usd_per_h[type]``.
    ``ownership``: cost = energy x electricity price + accelerator-hours x capex /
    (``amortisation_years`` x 8,760 h x ``utilisation``), i.e. the capital spread over
    the hours the fleet is expected to be busy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    model: Literal["rental", "ownership"]
    accelerator_usd_per_h: dict[str, float] = Field(default_factory=dict)
    amortisation_years: float = Field(default=5.0, gt=0)
    utilisation: float = Field(default=0.7, gt=0, le=1)

    @model_validator(mode="after")
    def _rental_has_prices(self) -> Self:
        if self.model == "rental" and not self.accelerator_usd_per_h:
            raise ValueError("rental pricing needs accelerator_usd_per_h")
        bad = {k: v for k, v in self.accelerator_usd_per_h.items() if v < 0}
        if bad:
            raise ValueError(f"prices must be >= 0, got {bad}")
        return self


class Site(_Row):
    """One data centre (a national cluster) with its inventory and prices."""

    name: str
    hub: str = Field(description="hub id, e.g. gansu, yangtze-river-delta")
    hub_name: str = ""
    province: str
    zone: str = Field(description="residency zone, e.g. cn")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    utc_offset_h: float = Field(default=8.0, ge=-12, le=14, description="local time - UTC, hours")
    pue: float = Field(ge=1.0, le=3.0)
    grid_region: str = Field(description="id of a grid region in grid.yaml")
    electricity_usd_per_kwh: float = Field(ge=0)
    pricing: Pricing
    inventory: dict[str, int] = Field(description="accelerator id -> count (illustrative)")

    @field_validator("inventory")
    @classmethod
    def _non_negative_inventory(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 0}
        if bad:
            raise ValueError(f"inventory counts must be >= 0, got {bad}")
        return value


class GridRegion(_Row):
    """Average carbon intensity of a grid region, by year, and its hour-of-day shape.

    ``intensity_g_per_kwh`` maps year -> average (location-based) emission factor in
    gCO2/kWh. ``profile`` names an hour-of-day shape in the same file (mean 1.0), so the
    intensity at local hour h is ``intensity x shape[h]``.
    """

    name: str
    level: Literal["province", "regional", "national"]
    grid: str = ""
    intensity_g_per_kwh: dict[int, float]
    profile: str = "flat"

    @field_validator("intensity_g_per_kwh")
    @classmethod
    def _positive(cls, value: dict[int, float]) -> dict[int, float]:
        if not value:
            raise ValueError("at least one year's intensity is required")
        bad = {k: v for k, v in value.items() if v < 0}
        if bad:
            raise ValueError(f"intensity must be >= 0, got {bad}")
        return value


class HourProfile(_Row):
    """An hour-of-day shape of carbon intensity: 24 multipliers, local time, mean 1."""

    name: str
    multipliers: tuple[float, ...]

    @field_validator("multipliers")
    @classmethod
    def _shape(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) != 24:
            raise ValueError(f"need 24 hourly multipliers, got {len(value)}")
        if any(v < 0 for v in value):
            raise ValueError("multipliers must be >= 0")
        mean = sum(value) / 24
        if abs(mean - 1.0) > 0.02:
            raise ValueError(f"multipliers must average 1.0 (within 0.02), got {mean:.3f}")
        return value


class Link(_Row):
    """A measured or assumed network path between two sites (symmetric)."""

    a: str
    b: str
    latency_ms: float = Field(gt=0)
    bandwidth_gbps: float = Field(gt=0, description="usable bulk-transfer bandwidth, Gbit/s")


class NetworkDefaults(BaseModel):
    """How links missing from the file are derived from site coordinates.

    latency_ms = max(min_latency_ms, great_circle_km x route_factor / fibre_km_per_ms);
    bandwidth = ``bandwidth_gbps``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    bandwidth_gbps: float = Field(gt=0)
    route_factor: float = Field(ge=1.0)
    fibre_km_per_ms: float = Field(gt=0)
    min_latency_ms: float = Field(ge=0)
    target_latency_ms: float = Field(gt=0)
    source: str
    estimated: tuple[str, ...] = ()


class Model(_Row):
    """An open model a job can name: sizes that drive FLOPs, memory and KV cache.

    ``kv_dim`` is the number of values cached per token per layer (keys + values);
    when absent it is ``2 x kv_heads x hidden / heads`` (grouped-query attention).
    Multi-head latent attention (DeepSeek-V2/V3) caches a compressed vector instead.
    ``vocab`` and ``tied_embeddings`` (optional) let the estimator count the LM head's stage,
    the untied input embedding (a lookup) and the loss traffic; absent, those terms are left out.
    """

    name: str
    org: str
    params_b: float = Field(gt=0, description="total parameters, billions")
    active_params_b: float = Field(gt=0, description="parameters active per token, billions")
    layers: int = Field(gt=0)
    hidden: int = Field(gt=0)
    heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    kv_dim: int | None = Field(default=None, gt=0)
    context: int = Field(gt=0, description="maximum context length, tokens")
    vocab: int | None = Field(
        default=None, gt=0, description="vocabulary (embedding rows): config.json vocab_size or padded_vocab_size"
    )
    tied_embeddings: bool = Field(
        default=False, description="the LM head reuses the input embedding (config.json tie_word_embeddings)"
    )

    @model_validator(mode="after")
    def _active_le_total(self) -> Self:
        if self.active_params_b > self.params_b:
            raise ValueError("active_params_b cannot exceed params_b")
        return self

    @property
    def kv_values_per_token(self) -> int:
        """Values cached per token across all layers (K and V)."""
        per_layer = self.kv_dim or 2 * self.kv_heads * (self.hidden // self.heads)
        return per_layer * self.layers

    @property
    def is_moe(self) -> bool:
        return self.active_params_b < self.params_b


KINDS = {
    "accelerators": Accelerator,
    "sites": Site,
    "grid": GridRegion,
    "profiles": HourProfile,
    "links": Link,
    "models": Model,
}
"""File kind -> row type. ``grid.yaml`` holds ``items`` (regions) and ``profiles``;
``network.yaml`` holds ``defaults`` and ``items`` (links)."""
