"""Tenants' attained service in normalised capacity, kept by the scheduler's state for a
policy that shares capacity across tenants (the ``suanli`` policy's ``fair_share``).

A tenant's service, in capacity-hours (reference-hours of :mod:`suanli.capacity`'s unit,
H800-equivalent hours on a catalogue network: an H800-hour is not an L20-hour)::

    service_h[t](now) = done_h[t] + (rate[t] x now - since[t]) / 3600

where ``done_h[t]`` sums the tenant's ended runs (finished or preempted), each
``accelerators x hours x value(pool)``; ``rate[t]`` is the sum of ``accelerators x
value(pool)`` over its running jobs and ``since[t]`` that of ``accelerators x value(pool)
x start``. A read costs one pass over the tenants, a start or a stop a few additions.

With a half-life ``H`` (Slurm's ``PriorityDecayHalfLife``, 7 days by default there), each
moment of service counts ``2^(-age / H)``: :class:`DecayedService` keeps, per tenant, the
ended runs' decayed sum and ``S = sum of capacity x 2^(-(t - start) / H)`` over running
jobs, both as of the tenant's last change ``t``, so that with ``l = ln 2 / H``::

    service_h[t](now) = done_h x f + (rate - S x f) / l / 3600,   f = 2^(-(now - t) / H)

(a run from ``start`` to ``now`` adds ``capacity x (1 - 2^(-(now - start) / H)) / l``, the
integral of its decayed rate).

The state keeps none of this until a policy first reads it (a run without fair share pays
nothing on its starts and stops); from that read on, runs going then count from their
start and runs that ended before do not (in the simulator the first read is the first
cycle, before anything ran).
"""

from __future__ import annotations

import math

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


class DecayedService:
    """:class:`TenantService` with each moment of service decaying by half every
    ``half_life_h`` (the module docstring)."""

    __slots__ = ("done_h", "half_life_h", "last_s", "per_s", "rate", "runs", "weighted")

    def __init__(self, tenants: int, half_life_h: float) -> None:
        if not half_life_h > 0:
            raise ValueError(f"half_life_h must be > 0, got {half_life_h}")
        self.half_life_h = half_life_h
        self.per_s = math.log(2.0) / (half_life_h * 3600.0)
        """decay rate l, per second"""
        self.runs = [0] * tenants
        self.done_h = [0.0] * tenants
        """ended runs' decayed capacity-hours as of ``last_s``"""
        self.rate = [0.0] * tenants
        self.weighted = [0.0] * tenants
        """S: sum of capacity x 2^(-(last_s - start) / H) over running jobs"""
        self.last_s = [0.0] * tenants

    def _grow(self, tenant: int) -> None:
        extra = tenant + 1 - len(self.done_h)
        for column in (self.done_h, self.rate, self.weighted, self.last_s):
            column.extend([0.0] * extra)
        self.runs.extend([0] * extra)

    def _age(self, tenant: int, now_s: float) -> None:
        """Bring the tenant's sums to ``now_s`` (never back in time)."""
        if now_s > self.last_s[tenant]:
            f = math.exp(-self.per_s * (now_s - self.last_s[tenant]))
            self.done_h[tenant] *= f
            self.weighted[tenant] *= f
            self.last_s[tenant] = now_s

    def start(self, tenant: int, capacity: float, start_s: float) -> None:
        if tenant >= len(self.rate):
            self._grow(tenant)
        self._age(tenant, start_s)
        self.runs[tenant] += 1
        self.rate[tenant] += capacity
        self.weighted[tenant] += capacity * math.exp(-self.per_s * (self.last_s[tenant] - start_s))

    def stop(self, tenant: int, capacity: float, start_s: float, end_s: float) -> None:
        if tenant >= len(self.rate):
            self._grow(tenant)
        self._age(tenant, end_s)
        kept = math.exp(-self.per_s * (end_s - start_s))
        self.runs[tenant] -= 1
        if self.runs[tenant]:
            self.rate[tenant] -= capacity
            self.weighted[tenant] -= capacity * kept
        else:
            self.rate[tenant] = self.weighted[tenant] = 0.0
        self.done_h[tenant] += capacity * (1.0 - kept) / self.per_s / 3600.0

    def read(self, now_s: float) -> np.ndarray:
        last = np.asarray(self.last_s, dtype=np.float64)
        f = np.exp(-self.per_s * np.maximum(now_s - last, 0.0))
        done = np.asarray(self.done_h, dtype=np.float64) * f
        going = np.asarray(self.rate, dtype=np.float64) - np.asarray(self.weighted, dtype=np.float64) * f
        return done + np.maximum(going, 0.0) / self.per_s / 3600.0

    def ended(self) -> DecayedService:
        copy = DecayedService(len(self.done_h), self.half_life_h)
        copy.done_h, copy.last_s = list(self.done_h), list(self.last_s)
        return copy

    def copy(self) -> DecayedService:
        copy = DecayedService(0, self.half_life_h)
        copy.runs, copy.done_h, copy.rate = list(self.runs), list(self.done_h), list(self.rate)
        copy.weighted, copy.last_s = list(self.weighted), list(self.last_s)
        return copy


Service = TenantService | DecayedService
