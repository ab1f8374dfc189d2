"""Simulator speed: jobs simulated per second on the full Philly replay, per policy; a
congested synthetic national trace (20,000 jobs at 2,000/h, a cycle after every event);
and 1,000,000-job synthetic national traces under suanli's policy, with peak memory.

Targets: (issue 3) >= 20,000 jobs/s for fifo and >= 5,000 jobs/s for suanli on the
Philly replay, on one core; the 1M-job synthetic run (200/h) under 3 minutes. (Issue 10,
item 5, speed under congestion) >= 20,000 jobs/s for suanli on 20,000 jobs at 2,000/h
on the national network without ``--cycle-interval``, and a 1M-job trace at 2,000/h
under 60 s. Each figure is the median of ``--repeats`` runs (default 3; the 1M runs
once). Philly needs the shared data (``$SUANLI_DATA`` or ../shared/data); it is skipped,
with a note, where absent.
Run: `make bench` or `.venv/bin/python bench/bench_sim.py [--repeats N] [--skip-1m]
[--skip-congested-1m]`.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time

from suanli.errors import InputError
from suanli.policy import register_builtins
from suanli.service import Context, context
from suanli.service.simulation import DEFAULT_RESTART_S, SimulationRequest, sim_input
from suanli.sim.engine import simulate
from suanli.traces.synthetic import SyntheticParams

TARGET_JOBS_PER_S = {"fifo": 20_000.0, "suanli": 5_000.0}
POLICIES = ("fifo", "backfill", "cheapest", "carbon", "las", "gavel", "suanli")
ONE_MILLION_TARGET_S = 180.0
CONGESTED = SyntheticParams(jobs=20_000, rate_per_h=2_000.0)
"""Issue 10's congested national workload: ~170 jobs wait on average, ~3,000 at the peak."""
CONGESTED_POLICIES = ("fifo", "suanli")
CONGESTED_TARGET_JOBS_PER_S = {"suanli": 20_000.0}
CONGESTED_1M_TARGET_S = 60.0


def _rate(data: object, name: str, repeats: int, restart_s: float = 0.0) -> tuple[float, float]:
    rates, walls = [], []
    registry = register_builtins()
    for _ in range(repeats):
        policy = registry.create(name)
        t0 = time.perf_counter()
        simulate(data, policy, restart_s=restart_s)  # type: ignore[arg-type]
        wall = time.perf_counter() - t0
        walls.append(wall)
        rates.append(len(data.jobs.submit_s) / wall)  # type: ignore[attr-defined]
    return statistics.median(rates), statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--skip-congested-1m", action="store_true", help="skip the long 1M-job run at 2,000/h")
    parser.add_argument("--only-congested", action="store_true", help="the congested runs alone")
    args = parser.parse_args()
    ctx = context()
    if not args.only_congested:
        _philly(ctx, args.repeats)
    _congested(ctx, args.repeats)
    if not args.skip_congested_1m:
        _one_million(ctx, SyntheticParams(jobs=1_000_000, rate_per_h=CONGESTED.rate_per_h), CONGESTED_1M_TARGET_S)
    if not args.skip_1m and not args.only_congested:
        _one_million(ctx, SyntheticParams(jobs=1_000_000), ONE_MILLION_TARGET_S)


def _philly(ctx: Context, repeats: int) -> None:
    try:
        philly = sim_input(ctx, SimulationRequest(trace="philly"))
    except InputError as exc:
        print(f"philly replay skipped: {exc}")
    else:
        print(f"Philly replay, {len(philly.jobs.submit_s):,} jobs on the national network (median of {repeats}):")
        for name in POLICIES:
            rate, wall = _rate(philly, name, repeats)
            target = TARGET_JOBS_PER_S.get(name)
            note = f"; target {target:,.0f}, ratio {rate / target:.1f}x" if target else ""
            print(f"  {name:<9} {rate:>10,.0f} jobs/s  ({wall:.2f} s){note}")


def _congested(ctx: Context, repeats: int) -> None:
    data = sim_input(ctx, SimulationRequest(synthetic=CONGESTED))
    print(
        f"Congested national trace, {CONGESTED.jobs:,} synthetic jobs at {CONGESTED.rate_per_h:,.0f}/h, "
        f"a cycle after every event, 60 s restart (median of {repeats}):"
    )
    for name in CONGESTED_POLICIES:
        rate, wall = _rate(data, name, repeats, restart_s=DEFAULT_RESTART_S)
        target = CONGESTED_TARGET_JOBS_PER_S.get(name)
        note = f"; target {target:,.0f}, ratio {rate / target:.2f}x" if target else ""
        print(f"  {name:<9} {rate:>10,.0f} jobs/s  ({wall:.2f} s){note}")


def _one_million(ctx: Context, params: SyntheticParams, target_s: float) -> None:
    request = SimulationRequest(synthetic=params)
    t0 = time.perf_counter()
    data = sim_input(ctx, request)
    prepared = time.perf_counter() - t0
    policy = register_builtins().create("suanli")
    t1 = time.perf_counter()
    output = simulate(data, policy, restart_s=DEFAULT_RESTART_S)
    wall = time.perf_counter() - t1
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    done = sum(1 for f in output.recorder.finish_s if not math.isnan(f))
    print(
        f"1,000,000-job synthetic national trace at {params.rate_per_h:,.0f}/h under suanli: {wall:.1f} s "
        f"simulated + {prepared:.1f} s to generate and prepare (target {target_s:.0f} s, "
        f"ratio {(wall + prepared) / target_s:.2f}); {done:,} completed; peak RSS {peak_mib:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
