"""The optional dependency groups ("extras") and the check a command that needs one makes first.

``pip install suanli`` brings the planner, the estimator, the simulator, the catalogue and
the tenant commands (over the API). The rest needs an extra (``pyproject.toml``)::

    server   serve, db, admin --data-dir/--db       FastAPI, uvicorn, SQLAlchemy, Alembic, psycopg, Prometheus
    lp       simulate/sweep: the LP lower bounds      HiGHS (without it the bounds are the capacity-free ones)
    ray      sweep --ray, agent --executor ray        Ray
    all      server + lp + ray

:func:`require_extra` looks the extra's key modules up with :func:`importlib.util.find_spec`
(which imports nothing, so it costs a few file-system lookups) and raises
:class:`MissingExtra`, one line naming the extra to install, instead of the traceback the
first failing import deep inside the command would print.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec

from suanli.errors import SuanliError

EXTRAS: dict[str, tuple[str, ...]] = {
    # uvloop and httptools are left out: uvicorn uses them when present and runs without them
    "server": ("fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "prometheus_client"),
    "lp": ("highspy",),
    "ray": ("ray",),
}
"""Extra name -> the top-level modules its commands import (``tests/test_install_no_extras.py`` checks
each against the extra's requirements in ``pyproject.toml``)."""


class MissingExtra(SuanliError):
    """A command needs an extra that is not installed. CLI exit code 2."""

    exit_code = 2

    def __init__(self, command: str, extra: str, missing: Sequence[str], alternative: str | None = None) -> None:
        self.command, self.extra, self.missing = command, extra, tuple(missing)
        super().__init__(
            f"suanli {command} needs the {extra} extra ({', '.join(self.missing)} not installed). "
            f"To fix: pip install 'suanli[{extra}]'" + (f", or {alternative}" if alternative else "")
        )


def missing_modules(extra: str) -> list[str]:
    """The key modules of ``extra`` that cannot be found, in :data:`EXTRAS` order."""
    return [name for name in EXTRAS[extra] if not _installed(name)]


def require_extra(extra: str, command: str, alternative: str | None = None) -> None:
    """Raise :class:`MissingExtra` unless every key module of ``extra`` is installed.

    ``command``: as the user types it after ``suanli`` (``"sweep --ray"``); ``alternative``:
    another way to do the same without the extra, if there is one.
    """
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(command, extra, missing, alternative)


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a finder refused it, or a broken entry in sys.modules
        return False
