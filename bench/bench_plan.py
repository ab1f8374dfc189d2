"""How long one `plan` over every site x accelerator type x count x 24 start hours takes.

Targets (issue 2): median under 50 ms for the in-process call, under 400 ms for the whole
command including interpreter start-up. Prints medians and the ratio to each target.
Run: `make bench` or `.venv/bin/python bench/bench_plan.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suanli.catalog import load_catalog
from suanli.clock import to_seconds
from suanli.placement import plan
from suanli.workload import parse_spec

SPEC = """\
apiVersion: suanli/v1
kind: Training
name: bench-all-options
model: qwen2.5-7b
precision: bf16
tokens_b: 100
resources:
  accelerators: [any]
  count: {min: 1, max: 1024}
objective: balanced
"""
IN_PROCESS_TARGET_MS = 50.0
COMMAND_TARGET_MS = 400.0
REPEATS = 30
COMMAND_REPEATS = 10


def main() -> None:
    catalog = load_catalog()
    job = parse_spec(SPEC, "bench", catalog)
    now_s = to_seconds(__import__("datetime").datetime(2025, 1, 1))
    result = plan(job, catalog, now_s)  # warm caches
    timings_ms = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        result = plan(job, catalog, now_s)
        timings_ms.append((time.perf_counter() - t0) * 1e3)
    enumerated = len(catalog.sites) * len(catalog.accelerators) * len(job.resources.counts()) * 24
    in_process = statistics.median(timings_ms)
    print(
        f"plan in-process: median {in_process:.1f} ms over {REPEATS} runs "
        f"(min {min(timings_ms):.1f}, max {max(timings_ms):.1f}); target {IN_PROCESS_TARGET_MS:.0f} ms, "
        f"ratio {in_process / IN_PROCESS_TARGET_MS:.2f}"
    )
    print(
        f"  space: {len(catalog.sites)} sites x {len(catalog.accelerators)} types x "
        f"{len(job.resources.counts())} counts x 24 starts = {enumerated:,}; "
        f"{len(result.options)} options kept, {len(result.front)} on the front, {len(result.rejected)} rejections"
    )
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "bench.yaml"
        spec_path.write_text(SPEC, encoding="utf-8")
        suanli = Path(sys.executable).with_name("suanli")
        command = [str(suanli), "plan", str(spec_path), "--now", "2025-01-01T00:00:00Z", "--json", "--offline"]
        subprocess.run(command, check=True, capture_output=True)
        wall_ms = []
        for _ in range(COMMAND_REPEATS):
            t0 = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            wall_ms.append((time.perf_counter() - t0) * 1e3)
    whole = statistics.median(wall_ms)
    print(
        f"suanli plan --json (whole command): median {whole:.0f} ms over {COMMAND_REPEATS} runs "
        f"(min {min(wall_ms):.0f}, max {max(wall_ms):.0f}); target {COMMAND_TARGET_MS:.0f} ms, "
        f"ratio {whole / COMMAND_TARGET_MS:.2f}"
    )


if __name__ == "__main__":
    main()
