"""Compliance as a live rule: which filing a public service needs, and which services a
rejected or withdrawn filing stops.

A public InferenceService (``public: true``: it answers the public) needs an approved
filing of its model by its own tenant, as China's Interim Measures for the Management of
Generative AI Services (CAC, 2023, art. 17) require filing of a public service's model.
The filing binds to the model itself, never to the job's name:

- a catalogue model: its catalogue id (``qwen2.5-7b``; the spec's name is resolved
  case-insensitively against the catalogue first);
- an inline model: ``inline-`` and 16 hex digits of the SHA-256 of its shape's canonical
  JSON (every field of ``InlineModel``, defaults included, keys sorted), so two specs
  file the same model exactly when they describe the same shape, whatever they are named;
- a profiled job without a model: ``profile-`` and the profile's job class.

The rule is checked at submit (``FILING_NOT_APPROVED``), and again whenever an operator
rejects a filing that was approved (a withdrawal): every waiting or running public service
of that tenant and model key, with no other approved filing of the key, is stopped
(``stop``, the default: CANCELLED with reason ``FILING_WITHDRAWN``; its agent is told to
stop it at its next heartbeat) or held (``hold``: a running one is preempted, and the
scheduler keeps every held job out of placement until a filing of its model is approved
again; ``suanli serve --on-filing-withdrawn``). Each stop or hold has an audit entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from suanli.model.reasons import ReasonCode
from suanli.service.control.errors import ForbiddenRefusal
from suanli.store import identity
from suanli.store.tables import jobs
from suanli.workload import JobSpec, validate_spec

if TYPE_CHECKING:
    from suanli.catalog import Catalog

FILING_WITHDRAWN = str(ReasonCode.FILING_WITHDRAWN)
FINGERPRINT_DIGITS = 16
"""Hex digits of the SHA-256 kept in an inline model's key (64 bits: no two shapes a
network files will collide)."""


def model_key(spec: JobSpec) -> str:
    """What a filing of ``spec``'s model names (see the module docstring)."""
    if isinstance(spec.model, str):
        return spec.model
    if spec.model is not None:
        shape = json.dumps(spec.model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return "inline-" + hashlib.sha256(shape.encode()).hexdigest()[:FINGERPRINT_DIGITS]
    return f"profile-{spec.profile.job_class}" if spec.profile is not None else f"job-{spec.name}"


def needs_filing(spec: JobSpec) -> bool:
    return spec.kind == "InferenceService" and spec.public


def filing_refusal(conn: Connection, tenant_id: str, spec: JobSpec) -> ForbiddenRefusal | None:
    """Why ``spec`` may not be submitted by ``tenant_id`` (None when it may)."""
    if not needs_filing(spec):
        return None
    key = model_key(spec)
    if identity.approved_filing(conn, tenant_id, key):
        return None
    what = f"model '{key}'" if isinstance(spec.model, str) else f"its inline model (fingerprint {key})"
    return ForbiddenRefusal(
        f"InferenceService '{spec.name}' is public, and {what} has no approved filing for this tenant "
        "(a filing names the model, not the job). "
        f"To fix: `suanli file-model {key}` and have an operator approve it, or set public: false",
        code="FILING_NOT_APPROVED",
    )


def dependents(
    conn: Connection, catalog: Catalog, tenant_id: str, key: str, states: Iterable[str]
) -> list[dict[str, Any]]:
    """The tenant's public InferenceServices in ``states`` whose model key is ``key``."""
    query = select(jobs).where(
        jobs.c.tenant_id == tenant_id, jobs.c.kind == "InferenceService", jobs.c.state.in_(tuple(states))
    )
    found = []
    for row in conn.execute(query).mappings():
        try:
            spec = validate_spec(row["spec"], "spec", catalog)
        except Exception:  # a spec the catalogue no longer takes: compare its raw model name
            if row["spec"].get("public") and row["spec"].get("model") == key:
                found.append(dict(row))
            continue
        if needs_filing(spec) and model_key(spec) == key:
            found.append(dict(row))
    return found


def withdrawn_reason(key: str, filing_id: str, hold: bool) -> dict[str, Any]:
    then = "held until a filing of it is approved again" if hold else "stopped"
    return {
        "code": FILING_WITHDRAWN,
        "message": f"the filing {filing_id} of model {key} was rejected or withdrawn: this public service is {then}",
    }


def held_by_filing(waiting: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Waiting jobs held because their filing was withdrawn (their first reason says so),
    with that reason: the scheduler keeps them out of placement."""
    held = {}
    for row in waiting:
        reasons = row.get("reasons") or []
        if reasons and isinstance(reasons[0], dict) and reasons[0].get("code") == FILING_WITHDRAWN:
            held[row["id"]] = reasons[0]
    return held
