"""What an agent hands its executor for one attempt: the job's directories (made), its
environment, where it resumes from, and its command (after its ``setup``).

Directories: ``work_root/<job>/<attempt>/`` is the attempt's, or ``run.workdir`` relative to
it; ``run.checkpoint_dir`` is relative to the workdir unless absolute, and without one
``work_root/<job>/checkpoints`` is shared by the job's attempts at this site. The launch
names the directories the agent made for it (``Launch.made_dirs``): a sandbox hands only
those, outside the job's own directory, to the job's user.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from pathlib import Path

from pydantic import ValidationError

from suanli.agents.executors import Launch
from suanli.schemas.v1 import Assignment
from suanli.workload import RunSpec

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


PASS_THROUGH_MODE = 0o711
"""Directories the agent makes *above* a job's own (``<job>/`` itself, ``checkpoints/`` in
shared storage): the job's user may walk through them to its own, not list them. Set
explicitly, so an agent started under ``umask 077`` (as README's by-hand network does,
for its token files) does not lock a sandboxed or Slurm job out of its own directory."""


def make_dirs(target: Path) -> None:
    """``mkdir -p target``, each directory made above ``target`` mode
    :data:`PASS_THROUGH_MODE` whatever the umask (``target`` itself gets the umask's mode:
    a sandbox or a Slurm account is handed it)."""
    missing: list[Path] = []
    path = target
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        if path != target:
            os.chmod(path, PASS_THROUGH_MODE)


def newest_checkpoint(directory: Path) -> str | None:
    """Absolute path of the newest file or directory in ``directory`` by mtime (name breaks
    ties), or None. Names starting with ``.`` are skipped: frameworks write a checkpoint
    under a hidden temporary name and rename it when complete."""
    best: tuple[float, str] | None = None
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if entry.name.startswith(".") or not (entry.is_file() or entry.is_dir()):
                        continue
                    key = (entry.stat().st_mtime, entry.name)
                except FileNotFoundError:  # removed while we looked (a rotated-out checkpoint)
                    continue
                if best is None or key > best:
                    best = key
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if best is None else str((directory / best[1]).absolute())


def resume_point(reported: str | None, checkpoint_dir: Path) -> str | None:
    """Where a new attempt resumes: the newest checkpoint in ``checkpoint_dir`` as this
    agent sees it (:func:`newest_checkpoint`), unless the one the server last heard of
    (``reported``) is a path here at least as new.

    Agents report checkpoints once per heartbeat, so the server's is up to an interval
    old when a site dies; on shared storage the job's ``checkpoint_dir`` holds what the
    last attempt wrote since. A reported checkpoint this agent cannot see (another site's
    local disk, an object-store URL) is kept only when the directory holds none."""
    found = newest_checkpoint(checkpoint_dir)
    if found is None or reported is None or reported == found:
        return found or reported
    try:
        reported_mtime_s = os.stat(reported).st_mtime
    except (OSError, ValueError):  # not a path here
        return found
    try:
        found_mtime_s = os.stat(found).st_mtime
    except OSError:  # removed since it was listed
        return reported
    return reported if reported_mtime_s >= found_mtime_s else found


def prepare_launch(assignment: Assignment, work_root: Path, site: str) -> tuple[Launch, Path, float | None]:
    """The launch for an assignment at ``site``, with its directories made under
    ``work_root``, its checkpoint directory
    and its walltime in seconds (None: no limit). Raises ValueError for a spec without a
    valid ``run:`` section or an unusable job id. A ``setup`` runs first, through
    ``sh -c 'SETUP && exec "$@"'`` with the command as the arguments (quoted, never
    parsed again), so the command still runs as the job's main process."""
    if not _SAFE_ID.match(assignment.id) or assignment.id in (".", ".."):
        raise ValueError(f"job id {assignment.id!r} cannot name a directory")
    try:
        run = RunSpec.model_validate((assignment.spec or {}).get("run"))
    except ValidationError as exc:
        raise ValueError(f"the spec's run: section is invalid: {exc}") from None
    job_dir = work_root / assignment.id
    attempt_dir = job_dir / str(assignment.attempt)
    workdir = _under(attempt_dir, run.workdir) if run.workdir else attempt_dir
    checkpoint_dir = _under(workdir, run.checkpoint_dir) if run.checkpoint_dir else job_dir / "checkpoints"
    made = frozenset(path for path in (workdir, checkpoint_dir) if not path.exists())
    make_dirs(workdir)
    make_dirs(checkpoint_dir)
    resume_from = resume_point(assignment.resume_from, checkpoint_dir)
    if resume_from != assignment.resume_from:
        log.info(
            "job %s: resuming from %s, the newest in %s (the server knew of %s)",
            assignment.id,
            resume_from,
            checkpoint_dir,
            assignment.resume_from or "none",
        )
    env = {
        **run.env,
        "SUANLI_JOB_ID": assignment.id,
        "SUANLI_ATTEMPT": str(assignment.attempt),
        "SUANLI_CHECKPOINT_DIR": str(checkpoint_dir),
        "SUANLI_RESUME_FROM": resume_from or "",
    }
    launch = Launch(
        job_id=assignment.id,
        attempt=assignment.attempt,
        command=with_setup(run.setup, run.command),
        env=env,
        workdir=workdir,
        accelerator=assignment.accelerator,
        count=assignment.count,
        runtime_env=run.runtime_env,
        labels={"suanli_site": site, **({"suanli_tenant": assignment.tenant} if assignment.tenant else {})},
        made_dirs=made,
    )
    return launch, checkpoint_dir, None if run.walltime_h is None else run.walltime_h * 3600.0


def with_setup(setup: tuple[str, ...] | None, command: tuple[str, ...]) -> tuple[str, ...]:
    """``command``, after ``setup`` when there is one: ``sh -c`` runs the setup (a shell
    line, or an argv list quoted into one) and then ``exec``s the command from its own
    arguments, which the shell never parses."""
    if setup is None:
        return command
    script = setup[2] if len(setup) == 3 and setup[:2] == ("sh", "-c") else shlex.join(setup)
    return ("sh", "-c", f'{script}\nexec "$@"', "suanli-setup", *command)


def _under(base: Path, path: str) -> Path:
    """``path`` if absolute, else relative to ``base``; normalised (``..`` resolved)."""
    return Path(os.path.normpath(base / path))
