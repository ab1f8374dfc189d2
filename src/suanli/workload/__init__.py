"""L1: job specs (YAML -> immutable :class:`JobSpec`)."""

from suanli.workload.parse import load_spec, parse_spec, validate_spec
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
    Resources,
    RunSpec,
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
    "Resources",
    "RunSpec",
    "load_spec",
    "parse_spec",
    "validate_spec",
]
