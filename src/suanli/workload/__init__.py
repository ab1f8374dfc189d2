"""L1: job specs (YAML -> immutable :class:`JobSpec`)."""

from suanli.workload.parse import load_spec, parse_spec, pin_times, validate_spec
from suanli.workload.spec import (
    API_VERSION,
    JOB_KINDS,
    OBJECTIVES,
    Constraints,
    CountRange,
    DataLocation,
    InlineModel,
    JobKind,
    JobSpec,
    Objective,
    Profiled,
    RelativeTime,
    Resources,
    RunSpec,
    SpecTime,
    time_s,
)

__all__ = [
    "API_VERSION",
    "JOB_KINDS",
    "OBJECTIVES",
    "Constraints",
    "CountRange",
    "DataLocation",
    "InlineModel",
    "JobKind",
    "JobSpec",
    "Objective",
    "Profiled",
    "RelativeTime",
    "Resources",
    "RunSpec",
    "SpecTime",
    "load_spec",
    "parse_spec",
    "pin_times",
    "time_s",
    "validate_spec",
]
