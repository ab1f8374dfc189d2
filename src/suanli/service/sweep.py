"""Use-case: a grid of what-if scenarios, run in parallel, locally or on a Ray cluster.

A sweep file::

    apiVersion: suanli/v1
    kind: Sweep
    name: h800-supply
    base:                          # a simulation, as `suanli simulate` takes it
      trace: synthetic
      jobs: 4000
      rate_per_h: 300
      network: national
      capacity: 0.03
      seed: 0
    policies: [fifo, suanli]
    load: [1.0, 1.5]               # arrival-rate scales
    inventory:                     # named inventory changes
      baseline: {}
      no-h800: {remove: [h800]}
      more-910c-qingyang: {add: {qingyang: {ascend-910c: 10000}}}
    outages:                       # named outage schedules
      none: []
      qingyang-day: [{site: qingyang, start_h: 24, duration_h: 24}]
    baseline: {inventory: baseline, outages: none}   # what the report compares against

Every combination policy x load x inventory x outages x failure rate is one scenario;
each scenario is one simulation on identical input except for what it varies. Inventory
counts are the catalogue's full-scale counts: ``base.capacity`` scales them afterwards,
so adding 10,000 at ``capacity: 0.03`` adds about 300 to the simulated network. Every key,
its type and default: docs/simulator.md, "Sweep files".
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from suanli import _yamlio
from suanli.catalog import Site
from suanli.errors import InputError, SpecError
from suanli.sim.faults import Faults, Outage
from suanli.traces.synthetic import SyntheticParams


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BaseRun(_Strict):
    trace: str = "synthetic"
    trace_format: str | None = None
    jobs: int | None = Field(default=None, ge=1)
    rate_per_h: float | None = Field(default=None, gt=0)
    network: str = "national"
    capacity: float = Field(default=1.0, gt=0)
    seed: int = 0
    reference: str | None = None
    until_h: float | None = Field(default=None, gt=0)


class InventoryChange(_Strict):
    remove: tuple[str, ...] = ()
    """accelerator types removed from every site"""
    add: dict[str, dict[str, int]] = Field(default_factory=dict)
    """site -> accelerator type -> count added (negative removes)"""
    scale: dict[str, float] = Field(default_factory=dict)
    """accelerator type -> factor applied at every site"""


class OutageSpec(_Strict):
    site: str
    start_h: float = Field(ge=0)
    duration_h: float = Field(gt=0)


_NO_OUTAGES: tuple[OutageSpec, ...] = ()


class BaselineSpec(_Strict):
    """The scenario the others are compared with: one value of each axis, the axis's first
    where none is given. Without ``policy``, each scenario is compared with its own
    policy's baseline (so a ratio shows what the what-if does, not what the policy does)."""

    policy: str | None = None
    load: float | None = None
    inventory: str | None = None
    outages: str | None = None
    failure_rate: float | None = None


class SweepSpec(_Strict):
    api_version: Literal["suanli/v1"] = Field(alias="apiVersion")
    kind: Literal["Sweep"]
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._\-]{0,127}$")
    base: BaseRun = Field(default_factory=BaseRun)
    policies: tuple[str, ...] = Field(default=("fifo", "suanli"), min_length=1)
    load: tuple[float, ...] = Field(default=(1.0,), min_length=1)
    inventory: dict[str, InventoryChange] = Field(default_factory=lambda: {"baseline": InventoryChange()})
    outages: dict[str, tuple[OutageSpec, ...]] = Field(default_factory=lambda: {"none": _NO_OUTAGES})
    failure_rate: tuple[float, ...] = (0.0,)
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("baseline")
    @classmethod
    def _baseline_on_the_grid(cls, baseline: BaselineSpec, info: ValidationInfo) -> BaselineSpec:
        # the axes are declared before baseline, so they are validated (when valid) by now
        axes = {
            "policy": info.data.get("policies", ()),
            "load": info.data.get("load", ()),
            "inventory": tuple(info.data.get("inventory", {})),
            "outages": tuple(info.data.get("outages", {})),
            "failure_rate": info.data.get("failure_rate", ()),
        }
        for axis, values in axes.items():
            chosen = getattr(baseline, axis)
            if chosen is not None and chosen not in values:
                listed = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
                raise ValueError(f"baseline.{axis} {chosen!r} is not on the sweep's {axis} axis ({listed})")
        return baseline


@dataclass(frozen=True)
class Scenario:
    policy: str
    load: float
    inventory: str
    outages: str
    failure_rate: float

    @property
    def label(self) -> str:
        return f"{self.policy}|{self.conditions}"

    @property
    def conditions(self) -> str:
        """The scenario without its policy: what the what-if changes."""
        return f"load={self.load:g}|{self.inventory}|{self.outages}|fail={self.failure_rate:g}"


@dataclass(frozen=True)
class SweepResult:
    spec: SweepSpec
    rows: list[dict[str, Any]] = field(default_factory=list)


METRIC_COLUMNS = (
    "jobs",
    "completed",
    "lost",
    "rejected",
    "avg_jct_h",
    "median_jct_h",
    "p99_jct_h",
    "avg_queue_h",
    "makespan_h",
    "window_utilisation",
    "utilisation",
    "energy_kwh",
    "carbon_kg",
    "cost_usd",
    "deadline_misses",
    "preemptions",
    "wall_s",
)


def load_sweep(path: str | Path) -> SweepSpec:
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the sweep file: {exc}", path=label) from None
    try:
        data, positions = _yamlio.load(text)
    except _yamlio.YamlError as exc:
        raise SpecError(exc.message, path=label, line=exc.line) from None
    if not isinstance(data, dict):
        raise SpecError("a sweep must be a YAML mapping", path=label, line=1)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if isinstance(p, str | int))
        pos = _yamlio.position_of(positions, loc)
        message = "unknown field" if first["type"] == "extra_forbidden" else str(first["msg"])
        raise SpecError(
            message.removeprefix("Value error, "),
            path=label,
            line=pos[0] if pos else None,
            field=_yamlio.dotted(loc) or None,
        ) from None


def scenarios(spec: SweepSpec) -> list[Scenario]:
    return [
        Scenario(p, load, inv, out, rate)
        for p, load, inv, out, rate in product(
            spec.policies, spec.load, spec.inventory, spec.outages, spec.failure_rate
        )
    ]


def baseline_of(spec: SweepSpec, scenario: Scenario) -> Scenario:
    """The scenario ``scenario`` is compared with (see :class:`BaselineSpec`)."""
    chosen = spec.baseline
    return Scenario(
        policy=chosen.policy if chosen.policy is not None else scenario.policy,
        load=chosen.load if chosen.load is not None else spec.load[0],
        inventory=chosen.inventory if chosen.inventory is not None else next(iter(spec.inventory)),
        outages=chosen.outages if chosen.outages is not None else next(iter(spec.outages)),
        failure_rate=chosen.failure_rate if chosen.failure_rate is not None else spec.failure_rate[0],
    )


COMPARED = (
    ("avg_jct_h", "ratio"),
    ("p99_jct_h", "ratio"),
    ("avg_queue_h", "ratio"),
    ("makespan_h", "ratio"),
    ("window_utilisation", "delta"),
    ("energy_kwh", "ratio"),
    ("carbon_kg", "ratio"),
    ("cost_usd", "ratio"),
    ("deadline_misses", "delta"),
    ("lost", "delta"),
    ("rejected", "delta"),
)
"""The metrics read against the baseline, each as a ratio (scenario / baseline) or, for
shares and counts, a delta (scenario - baseline)."""


def against_baseline(spec: SweepSpec, rows: list[dict[str, Any]]) -> list[dict[str, float | None]]:
    """For each row (in order), each :data:`COMPARED` metric against its baseline's: a
    ratio, or a delta; None where the baseline's value is missing, or 0 for a ratio."""
    by_label = {row["scenario"]: row for row in rows}
    out: list[dict[str, float | None]] = []
    for row in rows:
        scenario = Scenario(row["policy"], row["load"], row["inventory"], row["outages"], row["failure_rate"])
        base = by_label.get(baseline_of(spec, scenario).label)
        compared: dict[str, float | None] = {}
        for key, kind in COMPARED:
            compared[key] = _compare(row.get(key), None if base is None else base.get(key), kind)
        out.append(compared)
    return out


def _compare(value: object, base: object, kind: str) -> float | None:
    if not isinstance(value, int | float) or not isinstance(base, int | float):
        return None
    if math.isnan(value) or math.isnan(base):
        return None
    if kind == "delta":
        return float(value) - float(base)
    return float(value) / float(base) if base > 0 else None


def describe_inventory(change: InventoryChange, capacity: float) -> str:
    """What an inventory change does, in words, with the counts it adds at ``capacity``."""
    if not (change.remove or change.add or change.scale):
        return "the catalogue's inventory, unchanged"
    parts = []
    if change.remove:
        parts.append(f"remove every {', '.join(change.remove)}")
    for accel, factor in change.scale.items():
        parts.append(f"{accel} x {factor:g} at every site")
    for site, adds in change.add.items():
        for accel, count in adds.items():
            verb = "add" if count >= 0 else "remove"
            text = f"{verb} {abs(count):,} {accel} at {site}"
            if capacity != 1.0:
                text += f" (about {abs(count) * capacity:,.0f} at capacity x {capacity:g})"
            parts.append(text)
    return "; ".join(parts)


def describe_outages(outages: tuple[OutageSpec, ...]) -> str:
    if not outages:
        return "no outage"
    return "; ".join(f"{o.site} down from hour {o.start_h:g} for {o.duration_h:g} h" for o in outages)


def apply_inventory(sites: Mapping[str, Site], change: InventoryChange, accelerators: set[str]) -> dict[str, Site]:
    """Sites with ``change`` applied (counts never below zero)."""
    unknown = sorted(
        ({*change.remove, *change.scale} | {a for adds in change.add.values() for a in adds}) - accelerators
    )
    if unknown:
        raise InputError(f"inventory change names unknown accelerator(s) {', '.join(unknown)}")
    missing = sorted(set(change.add) - set(sites))
    if missing:
        raise InputError(f"inventory change names unknown site(s) {', '.join(missing)}; valid: {', '.join(sites)}")
    out: dict[str, Site] = {}
    for site_id, site in sites.items():
        inventory = {k: v for k, v in site.inventory.items() if k not in change.remove}
        for accel, factor in change.scale.items():
            if accel in inventory:
                inventory[accel] = max(0, round(inventory[accel] * factor))
        for accel, count in change.add.get(site_id, {}).items():
            inventory[accel] = max(0, inventory.get(accel, 0) + count)
        pricing = site.pricing
        if pricing.model == "rental":
            missing_price = [a for a in inventory if a not in pricing.accelerator_usd_per_h]
            if missing_price:
                known = list(pricing.accelerator_usd_per_h.values())
                median = sorted(known)[len(known) // 2] if known else 1.0
                prices = {**pricing.accelerator_usd_per_h, **{a: median for a in missing_price}}
                pricing = pricing.model_copy(update={"accelerator_usd_per_h": prices})
        out[site_id] = site.model_copy(
            update={"inventory": {k: v for k, v in inventory.items() if v > 0}, "pricing": pricing}
        )
    return out


def run_scenario(payload: tuple[dict[str, Any], dict[str, Any], str | None, str | None]) -> dict[str, Any]:
    """Run one scenario in this process (also the Ray task). Imports stay inside so a Ray
    worker needs nothing but suanli installed."""
    from suanli.catalog import load_catalog, load_profiles
    from suanli.clock import WallClock
    from suanli.service.planning import Context
    from suanli.service.simulation import SimulationRequest, run_simulation

    spec_data, scenario_data, catalog_dir, profiles_path = payload
    spec = SweepSpec.model_validate(spec_data)
    scenario = Scenario(**scenario_data)
    catalog = load_catalog(catalog_dir)
    base = spec.base
    change = spec.inventory[scenario.inventory]
    sites = apply_inventory(catalog.sites, change, set(catalog.accelerators))
    catalog = type(catalog)(
        accelerators=catalog.accelerators,
        sites=sites,
        grid_regions=catalog.grid_regions,
        hour_profiles=catalog.hour_profiles,
        links={},
        network_defaults=catalog.network_defaults,
        models=catalog.models,
    )
    profiles = load_profiles(profiles_path, catalog) if profiles_path else None
    ctx = Context(catalog=catalog, profiles=profiles, clock=WallClock())
    synthetic = SyntheticParams()
    if base.trace == "synthetic":
        synthetic = SyntheticParams(
            jobs=base.jobs or synthetic.jobs, rate_per_h=base.rate_per_h or synthetic.rate_per_h
        )
    outages = tuple(Outage(o.site, o.start_h, o.duration_h) for o in spec.outages[scenario.outages])
    request = SimulationRequest(
        trace=base.trace,
        trace_format=base.trace_format,
        network=base.network,
        policies=(scenario.policy,),
        seed=base.seed,
        until_h=base.until_h,
        reference=base.reference,
        capacity_scale=base.capacity,
        load_scale=scenario.load,
        max_jobs=base.jobs if base.trace != "synthetic" else None,
        synthetic=synthetic,
        faults=Faults(outages=outages, rate_per_1000_per_day=scenario.failure_rate, seed=base.seed),
    )
    result = run_simulation(ctx, request)
    metrics = result.as_dict()["policies"][scenario.policy]
    row: dict[str, Any] = {
        "scenario": scenario.label,
        "policy": scenario.policy,
        "load": scenario.load,
        "inventory": scenario.inventory,
        "outages": scenario.outages,
        "failure_rate": scenario.failure_rate,
    }
    row.update({k: metrics.get(k) for k in METRIC_COLUMNS})
    row["carbon_gap"] = metrics["gap_to_bounds"]["carbon"]
    row["jct_gap"] = metrics["gap_to_bounds"]["avg_jct"]
    return row


Progress = Callable[[int, int], None]


def run_sweep(
    spec: SweepSpec,
    catalog_dir: str | None = None,
    profiles: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Every scenario of ``spec``: in a local process pool, or as Ray tasks on ``ray_address``."""
    todo = scenarios(spec)
    spec_data = spec.model_dump(by_alias=True, mode="json")
    payloads = [(spec_data, s.__dict__, catalog_dir, profiles) for s in todo]
    rows = list(_run_ray(payloads, ray_address, progress) if ray_address else _run_local(payloads, workers, progress))
    order = {s.label: i for i, s in enumerate(todo)}
    rows.sort(key=lambda r: order[r["scenario"]])
    return SweepResult(spec, rows)


def _run_local(payloads: list[Any], workers: int | None, progress: Progress | None) -> Iterator[dict[str, Any]]:
    count = workers or min(len(payloads), os.cpu_count() or 1)
    if count <= 1:
        for index, payload in enumerate(payloads, start=1):
            yield run_scenario(payload)
            if progress:
                progress(index, len(payloads))
        return
    with ProcessPoolExecutor(max_workers=count) as pool:
        for index, row in enumerate(pool.map(run_scenario, payloads), start=1):
            yield row
            if progress:
                progress(index, len(payloads))


def _run_ray(payloads: list[Any], address: str, progress: Progress | None) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'suanli[ray]'") from None
    try:
        # "local" starts a Ray instance on this machine; anything else is a cluster address
        if address == "local":  # a throwaway instance: no dashboard to start
            ray.init(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
        else:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    remote = ray.remote(run_scenario)
    pending = [remote.remote(p) for p in payloads]
    done = 0
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                done += 1
                yield ray.get(ref)
                if progress:
                    progress(done, len(payloads))
    finally:
        ray.shutdown()


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """CSV, or Parquet for a ``.parquet`` path (needs pyarrow)."""
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError("Parquet output needs pyarrow: pip install pyarrow, or write .csv") from None
        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    if path.suffix.lower() != ".csv":
        raise InputError(f"--out must end in .csv or .parquet, got {path.name}")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["scenario"])
        writer.writeheader()
        writer.writerows(rows)
