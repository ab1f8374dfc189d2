"""Tenants' attained service in normalised capacity, kept by the scheduler's state for a
policy that shares capacity across tenants (the ``suanli`` policy's ``fair_share``).

A tenant's service, in capacity-hours (reference-hours of :mod:`suanli.capacity`'s unit,
H800-equivalent hours on a catalogue network: an H800-hour is not an L20-hour)::

    service_h[t](now) = done_h[t] + (rate[t] x now - since[t]) / 3600

where ``done_h[t]`` sums the tenant's ended runs (finished or preempted), each
``accelerators x hours x value(pool)``; ``rate[t]`` is the sum of ``accelerators x
value(pool)`` over its running jobs and ``since[t]`` that of ``accelerators x value(pool)
x start``. A read costs one pass over the tenants, a start or a stop a few additions.

The state keeps none of this until a policy first reads it (a run without fair share pays
nothing on its starts and stops); from that read on, runs going then count from their
start and runs that ended before do not (in the simulator the first read is the first
cycle, before anything ran).
"""

from __future__ import annotations

import numpy as np


class TenantService:
    """Per tenant: ended runs' capacity-hours, and the running jobs' rate and start sums."""

    __slots__ = ("done_h", "rate", "runs", "since")

    def __init__(self, tenants: int) -> None:
        self.runs = [0] * tenants
        """running jobs (at 0 the sums are reset: no float residue builds up)"""
        self.done_h = [0.0] * tenants
        self.rate = [0.0] * tenants
        """capacity (reference accelerators) held by running jobs"""
        self.since = [0.0] * tenants
        """sum of capacity x start (s) over running jobs"""

    def _grow(self, tenant: int) -> None:
        extra = tenant + 1 - len(self.done_h)
        self.runs.extend([0] * extra)
        self.done_h.extend([0.0] * extra)
        self.rate.extend([0.0] * extra)
        self.since.extend([0.0] * extra)

    def start(self, tenant: int, capacity: float, start_s: float) -> None:
        """A run of ``capacity`` (accelerators x value) began at ``start_s``."""
        if tenant >= len(self.rate):
            self._grow(tenant)
        self.runs[tenant] += 1
        self.rate[tenant] += capacity
        self.since[tenant] += capacity * start_s

    def stop(self, tenant: int, capacity: float, start_s: float, end_s: float) -> None:
        """The run that :meth:`start` counted ended at ``end_s``."""
        if tenant >= len(self.rate):
            self._grow(tenant)
        self.runs[tenant] -= 1
        if self.runs[tenant]:
            self.rate[tenant] -= capacity
            self.since[tenant] -= capacity * start_s
        else:
            self.rate[tenant] = self.since[tenant] = 0.0
        self.done_h[tenant] += capacity * (end_s - start_s) / 3600.0

    def read(self, now_s: float) -> np.ndarray:
        """Each tenant's service so far, capacity-hours (an array by tenant)."""
        done = np.asarray(self.done_h, dtype=np.float64)
        rate = np.asarray(self.rate, dtype=np.float64)
        since = np.asarray(self.since, dtype=np.float64)
        return done + np.maximum(rate * now_s - since, 0.0) / 3600.0

    def ended(self) -> TenantService:
        """The ended runs' service alone (for a state whose running jobs start again)."""
        copy = TenantService(len(self.done_h))
        copy.done_h = list(self.done_h)
        return copy

    def copy(self) -> TenantService:
        copy = TenantService(0)
        copy.runs, copy.done_h = list(self.runs), list(self.done_h)
        copy.rate, copy.since = list(self.rate), list(self.since)
        return copy
