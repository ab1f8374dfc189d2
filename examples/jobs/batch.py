"""A batch-inference-like job: "scores" a batch of records and writes the scores out.

The records are made up (deterministic); the "model" is a checksum. It stands in for a
job that must run at one site, e.g. because its data may not leave the province.

    python3 batch.py --records 300 --seconds 2 --out scores.jsonl

Only the standard library: any ``python3`` on the site runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=2.0, help="how long the whole batch takes")
    parser.add_argument("--out", type=Path, default=Path("scores.jsonl"))
    args = parser.parse_args()

    job = os.environ.get("SUANLI_JOB_ID", "local")
    pause = args.seconds / max(args.records, 1)
    temp = args.out.with_name(f".{args.out.name}.tmp")
    with temp.open("w", encoding="utf-8") as out:
        for i in range(args.records):
            text = f"record {i} of {job}"
            score = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            out.write(json.dumps({"id": i, "score": round(score, 6)}) + "\n")
            if (i + 1) % max(args.records // 5, 1) == 0:
                print(f"scored {i + 1}/{args.records}", flush=True)
            time.sleep(pause)
    os.replace(temp, args.out)
    print(f"wrote {args.records} scores to {args.out.absolute()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
