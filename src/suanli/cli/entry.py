"""The ``suanli`` console script: the commands registered in :mod:`suanli.cli.registry`
(plan, estimate, validate and the tenant commands) run without typer; everything else
goes to the typer app (:mod:`suanli.cli.app`).

This module imports only the standard library and the registering modules (each light),
so ``suanli submit`` or ``suanli status`` in a shell loop costs a few times a bare Python
start, not the ~110 ms typer needs to set up (``bench/bench_cli.py`` prints both).
"""

from __future__ import annotations

import gc
import sys


def run() -> None:
    """Console-script entry point. The cyclic garbage collector is off for this short-lived
    process: it allocates many small objects (catalogue, options) and frees them at exit,
    and collections would only cost time (measured: ~10 % of a `plan`)."""
    gc.disable()
    argv = sys.argv[1:]
    from suanli.cli import registry

    registry.load(argv[0] if argv else "")
    if argv and argv[0] in registry.COMMANDS:
        code = registry.main(argv)
        sys.stdout.flush()
        raise SystemExit(code)
    from suanli.cli.app import app

    app()
