"""Where a job can run: the planner's options over the live network, at the job's count.

The live network is the catalogue's sites with each registered site's inventory replaced
by what its agent reported (a site with no agent keeps its catalogue inventory, since its
agent may join later; the scheduler only places on sites that are up). Options are
planned once per (spec, network) and kept on the job row, so a scheduling cycle over
10,000 waiting jobs reads numbers instead of planning.

An option is ``{site, accelerator, count, duration_h, energy_kwh, carbon_kg, cost_usd}``
for a start now; metering charges a run's energy, carbon and cost at the option's hourly
rates (``energy_kwh / duration_h`` per hour of the run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from suanli.catalog import Catalog
from suanli.placement import plan
from suanli.placement.options import Option, rejection_dict
from suanli.service.control.plane import ControlPlane
from suanli.workload import JobSpec

MAX_REASONS = 20
"""Rejections kept on a job (the nearest misses first, one per code x site x type)."""


@dataclass(frozen=True)
class Placement:
    count: int
    options: list[dict[str, Any]]
    """Best first by the job's objective."""
    rejected: list[dict[str, Any]]
    signature: str
    objective: str = "time"
    deadline_s: float | None = None


@dataclass(frozen=True)
class QueuedOptions:
    """What a scheduling cycle needs of a job's options, kept between cycles by job id (a
    job's options change only when the scheduler re-plans them): ``runtimes``, one
    ``(site, accelerator, duration_s)`` per option at the job's count; ``accelerators``,
    every type offered (quota checks); ``signature``, the network they were planned for
    (None: read as stored, never re-planned, as for a running job); ``objective`` and
    ``deadline_s``, the spec's (None where the spec was not read)."""

    signature: str | None
    runtimes: tuple[tuple[str, str, float], ...]
    accelerators: frozenset[str]
    objective: str | None = None
    deadline_s: float | None = None
    figures: tuple[tuple[str, str, float, float], ...] = ()
    """``(site, accelerator, cost_usd, carbon_kg)`` per option at the job's count."""


def queued_options(
    options: Sequence[dict[str, Any]],
    count: int,
    signature: str | None,
    objective: str | None = None,
    deadline_s: float | None = None,
) -> QueuedOptions:
    """``runtimes`` are at least 1 microsecond (a zero duration would make an infinite speed)."""
    runtimes = tuple(
        (o["site"], o["accelerator"], max(o["duration_h"] * 3600.0, 1e-6)) for o in options if o["count"] == count
    )
    figures = tuple(
        (o["site"], o["accelerator"], float(o["cost_usd"]), float(o["carbon_kg"]))
        for o in options
        if o["count"] == count
    )
    accelerators = frozenset(o["accelerator"] for o in options)
    return QueuedOptions(signature, runtimes, accelerators, objective, deadline_s, figures)


def network_signature(site_rows: Sequence[dict[str, Any]]) -> str:
    """Changes when a site registers or changes its inventory (options are replanned)."""
    text = json.dumps(sorted((s["id"], sorted(s["inventory"].items())) for s in site_rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def live_catalog(catalog: Catalog, site_rows: Sequence[dict[str, Any]]) -> Catalog:
    sites = dict(catalog.sites)
    for row in site_rows:
        if row["id"] in sites:
            sites[row["id"]] = sites[row["id"]].model_copy(update={"inventory": dict(row["inventory"])})
    return replace(catalog, sites=sites)


def placement(
    cp: ControlPlane,
    spec: JobSpec,
    spec_data: dict[str, Any],
    site_rows: Sequence[dict[str, Any]],
    signature: str | None = None,
) -> Placement:
    """The job's options now (cached by spec and network; ``signature`` is the network's,
    when the caller has it already)."""
    signature = signature or network_signature(site_rows)
    key = cp.plans.key(spec_data, signature)
    cached = cp.plans.get(key)
    if isinstance(cached, Placement):
        return cached
    catalog = live_catalog(cp.planning.catalog, site_rows)
    now_s = cp.now_s()
    result = plan(spec, catalog, now_s, cp.planning.profiles)
    options = list(result.options)
    rejected = _distinct([rejection_dict(r) for r in result.rejected])
    if not options:
        found = Placement(_fixed_count(spec) or 0, [], rejected, signature, *_intent(spec, now_s))
        cp.plans.put(key, found)
        return found
    # a count range: the best option's count at a site with an agent (a catalogue-only site
    # cannot run the job; its larger nominal inventory must not set a count no agent has)
    registered = {row["id"] for row in site_rows}
    count = _fixed_count(spec) or next((o.count for o in options if o.site in registered), options[0].count)
    # one option per site x type at the count: its earliest start the planner kept (a site
    # whose best start is later, for a cleaner hour, must still be offered for now)
    earliest: dict[tuple[str, str], tuple[int, Option]] = {}
    for rank, option in enumerate(options):
        group = (option.site, option.accelerator)
        if option.count == count and (group not in earliest or option.start_s < earliest[group][1].start_s):
            earliest[group] = (rank, option)
    chosen: list[dict[str, Any]] = []
    for _, option in sorted(earliest.values(), key=lambda item: item[0]):
        chosen.append(
            {
                "site": option.site,
                "accelerator": option.accelerator,
                "count": option.count,
                "duration_h": option.duration_h,
                "energy_kwh": option.energy_kwh,
                "carbon_kg": option.carbon_kg,
                "cost_usd": option.cost_usd,
            }
        )
    found = Placement(count, chosen, rejected, signature, *_intent(spec, now_s))
    cp.plans.put(key, found)
    return found


def _intent(spec: JobSpec, now_s: float) -> tuple[str, float | None]:
    """The spec's objective and deadline (epoch seconds, a relative one from ``now_s``),
    which the scheduler's policy reads."""
    return spec.objective, spec.constraints.deadline_s(now_s)


def _fixed_count(spec: JobSpec) -> int | None:
    count = spec.resources.count
    return count if isinstance(count, int) else None


def _distinct(rejections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for item in rejections:
        key = (item["code"], item["site"], item["accelerator"])
        if key in seen:
            continue
        seen.add(key)
        out.append(item)
        if len(out) >= MAX_REASONS:
            break
    return out


def family_of(catalog: Catalog, accelerator: str) -> str:
    """The accelerator's family (``hopper``, ``ascend``, ...), the key of quotas."""
    accel = catalog.accelerators.get(accelerator)
    return accel.family if accel is not None else accelerator
