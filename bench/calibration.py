"""The estimator against published training runs: estimated vs reported accelerator-hours.

Run: `make bench` or `.venv/bin/python bench/calibration.py`.
"""

from __future__ import annotations

from suanli.catalog import load_catalog
from suanli.model.calibration import calibrate


def main() -> None:
    print(f"{'run':<22} {'hardware':<16} {'published h':>14} {'estimated h':>14} {'error':>8}  caveat")
    for result in calibrate(load_catalog()):
        run = result.run
        hardware = f"{run.count} x {run.accelerator}"
        print(
            f"{run.id:<22} {hardware:<16} {run.accelerator_hours:>14,.0f} {result.estimated_hours:>14,.0f} "
            f"{result.error:>+8.1%}  {run.caveat}"
        )


if __name__ == "__main__":
    main()
