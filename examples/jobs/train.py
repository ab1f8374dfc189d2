"""A training-like job: steps, a checkpoint after each, resume from the last one.

Run by a suanli agent, it reads what the agent sets:

- ``SUANLI_CHECKPOINT_DIR``: where checkpoints go (storage every site sees, so another site
  can resume the job);
- ``SUANLI_RESUME_FROM``: the newest checkpoint there is ("" on a first attempt): the newest
  in ``SUANLI_CHECKPOINT_DIR`` as the new site's agent sees it, or the last one reported
  from any site if that is newer; the job continues from the step after it;
- ``SUANLI_JOB_ID``, ``SUANLI_ATTEMPT``: which job and which attempt this is.

Each step adds ``step * step`` to a running total, so the result proves that no step was
skipped or counted twice across attempts: ``total == sum(i * i for i in range(steps))``.
Checkpoints are written under a hidden name and renamed when complete (the agent skips
names starting with ``.``). With ``--pid-file``, the process id is written there first.

    python3 train.py --steps 20 --step-seconds 0.5 --result /shared/result.json

Only the standard library: any ``python3`` on the site runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-seconds", type=float, default=0.5)
    parser.add_argument("--result", type=Path, help="write the result here (JSON); default result.json in the cwd")
    parser.add_argument("--pid-file", type=Path, help="write the process id here")
    args = parser.parse_args()

    attempt = int(os.environ.get("SUANLI_ATTEMPT") or 1)
    job_id = os.environ.get("SUANLI_JOB_ID", "local")
    checkpoints = Path(os.environ.get("SUANLI_CHECKPOINT_DIR") or "checkpoints")
    checkpoints.mkdir(parents=True, exist_ok=True)
    resume_from = os.environ.get("SUANLI_RESUME_FROM") or ""
    if args.pid_file:
        args.pid_file.write_text(str(os.getpid()), encoding="utf-8")

    state: dict[str, Any] = {"step": -1, "total": 0, "attempts": []}
    if resume_from:
        state = json.loads(Path(resume_from).read_text(encoding="utf-8"))
        print(f"attempt {attempt}: resumed from step {state['step'] + 1} ({resume_from})", flush=True)
    else:
        print(f"attempt {attempt}: starting from step 0", flush=True)
    first_step = state["step"] + 1
    state["attempts"] = [*state["attempts"], attempt]

    for step in range(first_step, args.steps):
        time.sleep(args.step_seconds)  # the "work"
        state["step"], state["total"] = step, state["total"] + step * step
        write_atomically(checkpoints / f"step-{step:06d}.json", state)
        print(f"step {step + 1}/{args.steps}  total={state['total']}", flush=True)

    result = {
        "job": job_id,
        "steps": args.steps,
        "total": state["total"],
        "expected": sum(i * i for i in range(args.steps)),
        "resumed_from_step": first_step,
        "attempt": attempt,
        "attempts": state["attempts"],
    }
    write_atomically(args.result or Path("result.json"), result)
    print(f"done: total={result['total']} (expected {result['expected']})", flush=True)
    return 0 if result["total"] == result["expected"] else 1


if __name__ == "__main__":
    sys.exit(main())
