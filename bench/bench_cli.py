"""The CLI at a shell's pace: whole-process time of the everyday commands against a real
local server, as a ratio to a bare Python start measured in the same rounds, where the
time goes (the top imports), and 1,000 jobs submitted in one call.

Targets (issue 16): ``suanli submit --json``, ``suanli status`` and ``suanli jobs`` at most
10x a bare ``python -c pass``; ``suanli plan --json`` (the whole command) at most 20x; a
batch of 1,000 specs (``suanli submit SPEC --array 1000``) in under 2 s on SQLite. Beside
them, ``sbatch --wrap true`` per call and one ``sbatch --array=1-1000``, against the Slurm
controller that answers here (``sinfo``), else a one-node cluster the run starts itself
where it can (root and Debian's slurm-wlm: ``tests/slurm_cluster.py``).

Method: ``suanli serve`` on a fresh SQLite store (scheduler on, no agents: jobs stay
PENDING). Each round runs every command once, in the same order, bare Python first; the
figure is the median over ``--rounds`` rounds (default 15), so a noisy neighbour slows all
commands of a round alike and the ratios hold. The import table is one ``-X importtime``
run per command: the top-level imports with the largest cumulative time. suanli's modules
are compiled to bytecode first (:func:`ensure_bytecode`), the state ``pip install`` leaves.
Run: `make bench` or `.venv/bin/python bench/bench_cli.py [--rounds N] [--json]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_control import create_tenant, server  # the same server harness

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SUANLI = str(Path(PY).with_name("suanli"))
PLAN_SPEC = ROOT / "examples" / "qwen2.5-7b-finetune.yaml"
FAST_RATIO_TARGET = 10.0
PLAN_RATIO_TARGET = 20.0
# Recorded 2026-12-03 (2 cores shared with others' tests, load 1-3), --rounds 21, twice,
# alternating with the code before: plan --json median 354-356 ms = 20.8-21.4x a bare start
# (before: 445-588 ms = 27.6-29.3x, when numpy started a BLAS thread per core and the exit
# walked the whole heap); the same command without this bench's server beside it, 20
# alternating rounds: 305 ms = 19.8x (before 379 ms = 24.6x). The ratio moves by about 1x
# with the neighbours' load; the target stays at 20x.
# Recorded 2026-12-04 (load 2-3), --rounds 9, three times each, alternating with the code of
# that morning: plan --json 256.2 / 229.0 / 233.2 ms = 19.9x / 18.1x / 19.6x (before: 263.7 /
# 252.9 / 254.1 ms = 21.0x / 19.3x / 20.9x), after the exit without teardown, the annotations
# of the spec models evaluated once, the derivations written on demand and importlib.metadata,
# secrets and ctypes left unloaded. What is left is mostly pydantic (60-80 ms to import, ~20
# ms to build the spec and catalogue models), numpy (~30 ms) and PyYAML (~10 ms).
BATCH_TARGET_S = 2.0
BATCH_JOBS = 1000
JOB_SPEC = """\
apiVersion: suanli/v1
kind: FineTuning
name: bench-cli
model: {params_b: 0.001}
tokens_b: 0.0001
resources: {accelerators: [h800], count: 1}
run: {command: [python3, -c, "print(${SUANLI_ARRAY_INDEX})"]}
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds the whole process took (start, work, exit); fails loudly if the command did."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return took


def top_imports(argv: list[str], env: dict[str, str], count: int = 5) -> list[tuple[str, float]]:
    """The top-level imports with the largest cumulative time (ms), from ``-X importtime``."""
    script = argv[0] == SUANLI
    command = [PY, "-X", "importtime", "-m", "suanli.cli", *argv[1:]] if script else [PY, "-X", "importtime", *argv[1:]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    rows = []
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if found and not found.group(2).startswith(" "):
            rows.append((found.group(2).strip(), int(found.group(1)) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:count]


def ensure_bytecode() -> str:
    """Compile suanli's modules to bytecode before timing, as ``pip install`` does for an
    installed package: a checkout run under ``PYTHONDONTWRITEBYTECODE=1`` (this sandbox sets
    it) would otherwise compile every module from source on every call (measured: about
    40 ms of a 250 ms ``plan``), a cost no installed user pays. What was done, in words."""
    import compileall

    import suanli

    package = Path(suanli.__file__).resolve().parent
    if not compileall.compile_dir(str(package), quiet=1):
        raise RuntimeError(f"compileall could not compile {package}")
    note = "suanli's modules compiled to bytecode first, as pip does on install"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        note += " (this shell sets PYTHONDONTWRITEBYTECODE, so nothing else would)"
    return note


def start_slurm_if_needed(env: dict[str, str], stack: contextlib.ExitStack) -> str:
    """Where the sbatch figures come from: the Slurm controller that answers here, else a
    one-node cluster of the tests' (``tests/slurm_cluster.py``: root and slurm-wlm), which
    ``env`` then points at; or why there are none."""
    if sbatch_available(env):
        return "the Slurm controller that answers `sinfo` here"
    sys.path.insert(0, str(ROOT))
    from tests.slurm_cluster import SlurmUnavailable, one_node_slurm

    try:
        conf = stack.enter_context(one_node_slurm())
    except SlurmUnavailable as exc:
        return f"not measured ({str(exc).splitlines()[0]})"
    env["SLURM_CONF"] = str(conf)
    return "a one-node cluster started for this run (munge, slurmctld, slurmd on this host)"


def sbatch_available(env: dict[str, str]) -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h"], env=env, capture_output=True, check=False, timeout=10)
    return done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="rounds of every command (median over them)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="suanli-bench-cli-"))
    try:
        figures = run(args.rounds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)


def run(rounds: int, work: Path) -> dict[str, Any]:
    store = ["--data-dir", str(work / "store")]
    token = create_tenant(store, "bench")
    spec = work / "job.yaml"
    spec.write_text(JOB_SPEC, encoding="utf-8")
    bytecode_note = ensure_bytecode()
    with server(store, []) as (base, _pid), contextlib.ExitStack() as stack:
        env = {**os.environ, "SUANLI_SERVER": base, "SUANLI_TOKEN": token, "SUANLI_CONFIG_DIR": str(work / "cfg")}
        slurm_note = start_slurm_if_needed(env, stack)
        first = subprocess.run(
            [SUANLI, "submit", str(spec), "--json"], env=env, capture_output=True, text=True, check=True
        )
        job_id = json.loads(first.stdout)["id"]
        commands: dict[str, list[str]] = {
            "python -c pass": [PY, "-c", "pass"],
            "suanli submit --json": [SUANLI, "submit", str(spec), "--json"],
            "suanli status": [SUANLI, "status", job_id],
            "suanli jobs --limit 20": [SUANLI, "jobs", "--limit", "20"],
            "suanli submit --help": [SUANLI, "submit", "--help"],
            "suanli plan --json": [SUANLI, "plan", str(PLAN_SPEC), "--json", "--offline"],
        }
        if sbatch_available(env):
            commands["sbatch --wrap true"] = ["sbatch", "--wrap", "true", "--output=/dev/null"]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
        batch = [timed([SUANLI, "submit", str(spec), "--array", str(BATCH_JOBS), "--json"], env) for _ in range(3)]
        sbatch_array = (
            [
                timed(["sbatch", f"--array=1-{BATCH_JOBS}", "--wrap", "true", "--output=/dev/null"], env)
                for _ in range(3)
            ]
            if "sbatch --wrap true" in commands
            else []
        )
        imports = {name: top_imports(argv, env) for name, argv in commands.items() if argv[0] == SUANLI}
    bare = statistics.median(times["python -c pass"])
    rows = {}
    for name, samples in times.items():
        median = statistics.median(samples)
        target = PLAN_RATIO_TARGET if "plan" in name else FAST_RATIO_TARGET if name.startswith("suanli") else None
        rows[name] = {"median_ms": round(median * 1000, 1), "ratio": round(median / bare, 1), "target_ratio": target}
    return {
        "rounds": rounds,
        "cores": os.cpu_count(),
        "commands": rows,
        "batch": {"jobs": BATCH_JOBS, "median_s": round(statistics.median(batch), 3), "target_s": BATCH_TARGET_S},
        "imports": {name: [[module, round(ms, 1)] for module, ms in found] for name, found in imports.items()},
        "sbatch": "sbatch --wrap true" in times,
        "sbatch_array_median_s": round(statistics.median(sbatch_array), 3) if sbatch_array else None,
        "slurm": slurm_note,
        "bytecode": bytecode_note,
    }


def report(figures: dict[str, Any]) -> None:
    print(f"CLI whole-process times, median of {figures['rounds']} rounds ({figures['cores']} cores, shared)")
    print(f"bytecode: {figures['bytecode']}")
    print(f"{'command':<26} {'median':>9} {'x bare':>7} {'target':>7}  verdict")
    for name, row in figures["commands"].items():
        target = row["target_ratio"]
        verdict = "" if target is None else ("ok" if row["ratio"] <= target else "OVER")
        shown = f"<={target:g}x" if target else ""
        print(f"{name:<26} {row['median_ms']:>7.1f}ms {row['ratio']:>6.1f}x {shown:>7}  {verdict}")
    batch = figures["batch"]
    verdict = "ok" if batch["median_s"] <= batch["target_s"] else "OVER"
    took, target_s = batch["median_s"], batch["target_s"]
    print(f"{batch['jobs']:,} jobs in one `suanli submit --array`: {took:.2f} s (target < {target_s:g} s) {verdict}")
    if figures["sbatch_array_median_s"] is not None:
        print(f"{batch['jobs']:,} jobs in one `sbatch --array`: {figures['sbatch_array_median_s']:.3f} s")
    print(f"sbatch: {figures['slurm']}")
    print("top imports (cumulative ms, one -X importtime run):")
    for name, found in figures["imports"].items():
        print(f"  {name}: " + ", ".join(f"{module} {ms:.0f}" for module, ms in found))


if __name__ == "__main__":
    main()
