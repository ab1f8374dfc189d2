"""L3: trace loaders into one normalised arrival stream."""

from suanli.traces.philly import load_philly
from suanli.traces.trace import FinalState, Trace, build

__all__ = ["FinalState", "Trace", "build", "load_philly"]
