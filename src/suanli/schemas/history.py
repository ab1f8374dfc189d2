"""Wire models of ``GET /v1/history``: the network over time (``suanli.service.control.history``).

Kept beside :mod:`suanli.schemas.v1` rather than in it: output models only, no request
body (the endpoint takes two bounded query parameters).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HistorySeries(BaseModel):
    """One site's or accelerator type's figure at each point; ``capacity``: its accelerators
    now (the sites' current inventories; None for energy and carbon)."""

    model_config = ConfigDict(frozen=True)

    name: str
    capacity: int | None = None
    values: list[float]


class InventorySeries(BaseModel):
    """A site's or accelerator type's accelerators at each point (means over the point):
    ``total`` the inventory its agent registered, while the site was up; ``busy`` held by
    runs, every tenant's (as ``/v1/sites`` shows any token); ``free`` = total - busy, at
    least 0."""

    model_config = ConfigDict(frozen=True)

    name: str
    total: list[float]
    busy: list[float]
    free: list[float]


class EtaErrors(BaseModel):
    """How the ETAs of the jobs that started (were placed) in a span did: ``started`` jobs,
    of which ``forecast`` had a forecast made before they started; over those, the median
    and 90th percentile of |actual - predicted start| and the median of actual - predicted
    (positive: later than forecast), in seconds (None without one)."""

    model_config = ConfigDict(frozen=True)

    started: int
    forecast: int
    median_abs_error_s: float | None = None
    p90_abs_error_s: float | None = None
    median_error_s: float | None = None


class EtaAccuracy(BaseModel):
    """Predicted against actual starts: one :class:`EtaErrors` per point, and the window's."""

    model_config = ConfigDict(frozen=True)

    points: list[EtaErrors]
    window: EtaErrors
    method: str


class HistoryOut(BaseModel):
    """The network over time (a tenant's token: its own jobs on it), one value per point.

    Points are ``step_s`` long, aligned to multiples of ``step_s`` since the Unix epoch (an
    hour's points are clock hours), from ``start``; ``times`` holds each point's start and
    the last point runs to ``end`` (now). ``running`` and ``waiting`` are mean jobs over the
    point; ``in_use_by_*`` mean accelerators held by runs; ``energy_kwh_by_site`` and
    ``carbon_kg_by_site`` the metered kWh and kg CO2e of runs, each run's spread evenly over
    its duration and counted once it ends (as ``/v1/usage``); ``eta_accuracy`` how far the
    jobs that started in each point started from their forecast. ``inventory_by_*``: the
    network's accelerators total, busy and free over time (from the sites' registrations
    and outages in the audit log; the network's, whoever asks). ``cost_usd_by_tenant`` and
    ``carbon_kg_by_tenant``: each tenant's USD and kg CO2e per point (a tenant's token: its
    own only), its runs in progress included, metered to now as the jobs' ``cost_so_far``.
    ``method`` says how each is derived and from what."""

    model_config = ConfigDict(frozen=True)

    scope: str
    start: str
    end: str
    step_s: float
    times: list[str]
    running: list[float]
    waiting: list[float]
    in_use_by_site: list[HistorySeries]
    in_use_by_type: list[HistorySeries]
    energy_kwh_by_site: list[HistorySeries]
    carbon_kg_by_site: list[HistorySeries]
    eta_accuracy: EtaAccuracy | None = None
    inventory_by_site: list[InventorySeries] = Field(default_factory=list)
    inventory_by_type: list[InventorySeries] = Field(default_factory=list)
    cost_usd_by_tenant: list[HistorySeries] = Field(default_factory=list)
    carbon_kg_by_tenant: list[HistorySeries] = Field(default_factory=list)
    method: str


__all__ = ["EtaAccuracy", "EtaErrors", "HistoryOut", "HistorySeries", "InventorySeries"]
