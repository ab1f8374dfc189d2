"""The network over time, derived from the store: what the dashboard's charts draw.

Nothing is sampled or kept in memory: every figure is read back from what the control
plane records anyway, so any replica or ``--workers`` process answers alike, a restart
loses nothing, and the store holds no second copy to grow. The answer's size is bounded by
its points (at most :data:`MAX_POINTS` per series); the work by the jobs and metered runs
that overlap its window.

Notation. The window is ``n`` points of ``step`` seconds, ``[t_k, t_k + step)``, aligned to
multiples of ``step`` (``t_k = (m + k) x step``), the last one cut at now. A *run* is a
metered ``usage`` row (``start_s``, ``end_s``, site, accelerator, ``accelerator_s``, kWh, kg
CO2e) or a run in flight (a RUNNING job's ``run_started_at`` to now); it holds
``c = accelerator_s / (end_s - start_s)`` accelerators (in flight: the job's count). A job
*lives* from ``created_at`` to ``finished_at`` (an ended job without one: ``updated_at``;
a job not ended: now). For point ``k`` of length ``L_k``:

- ``running[k] = (1 / L_k) x integral over the point of (runs going)``;
- ``in_use[site][k] = (1 / L_k) x integral of (sum of c over the site's runs going)``, and
  the same by accelerator type;
- ``waiting[k] = (1 / L_k) x integral of (jobs living - runs going)``: a job waits while it
  lives and no run of it goes (PENDING, PREEMPTED, held, PLACED until its run starts);
- ``energy_kwh[site][k] = sum over metered runs of kWh x |run n point| / |run|``, and kg
  CO2e the same: a run's metering spread evenly over its hours, known once the run ends;
- ``cost_usd[tenant][k]`` and ``carbon_kg[tenant][k]``: the same sum over the tenant's runs,
  its runs in flight included, metered from their start to now at the hourly rates
  ``close_run`` will meter them at (``views.so_far``, the jobs' ``cost_so_far``), so a
  tenant's points add up to what its jobs' cost so far says;
- ``total[site][k] = (1 / L_k) x integral of (the site's inventory while it is up)``: the
  inventory of its last ``site.register`` in the audit log, from that entry until a
  ``site.down`` (the scheduler declared it lost) and again from a ``site.up`` (its agent
  heartbeated again); ``busy[site][k]`` is ``in_use[site][k]`` over every tenant's runs,
  ``free[site][k] = max(0, total - busy)``; the same by accelerator type, summed over sites.

ETA accuracy. A job *starts* when the scheduler places it (``placed_at``: the start the
forecast predicts, and the one ``/metrics``' ``suanli_eta_start_error_seconds`` measures,
the scheduler's own); it counts in the point it started in. Its error is ``placed_at -
eta.start_forecast``, the start its last forecast while it waited predicted (the ETA engine
keeps it on a started job's ETA); for an ETA without one (written before it was kept, or a
job no forecast saw waiting), ``placed_at - eta.start`` when that forecast was computed
before it started (``eta.computed_at``, to the whole second, at least a second before
``placed_at``); ``forecast`` counts the jobs that had one. Per point:
the median and 90th percentile (linear between ranks) of the absolute errors, and the
median signed error.

Each integral is one sweep over the runs' (or jobs') start and end events in time order
(:func:`integrate`), ``O((events + n) log events)``, not one pass per point.

Inventory is the network's whoever asks (``/v1/sites`` shows any token what is in use now):
a free count from one tenant's runs would be wrong. A site with no ``site.register`` entry
(registered before the audit log recorded it) has its inventory now over the whole window.

Limits: jobs are read by a scan of their table (no index on ``created_at``), about 10 ms
per 10,000 jobs on SQLite; the audit log's site entries come from its index by action and
time (``ix_audit_action_at``, migration 0008), not a scan of every entry. The store keeps
one forecast per job, its last: a job that runs past the next forecast has its prediction
replaced by its actual start, so the accuracy covers only jobs whose last forecast came
before they started (on a live plane, forecasting every few
seconds, mostly those that finished before the next one), to the second.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, case, func, null, or_, select, type_coerce

from suanli.clock import from_iso, iso
from suanli.schemas import TERMINAL_STATES
from suanli.schemas.history import EtaAccuracy, EtaErrors, HistoryOut, HistorySeries, InventorySeries
from suanli.service.control import views
from suanli.service.control.auth import Principal, require
from suanli.service.control.errors import Unprocessable
from suanli.service.control.plane import ControlPlane
from suanli.store import identity
from suanli.store import sites as site_rows
from suanli.store.tables import audit, jobs, usage

MAX_POINTS = 1000
"""Points per series: a chart 1,000 pixels wide at one pixel a point (Prometheus refuses
past 11,000; a dashboard needs far fewer)."""
MAX_WINDOW_S = 30 * 86400.0
"""A month of hours (720 points) or of days."""
DEFAULT_WINDOW_S = 3600.0
DEFAULT_STEP_S = 60.0
METHOD = (
    "derived from the store at each request: runs are the metered usage rows and the jobs "
    "running now; jobs wait while they live and no run of theirs goes; energy and carbon by site "
    "are each metered run's, spread evenly over it, counted once the run ends; capacity is the "
    "sites' inventory now; inventory over time is each site's registered inventory while it was up "
    "(site.register, site.down and site.up in the audit log), busy every tenant's runs, free the "
    "difference; cost and carbon by tenant include runs in flight, metered to now at the rates "
    "their runs will be metered at (as the jobs' cost_so_far)"
)
ETA_METHOD = (
    "jobs placed in the point (the scheduler's start, as /metrics' suanli_eta_start_error_seconds); "
    "error = placed_at - eta.start_forecast, the start the job's last forecast while it waited "
    "predicted (else placed_at - eta.start where that forecast was computed at least a second before "
    "it was placed); to the second"
)

Interval = tuple[float, float, float]
"""``(start_s, end_s, weight)``: ``weight`` counted from ``start_s`` to ``end_s``."""


def history(cp: ControlPlane, who: Principal, window_s: float, step_s: float) -> HistoryOut:
    """The network over the last ``window_s`` seconds in points of ``step_s`` (a tenant's
    token: its own jobs, cost and carbon; staff: every tenant's; the inventory is the
    network's for both). 422 when the points would be more than :data:`MAX_POINTS` or the
    step longer than the window."""
    require(who, ("admin", "operator", "tenant"), "read the network's history")
    points = point_count(window_s, step_s)
    now = cp.now_s()
    edges = point_edges(now, step_s, points)
    t0 = edges[0]
    tenant = None if who.is_staff else who.tenant_id
    with cp.store.engine.connect() as conn:
        inventories = {row["id"]: dict(row["inventory"]) for row in site_rows.list_sites(conn)}
        every_run = _runs(conn, t0, now, tenant)
        lives, starts = _lives_and_starts(conn, t0, now, tenant)
        spans = inventory_spans(conn.execute(_SITE_EVENTS.where(audit.c.at <= now)), now, inventories)
        names = identity.tenant_names(conn)
    runs = every_run if tenant is None else [run for run in every_run if run["tenant_id"] == tenant]
    lengths = [b - a for a, b in itertools.pairwise(edges)]

    def mean(intervals: Iterable[Interval]) -> list[float]:
        sums = integrate(intervals, edges)
        return [round(s / length, 3) if length > 0 else 0.0 for s, length in zip(sums, lengths, strict=True)]

    site_names = sorted(set(inventories) | {run["site"] for run in runs})
    type_capacity: dict[str, int] = {}
    for inventory in inventories.values():
        for accel, count in inventory.items():
            type_capacity[accel] = type_capacity.get(accel, 0) + int(count)
    type_names = sorted(set(type_capacity) | {run["accelerator"] for run in runs})
    intervals = [(run["start_s"], run["end_s"], 1.0) for run in runs]
    waiting = mean([*lives, *((a, b, -1.0) for a, b, _ in intervals)])

    def held(key: str, among: list[dict[str, Any]]) -> dict[str, list[float]]:
        """Mean accelerators held by ``among``'s runs at each point, by site or type (``key``)."""
        grouped: dict[str, list[Interval]] = {}
        for r in among:
            grouped.setdefault(r[key], []).append((r["start_s"], r["end_s"], r["count"]))
        return {name: mean(found) for name, found in grouped.items()}

    zeros = [0.0] * points
    use_site, use_type = held("site", runs), held("accelerator", runs)
    # the inventory's busy counts every tenant's runs: for staff, the same as what is in use
    busy_site, busy_type = (
        (use_site, use_type) if tenant is None else (held("site", every_run), held("accelerator", every_run))
    )

    def spread(among: Iterable[dict[str, Any]], total: str) -> list[float]:
        sums = integrate(((r["start_s"], r["end_s"], r[total] / (r["end_s"] - r["start_s"])) for r in among), edges)
        return [round(s, 6) for s in sums]

    def metered(name: str, total: str) -> list[float]:
        return spread((r for r in runs if _metered(r, name)), total)

    def offered(name: str, total: list[Interval], busy: list[float]) -> InventorySeries:
        there = mean(total)
        free = [round(max(0.0, a - b), 3) for a, b in zip(there, busy, strict=True)]
        return InventorySeries(name=name, total=there, busy=busy, free=free)

    inventory_sites = sorted(set(spans) | {run["site"] for run in every_run})
    inventory_types = sorted(
        {a for s in spans.values() for *_, inv in s for a in inv} | {r["accelerator"] for r in every_run}
    )
    tenant_ids = (
        [tenant] if tenant is not None else sorted({r["tenant_id"] for r in runs}, key=lambda i: names.get(i, i))
    )

    def billed(total: str) -> list[HistorySeries]:
        return [
            HistorySeries(name=names.get(i, i), values=spread((r for r in runs if _billed(r, i)), total))
            for i in tenant_ids
        ]

    return HistoryOut(
        scope="network" if tenant is None else f"tenant {who.tenant_name}",
        start=iso(t0),
        end=iso(now),
        step_s=step_s,
        times=[iso(t) for t in edges[:-1]],
        running=mean(intervals),
        waiting=[max(0.0, w) for w in waiting],  # a job's last run may end a moment after it
        in_use_by_site=[
            HistorySeries(name=site, capacity=sum(inventories.get(site, {}).values()), values=use_site.get(site, zeros))
            for site in site_names
        ],
        in_use_by_type=[
            HistorySeries(name=accel, capacity=type_capacity.get(accel, 0), values=use_type.get(accel, zeros))
            for accel in type_names
        ],
        energy_kwh_by_site=[HistorySeries(name=site, values=metered(site, "energy_kwh")) for site in site_names],
        carbon_kg_by_site=[HistorySeries(name=site, values=metered(site, "carbon_kg")) for site in site_names],
        eta_accuracy=eta_accuracy(starts, edges),
        inventory_by_site=[
            offered(
                site,
                [(a, b, float(sum(inv.values()))) for a, b, inv in spans.get(site, [])],
                busy_site.get(site, zeros),
            )
            for site in inventory_sites
        ],
        inventory_by_type=[
            offered(
                accel,
                [(a, b, float(inv.get(accel, 0))) for s in spans.values() for a, b, inv in s],
                busy_type.get(accel, zeros),
            )
            for accel in inventory_types
        ],
        cost_usd_by_tenant=billed("cost_usd"),
        carbon_kg_by_tenant=billed("carbon_kg"),
        method=METHOD,
    )


def inventory_spans(
    events: Iterable[Sequence[Any]], now_s: float, current: Mapping[str, Mapping[str, int]]
) -> dict[str, list[tuple[float, float, dict[str, int]]]]:
    """Each site's inventory over time, ``[(start_s, end_s, {type: count}), ...]`` while it was
    up, from its audit entries ``(at, action, site, detail)`` in time order: ``site.register``
    (its ``detail.inventory``, up), ``site.down`` (offering nothing), ``site.up`` (its last
    inventory again), to ``now_s``. A site of ``current`` (the sites table's inventories)
    without an entry: its inventory there, over all time."""
    spans: dict[str, list[tuple[float, float, dict[str, int]]]] = {}
    state: dict[str, tuple[float, dict[str, int] | None, bool]] = {}  # site: (since, inventory, up)

    def close(site: str, until_s: float) -> None:
        since, inventory, up = state[site]
        if up and inventory and until_s > since:
            spans.setdefault(site, []).append((since, until_s, inventory))

    for at, action, site, detail in events:
        if site in state:
            close(site, float(at))
        _since, inventory, up = state.get(site, (float(at), None, False))
        if action == "site.register":
            registered = detail.get("inventory") if isinstance(detail, dict) else None
            if isinstance(registered, dict):
                inventory = {str(k): int(v) for k, v in registered.items()}
            up = True
        else:
            up = action == "site.up"
        state[site] = (float(at), inventory, up)
    for site in state:
        close(site, now_s)
    for site, now_inventory in current.items():
        if site not in state:
            spans[site] = [(-math.inf, now_s, {str(k): int(v) for k, v in now_inventory.items()})]
    return spans


def point_count(window_s: float, step_s: float) -> int:
    """Points of ``step_s`` that cover ``window_s``; 422 past :data:`MAX_POINTS`."""
    if step_s > window_s:
        raise Unprocessable(
            f"step_s ({step_s:g} s) is longer than window_s ({window_s:g} s). To fix: a step_s of at most "
            f"{window_s:g}, or a longer window_s",
            code="INVALID_WINDOW",
        )
    points = math.ceil(window_s / step_s - 1e-9)
    if points > MAX_POINTS:
        raise Unprocessable(
            f"window_s / step_s asks for {points:,} points; at most {MAX_POINTS:,}. To fix: a step_s of at least "
            f"{math.ceil(window_s / MAX_POINTS):g} s for a window_s of {window_s:g} s",
            code="TOO_MANY_POINTS",
        )
    return points


def point_edges(now_s: float, step_s: float, points: int) -> list[float]:
    """``points + 1`` edges: multiples of ``step_s``, the last point cut at ``now_s`` (never
    empty: a now on a multiple closes the point that ends there)."""
    last_start = math.ceil(now_s / step_s) * step_s - step_s
    starts = [last_start - (points - 1 - k) * step_s for k in range(points)]
    return [*starts, now_s]


def integrate(intervals: Iterable[Interval], edges: Sequence[float]) -> list[float]:
    """For each point ``[edges[k], edges[k + 1])``: the integral over it of the sum of the
    weights of the intervals covering each instant (clipped to ``edges[0]..edges[-1]``).

    One sweep over the intervals' ends in time order, carrying the covering weight."""
    lo, hi = edges[0], edges[-1]
    events: list[tuple[float, float]] = []
    for start, end, weight in intervals:
        a, b = max(start, lo), min(end, hi)
        if b > a and weight != 0.0:
            events.append((a, weight))
            events.append((b, -weight))
    events.sort()
    n = len(edges) - 1
    out = [0.0] * n
    rate, t, k = 0.0, lo, 0
    for when, delta in events:
        while k < n and edges[k + 1] <= when:
            out[k] += rate * (edges[k + 1] - t)
            t = edges[k + 1]
            k += 1
        if k < n:
            out[k] += rate * (when - t)
        t = when
        rate += delta
    return out


def eta_accuracy(starts: Iterable[tuple[float, float | None]], edges: Sequence[float]) -> EtaAccuracy:
    """From ``(placed_at, error_s or None)`` of each job that started in ``edges[0]..edges[-1]``:
    the errors of each point's and of the window's (see the module docstring)."""
    n = len(edges) - 1
    started = [0] * n
    errors: list[list[float]] = [[] for _ in range(n)]
    for placed, error in starts:
        if not edges[0] <= placed <= edges[-1]:
            continue
        k = min(bisect.bisect_right(edges, placed) - 1, n - 1)
        started[k] += 1
        if error is not None:
            errors[k].append(error)
    return EtaAccuracy(
        points=[errors_of(count, found) for count, found in zip(started, errors, strict=True)],
        window=errors_of(sum(started), [e for found in errors for e in found]),
        method=ETA_METHOD,
    )


def errors_of(started: int, errors: Sequence[float]) -> EtaErrors:
    if not errors:
        return EtaErrors(started=started, forecast=0)
    absolute = sorted(abs(e) for e in errors)
    return EtaErrors(
        started=started,
        forecast=len(errors),
        median_abs_error_s=round(quantile(absolute, 0.5), 3),
        p90_abs_error_s=round(quantile(absolute, 0.9), 3),
        median_error_s=round(quantile(sorted(errors), 0.5), 3),
    )


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of the sorted, non-empty ``ordered``, linear between ranks
    (NumPy's default: rank ``q x (n - 1)``)."""
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _error(placed_s: float, eta: Any) -> float | None:
    if not isinstance(eta, dict):
        return None
    try:
        if eta.get("start_forecast"):  # the start its last forecast before it started predicted
            return placed_s - from_iso(eta["start_forecast"])
        computed, start = from_iso(eta["computed_at"]), from_iso(eta["start"])
    except (KeyError, TypeError, ValueError):  # a forecast without both times says nothing
        return None
    return placed_s - start if computed + 1.0 <= placed_s else None


def _metered(run: dict[str, Any], site: str) -> bool:
    return bool(run["site"] == site and run["metered"] and run["end_s"] > run["start_s"])


def _billed(run: dict[str, Any], tenant_id: str) -> bool:
    return bool(run["tenant_id"] == tenant_id and run["end_s"] > run["start_s"])


SITE_EVENTS = ("site.register", "site.down", "site.up")
"""The audit entries that change what a site offers (``service.control.agents``, ``live``)."""
_SITE_EVENTS = (
    select(audit.c.at, audit.c.action, audit.c.object, audit.c.detail)
    .where(audit.c.action.in_(SITE_EVENTS))
    .order_by(audit.c.at, audit.c.id)
)


def _runs(conn: Any, t0: float, now: float, tenant_id: str | None) -> list[dict[str, Any]]:
    """Every tenant's runs overlapping ``[t0, now]``: metered ones, then those going now
    (metered to now at their hourly rates; the rates are read, from the job's options, only
    for ``tenant_id``'s runs, or every run's when None)."""
    metered = select(
        usage.c.tenant_id, usage.c.site, usage.c.accelerator, usage.c.start_s, usage.c.end_s,
        usage.c.accelerator_s, usage.c.energy_kwh, usage.c.carbon_kg, usage.c.cost_usd,
    ).where(usage.c.end_s > t0, usage.c.start_s < now)  # fmt: skip
    options = jobs.c.options if tenant_id is None else case((jobs.c.tenant_id == tenant_id, jobs.c.options))
    going = select(
        jobs.c.tenant_id, jobs.c.site, jobs.c.accelerator, jobs.c["count"], jobs.c.run_started_at,
        type_coerce(options, jobs.c.options.type).label("options"),
    ).where(jobs.c.state == "RUNNING", jobs.c.run_started_at.is_not(None), jobs.c.site.is_not(None))  # fmt: skip
    runs: list[dict[str, Any]] = []
    for tenant, site, accel, start, end, accel_s, kwh, kg, usd in conn.execute(metered):
        length = float(end) - float(start)
        count = float(accel_s) / length if length > 0 else 0.0
        runs.append(_run(tenant, site, accel, float(start), float(end), count, (kwh, kg, usd), True))
    for row in conn.execute(going).mappings():
        start = float(row["run_started_at"])
        elapsed_h = max(0.0, now - start) / 3600.0
        rates = views.hourly_rates(dict(row)) if row["options"] else (0.0, 0.0, 0.0)  # another tenant's: not read
        meter = [rate * elapsed_h for rate in rates]
        where = (row["site"], row["accelerator"])
        runs.append(_run(row["tenant_id"], *where, start, now, float(row["count"]), meter, False))
    return runs


def _run(
    tenant: str, site: str, accel: str, start: float, end: float, count: float, meter: Sequence[float], metered: bool
) -> dict[str, Any]:
    return {
        "tenant_id": str(tenant),
        "site": str(site),
        "accelerator": str(accel),
        "start_s": start,
        "end_s": end,
        "count": count,
        "energy_kwh": float(meter[0]),
        "carbon_kg": float(meter[1]),
        "cost_usd": float(meter[2]),
        "metered": metered,
    }


def _lives_and_starts(
    conn: Any, t0: float, now: float, tenant_id: str | None
) -> tuple[list[Interval], list[tuple[float, float | None]]]:
    """Each job that lived during ``[t0, now]``: ``(created_at, its end or now, 1)``; and
    ``(placed_at, placed_at - eta.start or None)`` of each job placed in ``[t0, now]`` (None
    where its forecast did not come before it started).

    One scan of the jobs table for both (on SQLite a job's row runs over several pages, its
    JSON columns before its times: a scan reads them all, 10,000 jobs about 25 ms); the
    forecast is read only of the jobs placed in the window."""
    ended = func.coalesce(jobs.c.finished_at, jobs.c.updated_at)
    placed_in = and_(jobs.c.placed_at >= t0, jobs.c.placed_at <= now)
    eta = type_coerce(case((placed_in, jobs.c.eta), else_=null()), jobs.c.eta.type)
    lived = and_(jobs.c.created_at < now, or_(jobs.c.state.not_in(sorted(TERMINAL_STATES)), ended > t0))
    query = select(jobs.c.created_at, ended, jobs.c.state, jobs.c.placed_at, eta).where(or_(lived, placed_in))
    if tenant_id is not None:
        query = query.where(jobs.c.tenant_id == tenant_id)
    lives: list[Interval] = []
    starts: list[tuple[float, float | None]] = []
    for created, end, state, placed, forecast in conn.execute(query):
        terminal = state in TERMINAL_STATES
        if created < now and (not terminal or end > t0):
            lives.append((float(created), float(end) if terminal else now, 1.0))
        if placed is not None and t0 <= placed <= now:
            starts.append((float(placed), _error(float(placed), forecast)))
    return lives, starts


__all__ = [
    "DEFAULT_STEP_S",
    "DEFAULT_WINDOW_S",
    "MAX_POINTS",
    "MAX_WINDOW_S",
    "SITE_EVENTS",
    "errors_of",
    "eta_accuracy",
    "history",
    "integrate",
    "inventory_spans",
    "point_count",
    "point_edges",
    "quantile",
]
