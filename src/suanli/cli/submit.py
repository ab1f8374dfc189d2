"""``suanli submit``: read the specs, send them (one call, or batches of up to 1,000), map the
server's field errors back to the files' lines, and optionally wait for the job.

The server checks and places every spec against its own catalogue and network; this side
only reads the YAML (keeping each value's line) and checks that a ``run:`` section exists,
so a submit loads neither the catalogue nor the estimator. ``--catalog DIR`` adds the full
local check first (slow: it loads both).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suanli import _yamlio
from suanli.cli import fmt
from suanli.errors import SpecError

if TYPE_CHECKING:
    from suanli.client import Wire
    from suanli.client._errors import ApiError

ARRAY_INDEX = "SUANLI_ARRAY_INDEX"
ARRAY_SIZE = "SUANLI_ARRAY_SIZE"
BATCH_BYTES = 800_000
"""A batch's JSON is kept under this (the server refuses bodies over 1 MB by default)."""
EXIT_CODES = {"SUCCEEDED": 0, "CANCELLED": 1, "FAILED": 1}
"""``submit --wait``'s exit code by the job's final state (a failed job's own code first)."""


@dataclass(frozen=True)
class Entry:
    """One job to send: its spec, the file it came from (with each value's line), and its
    idempotency key."""

    spec: dict[str, Any]
    path: str
    positions: _yamlio.Positions
    key: str | None


def read(path: str) -> tuple[dict[str, Any], _yamlio.Positions]:
    """The spec at ``path`` as data with positions; refused without ``run:``."""
    data, positions = read_spec_file(path)
    if data.get("run") is None:
        raise SpecError(
            "the spec has no 'run:' section, so a site would not know what to run",
            path=path,
            field="run",
            hint="add e.g. `run: {command: [python, train.py]}` (see docs/spec.md), or use `suanli plan` to plan only",
        )
    return data, positions


def read_spec_file(path: str) -> tuple[dict[str, Any], _yamlio.Positions]:
    """The YAML mapping at ``path`` with each value's position (for the server's field
    errors to name lines); no other check (the server makes them)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", path=path, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc}", path=path) from None
    try:
        data, positions = _yamlio.load(text)
    except _yamlio.YamlError as exc:
        raise SpecError(exc.message, path=path, line=exc.line) from None
    if not isinstance(data, dict):
        raise SpecError(
            "a job spec must be a YAML mapping", path=path, line=1, hint="start with 'apiVersion: suanli/v1'"
        )
    return data, positions


def array_copy(spec: dict[str, Any], index: int, size: int) -> dict[str, Any]:
    """Copy ``index`` of a job array of ``size``: named ``NAME-index``, with
    ``SUANLI_ARRAY_INDEX`` / ``SUANLI_ARRAY_SIZE`` in its environment and
    ``${SUANLI_ARRAY_INDEX}`` (and ``_SIZE``) replaced in its run section's strings."""
    values = {ARRAY_INDEX: str(index), ARRAY_SIZE: str(size)}

    def expand(value: Any) -> Any:
        if isinstance(value, str):
            for name, text in values.items():
                value = value.replace(f"${{{name}}}", text)
            return value
        if isinstance(value, list):
            return [expand(v) for v in value]
        if isinstance(value, dict):
            return {k: expand(v) for k, v in value.items()}
        return value

    suffix = f"-{index}"
    name = str(spec.get("name", "job"))
    run = expand(spec["run"]) if isinstance(spec["run"], dict) else spec["run"]
    if isinstance(run, dict):
        env = run.get("env")
        run = {**run, "env": {**(env if isinstance(env, dict) else {}), **values}}
    return {**spec, "name": name[: 128 - len(suffix)] + suffix, "run": run}


VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${NAME}`` in a run section's strings, or ``$$`` (a literal ``$``)."""


def expand_run(spec: dict[str, Any], values: dict[str, str], path: str, positions: _yamlio.Positions) -> dict[str, Any]:
    """The spec with ``${NAME}`` in its ``run:`` strings replaced from ``values`` (``--env``,
    then the submitter's environment); ``$$`` is a literal ``$``. An unset name is an
    error naming the file, the line and the field (the job would fail at the site with a
    literal ``${NAME}`` otherwise). The array's own names are left for :func:`array_copy`."""

    def expand(value: Any, where: tuple[str | int, ...]) -> Any:
        if isinstance(value, dict):
            return {k: expand(v, (*where, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v, (*where, i)) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value

        def one(found: re.Match[str]) -> str:
            name = found.group(1)
            if name is None:
                return "$"
            if name in (ARRAY_INDEX, ARRAY_SIZE):
                return found.group(0)
            if name not in values:
                pos = _yamlio.position_of(positions, where)
                raise SpecError(
                    f"${{{name}}} is not set",
                    path=path,
                    line=pos[0] if pos else None,
                    field=_yamlio.dotted(where),
                    hint=f"export {name}=... or pass --env {name}=VALUE (write $${{{name}}} for a literal ${{{name}}})",
                )
            return values[name]

        return VARIABLE.sub(one, value)

    run = spec.get("run")
    if not isinstance(run, dict):
        return spec
    return {**spec, "run": {k: expand(v, ("run", k)) if k != "runtime_env" else v for k, v in run.items()}}


def variables(pairs: list[str] | None) -> dict[str, str]:
    """The values ``${NAME}`` takes: the submitter's environment, overridden by ``--env``."""
    import os

    values = dict(os.environ)
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SpecError(f"--env '{pair}' is not NAME=VALUE", hint="e.g. --env DATA=/mnt/data")
        values[name] = value
    return values


MAX_SPEC_ARRAY = 1000
"""The largest ``array:`` a spec may ask for (``suanli.workload.spec.MAX_ARRAY``; ``--array``
takes more)."""


def array_size(spec: dict[str, Any], flag: int | None, path: str, positions: _yamlio.Positions) -> int:
    """Copies to send of ``spec``: its ``array:`` (1 to 1,000) or ``--array``, 0 for a plain
    job. Both given, they must be equal."""
    value = spec.get("array")
    if value is None:
        return flag or 0
    pos = _yamlio.position_of(positions, ("array",))
    line = pos[0] if pos else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SPEC_ARRAY:
        raise SpecError(
            f"{value!r} is not a number of copies from 1 to {MAX_SPEC_ARRAY:,}",
            path=path,
            line=line,
            field="array",
            hint="write e.g. array: 8 (each copy sees its index as ${SUANLI_ARRAY_INDEX})",
        )
    if flag is not None and flag != value:
        raise SpecError(
            f"the spec asks for {value} copies and --array for {flag}",
            path=path,
            line=line,
            field="array",
            hint="give the number once: drop --array, or the spec's array:",
        )
    return value


def with_dependencies(spec: dict[str, Any], extra: list[str] | None) -> dict[str, Any]:
    """The spec with ``--depends-on`` added to its own ``depends_on`` (one name or a list)."""
    if not extra:
        return spec
    own = spec.get("depends_on")
    if own is None:
        return {**spec, "depends_on": list(extra)}
    if isinstance(own, str):
        return {**spec, "depends_on": [own, *extra]}
    if isinstance(own, list):
        return {**spec, "depends_on": [*own, *extra]}
    return spec  # not a list: the server names the field


def entries(args: argparse.Namespace) -> list[Entry]:
    """Every job the command line asks for, in order."""
    values = variables(args.env)
    out: list[Entry] = []
    for path in args.specs:
        spec, positions = read(path)
        size = array_size(spec, args.array, path, positions)
        spec = with_dependencies({k: v for k, v in spec.items() if k != "array"}, getattr(args, "depends_on", None))
        spec = expand_run(spec, values, path, positions)
        copies = [array_copy(spec, i, size) for i in range(size)] if size else [spec]
        out.extend(Entry(copy, path, positions, None) for copy in copies)
    if args.idempotency_key is not None:
        if len(out) == 1:
            return [Entry(out[0].spec, out[0].path, out[0].positions, args.idempotency_key)]
        out = [Entry(e.spec, e.path, e.positions, f"{args.idempotency_key}:{i}") for i, e in enumerate(out)]
    return out


def spec_error(error: ApiError, entry: Entry) -> SpecError | None:
    """The server's answer about a spec field, as an error naming this file's line."""
    details = error.details or []
    first = details[0] if details and isinstance(details[0], dict) else {}
    field = first.get("field")
    if not isinstance(field, str) or "message" not in first:
        return None
    pos = _yamlio.position_of(entry.positions, _yamlio.undotted(field))
    hint = first.get("hint")
    return SpecError(
        str(first["message"]),
        path=entry.path,
        line=pos[0] if pos else None,
        field=field,
        hint=hint if isinstance(hint, str) else None,
    )


def _local_check(args: argparse.Namespace) -> None:
    from suanli.service import context, read_spec

    ctx = context(Path(args.catalog))
    for path in args.specs:
        read_spec(ctx, Path(path))


def run(args: argparse.Namespace, connect: Callable[[argparse.Namespace], Wire], poll_s: float) -> int:
    """The command: 0 when every job went in (and, with --wait, succeeded)."""
    jobs = entries(args)
    if args.wait and len(jobs) != 1:
        raise SpecError(
            f"--wait follows one job; this submits {len(jobs):,}", hint="drop --wait, or --array (or the spec's array:)"
        )
    if args.catalog is not None:
        _local_check(args)
    with connect(args) as client:
        if len(jobs) == 1:
            return _one(client, jobs[0], args, poll_s)
        return _many(client, jobs, args)


def _one(client: Wire, entry: Entry, args: argparse.Namespace, poll_s: float) -> int:
    from suanli.client._errors import InvalidRequest

    try:
        job = client.submit_json(entry.spec, entry.key)
    except InvalidRequest as exc:
        raise spec_error(exc, entry) or exc from None
    if args.json_out and not args.wait:
        fmt.print_json({"id": job.get("id"), "state": job.get("state")})
        return 0
    if not args.json_out:
        say = sys.stderr.write if args.wait else sys.stdout.write
        say(f"submitted job {job.get('id')} ('{job.get('name')}'): {job.get('state')}\n")
        if not args.wait:
            say(f"follow it: suanli status {job['id']}  |  suanli logs {job['id']} -f  |  suanli explain {job['id']}\n")
    if args.wait:
        return wait(client, str(job["id"]), args.json_out, poll_s)
    return 0


def wait(client: Wire, job_id: str, json_out: bool, poll_s: float) -> int:
    """Print the job's output as it comes, then its end; the job's exit code."""
    from suanli.cli.control import follow

    follow(client, job_id, True, poll_s)
    job = client.job_json(job_id)
    while job.get("state") not in EXIT_CODES:  # the log is complete a moment before the state lands
        time.sleep(poll_s)
        job = client.job_json(job_id)
    state, code = str(job.get("state")), job.get("exit_code")
    if json_out:
        fmt.print_json(job)
    else:
        ended = f"job {job_id} {state}" + (f" (exit code {code})" if code is not None else "")
        message = job.get("message")
        sys.stderr.write(ended + (f": {message}" if message and state != "SUCCEEDED" else "") + "\n")
    if state == "FAILED" and isinstance(code, int) and 0 < code < 256:
        return code
    return EXIT_CODES[state]


def _batches(jobs: list[Entry]) -> list[list[Entry]]:
    """Runs of at most 1,000 jobs and about :data:`BATCH_BYTES` of JSON."""
    import json

    from suanli.client._wire import MAX_BATCH

    out: list[list[Entry]] = [[]]
    size = 0
    for entry in jobs:
        length = len(json.dumps(entry.spec, default=str)) + 80
        if out[-1] and (len(out[-1]) >= MAX_BATCH or size + length > BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(entry)
        size += length
    return out


def _many(client: Wire, jobs: list[Entry], args: argparse.Namespace) -> int:
    import uuid

    from suanli.client._errors import InvalidRequest

    batches = _batches(jobs)
    if len(batches) > 1:
        _check_order(jobs)
    submitted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for batch in batches:
        keys = [e.key or str(uuid.uuid4()) for e in batch]
        try:
            answer = client.submit_batch_json([e.spec for e in batch], keys)
        except InvalidRequest as exc:  # the batch as a whole (depends_on on a later item)
            raise _batch_error(exc, batch) or exc from None
        for item in answer.get("items") or []:
            entry = batch[int(item["index"])]
            if item.get("job"):
                job = item["job"]
                submitted.append({"id": job.get("id"), "name": job.get("name"), "state": job.get("state")})
            else:
                errors.append(_item_error(item.get("error") or {}, entry))
    if args.json_out:
        fmt.print_json({"jobs": submitted, "errors": errors})
    else:
        for job in submitted:
            sys.stdout.write(f"submitted job {job['id']} ('{job['name']}'): {job['state']}\n")
        sys.stdout.write(f"{len(submitted):,} of {len(jobs):,} jobs submitted\n")
    _report(errors)
    return 2 if errors else 0


def _check_order(jobs: list[Entry]) -> None:
    """Refuse, before the first batch, a ``depends_on`` naming a job that a later batch
    sends: the server sees one batch at a time and would take the name for a stored job
    of that name (or none). Within one batch the server's own check answers."""
    from suanli.batch_order import first_misorder

    bad = first_misorder([e.spec for e in jobs], lambda _: True)  # an own name: the server's to judge
    if bad is None or bad.later is None:
        return
    later = jobs[bad.later]
    problem = (
        f"'{later.spec.get('name')}' is job {bad.later + 1:,} of the {len(jobs):,} this submits ({later.path}), "
        f"which comes after this one (job {bad.index + 1:,}): a job can depend only on an earlier one"
    )
    entry = jobs[bad.index]
    pos = _yamlio.position_of(entry.positions, _yamlio.undotted(bad.field))
    raise SpecError(
        problem,
        path=entry.path,
        line=pos[0] if pos else None,
        field=bad.field,
        hint=f"name {later.path} before {entry.path} on the command line",
    )


def _batch_error(error: ApiError, batch: list[Entry]) -> SpecError | None:
    """A refusal of the whole batch that names one item (``details[0].index``), as an error
    naming that item's file and line."""
    details = error.details or []
    index = details[0].get("index") if details and isinstance(details[0], dict) else None
    if not isinstance(index, int) or not 0 <= index < len(batch):
        return None
    return spec_error(error, batch[index])


def _report(errors: list[dict[str, Any]]) -> None:
    """Each distinct error once, with how many jobs got it (an array's copies share theirs)."""
    from collections import Counter

    for message, times in Counter(str(e["message"]) for e in errors).items():
        sys.stderr.write(f"error: {message}" + (f" ({times:,} jobs)" if times > 1 else "") + "\n")


def _item_error(error: dict[str, Any], entry: Entry) -> dict[str, Any]:
    from suanli.client._errors import ApiError

    api = ApiError(
        str(error.get("message", "refused")), code=str(error.get("code") or "ERROR"), details=error.get("details")
    )
    located = spec_error(api, entry)
    message = str(located) if located else f"{entry.path}: {api.message}"
    return {"path": entry.path, "name": entry.spec.get("name"), "code": error.get("code"), "message": message}
