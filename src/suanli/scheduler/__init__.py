"""L3: the scheduler core shared by the simulator and the control plane."""

from suanli.scheduler.cycle import CycleResult, run_cycle
from suanli.scheduler.state import ClusterState, JobTable, Running, SchedulerError

__all__ = ["ClusterState", "CycleResult", "JobTable", "Running", "SchedulerError", "run_cycle"]
