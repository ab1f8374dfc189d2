"""The order rule of ``depends_on`` by name within one list of specs (a ``POST
/v1/jobs:batch``, or all the files of one ``suanli submit``, which sends more than 1,000
in several batches): a spec may name an *earlier* spec, never a later one or itself.

Pure and import-light, so the server (``service.control.batch_deps``) and the CLI's fast
path share it: the CLI checks the whole list before its first batch, since the server
sees one batch at a time and would resolve a name that only a later batch has to a stored
job of that name (starting this one at once) or to none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Misorder:
    """Entry ``field`` of spec ``index``'s ``depends_on`` breaks the order rule: it names
    spec ``later`` (None: the spec's own name)."""

    index: int
    field: str
    problem: str
    hint: str
    later: int | None


def refs(spec: Any) -> list[str]:
    """The spec's ``depends_on`` entries as written (one name, or a list; anything else is
    the spec check's to refuse)."""
    value = spec.get("depends_on") if isinstance(spec, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def name(spec: Any) -> str | None:
    value = spec.get("name") if isinstance(spec, dict) else None
    return value if isinstance(value, str) else None


def first_misorder(specs: Sequence[Any], stored_name: Callable[[str], bool]) -> Misorder | None:
    """The first ``depends_on`` entry that names a later spec of ``specs``, or the spec's
    own name when no earlier spec has it and ``stored_name(name)`` says no stored job has
    it either (then it would depend on itself); None when the order holds.

    A spec's own name with an earlier or stored job of that name means that job (as a
    ``nightly`` job waits for the previous night's).
    """
    names = [name(spec) for spec in specs]
    first_at: dict[str, int] = {}
    for index, own in enumerate(names):
        if own is not None:
            first_at.setdefault(own, index)
    for index, spec in enumerate(specs):
        for k, ref in enumerate(refs(spec)):
            if first_at.get(ref, index) < index:
                continue
            field = f"depends_on[{k}]"
            if ref == names[index]:
                if stored_name(ref):
                    continue
                problem = f"'{ref}' is this item's own name and no earlier job has it: a job cannot depend on itself"
                hint = "drop it from depends_on, or name the job it should wait for"
                return Misorder(index, field, problem, hint, None)
            later = next((j for j in range(index + 1, len(names)) if names[j] == ref), None)
            if later is None:
                continue  # a stored job's name or id, or none: resolved (or refused) per item
            problem = (
                f"'{ref}' is item {later} of this batch, which comes after item {index}: "
                "a job can depend only on an earlier item"
            )
            hint = f"put item {later} ('{ref}') before item {index} in the batch (the order of the files)"
            return Misorder(index, field, problem, hint, later)
    return None
