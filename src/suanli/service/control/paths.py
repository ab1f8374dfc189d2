"""Where a job may work: ``run.workdir`` and ``run.checkpoint_dir`` stay inside the job's
own directory at its site, or under a shared root the operator declared.

The rules, checked at submission (lexically: the server cannot see the sites' disks):

- a **relative** path without ``..`` is inside the job's directory (``workdir`` under the
  attempt's ``WORK_DIR/<job>/<attempt>/``, ``checkpoint_dir`` under the workdir);
- an **absolute** path must lie under one of the shared roots (``suanli serve
  --shared-root PATH``, repeatable: storage every site mounts at the same place, for
  checkpoints a job resumes from elsewhere), after ``.`` and repeated ``/`` are dropped;
- ``..`` as a path component is refused everywhere: in a relative path it climbs out of
  the job's directory, in an absolute one it hides where the path really goes.

A refusal is a 422 ``PATH_NOT_ALLOWED`` whose details name the field (``run.workdir``), as
spec errors do, so the CLI points at the file's line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from suanli.service.control.errors import Unprocessable
from suanli.workload import JobSpec

RUN_PATHS = ("workdir", "checkpoint_dir")


def normalise_root(root: str) -> str:
    """A shared root as the checks compare it: absolute, without ``.``, ``..`` or a
    trailing ``/``. Raises ValueError for a relative root or one with ``..``."""
    if not root.startswith("/"):
        raise ValueError(f"shared root '{root}' is not an absolute path")
    if ".." in PurePosixPath(root).parts:
        raise ValueError(f"shared root '{root}' contains '..'; give the directory itself")
    return str(PurePosixPath(posixpath.normpath(root)))


def check_run_paths(spec: JobSpec, shared_roots: Sequence[str]) -> None:
    """Refuse the spec when a ``run:`` path leaves the job's directory and every shared root."""
    if spec.run is None:
        return
    for name in RUN_PATHS:
        value = getattr(spec.run, name)
        if value is not None:
            _check(f"run.{name}", value, shared_roots)


def _check(field: str, value: str, shared_roots: Sequence[str]) -> None:
    path = PurePosixPath(value)
    if ".." in path.parts:
        _refuse(
            field,
            value,
            "contains '..'",
            "give a path inside the job's directory without '..' (relative), or one under a shared root",
        )
    if not path.is_absolute():
        return
    inside = PurePosixPath(posixpath.normpath(value))
    if any(_under(inside, PurePosixPath(root)) for root in shared_roots):
        return
    roots = ", ".join(shared_roots)
    _refuse(
        field,
        value,
        f"is outside the job's directory and every shared root ({roots})"
        if shared_roots
        else "is an absolute path, and this server declares no shared root",
        "use a path relative to the job's directory, or one under a shared root "
        + ("" if shared_roots else "(the operator adds one with `suanli serve --shared-root PATH`)"),
    )


def _under(path: PurePosixPath, root: PurePosixPath) -> bool:
    return path == root or root in path.parents


def _refuse(field: str, value: str, why: str, fix: str) -> None:
    message = f"'{value}' {why}"
    raise Unprocessable(
        f"field '{field}': {message}. To fix: {fix.rstrip()}",
        code="PATH_NOT_ALLOWED",
        details=[{"field": field, "message": message, "hint": fix.rstrip()}],
    )


def shared_roots_of(roots: Iterable[str]) -> tuple[str, ...]:
    """The normalised roots, each once, in the order given."""
    return tuple(dict.fromkeys(normalise_root(root) for root in roots))
