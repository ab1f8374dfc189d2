"""The tenant commands' tables and fields (``suanli jobs``, ``status``, ``explain``, ``sites``,
``usage``): plain text from the API's JSON, times in the display zone (``timeshow``)."""

from __future__ import annotations

from typing import Any

from suanli.cli import fmt
from suanli.cli.timeshow import instant, show, zone_label


def _time(value: Any) -> str:
    return show(value) if value else ""


def _elapsed(job: dict[str, Any]) -> str:
    """How long the job has run (or ran): from its start to its end, or to now."""
    from datetime import UTC, datetime

    started = instant(job.get("started_at"))
    if started is None:
        return ""
    ended = instant(job.get("finished_at")) or datetime.now(UTC)
    return fmt.span((ended - started).total_seconds())


def _eta(job: dict[str, Any]) -> str:
    """The forecast's next event for the job: ``start HH:MM`` while it waits, ``end ...``
    once it runs (the day too when it is not today's)."""
    eta = job.get("eta")
    if not isinstance(eta, dict):
        return ""
    running = job.get("state") in ("PLACED", "RUNNING")
    when = str(eta.get("finish" if running else "start") or "")
    return f"{'end' if running else 'start'} {_time(when)}" if when else ""


def eta_line(job: dict[str, Any]) -> str | None:
    eta = job.get("eta")
    if not isinstance(eta, dict):
        return None
    late = ""
    if eta.get("start_p90"):
        late = f" (late side {_time(eta.get('start_p90'))} .. {_time(eta.get('finish_p90'))})"
    when = f"start {_time(eta.get('start'))}, finish {_time(eta.get('finish'))}{late}"
    return f"{when}; {eta.get('method')} at {_time(eta.get('computed_at'))}"


def _accelerators(job: dict[str, Any]) -> str:
    count, accelerator = job.get("count"), job.get("accelerator")
    return f"{count} x {accelerator}" if count and accelerator else ""


JOB_COLUMNS: tuple[str, ...] = ("id", "name", "kind", "tenant", "state", "site", "accelerators", "started")
JOB_COLUMNS += ("elapsed", "spent", "CO2", "ETA", "est. duration", "est. cost", "created")
DROPPED_FIRST = ("created", "est. duration", "est. cost", "kind", "started", "ETA", "tenant", "accelerators", "site")
"""The columns a narrow terminal loses, in this order, until the table fits (``jobs_table``);
id, name, state, elapsed, spent and CO2 always stay."""


def _so_far(job: dict[str, Any], key: str, show: Any) -> str:
    value = job.get(key)
    return show(value) if isinstance(value, int | float) else ""


def _job_cells(job: dict[str, Any]) -> dict[str, str]:
    est = job.get("estimate") or {}
    return {
        "id": str(job.get("id")),
        "name": str(job.get("name")),
        "kind": str(job.get("kind")),
        "tenant": str(job.get("tenant")),
        "state": str(job.get("state")),
        "site": job.get("site") or "",
        "accelerators": _accelerators(job),
        "started": _time(job.get("started_at")),
        "elapsed": _elapsed(job),
        "spent": _so_far(job, "cost_so_far", fmt.money),
        "CO2": _so_far(job, "co2_kg_so_far", fmt.mass),
        "ETA": _eta(job),
        "est. duration": fmt.hours(est["duration_h"]) if "duration_h" in est else "",
        "est. cost": fmt.money(est["cost_usd"]) if "cost_usd" in est else "",
        "created": _time(job.get("created_at")),
    }


def jobs_table(jobs: list[dict[str, Any]], tenants: bool, width: int | None = None) -> str:
    """The jobs, one a line. ``spent`` and ``CO2`` are what the job's runs have used so far
    (the server's metering: ``cost_so_far``, ``co2_kg_so_far``); the ``est.`` columns are
    the planner's figures for the whole job. With ``width`` (the terminal's columns), the
    columns of :data:`DROPPED_FIRST` go, in that order, until the table fits."""
    tz = zone_label()
    rows = [_job_cells(job) for job in jobs]
    names = [name for name in JOB_COLUMNS if name != "tenant" or tenants]
    timed = {"started", "ETA", "created"}
    right = {"elapsed", "spent", "CO2", "est. duration", "est. cost"}

    def render() -> str:
        headers = [f"{name} ({tz})" if name in timed else name for name in names]
        cells = [[row[name] for name in names] for row in rows]
        return fmt.table(headers, cells, right={f"{n} ({tz})" if n in timed else n for n in right}, title=None)

    text = render()
    for name in DROPPED_FIRST:
        if width is None or max(len(line) for line in text.splitlines()) <= width:
            break
        if name in names:
            names.remove(name)
            text = render()
    return f"jobs ({len(jobs)})\n{text}"


def job_fields(job: dict[str, Any]) -> str:
    pairs: list[tuple[str, Any]] = [
        ("state", job.get("state")),
        ("kind", job.get("kind")),
        ("tenant", job.get("tenant")),
        ("site", job.get("site")),
        ("accelerators", _accelerators(job)),
        ("attempt", job.get("attempt") or None),
        (f"created ({zone_label()})", _time(job.get("created_at"))),
        (f"started ({zone_label()})", _time(job.get("started_at"))),
        ("elapsed", _elapsed(job)),
        (f"ETA ({zone_label()})", eta_line(job)),
        (f"finished ({zone_label()})", _time(job.get("finished_at"))),
        ("exit code", job.get("exit_code")),
        ("message", job.get("message")),
        ("checkpoint", job.get("checkpoint")),
    ]
    if isinstance(job.get("cost_so_far"), int | float):
        pairs.append(
            (
                "used so far",
                f"{fmt.money(job['cost_so_far'])}, {fmt.energy(job.get('energy_kwh_so_far') or 0.0)}, "
                f"{fmt.mass(job.get('co2_kg_so_far') or 0.0)} CO2, "
                f"{job.get('accelerator_hours_so_far') or 0.0:,.2f} accelerator-hours",
            )
        )
    est = job.get("estimate")
    if est:
        pairs.append(
            (
                "estimate",
                f"{fmt.hours(est['duration_h'])}, {fmt.energy(est['energy_kwh'])}, {fmt.mass(est['carbon_kg'])} CO2, "
                f"{fmt.money(est['cost_usd'])} ({est['count']} x {est['accelerator']} at {est['site']})",
            )
        )
    return fmt.fields(f"job {job.get('id')} ('{job.get('name')}')", pairs)


def options_table(options: list[dict[str, Any]], site_states: dict[str, str] | None = None) -> str:
    """The options, best first; with ``site_states`` (``explain``), whether each site is
    live, degraded, down or only in the catalogue (no agent: nothing runs there)."""
    columns = ["#", "site", *(["site state"] if site_states is not None else [])]
    columns += ["accelerator", "count", "duration", "energy", "carbon", "cost"]
    rows = [
        [
            str(i),
            str(o["site"]),
            *([site_states.get(str(o["site"]), "")] if site_states is not None else []),
            str(o["accelerator"]),
            str(o["count"]),
            fmt.hours(o["duration_h"]),
            fmt.energy(o["energy_kwh"]),
            fmt.mass(o["carbon_kg"]),
            fmt.money(o["cost_usd"]),
        ]
        for i, o in enumerate(options, start=1)
    ]
    right = {"#", "count", "duration", "energy", "carbon", "cost"}
    return fmt.table(columns, rows, right=right, title=f"feasible placements ({len(options)})")


def sites_table(sites: list[dict[str, Any]]) -> str:
    columns = ["site", "state", "executor", "region", "PUE", "accelerators (in use / total)", "last heartbeat"]
    rows = []
    for site in sites:
        inventory, in_use = site.get("inventory") or {}, site.get("in_use") or {}
        accelerators = ", ".join(f"{a} {in_use.get(a, 0)}/{n}" for a, n in sorted(inventory.items()))
        pue = site.get("pue")
        rows.append(
            [
                str(site.get("id")),
                str(site.get("state")),
                site.get("executor") or "",
                site.get("region") or "",
                f"{pue:.2f}" if pue is not None else "",
                accelerators,
                _time(site.get("last_heartbeat")),
            ]
        )
    table = fmt.table(columns, rows, right={"PUE"}, title=f"sites ({len(sites)})")
    return "\n".join([table, *_fault_lines(sites)])


def _fault_lines(sites: list[dict[str, Any]]) -> list[str]:
    """Why each degraded site takes no jobs, and until when (its engine's last fault)."""
    lines = []
    for site in sites:
        if site.get("state") != "degraded":
            continue
        faults = int(site.get("faults") or 0)
        until = _time(site.get("degraded_until"))
        lines.append(
            f"{site.get('id')}: degraded until {until} ({zone_label()}) after {faults} executor "
            f"fault{'s' if faults != 1 else ''} in a row: {site.get('fault') or 'no message'}"
        )
    return lines


def usage_table(usage: list[dict[str, Any]]) -> str:
    columns = ["tenant", "accel-hours", "energy", "carbon", "cost", "jobs"]
    rows = [
        [
            str(row.get("tenant")),
            f"{row['accelerator_hours']:,.1f}",
            fmt.energy(row["energy_kwh"]),
            fmt.mass(row["carbon_kg"]),
            fmt.money(row["cost_usd"]),
            ", ".join(f"{state} {n}" for state, n in sorted((row.get("jobs") or {}).items()) if n),
        ]
        for row in usage
    ]
    return fmt.table(columns, rows, right={"accel-hours", "energy", "carbon", "cost"}, title="usage")
