"""The ``suanli`` console script: the commands registered in :mod:`suanli.cli.registry`
(plan, estimate, validate and the tenant commands) run without typer; everything else
goes to the typer app (:mod:`suanli.cli.app`).

This module imports only the standard library and the registering modules (each light),
so ``suanli submit`` or ``suanli status`` in a shell loop costs a few times a bare Python
start, not the ~110 ms typer needs to set up (``bench/bench_cli.py`` prints both).
"""

from __future__ import annotations

import gc
import os
import sys

PLUGINS_OFF = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}
"""Set (unless the user set it: empty turns the scan back on) for the registered commands,
all short clients that start no user code: pydantic's plugin discovery scans the entry
points of every installed distribution when the first model is built, about 6 ms of a
``plan`` here (``bench/bench_cli.py``), and no plugin has anything to observe in them."""

NO_TEARDOWN = frozenset({"plan", "estimate", "validate"})
"""The commands whose process ends with :func:`os._exit` once its output is flushed,
skipping the interpreter's teardown: after a plan that is module by module, object by
object, the ~390 modules numpy, pydantic and the catalogue load (measured here: the exit
takes 3.5 ms instead of 11.6, medians of 15). These commands hold nothing the teardown
would finish: they write no file left open, start no thread, register no ``atexit``
handler, and hold no connection (they plan in-process; with ``--server`` they ask the
server through a client closed before they return)."""

EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for ``cat`` or ``grep`` cut off by ``| head``."""


def run() -> None:
    """Console-script entry point: :func:`_run`, ending quietly when the reader of its
    output went away (``suanli jobs | head``), as other Unix tools do, not with a traceback."""
    try:
        _run()
    except BrokenPipeError:
        # stdout's buffer cannot be flushed to a closed pipe at exit either: point it at /dev/null
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(EXIT_BROKEN_PIPE) from None


def _run() -> None:
    """The cyclic garbage collector is off for this short-lived process: it allocates many
    small objects (catalogue, options) and frees them at exit, and collections would only
    cost time (measured: ~10 % of a `plan`)."""
    gc.disable()
    argv = sys.argv[1:]
    from suanli.cli import registry

    if argv and argv[0] in registry.MODULE_OF:
        for name, value in PLUGINS_OFF.items():
            os.environ.setdefault(name, value)
    registry.load(argv[0] if argv else "")
    if argv and argv[0] in registry.COMMANDS:
        code = registry.main(argv)
        sys.stdout.flush()
        if argv[0] in NO_TEARDOWN:
            sys.stderr.flush()
            os._exit(code)
        raise SystemExit(code)
    from suanli.cli.app import app

    app()
