"""Outcome gates: each policy's mean JCT, carbon and cost on seeded scenarios, against the
values pinned in ``bench/outcomes.json``, failing (exit 1) where one got worse than its pin
by more than the written tolerance.

The idea is Kueue's performance tests ("average value X (+/- d %), limit at +20 %"): a
change that makes a policy schedule worse shows here, by how much and where, before it
lands. The simulations are deterministic for a seed, so the tolerances are small: they
absorb a floating-point reordering, not a policy change. A policy that got *better* by
more than the tolerance is reported too (exit 0): pin the new figures with ``--update``
and say why in the commit.

Scenarios (their ``suanli simulate`` arguments live in the pins file beside the figures):

- ``demo``: the README's demo, 4,000 synthetic jobs at 300/h on 3 % of the national
  network, seven policies. Needs nothing but the package (about 15 s).
- ``gavel-200``: Gavel's ``generated_200jobs_seed0.trace`` on Gavel's 16 V100 + 16 P100 +
  16 K80 cluster with its measured throughputs.
- ``philly-congested``: the first 3,000 jobs of the Philly trace on 0.5 % of the national
  network, so that it queues.

The last two read ``$SUANLI_DATA`` (default ``../shared/data``) and are skipped, with the
reason, where it is absent.

Run: ``make bench-check`` (``make test`` runs it) or
``.venv/bin/python bench/bench_check.py [--scenario NAME] [--pins FILE] [--update] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PINS = Path(__file__).resolve().parent / "outcomes.json"
METRICS = ("avg_jct_h", "carbon_kg", "cost_usd")
"""What a gate pins per policy: mean completion time, total carbon, total cost (all lower is better)."""
ALL_POLICIES = ("fifo", "backfill", "cheapest", "carbon", "las", "gavel", "suanli")


def data_dir() -> Path:
    return Path(os.environ.get("SUANLI_DATA") or ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Verdict:
    scenario: str
    policy: str
    metric: str
    pinned: float
    now: float
    tolerance: float

    @property
    def change(self) -> float:
        """(now - pinned) / pinned: +0.05 is 5 % worse (0 within the pins' rounding)."""
        change = self.now / self.pinned - 1.0 if self.pinned else 0.0
        return 0.0 if abs(change) < 1e-6 else change

    @property
    def worse(self) -> bool:
        return self.change > self.tolerance

    @property
    def better(self) -> bool:
        return self.change < -self.tolerance


def resolve(value: Any) -> Any:
    """A scenario argument with ``{data}`` and ``{root}`` replaced by the shared data and
    the repository directories."""
    if isinstance(value, str):
        return value.replace("{data}", str(data_dir())).replace("{root}", str(ROOT))
    return value


def missing_inputs(args: dict[str, Any]) -> list[str]:
    """The files a scenario names that are not here (so it is skipped)."""
    found = []
    for key in ("trace", "network", "profiles"):
        value = args.get(key)
        if isinstance(value, str) and "{" in value and not Path(resolve(value)).exists():
            found.append(resolve(value))
    return found


def run_scenario(args: dict[str, Any], policies: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Each policy's pinned metrics for one scenario, simulated in-process as ``suanli
    simulate`` with ``args`` would (its flags' names: trace, trace_format, network, jobs,
    rate, capacity, seed, profiles, restart, checkpoint)."""
    from suanli.service import context
    from suanli.service.simulation import SimulationRequest, run_policies
    from suanli.traces.synthetic import SyntheticParams

    a = {key: resolve(value) for key, value in args.items()}
    trace = a.get("trace", "synthetic")
    synthetic = SyntheticParams()
    if trace == "synthetic":
        synthetic = SyntheticParams(jobs=a.get("jobs", synthetic.jobs), rate_per_h=a.get("rate", synthetic.rate_per_h))
    request = SimulationRequest(
        trace=trace,
        trace_format=a.get("trace_format"),
        network=a.get("network", "national"),
        policies=policies,
        seed=a.get("seed", 0),
        capacity_scale=a.get("capacity", 1.0),
        max_jobs=a.get("jobs") if trace != "synthetic" else None,
        synthetic=synthetic,
        **{name: a[key] for key, name in (("restart", "restart_s"), ("checkpoint", "checkpoint_s")) if key in a},
    )
    _, _, _, runs = run_policies(context(profiles=a.get("profiles")), request)
    return {name: {metric: float(run.metrics[metric]) for metric in METRICS} for name, run in runs.items()}


def check(pins: dict[str, Any], only: list[str] | None) -> tuple[list[Verdict], list[str], dict[str, Any]]:
    """(verdicts, notes on skipped scenarios, the figures measured per scenario)."""
    tolerance = pins["tolerance"]
    verdicts: list[Verdict] = []
    notes: list[str] = []
    measured: dict[str, Any] = {}
    for name, scenario in pins["scenarios"].items():
        if only and name not in only:
            continue
        missing = missing_inputs(scenario["simulate"])
        if missing:
            notes.append(f"{name}: skipped, its inputs are not here ({', '.join(missing)}); set SUANLI_DATA")
            continue
        policies = tuple(scenario.get("policies") or ALL_POLICIES)
        started = time.perf_counter()
        now = run_scenario(scenario["simulate"], policies)
        measured[name] = {"policies": now, "wall_s": round(time.perf_counter() - started, 1)}
        for policy, figures in now.items():
            pinned = scenario.get("pinned", {}).get(policy)
            if pinned is None:
                notes.append(f"{name}/{policy}: nothing pinned yet (run with --update)")
                continue
            for metric in METRICS:
                verdicts.append(Verdict(name, policy, metric, pinned[metric], figures[metric], tolerance[metric]))
    return verdicts, notes, measured


def report(verdicts: list[Verdict], notes: list[str], measured: dict[str, Any]) -> None:
    for name, found in measured.items():
        print(f"{name}: {len(found['policies'])} policies in {found['wall_s']:.1f} s")
    header = f"{'scenario':<17} {'policy':<9} {'metric':<10} {'pinned':>12} {'now':>12} {'change':>8} {'limit':>7}"
    print(f"{header}  verdict")
    for v in verdicts:
        verdict = "WORSE" if v.worse else "better: re-pin" if v.better else "ok"
        print(
            f"{v.scenario:<17} {v.policy:<9} {v.metric:<10} {v.pinned:>12,.2f} {v.now:>12,.2f} "
            f"{v.change:>+7.1%} {v.tolerance:>+6.0%}  {verdict}"
        )
    for note in notes:
        print(f"note: {note}")


def update(pins: dict[str, Any], measured: dict[str, Any], path: Path) -> None:
    """Pin what was measured (the scenarios that ran; the others keep their pins)."""
    for name, found in measured.items():
        scenario = pins["scenarios"][name]
        scenario["pinned"] = {
            policy: {metric: round(value, 4) for metric, value in figures.items()}
            for policy, figures in found["policies"].items()
        }
        scenario["pinned_on"] = time.strftime("%Y-%m-%d", time.gmtime())
    path.write_text(json.dumps(pins, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pins", type=Path, default=PINS, help=f"the pins file (default {PINS.relative_to(ROOT)})")
    parser.add_argument("--scenario", action="append", help="check only this scenario (repeatable)")
    parser.add_argument("--update", action="store_true", help="pin the figures measured now instead of checking")
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    args = parser.parse_args()
    try:
        pins = json.loads(args.pins.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the pins file {args.pins}: {exc}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.scenario or ()) - set(pins["scenarios"]))
    if unknown:
        print(f"error: no scenario {', '.join(unknown)} in {args.pins} (it has {', '.join(pins['scenarios'])})")
        return 2
    verdicts, notes, measured = check(pins, args.scenario)
    if args.update:
        update(pins, measured, args.pins)
        print(f"pinned {', '.join(measured) or 'nothing'} in {args.pins}")
        return 0
    if args.json:
        rows = [{**v.__dict__, "change": v.change, "worse": v.worse} for v in verdicts]
        print(json.dumps({"verdicts": rows, "notes": notes, "measured": measured}, indent=2))
    else:
        report(verdicts, notes, measured)
    worse = [v for v in verdicts if v.worse]
    if worse:
        print(f"FAILED: {len(worse)} figure(s) worse than pinned beyond the tolerance", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
