"""L2: placement. Enumerate options, reject with reasons, rank on the Pareto front."""

from suanli.placement.options import Option, Plan, rejection_dict
from suanli.placement.pareto import dominates, pareto_mask
from suanli.placement.planner import MAX_STARTS, candidate_types, plan, rank, window_starts

__all__ = [
    "MAX_STARTS",
    "Option",
    "Plan",
    "candidate_types",
    "dominates",
    "pareto_mask",
    "plan",
    "rank",
    "rejection_dict",
    "window_starts",
]
