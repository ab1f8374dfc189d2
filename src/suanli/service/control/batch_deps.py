"""``depends_on`` within one ``POST /v1/jobs:batch``: a spec may name an *earlier* spec of
the same batch by its ``name``, resolved to the id that spec gets in the batch's one
transaction.

A name in a batch means, as for one submission, the tenant's newest job of that name
before this one: the latest earlier item of that name when there is one (it is newer than
every stored job), else the stored job. Refused before anything is planned or stored, as
one 422 (``INVALID_INPUT``) naming the item and the entry (``details``: ``index``,
``field``, ``message``, ``hint``):

- a name that only a *later* item has, or a later item as well as a stored job (the order
  is the mistake: depending on the stored job would start this one at once), unless it is
  the item's own name (then it means the previous job of that name, as ``nightly`` does);
- the item's own name when no earlier item and no stored job has it (a job cannot depend
  on itself).

An item whose earlier item was refused (its spec, its placement, its idempotency key) is
refused in its turn, naming the entry (:func:`bind`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from suanli.batch_order import first_misorder
from suanli.service.control.errors import Unprocessable

Ref = str | tuple[int, int]
"""A resolved ``depends_on`` entry: a stored job's id, or ``(entry, item)``: entry ``entry``
of ``depends_on`` names item ``item`` of the batch (its id is known once it is stored)."""


def check_order(specs: Sequence[Any], stored_name: Callable[[str], bool]) -> None:
    """Refuse a batch whose ``depends_on`` names a later item or the item itself (see the
    module docstring); ``stored_name(name)`` says whether the tenant has a stored job of
    that name."""
    bad = first_misorder(specs, stored_name)
    if bad is not None:
        raise Unprocessable(
            f"jobs[{bad.index}].spec: field '{bad.field}': {bad.problem}. To fix: {bad.hint}",
            code="INVALID_INPUT",
            details=[{"index": bad.index, "field": bad.field, "message": bad.problem, "hint": bad.hint}],
        )


def bind(refs: Sequence[Ref], stored: Mapping[int, str], index: int) -> list[str]:
    """The ids of ``refs`` once the earlier items are stored (``stored``: item index -> its
    job id), each once; an item that was refused is named, with the entry, as a
    :class:`~suanli.errors.SpecError`."""
    from suanli.errors import SpecError

    out: list[str] = []
    for ref in refs:
        if isinstance(ref, tuple):
            entry, item = ref
            job_id = stored.get(item)
            if job_id is None:
                raise SpecError(
                    f"item {item} of this batch, which item {index} depends on, was refused",
                    path="spec",
                    field=f"depends_on[{entry}]",
                    hint=f"fix item {item} (its own error says how) and submit both again",
                )
        else:
            job_id = ref
        if job_id not in out:
            out.append(job_id)
    return out
