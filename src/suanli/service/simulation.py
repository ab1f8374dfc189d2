"""Use-case: replay a trace on a network under one or several policies, on identical input."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from suanli.clock import Clock
from suanli.errors import InputError
from suanli.policy import Policy
from suanli.policy import register_builtins as register_policies
from suanli.service.planning import Context
from suanli.sim.bounds import Bounds, lower_bounds
from suanli.sim.carbon_series import load_carbon_series
from suanli.sim.engine import SimInput, fastest_runtime_s, simulate
from suanli.sim.faults import Faults
from suanli.sim.metrics import summarise
from suanli.sim.network import Network, load_network
from suanli.sim.workload import prepare
from suanli.traces import Trace
from suanli.traces.registry import TraceOptions
from suanli.traces.registry import register_builtins as register_traces
from suanli.traces.synthetic import SyntheticParams

POLICY_REGISTRY = register_policies()
TRACE_REGISTRY = register_traces()

DEFAULT_CHECKPOINT_S = 1800.0
"""A preempted job keeps its work up to its last checkpoint, taken every 30 minutes of
its run (an assumption; set it per run with --checkpoint)."""
DEFAULT_RESTART_S = 60.0
"""Reference-seconds of work to reload a checkpoint and restart (an assumption)."""


@dataclass(frozen=True)
class SimulationRequest:
    trace: str = "synthetic"
    trace_format: str | None = None
    network: str = "national"
    policies: tuple[str, ...] = ("fifo", "suanli")
    seed: int = 0
    until_h: float | None = None
    reference: str | None = None
    capacity_scale: float = 1.0
    load_scale: float = 1.0
    max_jobs: int | None = None
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)
    policy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    checkpoint_s: float = DEFAULT_CHECKPOINT_S
    restart_s: float = DEFAULT_RESTART_S
    cycle_interval_s: float = 0.0
    carbon_series: dict[str, str] = field(default_factory=dict)
    """site -> CSV path of a measured intensity series replacing its daily profile"""
    tenant_weights: dict[str, float] = field(default_factory=dict)
    """tenant name -> fair-share weight (the others weigh 1); tenants are the trace's"""
    fair_share: bool = False
    """Order every policy that can (``suanli``, ``fifo``, ``backfill``) by weighted max-min
    fair share across the trace's tenants in capacity-hours (:mod:`suanli.policy.fair_share`)"""
    fair_share_half_life_h: float = 0.0
    """With ``fair_share``: the half-life of the tenants' service (0: it never decays)"""


@dataclass(frozen=True)
class PolicyRun:
    name: str
    metrics: dict[str, Any]
    jct_h: np.ndarray
    queue_samples: list[tuple[float, int, int]]
    carbon_by_hour_kg: list[float]


@dataclass(frozen=True)
class SimulationResult:
    trace: Trace
    network: Network
    runs: dict[str, PolicyRun]
    bounds: Bounds
    wall_s: float
    request: SimulationRequest

    def as_dict(self) -> dict[str, Any]:
        policies = {}
        for name, run in self.runs.items():
            gap = {
                "carbon": _gap(run.metrics["carbon_kg"], self.bounds.carbon_kg),
                "avg_jct": _gap(run.metrics["avg_jct_h"], self.bounds.avg_jct_h),
            }
            policies[name] = {**run.metrics, "gap_to_bounds": gap}
        return {
            "trace": {"name": self.trace.name, "jobs": len(self.trace), "reference": self.trace.reference},
            "network": {
                "name": self.network.name,
                "sites": len(self.network.sites),
                "accelerators": sum(self.network.pools.capacity),
            },
            "seed": self.request.seed,
            "policies": policies,
            "bounds": {
                "carbon_kg": self.bounds.carbon_kg,
                "avg_jct_h": self.bounds.avg_jct_h,
                "method": self.bounds.method,
            },
            "wall_s": self.wall_s,
        }


def parse_tenant_weights(items: list[str]) -> dict[str, float]:
    """``--tenant-weight NAME=WEIGHT`` values as ``SimulationRequest.tenant_weights``."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, text = item.rpartition("=")
        try:
            weight = float(text)
        except ValueError:
            weight = math.nan
        if not sep or not name or not weight > 0 or math.isinf(weight):
            raise InputError(
                f"--tenant-weight '{item}': expected NAME=WEIGHT with a weight > 0. "
                "To fix: name a tenant of the trace, e.g. --tenant-weight tenant-0=2"
            )
        out[name] = weight
    return out


TenantRow = tuple[str, str, list[float]]
"""(label, format spec as ``report.format_value`` reads it, one value per policy) of the
tenants' part of the metrics table."""


def tenant_rows(result: SimulationResult, most: int = 8) -> list[TenantRow]:
    """The tenants' rows of the metrics table (empty with one tenant): the largest
    finish-time fairness rho and Jain's index of rho across tenants, then the mean JCT and
    the share of the capacity-hours of the ``most`` tenants with most jobs
    (``policies.NAME.tenants`` of the JSON has them all; :mod:`suanli.sim.fairness`)."""
    tenants = [run.metrics.get("tenants", {}) for run in result.runs.values()]
    if not tenants or len(tenants[0].get("by_tenant", {})) < 2:
        return []
    rows: list[TenantRow] = [
        ("tenants: largest rho", "{:.2f}", [t["max_rho"] for t in tenants]),
        ("tenants: Jain's index of rho", "{:.3f}", [t["jain_rho"] for t in tenants]),
    ]
    by_jobs = sorted(tenants[0]["by_tenant"].items(), key=lambda kv: (-kv[1]["jobs"], kv[0]))[:most]
    for name, _ in by_jobs:
        rows.append((f"{name}: mean JCT (h)", "{:.3f}", [t["by_tenant"][name]["avg_jct_h"] for t in tenants]))
        rows.append((f"{name}: share of capacity-hours", "{:.1%}", [t["by_tenant"][name]["share"] for t in tenants]))
    return rows


def _gap(value: float, bound: float) -> float | None:
    """(value - bound) / bound: 0.25 means 25 % above the lower bound."""
    if not bound > 0 or math.isnan(value):
        return None
    return value / bound - 1.0


Progress = Callable[[str, int, int], None]


def load_trace(ctx: Context, request: SimulationRequest) -> Trace:
    options = TraceOptions(
        reference=request.reference,
        profiles=ctx.profiles,
        synthetic=request.synthetic,
        seed=request.seed,
    )
    trace = TRACE_REGISTRY.load(request.trace, request.trace_format, options)
    if request.max_jobs is not None:
        trace = trace.head(request.max_jobs)
    if request.load_scale != 1.0:
        trace = trace.scaled(request.load_scale)
    if request.reference is not None:
        ctx.catalog.accelerator(request.reference)
    ctx.catalog.accelerator(trace.reference)
    return trace


def run_simulation(
    ctx: Context,
    request: SimulationRequest,
    progress: Progress | None = None,
    timer: Clock | None = None,
) -> SimulationResult:
    """Run every policy of ``request`` on the same trace and network, then the lower
    bounds; ``timer`` (a wall clock) measures the run's own speed and never enters the
    simulation."""
    clock = timer or ctx.clock
    t0 = clock.now_s()
    trace, network, data, runs = run_policies(ctx, request, progress, clock)
    longest_h = max((run.metrics["makespan_h"] for run in runs.values()), default=0.0)
    complete = all(run.metrics.get("unfinished", 0) == 0 for run in runs.values())
    bounds = lower_bounds(data, longest_h * 3600.0, complete=complete)
    return SimulationResult(trace, network, runs, bounds, clock.now_s() - t0, request)


def run_policies(
    ctx: Context,
    request: SimulationRequest,
    progress: Progress | None = None,
    timer: Clock | None = None,
) -> tuple[Trace, Network, SimInput, dict[str, PolicyRun]]:
    """Run every policy of ``request`` on the same trace and network, without the bounds
    (``bench/bench_check.py`` reads the policies' outcomes alone)."""
    if not request.policies:
        raise InputError("name at least one policy")
    for name in request.policies:
        if name not in POLICY_REGISTRY.names():
            from suanli.errors import UnknownNameError

            raise UnknownNameError("policy", name, POLICY_REGISTRY.names())
    clock = timer or ctx.clock
    trace, network, data = _prepare(ctx, request)
    fastest = fastest_runtime_s(data)
    until_s = None if request.until_h is None else request.until_h * 3600.0
    runs: dict[str, PolicyRun] = {}
    for name in request.policies:
        policy = policy_for(request, name)
        started = clock.now_s()
        report: Callable[[int, int], None] | None = None
        if progress is not None:
            report = _bind(progress, name)
        output = simulate(
            data,
            policy,
            until_s=until_s,
            progress=report,
            checkpoint_s=request.checkpoint_s,
            restart_s=request.restart_s,
            faults=request.faults if request.faults.any else None,
            cycle_interval_s=request.cycle_interval_s,
        )
        wall = clock.now_s() - started
        metrics = summarise(
            output.recorder, trace.submit_s, fastest, trace.deadlines, len(output.rejected), wall, data.jobs
        )
        if until_s is not None:
            metrics["unfinished"] = output.unfinished
            metrics["lost"] = 0
        finish = np.asarray(output.recorder.finish_s)
        done = ~np.isnan(finish)
        runs[name] = PolicyRun(
            name=name,
            metrics=metrics,
            jct_h=(finish[done] - trace.submit_s[done]) / 3600.0,
            queue_samples=output.recorder.queue_samples,
            carbon_by_hour_kg=output.recorder.carbon_by_hour_kg,
        )
    return trace, network, data, runs


def policy_for(request: SimulationRequest, name: str) -> Policy:
    """The policy ``name`` as this run makes it: its ``policy_params``, FIFO's seed the
    run's, a policy that prices preemption (``restart_s``) at the run's ``--restart``
    cost unless its parameters set another, and one that orders by fair share
    (``fair_share``) with the run's ``--fair-share`` unless its parameters say."""
    params = dict(request.policy_params.get(name, {}))
    if name == "fifo":
        params.setdefault("seed", request.seed)
    entry = next((e for e in POLICY_REGISTRY.entries() if e.name == name), None)
    names = {f.name for f in fields(entry.params)} if entry is not None and entry.params is not None else set()
    if "restart_s" in names:
        params.setdefault("restart_s", request.restart_s)
    if request.fair_share and "fair_share" in names:
        params.setdefault("fair_share", True)
        params.setdefault("fair_share_half_life_h", request.fair_share_half_life_h)
    return POLICY_REGISTRY.create(name, **params)


def _bind(progress: Progress, name: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress(name, done, total)

    return report


def _prepare(ctx: Context, request: SimulationRequest) -> tuple[Trace, Network, SimInput]:
    """Trace, network (with any measured carbon series) and simulator input, checked."""
    trace = load_trace(ctx, request)
    series = {site: load_carbon_series(path) for site, path in request.carbon_series.items()}
    network = load_network(ctx.catalog, request.network, trace.reference, request.capacity_scale, series)
    for outage in request.faults.outages:
        if outage.site not in network.pools.site_names:
            from suanli.errors import UnknownNameError

            raise UnknownNameError("site (in --outage)", outage.site, network.pools.site_names)
    if request.checkpoint_s < 0 or request.restart_s < 0 or request.cycle_interval_s < 0:
        raise InputError("--checkpoint, --restart and --cycle-interval must be >= 0 seconds")
    if not request.fair_share_half_life_h >= 0:
        raise InputError("--fair-share-half-life must be >= 0 hours (0: a tenant's service never decays)")
    return trace, network, prepare(trace, network, ctx.profiles, request.tenant_weights)


def sim_input(ctx: Context, request: SimulationRequest) -> SimInput:
    """The prepared input of ``request`` (for tests and benchmarks), as a run prepares it."""
    return _prepare(ctx, request)[2]


def output_path(path: str | Path, flag: str, suffixes: tuple[str, ...]) -> Path:
    """An output file's path, checked before the run: one of ``suffixes`` (lower case, with
    the dot), its directory made (``--report out/report.html`` on a fresh clone, as README
    writes it), so a long run never ends on a missing directory."""
    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise InputError(f"{flag} must end in {' or '.join(suffixes)}, got {target}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag}: cannot make its directory {target.parent}: {exc.strerror or exc}") from None
    return target


def report_path(path: str | Path) -> Path:
    """``--report``'s .html file (:func:`output_path`)."""
    return output_path(path, "--report", (".html", ".htm"))
