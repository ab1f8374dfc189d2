"""L2: scheduling policies, pure functions of a :class:`View`, in a registry."""

from suanli.policy.backfill import Backfill, BackfillParams
from suanli.policy.base import Policy, PolicyRegistry, first_fit
from suanli.policy.carbon import CarbonAware, CarbonParams
from suanli.policy.greedy import Cheapest, Fifo, FifoParams
from suanli.policy.rounds import Gavel, GavelParams, Las, LasParams
from suanli.policy.suanli_policy import Suanli, SuanliParams
from suanli.policy.view import Decisions, PoolTable, Preempt, Start, View, Wait


def register_builtins(registry: PolicyRegistry | None = None) -> PolicyRegistry:
    """A registry holding every built-in policy."""
    registry = registry or PolicyRegistry()
    registry.register("fifo", Fifo, FifoParams, "strict first-in first-out, heterogeneity-agnostic")
    registry.register("backfill", Backfill, BackfillParams, "EASY backfill (Slurm-style)")
    registry.register("las", Las, LasParams, "least attained service, preemptive (Tiresias-style)")
    registry.register("gavel", Gavel, GavelParams, "heterogeneity-aware max-min fairness (Gavel-style)")
    registry.register("cheapest", Cheapest, None, "cheapest pool per unit of work (SkyPilot-style)")
    registry.register("carbon", CarbonAware, CarbonParams, "least carbon, spatial and temporal shifting")
    registry.register("suanli", Suanli, SuanliParams, "co-optimises completion time, cost and carbon")
    return registry


__all__ = [
    "Backfill",
    "BackfillParams",
    "CarbonAware",
    "CarbonParams",
    "Cheapest",
    "Decisions",
    "Fifo",
    "FifoParams",
    "Gavel",
    "GavelParams",
    "Las",
    "LasParams",
    "Policy",
    "PolicyRegistry",
    "PoolTable",
    "Preempt",
    "Start",
    "Suanli",
    "SuanliParams",
    "View",
    "Wait",
    "first_fit",
    "register_builtins",
]
