"""Wire models of API version 1. Every request model forbids unknown fields and bounds
every number and string, so bad input is a 422 naming the field, never a 500.

Job states::

    PENDING --> PLACED --> RUNNING --> SUCCEEDED | FAILED
       ^          |           |
       +----- PREEMPTED <-----+        (site lost, or preempted by policy: waits again)
    any non-terminal state --> CANCELLED
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from suanli.model.reasons import ReasonCode

JobState = Literal["PENDING", "PLACED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED"]
JOB_STATES: tuple[JobState, ...] = ("PENDING", "PLACED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED")
TERMINAL_STATES: frozenset[str] = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
Role = Literal["admin", "operator", "tenant", "agent"]

NAME = r"^[a-z0-9][a-z0-9._\-]{0,62}$"
"""Tenant, site and accelerator names: lower-case, digits, dot, dash, underscore."""
AGENT_ID = r"^[A-Za-z0-9_.:@-]+$"
"""An agent's name for itself: host name, pid and a tag (``node-3:4121:9f2c``)."""
MAX_LOG_CHUNK = 150_000
"""Characters of log one agent report may carry: at most 6 bytes each in JSON (``\\u001b``),
so the largest report (with its message and checkpoint) stays under the server's default
1,000,000-byte body limit instead of drawing a 413."""
MAX_SPEC_DEPTH = 32
"""Levels of nesting a submitted spec may have (a real one has 3 or 4, ``run.runtime_env`` a
few more): deeper JSON would be stored, then fail to serialise in its site's heartbeat."""


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of JSON data, counted without recursion and up to ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= limit:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def _nul_free(text: str | None) -> str | None:
    """NUL characters as U+FFFD: PostgreSQL cannot store NUL in text, and a job's output or
    checkpoint name may hold one (one character for one, so log offsets stay the same)."""
    return text.replace("\x00", "\ufffd") if text else text


AgentText = Annotated[str | None, AfterValidator(_nul_free)]
"""Text an agent passes on from a job (logs, messages, checkpoints)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorOut(_Out):
    """Every 4xx answer: a machine code, a sentence, and where applicable the field errors."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class Reason(_Out):
    """Why a job is where it is, or why it waits: a code of the one reason enum
    (``suanli.model.reasons.ReasonCode``: the planner's, the scheduler's and the policies'),
    a sentence, and where they apply the site, accelerator, count and the time (UTC) the
    job waits for (a cleaner hour, a faster pool freeing up). A client reads a code it does
    not know (from a newer server) as a plain string rather than refusing the answer."""

    code: ReasonCode | str
    message: str
    site: str | None = None
    accelerator: str | None = None
    count: int | None = None
    until: str | None = None


class JobSubmit(_In):
    """``POST /v1/jobs``: a job spec (the YAML's content as JSON) with a ``run:`` section.
    ``idempotency_key`` (or the ``Idempotency-Key`` header): a retried submission with the
    same key returns the job created the first time instead of a second one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "spec": {
                        "apiVersion": "suanli/v1",
                        "kind": "FineTuning",
                        "name": "hello",
                        "model": {"params_b": 0.001},
                        "tokens_b": 0.0001,
                        "resources": {"accelerators": ["h800"], "count": 1},
                        "run": {"command": ["python3", "-c", "print('ni hao')"]},
                    }
                }
            ]
        }
    )

    spec: dict[str, Any]
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("spec")
    @classmethod
    def _not_too_deep(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value, MAX_SPEC_DEPTH) > MAX_SPEC_DEPTH:
            raise ValueError(f"the spec nests deeper than {MAX_SPEC_DEPTH} levels")
        return value


class JobEstimate(_Out):
    """The estimate at the job's site and accelerator (or its best option while it waits)."""

    site: str
    accelerator: str
    count: int
    duration_h: float
    energy_kwh: float
    carbon_kg: float
    cost_usd: float


class JobEta(_Out):
    """When the job is predicted to start and finish: the leader's scheduler run forward
    from the live state (``method``: ``forecast:POLICY``); ``*_p90`` is the same forecast
    with every duration 1.5x (the estimator's error bound), the late side. Absent until the
    first forecast after submission, and for finished jobs. UTC, ISO 8601. A started job's
    ``start`` is its actual start, and ``start_forecast`` what its last forecast while it
    waited predicted (None when no forecast saw it wait)."""

    start: str
    finish: str
    start_p90: str | None = None
    finish_p90: str | None = None
    computed_at: str
    method: str
    start_forecast: str | None = None


class JobOut(_Out):
    """A job. ``depends_on``: the ids of the jobs it waits for to succeed (resolved from its
    spec's ids and names at submission). ``cost_so_far`` (USD) and ``co2_kg_so_far``: what
    its runs have used so far, metered at its options' hourly rates (closed runs from the
    usage rows, plus the run in progress up to now); None where the answer did not read them."""

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
    eta: JobEta | None = None
    depends_on: list[str] = []
    cost_so_far: float | None = None
    co2_kg_so_far: float | None = None
    energy_kwh_so_far: float | None = None
    accelerator_hours_so_far: float | None = None


class QuoteIn(_In):
    """``POST /v1/plan`` (``spec``; ``run:`` optional) and ``POST /v1/estimate`` (with
    ``accelerator`` and ``count``, optionally ``site``): options over the live network."""

    spec: dict[str, Any]
    accelerator: str | None = Field(default=None, min_length=1, max_length=64)
    count: int | None = Field(default=None, ge=1, le=1_000_000)
    site: str | None = Field(default=None, min_length=1, max_length=64)


class QuoteOption(_Out):
    """A live option: where, on what, the planner's figures, and when it would start and
    finish given the queue (None: not known, e.g. without a forecast and nothing free)."""

    site: str
    accelerator: str
    count: int
    duration_h: float
    energy_kwh: float
    carbon_kg: float
    cost_usd: float
    start: str | None = None
    finish: str | None = None


class QuoteOut(_Out):
    job: str
    objective: str
    computed_at: str
    forecast: str | None
    """When the ETA forecast the starts come from was taken (None: no forecast here)."""
    options: list[QuoteOption]
    """Best first by the job's objective."""
    rejected: list[dict[str, Any]]
    """Why other options are not offered (the planner's codes, SITE_NOT_LIVE, QUOTA_EXCEEDED)."""


class HealthOut(_Out):
    """``GET /v1/health``: alive, the version, and whether this replica holds the scheduler lease."""

    status: Literal["ok"]
    version: str
    leader: bool


class JobList(_Out):
    jobs: list[JobOut]
    next: str | None = None
    """The cursor of the next page: pass it as ``after`` (None on the last page)."""


class JobBatch(_In):
    """``POST /v1/jobs:batch``: up to 1,000 submissions, stored in one transaction; each
    with its own idempotency key (a retried batch creates each job once)."""

    jobs: list[JobSubmit] = Field(min_length=1, max_length=1000)


class JobBatchItem(_Out):
    """One submission's answer, at its ``index`` in the batch: the job (``created`` False
    when its idempotency key was used before), or the error it got (as ``POST /v1/jobs``
    would answer it)."""

    index: int
    created: bool | None = None
    job: JobOut | None = None
    error: ErrorOut | None = None


class JobBatchOut(_Out):
    items: list[JobBatchItem]


class WhoAmI(_Out):
    """``GET /v1/whoami``: what the caller's token is."""

    role: str
    tenant: str | None = None
    site: str | None = None
    token_id: str


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
    """Feasible placements, best first by the job's objective (``site_states`` says which
    sites are live)."""
    eta: JobEta | None = None
    """When the leader's last forecast has it starting and finishing."""
    site_states: dict[str, Literal["live", "degraded", "down", "catalogue-only"]] = {}
    """Each option's site: ``live`` (its agent is up and it takes jobs), ``degraded`` (up,
    backing off after an executor fault), ``down`` (its agent stopped heartbeating), or
    ``catalogue-only`` (in the catalogue, but no agent ever registered it: nothing runs there)."""
    queue_position: int | None = None
    """A waiting job's place in the queue (1: next): 1 + the waiting jobs submitted before it
    that could take the same live pools (site and accelerator) and are not held back; None
    when it is not in the queue (running, finished, held for a dependency)."""
    queue: str | None = None
    """What ``queue_position`` counts, and how the live policy orders the queue, in words."""


class SiteOut(_Out):
    """A registered site. ``state``: ``up`` (its agent heartbeats), ``down`` (silent past
    its lease), or ``degraded`` (up, but its engine failed to start a job: the scheduler
    places nothing there until ``degraded_until``, and ``fault`` says why)."""

    id: str
    executor: str | None
    state: Literal["up", "down", "degraded"]
    inventory: dict[str, int]
    in_use: dict[str, int]
    last_heartbeat: str | None
    region: str | None = None
    pue: float | None = None
    agent: str | None = None
    """The agent that registered the site (``host:pid:tag``; None for agents that send none)."""
    lease_expires_at: str | None = None
    """When the agent's lease runs out unless it heartbeats again; another agent may
    register the site after it (before it only with ``force``)."""
    faults: int = 0
    """Executor faults in a row (reset when a job starts there or its agent registers)."""
    fault: str | None = None
    """The last executor fault's message."""
    fault_at: str | None = None
    degraded_until: str | None = None


class SiteList(_Out):
    sites: list[SiteOut]


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


class FilingList(_Out):
    filings: list[FilingOut]
    next: str | None = None
    """The cursor of the next page: pass it as ``after`` (None on the last page)."""


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


class AuditList(_Out):
    entries: list[AuditEntry]
    """Newest first."""
    next: str | None = None
    """The cursor of the next page: pass it as ``after`` (None on the last page)."""


class UsageOut(_Out):
    tenant: str
    accelerator_hours: float
    energy_kwh: float
    carbon_kg: float
    cost_usd: float
    jobs: dict[str, int]


class UsageList(_Out):
    usage: list[UsageOut]
    next: str | None = None
    """The cursor of the next page: pass it as ``after`` (None on the last page)."""


# -- agents ------------------------------------------------------------------------


class AgentRegister(_In):
    """``POST /v1/agents/register``: the site's inventory as the agent sees it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"site": "qingyang", "executor": "local", "inventory": {"h800": 8}}]}
    )

    site: str = Field(pattern=NAME)
    executor: Literal["local", "ray", "slurm"]
    inventory: dict[str, int] = Field(min_length=1, max_length=64)
    heartbeat_interval_s: float = Field(default=5.0, ge=0.2, le=3600)
    agent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=AGENT_ID)
    """Names this agent process (``host:pid:tag``). Without one (older agents) the
    agent is known by its token."""
    force: bool = False
    """Register even while another agent holds the site's lease; that agent's heartbeats
    are refused from then on (409 ``AGENT_REPLACED``), so it stops."""


class RegisterOut(_Out):
    """The registered site and the heartbeat interval the server expects of its agent."""

    site: str
    heartbeat_interval_s: float
    site_timeout_s: float | None = None
    """Seconds of silence after which the server declares the site lost and places its jobs
    elsewhere (``heartbeat_interval_s x missed_heartbeats``): the agent stops its jobs before
    then when it cannot heartbeat (self-fencing; None from servers before it)."""


class RunningJob(_In):
    id: str = Field(max_length=64)
    fencing_token: int = Field(ge=0)
    checkpoint: AgentText = Field(default=None, max_length=4096)


class AgentHeartbeat(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"site": "qingyang", "running": [{"id": "j-3f9a1c2b7d4e", "fencing_token": 1}]}]
        }
    )

    site: str = Field(pattern=NAME)
    running: list[RunningJob] = Field(default_factory=list, max_length=100_000)
    agent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=AGENT_ID)
    """The ``agent_id`` it registered with; refused (409) once another agent holds the site."""


class Assignment(_Out):
    """A job handed to a site: run ``spec.run`` on ``count`` x ``accelerator``."""

    id: str
    fencing_token: int
    attempt: int
    accelerator: str
    count: int
    spec: dict[str, Any] | None = None
    """The job's spec. Heartbeat answers leave it out (a spec can weigh up to the 1 MB body
    limit, and a lease is listed in every answer until its agent reports the job): the
    agent fetches it once per lease, ``GET /v1/agents/jobs/{id}/assignment?fencing_token=N``."""
    resume_from: str | None
    """The last checkpoint the job reported (at any site), to resume from."""
    tenant: str | None = None
    """The job's tenant id, in the fetch that carries the spec (the agent's sandbox runs each
    tenant's jobs as that tenant's own unprivileged user); absent in heartbeat answers."""


class HeartbeatOut(_Out):
    assignments: list[Assignment]
    cancel: list[str]
    """Jobs the site must stop: cancelled, preempted, or no longer its own (stale lease)."""
    heartbeat_interval_s: float
    site_timeout_s: float | None = None
    """As in :class:`RegisterOut`: the agent follows a server restarted with another timeout."""


class AgentReport(_In):
    """``POST /v1/agents/jobs/{id}/report``: a state change, a checkpoint, or log output.
    Refused (409) unless ``fencing_token`` is the job's current one at this site.

    ``EXECUTOR_FAULT``: the site's engine could not start the job (``message`` says why).
    The job is not failed: it waits again (PREEMPTED, reason ``EXECUTOR_FAULT``) and the
    site is degraded for a back-off period."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"site": "qingyang", "fencing_token": 1, "state": "RUNNING", "logs": "step 1\n"}]
        }
    )

    site: str = Field(pattern=NAME)
    fencing_token: int = Field(ge=0)
    state: Literal["RUNNING", "SUCCEEDED", "FAILED", "EXECUTOR_FAULT"] | None = None
    exit_code: int | None = Field(default=None, ge=-255, le=255)
    message: AgentText = Field(default=None, max_length=4000)
    checkpoint: AgentText = Field(default=None, max_length=4096)
    logs: AgentText = Field(default=None, max_length=MAX_LOG_CHUNK)
    log_offset: int | None = Field(default=None, ge=0, le=2**53)
    """Characters of this attempt's log sent before ``logs``. With it a report is
    idempotent: the server keeps only what it does not have yet (a retry after a lost
    answer repeats nothing). Without it (older agents) ``logs`` is appended as sent."""


class LogChunk(_Out):
    offset: int
    text: str
