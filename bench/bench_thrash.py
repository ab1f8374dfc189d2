"""Heavy load on Gavel's cluster: does any preemptive policy thrash?

Writes Gavel-style traces (the distribution of Gavel's ``scripts/utils/generate_trace.py
-m``, see :func:`gavel_style_trace`) of 2,000 and 4,000 jobs at one arrival rate, replays
each on Gavel's 16 V100 + 16 P100 + 16 K80 cluster with the default 60 s restart cost,
and prints per policy: mean JCT, preemptions per job and utilisation over the busy
window. Done means (issue 10): no preemptive policy's mean JCT keeps rising from 2,000 to
4,000 jobs, and preemptions per job stay below 5.

Needs the shared data (Gavel's throughputs, ``../shared/data/traces/gavel``).
Run: `.venv/bin/python bench/bench_thrash.py [--lam 450] [--jobs 2000 4000] [-p gavel ...]`.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import random
import tempfile
from pathlib import Path

from suanli.service import context
from suanli.service.simulation import SimulationRequest, run_simulation

ROOT = Path(__file__).resolve().parent.parent
GAVEL_DATA = ROOT.parent / "shared" / "data" / "traces" / "gavel"
NETWORK = ROOT / "examples" / "networks" / "gavel-16-16-16.yaml"
POLICIES = ("fifo", "backfill", "las", "gavel", "suanli")

DURATIONS_H = (1.0, 2.0, 3.0, 4.0)
"""Gavel's generator: ``np.linspace(min_duration=1, max_duration=4, num_durations=4)`` h
on a V100; the 200-job reference trace has exactly these four (57, 50, 50, 43 jobs)."""
SCALE_FACTORS = ((0.7, 1), (0.8, 2), (1.0, 4))
"""(upper bound of a uniform draw, GPUs): 70 % one GPU, 10 % two, 20 % four, as in the
200-job reference trace (156, 12, 32 jobs); only job types measured on several GPUs
(Gavel's ``distributed`` templates) take more than one."""


def gavel_style_trace(path: Path, jobs: int, lam_s: float, seed: int, throughputs: Path) -> Path:
    """Write ``jobs`` jobs in Gavel's 10-field format to ``path``.

    Arrivals are Poisson with mean inter-arrival ``lam_s`` seconds (Gavel's ``-l``), the
    first at 0; a job's type is uniform over the throughput file's model types (those
    with a multi-GPU measurement when its scale factor is above 1); its duration is one of
    :data:`DURATIONS_H` on a V100, turned into steps with the V100 throughput.
    """
    raw = json.loads(throughputs.read_text(encoding="utf-8"))["v100"]
    measured: dict[str, dict[int, float]] = {}
    for key, value in raw.items():
        model, scale = ast.literal_eval(key)
        measured.setdefault(model, {})[int(scale)] = float(value["null"])
    models = sorted(measured)
    distributed = [m for m in models if len(measured[m]) > 1]
    rng_job, rng_arrival = random.Random(seed), random.Random(seed + 1)
    arrival = 0.0
    lines = []
    for index in range(jobs):
        draw = rng_job.random()
        scale = next(g for bound, g in SCALE_FACTORS if draw < bound)
        model = rng_job.choice(models if scale == 1 else distributed)
        duration_s = 3600.0 * rng_job.choice(DURATIONS_H)
        steps = max(1, int(duration_s * measured[model][scale]))
        if index:
            arrival += -math.log(1.0 - rng_arrival.random()) * lam_s
        lines.append(f"{model}\tcmd\tdir\t--steps\t0\t{steps}\t{scale}\t1\t-1.000000\t{int(arrival)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lam", type=float, default=450.0, help="mean inter-arrival, seconds (Gavel's -l)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[2000, 4000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restart", type=float, default=60.0)
    parser.add_argument("-p", "--policy", action="append", dest="policies")
    args = parser.parse_args()
    profiles = GAVEL_DATA / "simulation_throughputs.json"
    if not profiles.exists():
        print(f"skipped: {profiles} is absent (the shared data)")
        return
    policies = tuple(args.policies or POLICIES)
    ctx = context(profiles=profiles)
    print(f"Gavel-style traces at -l {args.lam:g} s, seed {args.seed}, restart {args.restart:g} s, 16:16:16")
    print(f"{'jobs':>6} {'policy':<9} {'mean JCT h':>10} {'preempt/job':>11} {'util (busy)':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.jobs:
            trace = gavel_style_trace(Path(tmp) / f"gavel_{count}.trace", count, args.lam, args.seed, profiles)
            request = SimulationRequest(
                trace=str(trace),
                trace_format="gavel",
                network=str(NETWORK),
                policies=policies,
                seed=args.seed,
                restart_s=args.restart,
            )
            result = run_simulation(ctx, request)
            for name, run in result.runs.items():
                m = run.metrics
                print(
                    f"{count:>6} {name:<9} {m['avg_jct_h']:>10.2f} {m['preemptions'] / count:>11.2f} "
                    f"{m['window_utilisation']:>11.3f}"
                )


if __name__ == "__main__":
    main()
