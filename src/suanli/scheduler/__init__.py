"""L3: the scheduler core shared by the simulator and the control plane."""

from suanli.scheduler.cycle import PHASES, CycleResult, Scheduler
from suanli.scheduler.ports import NoPorts, Ports
from suanli.scheduler.state import ClusterState, JobTable, Running, SchedulerError

__all__ = [
    "PHASES",
    "ClusterState",
    "CycleResult",
    "JobTable",
    "NoPorts",
    "Ports",
    "Running",
    "Scheduler",
    "SchedulerError",
]
