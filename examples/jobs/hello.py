"""A job that prints: a greeting (``$GREETING``), what the agent gave it, a few lines, then exits 0.

Its output comes back to the server: ``suanli logs ID`` shows it.
Only the standard library: any ``python3`` on the site runs it.
"""

from __future__ import annotations

import os
import platform
import sys
import time


def main() -> int:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    job, attempt = os.environ.get("SUANLI_JOB_ID", "local"), os.environ.get("SUANLI_ATTEMPT", "1")
    greeting = os.environ.get("GREETING", "hello")  # from the spec's run.env
    print(f"{greeting} from job {job}, attempt {attempt}, on {platform.node()} (python {platform.python_version()})")
    print(f"working directory: {os.getcwd()}")
    for i in range(1, lines + 1):
        print(f"line {i}/{lines}", flush=True)
        time.sleep(0.1)
    print("bye", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
