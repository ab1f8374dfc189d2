"""Each policy's decisions on small hand-built views, and the policy registry's errors.

Views are real :class:`ClusterState` objects built with ``tests.sim_builders.state``:
chosen jobs run (with known expected ends) and the rest wait, at a chosen time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from suanli.errors import InputError, UnknownNameError
from suanli.policy import (
    Backfill,
    CarbonAware,
    CarbonParams,
    Cheapest,
    Decisions,
    Fifo,
    FifoParams,
    Gavel,
    GavelParams,
    Las,
    Policy,
    PolicyRegistry,
    Start,
    Suanli,
    SuanliParams,
    View,
    register_builtins,
)
from suanli.scheduler import ClusterState
from tests.sim_builders import jobs, pools, profile, state

REGISTRY = register_builtins()


@dataclass(frozen=True)
class Case:
    """A view and the starts a policy must (or must not) make on it."""

    view: ClusterState
    starts: set[tuple[int, int]] | None = None
    """Exactly these (job, pool) starts; None: not checked."""
    started_jobs: set[int] | None = None
    """Exactly these jobs start (any pool)."""
    wake_at_s: float | str | None = "any"


def decide(policy: Policy, view: View) -> Decisions:
    decisions = policy.schedule(view)
    _check_legal(view, decisions)
    return decisions


def _check_legal(view: View, decisions: Decisions) -> None:
    """Preempts are of running jobs; starts are of waiting jobs, each once, into allowed pools
    with room (counting what the preemptions free)."""
    free = list(view.free)
    running = set(view.running())
    for preempt in decisions.preempts:
        assert preempt.job in running
        free[view.pool_of(preempt.job)] += view.gpus(preempt.job)
    seen = set()
    for start in decisions.starts:
        assert start.job in view.pending
        assert start.job not in seen
        seen.add(start.job)
        allowed = view.allowed(start.job)
        assert allowed is None or start.pool in allowed
        free[start.pool] -= view.gpus(start.job)
        assert free[start.pool] >= 0, f"{start} over-allocates pool {start.pool}"


def pairs(decisions: Decisions) -> set[tuple[int, int]]:
    return {(s.job, s.pool) for s in decisions.starts}


def check(policy: Policy, case: Case) -> Decisions:
    decisions = decide(policy, case.view)
    if case.starts is not None:
        assert pairs(decisions) == case.starts
    if case.started_jobs is not None:
        assert {s.job for s in decisions.starts} == case.started_jobs
    if case.wake_at_s != "any":
        assert decisions.wake_at_s == case.wake_at_s
    return decisions


ONE = pools().pool("a/v100", capacity=4).build()
THREE = pools().pool("a/v100", capacity=2).pool("b/v100", capacity=4).pool("c/v100", capacity=4).build()


# -- fifo -------------------------------------------------------------------------


def _blocked_head() -> ClusterState:
    # job 0 runs on 3 of 4; job 1 (2 accelerators) cannot fit; job 2 (1) could.
    return state(ONE, jobs().job(gpus=3, work=1000).job(submit=1, gpus=2).job(submit=2, gpus=1), running={0: 0})


FIFO_CASES = [
    pytest.param("random", _blocked_head(), set(), id="fifo blocks behind a head that does not fit"),
    pytest.param("first", _blocked_head(), set(), id="fifo pick=first also blocks behind the head"),
    pytest.param(
        "first",
        state(THREE, jobs().job(gpus=4).job(gpus=1).job(gpus=2)),
        {(0, 1), (1, 0), (2, 2)},
        id="fifo pick=first takes the first pool with room for each job in turn",
    ),
    pytest.param(
        "first",
        state(THREE, jobs().job(gpus=1).only(2).job(gpus=4).job(gpus=4)),
        {(0, 2), (1, 1)},
        id="fifo pick=first honours a job's allowed pools and then blocks",
    ),
    pytest.param(
        "random",
        state(THREE, jobs().job(gpus=4).job(gpus=4).job(gpus=2)),
        {(0, 1), (1, 2), (2, 0)},
        id="fifo random only picks among pools with room",
    ),
]


@pytest.mark.parametrize(("pick", "view", "starts"), FIFO_CASES)
def test_fifo(pick: str, view: ClusterState, starts: set[tuple[int, int]]) -> None:
    decisions = decide(Fifo(FifoParams(pick=pick)), view)  # type: ignore[arg-type]
    if pick == "random" and starts:
        # jobs 0 and 1 take the two 4-GPU pools in either order; job 2 then only fits pool 0
        assert {s.job for s in decisions.starts} == {j for j, _ in starts}
        assert {s.pool for s in decisions.starts} == {p for _, p in starts}
        assert (2, 0) in pairs(decisions)
    else:
        assert pairs(decisions) == starts


def test_fifo_starts_in_arrival_order() -> None:
    view = state(THREE, jobs().job(gpus=1).job(gpus=1).job(gpus=1))
    assert [s.job for s in decide(Fifo(FifoParams(pick="first")), view).starts] == [0, 1, 2]


def test_fifo_random_spreads_over_pools_with_a_seed() -> None:
    chosen = set()
    for seed in range(20):
        view = state(THREE, jobs().job(gpus=1))
        chosen |= {s.pool for s in decide(Fifo(FifoParams(seed=seed)), view).starts}
    assert chosen == {0, 1, 2}
    first = [pairs(decide(Fifo(FifoParams(seed=3)), state(THREE, jobs().job().job().job()))) for _ in range(2)]
    assert first[0] == first[1]


# -- cheapest ---------------------------------------------------------------------

PRICED = (
    pools()
    .pool("a/v100", capacity=4, speed=1.0, usd=2.0)  # 2.0 USD per unit of work
    .pool("b/a100", capacity=4, speed=2.0, usd=3.0)  # 1.5
    .pool("c/k80", capacity=4, speed=0.5, usd=0.9)  # 1.8
    .build()
)

CHEAPEST_CASES = [
    pytest.param(
        Case(state(PRICED, jobs().job(gpus=2))),
        {(0, 1)},
        id="cheapest picks the lowest USD per unit of work, not the lowest price per hour",
    ),
    pytest.param(
        Case(state(PRICED, jobs().job(gpus=4, work=10).job(gpus=2), running={0: 1})),
        {(1, 2)},
        id="cheapest takes the next cheapest pool when the cheapest is full",
    ),
    pytest.param(
        Case(state(PRICED, jobs().job(gpus=2).only(0, 2))),
        {(0, 2)},
        id="cheapest picks the cheapest pool among those the job may use",
    ),
    pytest.param(
        Case(
            state(
                PRICED,
                jobs().job(gpus=3, work=10).job(gpus=3, work=10).job(gpus=3, work=10).job(gpus=2).job(gpus=1),
                running={0: 0, 1: 1, 2: 2},
            )
        ),
        {(4, 1)},
        id="cheapest skips (does not block on) a job that fits nowhere",
    ),
    pytest.param(
        Case(state(PRICED, jobs().job(gpus=8).job(gpus=1))),
        {(1, 1)},
        id="cheapest skips a job larger than every pool",
    ),
]


@pytest.mark.parametrize(("case", "starts"), CHEAPEST_CASES)
def test_cheapest(case: Case, starts: set[tuple[int, int]]) -> None:
    assert pairs(decide(Cheapest(), case.view)) == starts


# -- backfill ---------------------------------------------------------------------


def _backfill_view(capacity: int, running_gpus: int, head_gpus: int, *later: tuple[int, float]) -> ClusterState:
    """One pool; job 0 holds ``running_gpus`` until t = 1,000; job 1 (the head) needs
    ``head_gpus``; then the later jobs, (accelerators, work) each."""
    net = pools().pool("a/v100", capacity=capacity).build()
    table = jobs().job(gpus=running_gpus, work=1000).job(submit=1, gpus=head_gpus)
    for k, (gpus, work) in enumerate(later):
        table.job(submit=2 + k, gpus=gpus, work=work)
    return state(net, table, running={0: 0}, now=0.0)


BACKFILL_CASES = [
    pytest.param(
        _backfill_view(4, 3, 4, (1, 500)),
        {(2, 0)},
        id="backfill starts a later small job that ends before the head's reservation",
    ),
    pytest.param(
        _backfill_view(4, 3, 4, (1, 2000)),
        set(),
        id="backfill refuses a later job that would delay the head's reservation",
    ),
    pytest.param(
        _backfill_view(4, 3, 4, (1, 1000)),
        {(2, 0)},
        id="backfill allows a job that ends exactly at the reservation",
    ),
    pytest.param(
        _backfill_view(8, 6, 4, (2, 5000)),
        {(2, 0)},
        id="backfill lets a long job use accelerators the head will not need",
    ),
    pytest.param(
        _backfill_view(8, 5, 6, (2, 5000), (1, 5000)),
        {(2, 0)},
        id="backfill stops giving away spare accelerators once they are used up",
    ),
    pytest.param(
        _backfill_view(4, 3, 4, (1, 2000), (1, 100)),
        {(3, 0)},
        id="backfill looks past a job it refuses",
    ),
]


@pytest.mark.parametrize(("view", "starts"), BACKFILL_CASES)
def test_backfill(view: ClusterState, starts: set[tuple[int, int]]) -> None:
    assert pairs(decide(Backfill(), view)) == starts


def test_backfill_uses_another_pool_without_delaying_the_head() -> None:
    net = pools().pool("a/v100", capacity=4).pool("b/v100", capacity=1).build()
    table = jobs().job(gpus=3, work=1000).job(submit=1, gpus=4).job(submit=2, gpus=1, work=9000)
    view = state(net, table, running={0: 0})
    assert pairs(decide(Backfill(), view)) == {(2, 1)}


def test_backfill_starts_in_order_while_jobs_fit() -> None:
    view = state(ONE, jobs().job(gpus=2).job(gpus=2).job(gpus=1))
    assert pairs(decide(Backfill(), view)) == {(0, 0), (1, 0)}


def test_backfill_counts_jobs_it_started_this_cycle_in_the_reservation() -> None:
    # job 0 starts now on 2 of 4 (ends at 100); the head (4) must wait for it; a 2-GPU
    # job that would run past t = 100 would delay the head and must not start.
    view = state(ONE, jobs().job(gpus=2, work=100).job(gpus=4).job(gpus=2, work=500))
    assert pairs(decide(Backfill(), view)) == {(0, 0)}


# -- carbon -----------------------------------------------------------------------

GREEN = (
    pools()
    .pool("dirty/v100", capacity=4, kw=0.5, intensity=600)  # 300 g per kWh-equivalent of work
    .pool("clean/v100", capacity=4, kw=0.4, intensity=500)  # 200
    .pool("hydro/k80", capacity=4, kw=1.0, intensity=100, speed=0.25)  # 400: clean grid, slow part
    .build()
)

DAILY = profile(500, h3=100)
"""500 gCO2/kWh all day, except 100 at 03:00-04:00."""
LATE = profile(500, h10=100)
"""500 all day, except 100 at 10:00-11:00."""


def _carbon_view(intensity: tuple[float, ...], now_h: float, submit_h: float = 0.0, **job: Any) -> ClusterState:
    net = pools().pool("a/v100", capacity=4, intensity=intensity).build()
    return state(net, jobs().job(submit=submit_h * 3600.0, **job), now=now_h * 3600.0)


CARBON_CASES = [
    pytest.param(
        CarbonParams(),
        Case(state(GREEN, jobs().job(gpus=2)), starts={(0, 1)}, wake_at_s=None),
        id="carbon picks the pool with the least carbon per unit of work",
    ),
    pytest.param(
        CarbonParams(),
        Case(state(GREEN, jobs().job(gpus=4, work=10).job(gpus=4), running={0: 1}), starts={(1, 0)}),
        id="carbon takes the next cleanest pool when the cleanest is full",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6),
        Case(_carbon_view(DAILY, now_h=0.0), starts=set(), wake_at_s=3600.0),
        id="carbon defers a job when a much cleaner hour is within its slack",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6),
        Case(_carbon_view(DAILY, now_h=2.5), starts=set(), wake_at_s=3 * 3600.0),
        id="carbon wakes on the next hour while deferring",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6),
        Case(_carbon_view(DAILY, now_h=3.0), starts={(0, 0)}, wake_at_s=None),
        id="carbon starts a deferred job in the clean hour",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6),
        Case(_carbon_view(LATE, now_h=0.0), starts={(0, 0)}),
        id="carbon does not wait for a clean hour beyond max_delay_h",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6),
        Case(_carbon_view(LATE, now_h=6.0, submit_h=0.0), starts={(0, 0)}),
        id="carbon never holds a job past max_delay_h even with a clean hour ahead",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6),
        Case(_carbon_view(LATE, now_h=5.5, submit_h=0.0), starts={(0, 0)}),
        id="carbon starts a job with less than an hour of slack left",
    ),
    pytest.param(
        CarbonParams(max_delay_h=0),
        Case(_carbon_view(DAILY, now_h=0.0), starts={(0, 0)}),
        id="carbon with max_delay_h=0 never defers",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6, tolerance=5.0),
        Case(_carbon_view(DAILY, now_h=0.0), starts={(0, 0)}),
        id="carbon does not defer for a cleaner hour within its tolerance",
    ),
    pytest.param(
        CarbonParams(max_delay_h=6),
        Case(_carbon_view(DAILY, now_h=0.0, work=3600.0, deadline=2 * 3600.0), starts={(0, 0)}),
        id="carbon never defers a job past deadline minus runtime",
    ),
]


@pytest.mark.parametrize(("params", "case"), CARBON_CASES)
def test_carbon(params: CarbonParams, case: Case) -> None:
    check(CarbonAware(params), case)


def test_carbon_reads_each_site_in_its_local_hour() -> None:
    # 03:00 local at a UTC+8 site is 19:00 UTC the previous day
    net = pools().pool("a/v100", capacity=4, intensity=DAILY, utc_offset_h=8).build()
    dirty = state(net, jobs().job(submit=19 * 3600.0), now=19 * 3600.0)
    assert pairs(decide(CarbonAware(CarbonParams(max_delay_h=6)), dirty)) == {(0, 0)}
    early = state(net, jobs().job(submit=17 * 3600.0), now=17 * 3600.0)  # 01:00 local
    assert pairs(decide(CarbonAware(CarbonParams(max_delay_h=6)), early)) == set()


# -- suanli -----------------------------------------------------------------------

FAST_SLOW = (
    pools()
    .pool("a/h100", capacity=1, speed=10.0, usd=1.0, kw=0.5, intensity=500)
    .pool("b/k80", capacity=1, speed=1.0, usd=1.0, kw=0.5, intensity=500)
    .build()
)


def _suanli_view(fast_busy_until_s: float, work: float = 1000.0) -> ClusterState:
    """The fast pool busy until ``fast_busy_until_s``, the slow one idle, one job waiting."""
    table = jobs().job(gpus=1, work=fast_busy_until_s * 10.0).job(gpus=1, work=work)
    return state(FAST_SLOW, table, running={0: 0})


SUANLI_CASES = [
    pytest.param(
        SuanliParams(),
        Case(state(ONE, jobs().job(gpus=4, work=10_000).job(submit=1, gpus=4, work=100)), starts={(1, 0)}),
        id="suanli starts the shortest job first",
    ),
    pytest.param(
        SuanliParams(),
        Case(state(ONE, jobs().job(gpus=4, work=1000).job(submit=1, gpus=1, work=3000)), starts={(1, 0)}),
        id="suanli orders by accelerators times work, not by runtime alone",
    ),
    pytest.param(
        SuanliParams(max_slowdown=8.0),
        Case(_suanli_view(fast_busy_until_s=100_000.0), starts=set()),
        id="suanli never uses a pool more than max_slowdown slower than the fastest",
    ),
    pytest.param(
        SuanliParams(max_slowdown=16.0),
        Case(_suanli_view(fast_busy_until_s=100_000.0), starts={(1, 1)}),
        id="suanli uses the slower pool when it is within max_slowdown and the fast one frees late",
    ),
    pytest.param(
        SuanliParams(max_slowdown=16.0),
        Case(_suanli_view(fast_busy_until_s=10.0), starts=set()),
        id="suanli waits for a busy better pool that frees soon",
    ),
    pytest.param(
        SuanliParams(),
        Case(
            state(
                pools().pool("a/v100", capacity=4).pool("b/v100", capacity=4).build(),
                jobs().job(gpus=4).job(gpus=1),
                running={},
                pending=[0, 1],
            ),
            started_jobs={0, 1},
        ),
        id="suanli starts everything that fits when the network is idle",
    ),
    pytest.param(
        SuanliParams(),
        Case(state(ONE, jobs().job(gpus=2, work=10).job(gpus=8).job(gpus=1), running={0: 0}), starts={(2, 0)}),
        id="suanli skips a job that does not fit and starts the next",
    ),
]


@pytest.mark.parametrize(("params", "case"), SUANLI_CASES)
def test_suanli(params: SuanliParams, case: Case) -> None:
    check(Suanli(params), case)


def test_suanli_wait_threshold_follows_the_release_time() -> None:
    """Between 'frees soon' and 'frees late' there is one crossing, and waiting is chosen
    only below it: a busier better pool is worth waiting for only if it frees soon enough."""
    waits = []
    for until in (1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0):
        decisions = decide(Suanli(SuanliParams(max_slowdown=16.0)), _suanli_view(until))
        waits.append(not decisions.starts)
    assert waits[0] and not waits[-1]
    assert waits == sorted(waits, reverse=True)


def test_suanli_ages_long_waiting_jobs_ahead() -> None:
    # a large job that has waited 10 aging periods outranks a fresh one of a fifth the work
    table = jobs().job(submit=0, gpus=4, work=1000).job(submit=60_000, gpus=4, work=200)
    view = state(ONE, table, now=60_000.0)
    assert pairs(decide(Suanli(SuanliParams(aging_s=6000.0)), view)) == {(0, 0)}
    view = state(ONE, table, now=60_000.0)
    assert pairs(decide(Suanli(SuanliParams(aging_s=1e9)), view)) == {(1, 0)}


def test_suanli_puts_jobs_whose_deadline_is_at_risk_first() -> None:
    table = jobs().job(gpus=4, work=100).job(submit=1, gpus=4, work=5000, deadline=6000)
    view = state(ONE, table, now=1.0)
    assert pairs(decide(Suanli(), view)) == {(1, 0)}


# -- las --------------------------------------------------------------------------


def _after_ten_rounds(epoch_s: float) -> ClusterState:
    """Job 0 (4 accelerators, 3,200 accelerator-seconds of service: las's first queue)
    waits; job 1 (one accelerator) has run ten 360 s rounds from 2056.53 s, one
    accelerator-hour, las's first threshold, with the round clock summed as the policy sums
    it, on a clock whose time 0 is ``epoch_s`` (the simulator's 0, the control plane's 1970)."""
    table = jobs().job(submit=epoch_s, gpus=4, work=1e6).job(submit=epoch_s + 1, gpus=1, work=1e6).build(ONE)
    view = ClusterState(ONE, table)
    view.now_s = epoch_s
    view.admit(0)
    view.start(0, 0)
    view.now_s = epoch_s + 800.0
    view.preempt(0)
    view.admit(1)
    view.now_s = epoch_s + 2056.533641251465
    view.start(1, 0)
    for _ in range(10):
        view.now_s += 360.0
    return view


@pytest.mark.parametrize(
    "epoch_s",
    [
        pytest.param(0.0, id="las demotes a job on its threshold on the simulator's clock (3599.9999999999995 s)"),
        pytest.param(1735689600.0, id="las demotes a job on its threshold on the wall clock (3600.0 s)"),
    ],
)
def test_las_counts_a_threshold_reached_to_the_last_bit_of_the_clock(epoch_s: float) -> None:
    view = _after_ten_rounds(epoch_s)
    decisions = decide(Las(), view)
    assert [p.job for p in decisions.preempts] == [1], "job 1 sinks to the second queue, below job 0"
    assert pairs(decisions) == {(0, 0)}


TWO = pools().pool("a/v100", capacity=1).pool("b/v100", capacity=1).build()


def _preempted_together(policy: Gavel, epoch_s: float) -> ClusterState:
    """Jobs 0 and 1 (one accelerator each, submitted together, of different sizes), seen
    by ``policy`` as they waited, ran side by side from 360 s and were preempted together
    (paying a 60 s restart): equal work done. Job 2 holds pool b since; all times from
    ``epoch_s``. The sizes and times are a case hypothesis found, where the simulator's
    float bits ranked job 1 first."""
    table = jobs().job(submit=epoch_s, work=34340.65934065934).job(submit=epoch_s, work=3434.065934065934)
    view = state(TWO, table.job(submit=epoch_s + 1011.0, work=1e6), now=epoch_s + 360.0, pending=[0, 1])
    assert pairs(decide(policy, view)) == {(0, 0), (1, 1)}
    for job, pool in ((0, 0), (1, 1)):
        view.start(job, pool)
    view.now_s = epoch_s + 1011.1223458038421
    view.preempt(0, 0.0, 60.0)
    view.preempt(1, 0.0, 60.0)
    view.admit(2)
    view.start(2, 1)
    view.now_s = epoch_s + 1642.159237285383
    return view


@pytest.mark.parametrize(
    "epoch_s",
    [
        pytest.param(0.0, id="gavel breaks a tie in work done by arrival on the simulator's clock"),
        pytest.param(1735689600.0, id="gavel breaks a tie in work done by arrival on the wall clock"),
    ],
)
def test_gavel_ranks_equal_work_done_alike_to_the_last_bit_of_the_clock(epoch_s: float) -> None:
    policy = Gavel(GavelParams(restart_s=0.0))  # no lease: job 2 (631 s into its run) may go
    view = _preempted_together(policy, epoch_s)
    decisions = decide(policy, view)
    assert pairs(decisions) == {(0, 0), (1, 1)}, "job 0 (first by id) takes pool a, the first with room"
    assert [p.job for p in decisions.preempts] == [2]


# -- every policy -----------------------------------------------------------------


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_policy_makes_legal_decisions_on_a_busy_view(name: str) -> None:
    table = jobs()
    for k in range(12):
        table.job(submit=float(k), gpus=[1, 2, 4, 8][k % 4], work=100.0 * (k + 1))
    view = state(THREE, table, running={0: 0, 2: 1}, now=20.0)
    decisions = decide(REGISTRY.create(name), view)
    for preempt in decisions.preempts:
        assert preempt.job in view.running()


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_policy_starts_nothing_when_nothing_waits(name: str) -> None:
    view = state(ONE, jobs().job(gpus=1, work=100), running={0: 0})
    decisions = decide(REGISTRY.create(name), view)
    assert decisions.starts == ()
    assert decisions.preempts == ()


# -- registry ---------------------------------------------------------------------


def test_registry_lists_the_builtin_policies() -> None:
    assert set(REGISTRY.names()) >= {"fifo", "backfill", "cheapest", "carbon", "suanli", "las", "gavel"}
    for entry in REGISTRY.entries():
        assert entry.summary
        assert REGISTRY.create(entry.name).name == entry.name


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        REGISTRY.create("fastest")
    message = str(info.value)
    assert "fastest" in message
    for name in REGISTRY.names():
        assert name in message
    assert isinstance(info.value, InputError)


@pytest.mark.parametrize(
    ("name", "params", "valid"),
    [
        pytest.param("fifo", {"pik": "first"}, ["pick", "seed"], id="fifo names its parameters"),
        pytest.param("carbon", {"delay_h": 3}, ["max_delay_h", "tolerance"], id="carbon names its parameters"),
        pytest.param(
            "suanli",
            {"w_energy": 1.0},
            ["w_time", "w_cost", "w_carbon", "aging_s", "max_slowdown", "depth"],
            id="suanli names its parameters",
        ),
        pytest.param("backfill", {"bf_max_job_test": 5}, ["depth"], id="backfill names its parameter"),
    ],
)
def test_unknown_parameter_names_the_valid_ones(name: str, params: dict[str, Any], valid: list[str]) -> None:
    with pytest.raises(InputError) as info:
        REGISTRY.create(name, **params)
    message = str(info.value)
    assert next(iter(params)) in message
    for parameter in valid:
        assert parameter in message


def test_a_policy_without_parameters_refuses_any() -> None:
    with pytest.raises(InputError, match="takes no parameters"):
        REGISTRY.create("cheapest", seed=1)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        pytest.param("fifo", {"pick": "best"}, id="fifo pick must be random or first"),
        pytest.param("backfill", {"depth": 0}, id="backfill depth must be at least 1"),
        pytest.param("carbon", {"max_delay_h": -1.0}, id="carbon max_delay_h must not be negative"),
        pytest.param("carbon", {"tolerance": -0.1}, id="carbon tolerance must not be negative"),
        pytest.param("suanli", {"w_time": 0.0, "w_cost": 0.0, "w_carbon": 0.0}, id="suanli weights not all zero"),
        pytest.param("suanli", {"w_cost": -1.0}, id="suanli weights must not be negative"),
        pytest.param("suanli", {"max_slowdown": 0.5}, id="suanli max_slowdown must be at least 1"),
        pytest.param("suanli", {"aging_s": 0.0}, id="suanli aging_s must be positive"),
        pytest.param("suanli", {"depth": 0}, id="suanli depth must be at least 1"),
        pytest.param("las", {"round_s": 0.0}, id="las round_s must be positive"),
        pytest.param("las", {"thresholds_h": (10.0, 1.0)}, id="las thresholds must increase"),
        pytest.param("gavel", {"round_s": -5.0}, id="gavel round_s must be positive"),
    ],
)
def test_invalid_parameter_values_raise_input_error(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(InputError) as info:
        REGISTRY.create(name, **params)
    assert name in str(info.value)


def test_a_name_registers_once() -> None:
    registry = PolicyRegistry()
    registry.register("x", Cheapest, None, "x")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("x", Cheapest, None, "x")


def test_start_is_a_value() -> None:
    assert Start(1, 2) == Start(1, 2)
