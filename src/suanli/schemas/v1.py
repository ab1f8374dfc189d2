"""Wire models of API version 1. Every request model forbids unknown fields and bounds
every number and string, so bad input is a 422 naming the field, never a 500.

Job states::

    PENDING --> PLACED --> RUNNING --> SUCCEEDED | FAILED
       ^          |           |
       +----- PREEMPTED <-----+        (site lost, or preempted by policy: waits again)
    any non-terminal state --> CANCELLED
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["PENDING", "PLACED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED"]
JOB_STATES: tuple[JobState, ...] = ("PENDING", "PLACED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED")
TERMINAL_STATES: frozenset[str] = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
Role = Literal["admin", "operator", "tenant", "agent"]

NAME = r"^[a-z0-9][a-z0-9._\-]{0,62}$"
"""Tenant, site and accelerator names: lower-case, digits, dot, dash, underscore."""
MAX_LOG_CHUNK = 1_000_000
"""Characters of log one agent report may carry."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorOut(_Out):
    """Every 4xx answer: a machine code, a sentence, and where applicable the field errors."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class Reason(_Out):
    """Why a job is where it is, or why it waits (codes as in ``suanli.model.Code``)."""

    code: str
    message: str
    site: str | None = None
    accelerator: str | None = None
    count: int | None = None


class JobSubmit(_In):
    """``POST /v1/jobs``: a job spec (the YAML's content as JSON) with a ``run:`` section.
    ``idempotency_key`` (or the ``Idempotency-Key`` header): a retried submission with the
    same key returns the job created the first time instead of a second one."""

    spec: dict[str, Any]
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)


class JobEstimate(_Out):
    """The estimate at the job's site and accelerator (or its best option while it waits)."""

    site: str
    accelerator: str
    count: int
    duration_h: float
    energy_kwh: float
    carbon_kg: float
    cost_usd: float


class JobOut(_Out):
    id: str
    name: str
    kind: str
    tenant: str
    state: JobState
    site: str | None = None
    accelerator: str | None = None
    count: int | None = None
    attempt: int = 0
    reasons: list[Reason] = []
    estimate: JobEstimate | None = None
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    message: str | None = None
    checkpoint: str | None = None


class LogsOut(_Out):
    job: str
    text: str
    next_offset: int
    done: bool


class ExplainOut(_Out):
    """``GET /v1/jobs/{id}/explain``: why it runs where it runs, or why it waits."""

    id: str
    state: JobState
    summary: str
    reasons: list[Reason]
    options: list[JobEstimate]
    """Feasible placements at the live sites, best first by the job's objective."""


class SiteOut(_Out):
    id: str
    executor: str | None
    state: Literal["up", "down"]
    inventory: dict[str, int]
    in_use: dict[str, int]
    last_heartbeat: str | None
    region: str | None = None
    pue: float | None = None


class TenantCreate(_In):
    name: str = Field(pattern=NAME)


class TenantOut(_Out):
    id: str
    name: str
    created_at: str


class TenantCreated(_Out):
    tenant: TenantOut
    token: str
    """Shown once; only its hash is stored."""


class TokenCreate(_In):
    role: Role = "tenant"
    tenant: str | None = Field(default=None, pattern=NAME)
    site: str | None = Field(default=None, pattern=NAME)
    name: str | None = Field(default=None, max_length=128)


class TokenCreated(_Out):
    id: str
    role: Role
    tenant: str | None
    site: str | None
    token: str
    """Shown once; only its hash is stored."""


class QuotaIn(_In):
    """A tenant's quota for one accelerator family (``nvidia``, ``huawei``, ... or ``*``)."""

    accelerator_hours: float | None = Field(default=None, ge=0, le=1e9)
    """Accelerator-hours per period (None = unlimited)."""
    period_h: float = Field(default=720.0, gt=0, le=87_600)
    max_concurrent: int | None = Field(default=None, ge=0, le=10_000_000)
    """Accelerators in use at once (None = unlimited)."""


class QuotaOut(_Out):
    tenant: str
    family: str
    accelerator_hours: float | None
    period_h: float
    max_concurrent: int | None
    used_accelerator_hours: float
    in_use: int


class FilingCreate(_In):
    """A model filing record (generative-AI service registration)."""

    model: str = Field(min_length=1, max_length=128)
    filing_number: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, max_length=2000)


class FilingDecision(_In):
    approved: bool
    note: str | None = Field(default=None, max_length=2000)


class FilingOut(_Out):
    id: str
    tenant: str
    model: str
    status: Literal["pending", "approved", "rejected"]
    filing_number: str | None
    note: str | None
    created_at: str
    decided_at: str | None


class AuditEntry(_Out):
    id: int
    at: str
    actor: str
    role: str
    tenant: str | None
    action: str
    object: str
    remote: str | None
    detail: dict[str, Any] | None


class UsageOut(_Out):
    tenant: str
    accelerator_hours: float
    energy_kwh: float
    carbon_kg: float
    cost_usd: float
    jobs: dict[str, int]


# -- agents ------------------------------------------------------------------------


class AgentRegister(_In):
    """``POST /v1/agents/register``: the site's inventory as the agent sees it."""

    site: str = Field(pattern=NAME)
    executor: Literal["local", "ray", "slurm"]
    inventory: dict[str, int] = Field(min_length=1, max_length=64)
    heartbeat_interval_s: float = Field(default=5.0, ge=0.2, le=3600)


class RunningJob(_In):
    id: str = Field(max_length=64)
    fencing_token: int = Field(ge=0)
    checkpoint: str | None = Field(default=None, max_length=4096)


class AgentHeartbeat(_In):
    site: str = Field(pattern=NAME)
    running: list[RunningJob] = Field(default_factory=list, max_length=100_000)


class Assignment(_Out):
    """A job handed to a site: run ``spec.run`` on ``count`` x ``accelerator``."""

    id: str
    fencing_token: int
    attempt: int
    accelerator: str
    count: int
    spec: dict[str, Any]
    resume_from: str | None
    """The last checkpoint the job reported (at any site), to resume from."""


class HeartbeatOut(_Out):
    assignments: list[Assignment]
    cancel: list[str]
    """Jobs the site must stop: cancelled, preempted, or no longer its own (stale lease)."""
    heartbeat_interval_s: float


class AgentReport(_In):
    """``POST /v1/agents/jobs/{id}/report``: a state change, a checkpoint, or log output.
    Refused (409) unless ``fencing_token`` is the job's current one at this site."""

    site: str = Field(pattern=NAME)
    fencing_token: int = Field(ge=0)
    state: Literal["RUNNING", "SUCCEEDED", "FAILED"] | None = None
    exit_code: int | None = Field(default=None, ge=-255, le=255)
    message: str | None = Field(default=None, max_length=4000)
    checkpoint: str | None = Field(default=None, max_length=4096)
    logs: str | None = Field(default=None, max_length=MAX_LOG_CHUNK)


class LogChunk(_Out):
    offset: int
    text: str
