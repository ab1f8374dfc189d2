"""Batched scheduling cycles (--cycle-interval): fewer cycles, the same jobs done, no cycle
closer than the interval to the previous one."""

from __future__ import annotations

import itertools
import math

import pytest

from suanli.policy import register_builtins
from suanli.service import context
from suanli.service.simulation import SimulationRequest, sim_input
from suanli.sim.engine import simulate
from suanli.traces.synthetic import SyntheticParams


@pytest.mark.parametrize("policy", ["fifo", "suanli", "las"])
def test_a_cycle_interval_runs_fewer_cycles_and_still_finishes_every_job(policy: str) -> None:
    data = sim_input(
        context(), SimulationRequest(capacity_scale=0.02, synthetic=SyntheticParams(jobs=400, rate_per_h=300))
    )
    every = simulate(data, register_builtins().create(policy))
    batched = simulate(data, register_builtins().create(policy), cycle_interval_s=600.0)
    assert batched.recorder.cycles < every.recorder.cycles
    for output in (every, batched):
        done = sum(1 for f in output.recorder.finish_s if not math.isnan(f))
        assert done + len(output.rejected) == 400


def test_no_job_starts_between_batched_cycles() -> None:
    data = sim_input(
        context(), SimulationRequest(capacity_scale=0.02, synthetic=SyntheticParams(jobs=300, rate_per_h=300))
    )
    output = simulate(data, register_builtins().create("suanli"), cycle_interval_s=900.0)
    starts = sorted({s for s in output.recorder.first_start_s if not math.isnan(s)})
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 900.0 - 1e-6
