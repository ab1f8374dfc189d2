"""L1: job specs (YAML -> immutable :class:`JobSpec`)."""

from suanli.workload.parse import load_spec, parse_spec
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
    "load_spec",
    "parse_spec",
]
