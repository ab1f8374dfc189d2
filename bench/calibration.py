"""The estimator against published runs: every run's error, then median and max |error| per
job kind and accelerator, in-sample and out-of-sample apart (issue 11's targets: training
out-of-sample median <= 10 %, max <= 20 %; inference throughput median <= 15 %).

Run: `make bench` or `.venv/bin/python bench/calibration.py`.
"""

from __future__ import annotations

from suanli.catalog import load_catalog
from suanli.model.calibration import calibrate, error_table


def main() -> None:
    results = calibrate(load_catalog())
    print(f"{'run':<36} {'hardware':<18} {'metric':<24} {'published':>12} {'estimated':>12} {'error':>8}  sample")
    for r in results:
        run = r.run
        print(
            f"{run.id:<36} {f'{run.count} x {run.accelerator}':<18} {run.metric:<24} {run.value:>12,.1f} "
            f"{r.estimated:>12,.1f} {r.error:>+8.1%}  {'in' if run.in_sample else 'out'}"
        )
    print()
    print(f"{'kind':<10} {'accelerator':<12} {'sample':<7} {'runs':>5} {'median |err|':>13} {'max |err|':>10}")
    for row in error_table(results):
        print(
            f"{row.kind:<10} {row.group:<12} {'in' if row.in_sample else 'out':<7} {row.runs:>5} "
            f"{row.median_abs_error:>13.1%} {row.max_abs_error:>10.1%}"
        )


if __name__ == "__main__":
    main()
