"""Simulator speed: jobs simulated per second on the full Philly replay, per policy, and a
1,000,000-job synthetic national trace under suanli's policy, with peak memory.

Targets (issue 3): >= 20,000 jobs/s for fifo and >= 5,000 jobs/s for suanli on the
Philly replay, on one core; the 1M-job synthetic run under 3 minutes. Each figure is the
median of ``--repeats`` runs (default 3; the 1M run once). Philly needs the shared data
(``$SUANLI_DATA`` or ../shared/data); it is skipped, with a note, where absent.
Run: `make bench` or `.venv/bin/python bench/bench_sim.py [--repeats N] [--skip-1m]`.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time

from suanli.errors import InputError
from suanli.policy import register_builtins
from suanli.service import context
from suanli.service.simulation import SimulationRequest, sim_input
from suanli.sim.engine import simulate
from suanli.traces.synthetic import SyntheticParams

TARGET_JOBS_PER_S = {"fifo": 20_000.0, "suanli": 5_000.0}
POLICIES = ("fifo", "backfill", "cheapest", "carbon", "las", "gavel", "suanli")
ONE_MILLION_TARGET_S = 180.0


def _rate(data: object, name: str, repeats: int) -> tuple[float, float]:
    rates, walls = [], []
    registry = register_builtins()
    for _ in range(repeats):
        policy = registry.create(name)
        t0 = time.perf_counter()
        simulate(data, policy)  # type: ignore[arg-type]
        wall = time.perf_counter() - t0
        walls.append(wall)
        rates.append(len(data.jobs.submit_s) / wall)  # type: ignore[attr-defined]
    return statistics.median(rates), statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-1m", action="store_true")
    args = parser.parse_args()
    ctx = context()
    try:
        philly = sim_input(ctx, SimulationRequest(trace="philly"))
    except InputError as exc:
        print(f"philly replay skipped: {exc}")
    else:
        print(f"Philly replay, {len(philly.jobs.submit_s):,} jobs on the national network (median of {args.repeats}):")
        for name in POLICIES:
            rate, wall = _rate(philly, name, args.repeats)
            target = TARGET_JOBS_PER_S.get(name)
            note = f"; target {target:,.0f}, ratio {rate / target:.1f}x" if target else ""
            print(f"  {name:<9} {rate:>10,.0f} jobs/s  ({wall:.2f} s){note}")
    if args.skip_1m:
        return
    request = SimulationRequest(synthetic=SyntheticParams(jobs=1_000_000))
    t0 = time.perf_counter()
    data = sim_input(ctx, request)
    prepared = time.perf_counter() - t0
    policy = register_builtins().create("suanli")
    t1 = time.perf_counter()
    output = simulate(data, policy)
    wall = time.perf_counter() - t1
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    done = sum(1 for f in output.recorder.finish_s if not math.isnan(f))
    print(
        f"1,000,000-job synthetic national trace under suanli: {wall:.1f} s simulated "
        f"+ {prepared:.1f} s to generate and prepare (target {ONE_MILLION_TARGET_S:.0f} s, "
        f"ratio {(wall + prepared) / ONE_MILLION_TARGET_S:.2f}); {done:,} completed; peak RSS {peak_mib:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
