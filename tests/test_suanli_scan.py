"""suanli's policy decides over the queue as arrays (``policy/suanli_scan.py``); this checks,
at every cycle of seeded congested runs, that it makes the decisions of the scalar rule it
replaced (``policy/suanli_scalar.py``, job by job: starts, and with reasons on, every
reason to the bit), with the caches it keeps across cycles (profiles, their pools with
room, the release curves) against a rule that keeps none.
"""

from __future__ import annotations

import math
import random

import pytest

from suanli.policy import Decisions, Suanli, SuanliParams, View, suanli_scalar, suanli_scan
from suanli.policy.suanli_scan import FEW
from suanli.scheduler import ClusterState
from suanli.sim.faults import Faults
from tests.sim_builders import jobs, pools, run, sim_input


def reference(policy: Suanli, view: View) -> Decisions:
    """The scalar rule (``policy/suanli_scalar.py``, suanli's policy before the array pass:
    the placement hashes of seven seeded scenarios are those of the code before it), job by
    job, with reasons, on a policy of its own (so it keeps none of the caches under test)."""
    explains, view.explains = view.explains, True
    try:
        return suanli_scalar.schedule(policy, view, list(view.free)) if any(view.free) else Decisions()
    finally:
        view.explains = explains


class Checked:
    """suanli's policy, checked against :func:`reference` at every cycle: with reasons on
    (starts and every reason equal), then off (equal starts, no reasons), twice in a cycle
    so that what it keeps across cycles must follow the view, not its own last call."""

    name = "suanli"

    def __init__(self, params: SuanliParams) -> None:
        self.policy = Suanli(params)
        self.oracle = Suanli(params)
        self.cycles = 0
        self.starts = 0
        self.waits = 0

    def schedule(self, view: View) -> Decisions:
        assert isinstance(view, ClusterState)
        expected = reference(self.oracle, view)
        view.explains = True
        explained = self.policy.schedule(view)
        view.explains = False
        quiet = self.policy.schedule(view)
        assert explained.starts == expected.starts
        assert explained.waits == expected.waits
        assert quiet.starts == expected.starts and not quiet.waits
        self.cycles += 1
        self.starts += len(expected.starts)
        self.waits += len(expected.waits)
        return quiet


def _network(rng: random.Random, one_top: bool = False) -> tuple[object, list[list[float]]]:
    """Six pools; with ``one_top``, the fastest is also the cheapest and the greenest
    (every job's best pool: the policy's one-top pass)."""
    net = pools()
    speeds = [1.0, 2.0, 0.6, 1.4, 3.0, 0.9]
    for index, speed in enumerate(speeds):
        capacity = rng.choice([8, 16, 32, 64])
        usd, kw = 0.5 + rng.random() * 3, 0.3 + rng.random()
        if one_top and speed == max(speeds):
            capacity, usd, kw = 32, 0.5, 0.3
        net.pool(f"s{index % 3}/t{index}", capacity, speed=speed, usd=usd, kw=kw)
    classes = [[s * rng.uniform(0.5, 1.5) for s in speeds] for _ in range(3)]
    return net, classes


@pytest.mark.parametrize(
    ("seed", "deadline_share", "depth", "failures", "few", "one_top"),
    [
        pytest.param(
            0, 0.0, 512, 0.0, FEW, False, id="shortest work first with aging, speed classes and allowed pools"
        ),
        pytest.param(1, 0.3, 512, 0.0, FEW, False, id="deadline-at-risk jobs go first"),
        pytest.param(2, 0.2, 7, 0.0, FEW, False, id="depth bounds the jobs looked at"),
        pytest.param(3, 0.1, 512, 40.0, FEW, False, id="node failures stop jobs that return to the queue"),
        pytest.param(4, 0.1, 24, 0.0, 2, False, id="with many profiles only those in the queue are placed"),
        pytest.param(5, 0.1, 512, 20.0, FEW, True, id="every job would rather have one pool"),
    ],
)
@pytest.mark.parametrize(
    "scalar_queue",
    [
        pytest.param(0, id="the array pass always"),
        pytest.param(suanli_scalar.SCALAR_QUEUE, id="short queues job by job"),
    ],
)
def test_the_array_pass_decides_as_the_scalar_rule_at_every_cycle(
    seed: int,
    deadline_share: float,
    depth: int,
    failures: float,
    few: int,
    one_top: bool,
    scalar_queue: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``SCALAR_QUEUE`` 0 every cycle goes through the array pass; with its default a
    cycle of a short queue goes job by job (``policy/suanli_scalar.py``) and the others
    through the array pass, whose caches must then follow cycles they did not see."""
    monkeypatch.setattr(suanli_scan, "FEW", few)
    monkeypatch.setattr(suanli_scalar, "SCALAR_QUEUE", scalar_queue)
    rng = random.Random(seed)
    net, classes = _network(rng, one_top)
    table = jobs()
    t = 0.0
    for _ in range(400):
        t += rng.expovariate(1 / 40.0)
        work = rng.lognormvariate(7.5, 1.2)
        deadline = t + work * rng.uniform(1.5, 4.0) if rng.random() < deadline_share else None
        speeds = None if one_top else rng.choice([None, None, *classes])
        table.job(submit=t, work=work, gpus=rng.choice([1, 1, 2, 4, 8, 16]), deadline=deadline, speeds=speeds)
        if rng.random() < 0.2 and not one_top:
            table.only(*rng.sample(range(6), 3))
    data = sim_input(net, table)  # type: ignore[arg-type]
    checked = Checked(SuanliParams(depth=depth))
    faults = Faults(rate_per_1000_per_day=failures, repair_h=1.0, node_size=4, seed=seed) if failures else None
    done = run(data, checked, restart_s=60.0, checkpoint_s=600.0, faults=faults)  # type: ignore[arg-type]
    assert done.metrics["lost"] == 0
    assert checked.cycles > 300 and checked.starts >= 400 and checked.waits > 100  # the queue was long


@pytest.mark.parametrize("seed", range(4))
def test_the_wait_limit_is_where_the_top_pools_score_stops_being_better_to_the_bit(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        w_time = rng.choice([0.0, 1.0, rng.uniform(0.1, 3.0)])
        time, best_time = rng.uniform(0.3, 3.0), rng.uniform(0.3, 1.0)
        cost, carbon = rng.uniform(0.0, 2.0), rng.uniform(0.0, 2.0)
        score = rng.uniform(1.0, 8.0)
        limit = suanli_scan.wait_limit(w_time, time, best_time, cost, carbon, score)
        near = (
            [limit, math.nextafter(limit, -math.inf), math.nextafter(limit, math.inf)] if math.isfinite(limit) else []
        )
        for r in [*near, 0.0, rng.uniform(0.0, 10.0), 1e300, math.inf]:
            assert (w_time * (time + r) / best_time + cost + carbon < score) == (r < limit), (r, limit)
