"""Tenants in the scheduler's job table: from the trace (synthetic, Philly's virtual
cluster), on the policy's view, with weights; their attained service in capacity-hours."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError, UnknownNameError
from suanli.scheduler import ClusterState
from suanli.scheduler.snapshot import JobRows
from suanli.service import context
from suanli.service.simulation import SimulationRequest, parse_tenant_weights, sim_input
from suanli.sim.network import load_network
from suanli.sim.workload import prepare
from suanli.traces.philly import load_philly
from suanli.traces.synthetic import SyntheticParams, synthetic
from tests.sim_builders import jobs, pools, state


def test_synthetic_tenants_reach_the_view_with_their_weights() -> None:
    request = SimulationRequest(
        synthetic=SyntheticParams(jobs=200, tenants=3), tenant_weights={"tenant-1": 2.0}, capacity_scale=0.05
    )
    data = sim_input(context(), request)
    trace = synthetic(request.synthetic, seed=request.seed)
    view = ClusterState(data.pools, data.jobs)
    assert [view.tenant(j) for j in range(200)] == trace.tenant.tolist()
    assert data.jobs.tenant_names == ["tenant-0", "tenant-1", "tenant-2"]
    assert list(view.tenant_weights) == [1.0, 2.0, 1.0]
    ids = np.arange(0, 200, 7)
    assert view.tenants_of(ids).tolist() == trace.tenant[ids].tolist()


def test_philly_virtual_cluster_is_the_tenant(tmp_path: Path) -> None:
    path = tmp_path / "philly.csv"
    path.write_text(
        "timestamp,duration,num_gpus,gpu_time,cluster\n"
        "2017-10-03 10:00:00,600,1,600,vc-a\n"
        "2017-10-03 10:01:00,600,2,1200,vc-b\n"
        "2017-10-03 10:02:00,600,1,600,vc-a\n"
    )
    trace = load_philly(path)
    ctx = context()
    data = prepare(trace, load_network(ctx.catalog, "national", trace.reference, 0.05))
    view = ClusterState(data.pools, data.jobs)
    names = data.jobs.tenant_names
    assert [names[view.tenant(j)] for j in range(3)] == ["vc-a", "vc-b", "vc-a"]


def test_an_unknown_tenant_weight_names_the_valid_tenants() -> None:
    request = SimulationRequest(synthetic=SyntheticParams(jobs=20, tenants=2), tenant_weights={"tenant-9": 2.0})
    with pytest.raises(UnknownNameError, match="tenant-0, tenant-1"):
        sim_input(context(), request)


def test_a_weight_must_be_positive() -> None:
    rows = JobRows()
    with pytest.raises(InputError, match="> 0"):
        rows.table([0.0], [1.0], [1], [None], [-1], [0], tenant=[0], tenant_names=("a",), tenant_weights=[0.0])


def test_jobs_added_without_tenants_are_the_default_tenant() -> None:
    """The live feeder's path: add_jobs with no tenants (one tenant for now)."""
    net = pools().pool("a/v100", capacity=8).build()
    cluster = JobRows().empty_state(net)
    ids = cluster.add_jobs([(0.0, 60.0, 1, -1, 0, None, None)] * 3)
    assert [cluster.tenant(j) for j in ids] == [0, 0, 0]
    more = cluster.add_jobs([(0.0, 60.0, 1, -1, 0, None, None)] * 2, tenants=[0, 1])
    assert [cluster.tenant(j) for j in (*ids, *more)] == [0, 0, 0, 0, 1]
    assert cluster.tenants_of(np.arange(5)).tolist() == [0, 0, 0, 0, 1]


def test_service_counts_capacity_hours_by_pool_value() -> None:
    """2 accelerators of value 2 for 1 h and 1 of value 0.5 for 2 h, read mid-run and after."""
    net = pools().pool("a/fast", capacity=4, speed=2.0).pool("a/slow", capacity=4, speed=0.5).build()
    table = jobs().job(work=7200.0, gpus=2, tenant=0).job(work=3600.0, gpus=1, tenant=1).build(net)
    cluster = state(net, table, now=0.0, running=[(0, 0), (1, 1)])
    assert cluster.tenant_service_h().tolist() == [0.0, 0.0]
    cluster.now_s = 1800.0
    assert cluster.tenant_service_h() == pytest.approx([2 * 2.0 * 0.5, 0.5 * 0.5])
    forecast = cluster.fork()
    cluster.now_s = 3600.0
    cluster.finish(0, cluster.run_of(0).run)
    cluster.now_s = 7200.0
    assert cluster.tenant_service_h() == pytest.approx([4.0, 1.0])
    cluster.finish(1, cluster.run_of(1).run)
    assert cluster.tenant_service_h() == pytest.approx([4.0, 1.0])
    assert forecast.tenant_service_h() == pytest.approx([2.0, 0.25])  # a fork keeps its own


def test_capacity_values_follow_the_unit() -> None:
    """The simulator's pools are valued in the capacity unit (H800-equivalent hours)."""
    from suanli.capacity import capacity_table

    ctx = context()
    net = load_network(ctx.catalog, "national", "a100-80g", 0.05)
    table = capacity_table(ctx.catalog)
    pools_ = net.pools
    assert pools_.capacity_value == tuple(
        table.per_accelerator_hour(pools_.type_names[pools_.type[p]]) for p in range(len(pools_))
    )


def test_tenant_weights_parse_name_equals_weight() -> None:
    assert parse_tenant_weights(["tenant-0=2", "vc=a=0.5"]) == {"tenant-0": 2.0, "vc=a": 0.5}
    for bad in ("tenant-0", "=2", "tenant-0=0", "tenant-0=x", "tenant-0=inf"):
        with pytest.raises(InputError, match="NAME=WEIGHT"):
            parse_tenant_weights([bad])


def test_decayed_service_halves_every_half_life() -> None:
    """One accelerator of value 2 for 2 h, half-life 1 h: 2 x integral of 2^-(age/1h) over the run."""
    net = pools().pool("a/x", capacity=4, speed=2.0).build()
    table = jobs().job(work=4 * 3600.0, gpus=1, tenant=1).job(work=3600.0, gpus=1, tenant=0).build(net)
    cluster = state(net, table, now=0.0, running=[(0, 0)])
    cluster.now_s = 3600.0  # read first mid-run: the run counts from its start
    ln2 = math.log(2.0)
    assert cluster.tenant_service_h(1.0)[1] == pytest.approx(2.0 * (1 - 0.5) / ln2)
    assert cluster.tenant_service_h()[1] == pytest.approx(2.0)
    cluster.now_s = 7200.0
    cluster.finish(0, cluster.run_of(0).run)
    at_end = 2.0 * (1 - 0.25) / ln2
    assert cluster.tenant_service_h(1.0)[1] == pytest.approx(at_end)
    cluster.now_s = 7200.0 + 3600.0
    assert cluster.tenant_service_h(1.0)[1] == pytest.approx(at_end / 2)
    assert cluster.tenant_service_h()[1] == pytest.approx(4.0)  # the undecayed count is kept beside it
    assert cluster.tenant_service_h(1e9)[1] == pytest.approx(0.0, abs=1e-6)  # first read after the run: not seen


def test_a_long_half_life_counts_like_none() -> None:
    net = pools().pool("a/x", capacity=4).build()
    table = jobs().job(work=3600.0, gpus=2, tenant=0).job(work=1800.0, gpus=1, tenant=1).build(net)
    cluster = state(net, table, now=0.0, running=[(0, 0), (1, 0)])
    cluster.tenant_service_h(1e6), cluster.tenant_service_h()  # both kept from here
    cluster.now_s = 1800.0
    cluster.finish(1, cluster.run_of(1).run)
    cluster.now_s = 3600.0
    assert cluster.tenant_service_h(1e6) == pytest.approx(cluster.tenant_service_h(), rel=1e-5)
    assert cluster.fork().tenant_service_h(1e6) == pytest.approx(cluster.tenant_service_h(1e6))


def test_a_negative_half_life_names_its_flag() -> None:
    request = SimulationRequest(synthetic=SyntheticParams(jobs=20), fair_share=True, fair_share_half_life_h=-1.0)
    with pytest.raises(InputError, match="--fair-share-half-life"):
        sim_input(context(), request)
