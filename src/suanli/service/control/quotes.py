"""Quotes against live capacity: ``POST /v1/plan`` and ``POST /v1/estimate``.

``suanli plan`` answers from the catalogue's nominal inventories; a quote answers from the
network as it is: the options at sites whose agents are up (and not degraded), each with
its duration, energy, carbon and cost as the planner prices them, and a predicted start
and finish from the leader's last ETA forecast (:class:`suanli.sim.forecast.Timeline`: the
first time the option's accelerators stay free for its duration after the jobs already
queued and running there, as Slurm's ``--test-only`` answers from its reservations).
Options the tenant may not use now are refused with a reason: a site without a live agent
(``SITE_NOT_LIVE``), more accelerators at once than the tenant's quota allows, or a type
its used-up hour quota covers (``QUOTA_EXCEEDED``, as the live cycle would hold it). The
spec's residency and every other constraint are the planner's.

Without a forecast (ETAs off, or this replica does not lead) the predicted start is "now"
where the accelerators are free now, else unknown (None), and ``forecast`` says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suanli.clock import iso
from suanli.schemas import QuoteIn
from suanli.service.control.auth import Principal, require
from suanli.service.control.errors import Unprocessable
from suanli.service.control.live import concurrency_limits, concurrency_refusal, in_use_by_tenant
from suanli.service.control.options import placement
from suanli.service.control.plane import ControlPlane
from suanli.service.control.quotas import closed_types, spent_message, spent_quotas
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE
from suanli.workload import pin_times, validate_spec

if TYPE_CHECKING:
    from suanli.sim.forecast import Timeline


def quote(cp: ControlPlane, who: Principal, body: QuoteIn) -> dict[str, Any]:
    """The live options for ``body.spec`` (optionally only ``accelerator`` x ``count`` at
    ``site``: an estimate), best first by the job's objective."""
    require(who, ("tenant", "operator", "admin"), "ask for quotes")
    now = cp.now_s()
    data = pin_times(body.spec, now)
    spec = validate_spec(data, "spec", cp.planning.catalog)
    with cp.store.engine.connect() as conn:
        sites = site_rows.list_sites(conn)
        tenants = {who.tenant_id} if who.tenant_id is not None else set()
        limits = concurrency_limits(conn, tenants)
        in_use = in_use_by_tenant(cp, job_rows.jobs_in(conn, ACTIVE)) if tenants else {}
        spent = spent_quotas(cp, conn, tenants, now).get(who.tenant_id or "", {})
        held = job_rows.in_use_by_site(conn, ACTIVE)
    closed = closed_types(cp.planning.catalog, spent) if spent else frozenset()
    live = {s["id"]: s for s in sites if s["state"] == "up" and not site_rows.degraded(s, now)}
    found = placement(cp, spec, data, sites)
    timeline = cp.timeline
    options: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = list(found.rejected)
    for option in found.options:
        if body.accelerator is not None and option["accelerator"] != body.accelerator:
            continue
        if body.site is not None and option["site"] != body.site:
            continue
        if option["site"] not in live:
            refused.append(_refusal("SITE_NOT_LIVE", option, f"no agent runs at {option['site']} now"))
            continue
        if option["accelerator"] in closed:
            message = spent_message(spent, [option["accelerator"]], cp.planning.catalog)
            refused.append(_refusal("QUOTA_EXCEEDED", option, message))
            continue
        over = concurrency_refusal(
            cp, limits, in_use, {"tenant_id": who.tenant_id, "count": option["count"]}, option["accelerator"]
        )
        if over is not None:
            refused.append(_refusal("QUOTA_EXCEEDED", option, over["message"]))
            continue
        options.append({**option, **_when(live[option["site"]], option, timeline, held, now)})
    if body.count is not None:
        options = [o for o in options if o["count"] == body.count]
    if not options and (body.accelerator is not None or body.site is not None or body.count is not None):
        wanted = " x ".join(str(v) for v in (body.count, body.accelerator) if v is not None) or "this job"
        at = f" at {body.site}" if body.site else ""
        raise Unprocessable(
            f"no live option for {wanted}{at}: "
            + "; ".join(f"{r['code']}: {r['message']}" for r in refused[:3] if isinstance(r, dict)),
            code="NO_FEASIBLE_PLACEMENT",
            details=refused[:20],
        )
    return {
        "job": spec.name,
        "objective": found.objective,
        "computed_at": iso(now),
        "forecast": None if timeline is None else iso(timeline.now_s),
        "options": options,
        "rejected": refused[:50],
    }


def _when(
    site: dict[str, Any],
    option: dict[str, Any],
    timeline: Timeline | None,
    held: dict[str, dict[str, int]],
    now: float,
) -> dict[str, Any]:
    duration_s = float(option["duration_h"]) * 3600.0
    accel, count = option["accelerator"], int(option["count"])
    start: float | None
    if timeline is not None:
        start = timeline.earliest_start(f"{option['site']}/{accel}", count, duration_s, now)
    else:
        free = int(site["inventory"].get(accel, 0)) - held.get(option["site"], {}).get(accel, 0)
        start = now if free >= count else None
    return {
        "start": None if start is None else iso(start),
        "finish": None if start is None else iso(start + duration_s),
    }


def _refusal(code: str, option: dict[str, Any], message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "site": option["site"],
        "accelerator": option["accelerator"],
        "count": option["count"],
    }
