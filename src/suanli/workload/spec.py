"""Job specs: the immutable description of one AI job, as written in YAML.

::

    apiVersion: suanli/v1
    kind: Training              # Training | FineTuning | BatchInference | InferenceService
    name: deepseek-v3-pretrain
    model: deepseek-v3          # catalogue id, or inline {params_b: 671, active_params_b: 37}
    precision: fp8
    tokens_b: 14800
    resources: {accelerators: [h800], count: 2048}
    constraints: {regions: [qingyang], earliest_start: now, deadline: +60d}
    objective: time

See ``docs/spec.md`` for every field.

Times (``constraints.earliest_start``, ``constraints.deadline``) are absolute ISO 8601
(``2026-12-03T08:00:00+08:00``; no zone means UTC) or relative: ``now``, ``+90m``,
``+36h``, ``+7d``, ``+2w`` (also Slurm's ``now+7d``). A relative time stays relative in
the spec (:class:`RelativeTime`) and is measured from the "now" of whoever uses it: the
planner's ``now_s`` (``suanli plan --now``, else the clock), the control plane's
submission time. Both relative fields are measured from the same now, not one from the other.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from suanli.workload.forms import (
    DURATION_H,
    LATENCY_MS,
    PARAMS_B,
    REQUESTS,
    SHELL_COMMAND,
    SIZE_GB,
    STEPS,
    TOKENS,
    TOKENS_B,
)

API_VERSION = "suanli/v1"
JobKind = Literal["Training", "FineTuning", "BatchInference", "InferenceService"]
JOB_KINDS: tuple[JobKind, ...] = ("Training", "FineTuning", "BatchInference", "InferenceService")
Objective = Literal["time", "cost", "carbon", "balanced"]
OBJECTIVES: tuple[Objective, ...] = ("time", "cost", "carbon", "balanced")
Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8"]

ABSURD_COUNT = 1_000_000
"""No job asks for more accelerators than this (the largest published clusters are ~10^5)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class InlineModel(_Frozen):
    """A model not in the catalogue, described by its sizes.

    Only ``params_b`` is required. Missing shape fields are derived from it assuming a
    dense transformer with N = 12 x layers x hidden^2 and hidden = 128 x layers (the
    aspect ratio of Llama 3 8B/70B/405B, 128/102/130), so layers = (N / 196,608)^(1/3).
    """

    params_b: Annotated[float, PARAMS_B] = Field(gt=0, le=100_000)
    active_params_b: Annotated[float, PARAMS_B] | None = Field(default=None, gt=0)
    layers: int | None = Field(default=None, gt=0, le=10_000)
    hidden: int | None = Field(default=None, gt=0, le=1_000_000)
    heads: int | None = Field(default=None, gt=0)
    kv_heads: int | None = Field(default=None, gt=0)
    kv_dim: int | None = Field(default=None, gt=0)
    context: int = Field(default=8192, gt=0)
    top_k: int | None = Field(default=None, gt=0, le=1024)
    """Routed experts per token of a MoE model (default 8, as DeepSeek-V3 and Qwen3)."""
    experts: int | None = Field(default=None, gt=0, le=100_000)
    """Routed experts per MoE layer (default 128)."""
    vocab: int | None = Field(default=None, gt=0, le=10_000_000)
    """Vocabulary size (config.json ``vocab_size``); unset, the training model leaves out the
    LM head's stage, the embedding lookup and the loss traffic (docs/estimator.md)."""
    tied_embeddings: bool = False
    """The LM head reuses the input embedding (config.json ``tie_word_embeddings``)."""

    @model_validator(mode="after")
    def _active_le_total(self) -> Self:
        if self.active_params_b is not None and self.active_params_b > self.params_b:
            raise ValueError("active_params_b cannot exceed params_b")
        return self


class CountRange(_Frozen):
    min: int = Field(ge=1, le=ABSURD_COUNT)
    max: int = Field(ge=1, le=ABSURD_COUNT)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Resources(_Frozen):
    accelerators: tuple[str, ...] = Field(default=("any",), min_length=1)
    count: int | CountRange = Field(default=1)

    @field_validator("accelerators")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """A type listed twice means the same as once."""
        return tuple(dict.fromkeys(value))

    @field_validator("count")
    @classmethod
    def _count_bounds(cls, value: int | CountRange) -> int | CountRange:
        if isinstance(value, int) and not 1 <= value <= ABSURD_COUNT:
            raise ValueError(f"count must be between 1 and {ABSURD_COUNT:,}")
        return value

    @property
    def count_range(self) -> tuple[int, int]:
        if isinstance(self.count, int):
            return self.count, self.count
        return self.count.min, self.count.max

    def counts(self) -> tuple[int, ...]:
        """The counts a planner tries: the bounds and every power of two between them."""
        low, high = self.count_range
        found = {low, high}
        power = 1
        while power <= high:
            if power >= low:
                found.add(power)
            power *= 2
        return tuple(sorted(found))


class DataLocation(_Frozen):
    site: str
    size_gb: Annotated[float, SIZE_GB] = Field(ge=0, le=1e9)


UNIT_SECONDS = {"m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
"""The units of a relative time: minutes, hours, days, weeks."""
RELATIVE_TIME = re.compile(r"^(?:now)?(?:\+(?P<amount>\d+(?:\.\d+)?)(?P<unit>[mhdw]))?$", re.IGNORECASE)
"""``now``, ``+7d``, ``now+7d``: an offset from now (no sign, no offset: now itself)."""
MAX_OFFSET_S = 100 * 365 * 86_400.0
"""No job is planned a century ahead; a larger offset is a typo."""
TIME_FORMS = "use an ISO 8601 time (2026-12-03T08:00:00+08:00), 'now', or an offset from now like +7d, +36h, +90m, +2w"

_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


class RelativeTime(_Frozen):
    """A time written relative to now (``now``, ``+7d``); :meth:`at_s` places it."""

    offset_s: float = Field(ge=0, le=MAX_OFFSET_S)
    text: str
    """As written (``+7d``), so that a spec written back reads as the user wrote it."""

    def at_s(self, now_s: float) -> float:
        """Epoch seconds, measured from ``now_s``."""
        return now_s + self.offset_s


SpecTime = datetime | RelativeTime
"""An absolute (aware) time or one relative to now."""


def parse_time(value: Any, field: str) -> SpecTime:
    """A spec's time: ``RelativeTime`` for ``now``/``+7d``, else an aware datetime (UTC where
    no zone is given). Raises ``ValueError`` with a one-line message naming ``field``."""
    if isinstance(value, RelativeTime):
        return value
    if isinstance(value, str) and (text := value.strip()):
        found = RELATIVE_TIME.match(text)
        if found is not None:
            amount, unit = found.group("amount"), found.group("unit")
            offset_s = float(amount) * UNIT_SECONDS[unit.lower()] if amount else 0.0
            if offset_s > MAX_OFFSET_S:
                raise ValueError(f"{field} '{text}' is more than a century from now; {TIME_FORMS}")
            return RelativeTime(offset_s=offset_s, text=text)
    if isinstance(value, bool):
        raise ValueError(f"{field} {str(value).lower()}: {TIME_FORMS}")
    try:
        moment = _DATETIME.validate_python(value)
    except ValidationError:
        shown = f"'{value}'" if isinstance(value, str) else repr(value)
        raise ValueError(f"{field} {shown}: {TIME_FORMS}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def time_s(value: SpecTime, now_s: float) -> float:
    """Epoch seconds of a spec's time; a relative one is measured from ``now_s``."""
    if isinstance(value, RelativeTime):
        return value.at_s(now_s)
    return value.timestamp()


class Constraints(_Frozen):
    regions: tuple[str, ...] | None = None
    residency: str | None = None
    tenant_zone: str | None = None
    earliest_start: SpecTime | None = None
    deadline: SpecTime | None = None
    max_cost_usd: float | None = Field(default=None, ge=0)
    max_carbon_kg: float | None = Field(default=None, ge=0)
    data: DataLocation | None = None

    @field_validator("earliest_start", "deadline", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> SpecTime | None:
        return None if value is None else parse_time(value, str(info.field_name))

    @field_validator("deadline")
    @classmethod
    def _after_earliest_start(cls, value: SpecTime | None, info: ValidationInfo) -> SpecTime | None:
        """Comparable only when both are absolute or both relative (then from the same now);
        a relative and an absolute one are compared when planned (``DEADLINE_PASSED``)."""
        earliest = info.data.get("earliest_start")
        if value is None or earliest is None:
            return value
        if isinstance(value, RelativeTime) and isinstance(earliest, RelativeTime):
            if value.offset_s <= earliest.offset_s:
                raise ValueError(f"deadline '{value.text}' must be after earliest_start '{earliest.text}'")
        elif isinstance(value, datetime) and isinstance(earliest, datetime) and value <= earliest:
            raise ValueError(f"deadline must be after earliest_start ({earliest.isoformat()})")
        return value

    @field_serializer("earliest_start", "deadline")
    def _write_time(self, value: SpecTime | None, info: SerializationInfo) -> str | datetime | None:
        """A relative time is written as it was given (``+7d``), so that it is measured
        again from the reader's now; an absolute one as a datetime (ISO 8601 in JSON)."""
        if isinstance(value, RelativeTime):
            return value.text
        if value is not None and info.mode == "json":
            return value.isoformat()
        return value

    def earliest_start_s(self, now_s: float) -> float | None:
        """``earliest_start`` in epoch seconds (a relative one measured from ``now_s``)."""
        return None if self.earliest_start is None else time_s(self.earliest_start, now_s)

    def deadline_s(self, now_s: float) -> float | None:
        """``deadline`` in epoch seconds (a relative one measured from ``now_s``)."""
        return None if self.deadline is None else time_s(self.deadline, now_s)


class Parallelism(_Frozen):
    """A pinned training layout (``parallelism:`` in a spec); a field left out is searched.

    ``tp`` x ``cp`` x ``pp`` x ``dp`` must equal the accelerator count the layout is
    planned on; ``ep`` divides ``dp``; ``vp`` is the interleaved chunks per pipeline stage
    and ``micro_batch`` the sequences per micro-batch.
    """

    tp: int | None = Field(default=None, ge=1, le=1024)
    pp: int | None = Field(default=None, ge=1, le=4096)
    dp: int | None = Field(default=None, ge=1, le=ABSURD_COUNT)
    ep: int | None = Field(default=None, ge=1, le=4096)
    cp: int | None = Field(default=None, ge=1, le=1024)
    vp: int | None = Field(default=None, ge=1, le=128)
    micro_batch: int | None = Field(default=None, ge=1, le=4096)


class TokenLengths(_Frozen):
    """A request length distribution: its mean and 90th percentile, in tokens."""

    mean: float = Field(gt=0, le=10**8)
    p90: float | None = Field(default=None, gt=0, le=10**8)

    @model_validator(mode="after")
    def _p90_not_below_mean(self) -> Self:
        if self.p90 is not None and self.p90 < self.mean:
            raise ValueError(f"p90 ({self.p90:g}) is below the mean ({self.mean:g})")
        return self


def token_mean(value: int | TokenLengths | None) -> float:
    """The mean of a spec's token length (a number is its own mean); 0 when absent."""
    if value is None:
        return 0.0
    return value.mean if isinstance(value, TokenLengths) else float(value)


def token_p90(value: int | TokenLengths | None) -> float:
    """The 90th percentile of a token length; a bare number counts as every request's."""
    if value is None:
        return 0.0
    if isinstance(value, TokenLengths):
        return value.p90 if value.p90 is not None else value.mean
    return float(value)


class Profiled(_Frozen):
    """Work measured in steps of a profiled job class (a row of a measured throughput table)."""

    job_class: str = Field(min_length=1)
    steps: Annotated[float, STEPS] = Field(gt=0, le=1e15)


ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
"""Environment variable names a ``run:`` section may set (POSIX portable names)."""

RESERVED_ENV_PREFIX = "SUANLI_"
"""Variables the agent sets for the job itself (job id, attempt, checkpoint paths)."""
SUBMITTER_ENV = frozenset({"SUANLI_ARRAY_INDEX", "SUANLI_ARRAY_SIZE"})
"""The reserved names a spec may carry: ``suanli submit --array N`` sets them in each copy."""


class RunSpec(_Frozen):
    """What a site runs for the job: ``run:`` in the spec (only jobs with one can be submitted).

    ``command`` is an argv list: the executors pass it to the engine as is (the local
    executor to ``subprocess`` with ``shell=False``); one string is a shell command line,
    read as ``("sh", "-c", string)`` (:mod:`suanli.workload.forms`). ``env`` is the job's
    whole environment besides the variables the agent adds (``SUANLI_JOB_ID``,
    ``SUANLI_ATTEMPT``, ``SUANLI_CHECKPOINT_DIR``, ``SUANLI_RESUME_FROM``). ``workdir`` is
    relative to the agent's per-job directory unless absolute. ``checkpoint_dir`` is where
    the job writes checkpoints; for a job to resume at another site it must be storage both
    sites see (a shared file system or an object-store mount). The control plane accepts
    either path only inside the job's directory (relative, no ``..``) or under an
    operator's shared root (:mod:`suanli.service.control.paths`). ``runtime_env`` is passed to
    Ray's job submission API by the ``ray`` executor and ignored elsewhere.

    ``setup`` (SkyPilot's ``setup:``) runs before ``command`` in every attempt, in the same
    directory and environment; the job fails with its exit code if it fails. ``walltime_h``
    is a hard limit on one attempt's wall-clock time (Slurm's time limit): the agent stops an
    attempt that runs longer (SIGTERM, the checkpoint signal, then SIGKILL after its grace)
    and reports it FAILED, saying so.
    """

    command: Annotated[tuple[str, ...], SHELL_COMMAND] = Field(min_length=1, max_length=1024)
    env: dict[str, str] = Field(default_factory=dict, max_length=256)
    workdir: str | None = Field(default=None, min_length=1, max_length=4096)
    checkpoint_dir: str | None = Field(default=None, min_length=1, max_length=4096)
    runtime_env: dict[str, Any] | None = None
    setup: Annotated[tuple[str, ...], SHELL_COMMAND] | None = Field(default=None, min_length=1, max_length=1024)
    walltime_h: Annotated[float, DURATION_H] | None = Field(default=None, gt=0, le=8_760)

    @field_validator("command", "setup")
    @classmethod
    def _argv(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return value
        if not value[0]:
            raise ValueError("the program (first element of command) is empty")
        if any("\x00" in arg for arg in value):
            raise ValueError("command arguments may not contain NUL bytes")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not re.match(ENV_NAME, key):
                raise ValueError(f"'{key}' is not a valid environment variable name")
            if key.startswith(RESERVED_ENV_PREFIX) and key not in SUBMITTER_ENV:
                raise ValueError(f"'{key}': names starting with {RESERVED_ENV_PREFIX} are set by the agent")
            if "\x00" in val:
                raise ValueError(f"'{key}': values may not contain NUL bytes")
        return value


MAX_DEPENDS = 64
"""Jobs one job may depend on (a pipeline's stages, an array's copies: tens, not thousands;
each is looked up at submission and checked every cycle while the job waits)."""
MAX_ARRAY = 1000
"""Copies a spec's ``array:`` may ask for: one ``POST /v1/jobs:batch`` (``--array`` takes more)."""
JOB_REF = r"^[a-zA-Z0-9][a-zA-Z0-9._\-]{0,127}$"
"""A job id (``j-3f9a1c2b7d4e``) or a job name."""


class JobSpec(_Frozen):
    """One AI job. Kind-specific fields are checked by :func:`suanli.workload.parse_spec`."""

    api_version: Literal["suanli/v1"] = Field(alias="apiVersion")
    kind: JobKind
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._\-]{0,127}$")
    model: str | InlineModel | None = None
    precision: Precision = "bf16"
    # Training, FineTuning
    tokens_b: Annotated[float, TOKENS_B] | None = Field(default=None, gt=0, le=1e7)
    method: Literal["full", "lora"] = "full"
    profile: Profiled | None = None
    sequence_tokens: Annotated[int, TOKENS] | None = Field(default=None, gt=0, le=10**8)
    """Training sequence length; default min(model context, 4,096)."""
    global_batch_tokens: Annotated[int, TOKENS] | None = Field(default=None, gt=0, le=10**12)
    """Tokens per optimiser step; default max(4M, count x sequence) (see docs/spec.md)."""
    parallelism: Parallelism | None = None
    """Pins the training layout; otherwise the estimator searches for the fastest that fits."""
    recompute: Literal["none", "selective", "full"] | None = None
    """Activation recomputation; otherwise searched with the layout."""
    # BatchInference
    requests: Annotated[int, REQUESTS] | None = Field(default=None, gt=0, le=10**12)
    input_tokens: Annotated[int, TOKENS] | TokenLengths | None = Field(default=None)
    output_tokens: Annotated[int, TOKENS] | TokenLengths | None = Field(default=None)
    prefix_cache_hit: float | None = Field(default=None, ge=0, lt=1)
    """Share of input tokens served from the prefix (KV) cache; default 0."""
    # InferenceService
    rate_rps: float | None = Field(default=None, gt=0, le=1e7)
    latency_slo_ms: Annotated[float, LATENCY_MS] | None = Field(default=None, gt=0, le=3.6e6)
    ttft_ms: Annotated[float, LATENCY_MS] | None = Field(default=None, gt=0, le=3.6e6)
    """Time-to-first-token objective (the mean must meet it)."""
    tpot_ms: Annotated[float, LATENCY_MS] | None = Field(default=None, gt=0, le=3.6e6)
    """Time-per-output-token objective (decode step time)."""
    duration_h: Annotated[float, DURATION_H] | None = Field(default=None, gt=0, le=87_600)
    public: bool = False
    resources: Resources = Field(default_factory=Resources)
    constraints: Constraints = Field(default_factory=Constraints)
    objective: Objective = "time"
    run: RunSpec | None = None
    """What to run (``suanli submit``); planning ignores it."""
    depends_on: tuple[Annotated[str, Field(pattern=JOB_REF)], ...] = Field(default=(), max_length=MAX_DEPENDS)
    """Jobs that must succeed before this one starts (Slurm's ``afterok``): ids, or names of
    the tenant's jobs (the newest of that name when it is submitted); planning ignores it."""
    array: int | None = Field(default=None, ge=1, le=MAX_ARRAY)
    """A job array: ``suanli submit`` sends this many copies, each with its index in
    ``${SUANLI_ARRAY_INDEX}`` (as ``--array N``); the server takes the copies, never the field."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_dependency(cls, value: Any) -> Any:
        """``depends_on: j-3f9a1c2b7d4e`` (one job, not a list) means a list of it."""
        return [value] if isinstance(value, str) else value

    @field_validator("input_tokens", "output_tokens", mode="before")
    @classmethod
    def _token_lengths(cls, value: Any) -> Any:
        """A mapping is a length distribution; its own error is the one to show."""
        if not isinstance(value, dict):
            return value
        try:
            return TokenLengths.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}") from None

    @field_validator("input_tokens", "output_tokens")
    @classmethod
    def _token_bounds(cls, value: int | TokenLengths | None) -> int | TokenLengths | None:
        if isinstance(value, int) and not 0 < value <= 10**8:
            raise ValueError("must be between 1 and 100,000,000 tokens")
        return value

    @property
    def input_mean(self) -> float:
        """Mean input tokens per request (0 when the kind has none)."""
        return token_mean(self.input_tokens)

    @property
    def output_mean(self) -> float:
        """Mean output tokens per request (0 when the kind has none)."""
        return token_mean(self.output_tokens)

    def copy_with(self, **overrides: object) -> Self:
        """A copy with some fields replaced (specs are immutable)."""
        return self.model_copy(update=overrides)


KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "Training": ("tokens_b",),
    "FineTuning": ("tokens_b",),
    "BatchInference": ("requests", "input_tokens", "output_tokens"),
    "InferenceService": ("rate_rps", "input_tokens", "output_tokens", "latency_slo_ms", "duration_h"),
}
"""Fields each kind requires (a Training or FineTuning job may give ``profile`` instead of
``tokens_b``)."""

KIND_ONLY_FIELDS: dict[str, tuple[JobKind, ...]] = {
    "tokens_b": ("Training", "FineTuning"),
    "method": ("FineTuning",),
    "profile": ("Training", "FineTuning"),
    "global_batch_tokens": ("Training", "FineTuning"),
    "sequence_tokens": ("Training", "FineTuning"),
    "parallelism": ("Training", "FineTuning"),
    "recompute": ("Training", "FineTuning"),
    "prefix_cache_hit": ("BatchInference", "InferenceService"),
    "ttft_ms": ("InferenceService",),
    "tpot_ms": ("BatchInference", "InferenceService"),
    "requests": ("BatchInference",),
    "input_tokens": ("BatchInference", "InferenceService"),
    "output_tokens": ("BatchInference", "InferenceService"),
    "rate_rps": ("InferenceService",),
    "latency_slo_ms": ("InferenceService",),
    "duration_h": ("InferenceService",),
    "public": ("InferenceService",),
}
"""Fields that only make sense for some kinds; giving one elsewhere is an error."""
