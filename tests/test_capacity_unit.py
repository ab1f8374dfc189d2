"""The normalised capacity unit (suanli.capacity): each accelerator type's worth in
H800-equivalent hours, from the estimator's throughput of the reference workload."""

from __future__ import annotations

import dataclasses

import pytest

from suanli.capacity import (
    REFERENCE_COUNT,
    CapacityTable,
    capacity_table,
    reference_accelerator,
    reference_workload,
)
from suanli.catalog import Catalog
from suanli.errors import CatalogError
from suanli.model.performance import performance
from suanli.model.shapes import resolve_shape


@pytest.fixture(scope="module")
def table(catalog: Catalog) -> CapacityTable:
    return capacity_table(catalog)


def test_the_unit_is_the_h800_hour(table: CapacityTable) -> None:
    assert table.reference == "h800"
    assert table.unit == "H800-equivalent hours"
    assert table.per_accelerator_hour("h800") == 1.0


@pytest.mark.parametrize(
    ("slower", "faster"),
    [
        pytest.param("l20", "h800", id="an L20-hour is worth less than an H800-hour"),
        pytest.param("h800", "b200", id="an H800-hour is worth less than a B200-hour"),
        pytest.param("h20", "h800", id="the China-market H20 is worth less than the H800"),
        pytest.param("a800", "h800", id="an Ampere A800 is worth less than a Hopper H800"),
        pytest.param("h800", "h200", id="the H200's bandwidth makes it worth a little more than an H800"),
        pytest.param("ascend-910b", "ascend-910c", id="the Ascend 910C is worth more than the 910B"),
        pytest.param("ascend-910b4", "ascend-910b", id="the cut-down 910B4 is worth less than the 910B"),
        pytest.param("v100", "a100-80g", id="a V100 is worth less than an A100"),
        pytest.param("k80", "p100", id="a K80 is worth less than a P100"),
    ],
)
def test_values_follow_throughput(table: CapacityTable, slower: str, faster: str) -> None:
    assert table.per_accelerator_hour(slower) < table.per_accelerator_hour(faster)


def test_an_h800_hour_is_worth_several_l20_hours_and_less_than_half_a_b200_hour(table: CapacityTable) -> None:
    assert 4 < 1 / table.per_accelerator_hour("l20") < 10
    assert 1.8 < table.per_accelerator_hour("b200") < 3


def test_identical_chips_are_worth_the_same(table: CapacityTable) -> None:
    """The H100 and H800 differ only in NVLink, which one 8-GPU node of a 1.5B model barely uses."""
    assert table.per_accelerator_hour("h100") == pytest.approx(table.per_accelerator_hour("h800"), rel=0.02)
    assert table.per_accelerator_hour("a800") == pytest.approx(table.per_accelerator_hour("a100-80g"), rel=0.02)


def test_every_packaged_type_is_valued_by_the_estimator(catalog: Catalog, table: CapacityTable) -> None:
    assert set(table.values) == set(catalog.accelerators)
    roofline = [v.accelerator for v in table.values.values() if v.source != "estimator"]
    assert roofline == [], "the reference workload is meant to run on every packaged type"
    assert all(v.per_accelerator_hour > 0 for v in table.values.values())


@pytest.mark.parametrize("accelerator", ["l20", "ascend-910b", "k80", "b200"])
def test_a_value_is_the_estimators_rate_over_the_references(catalog: Catalog, accelerator: str) -> None:
    """value = (tokens / (duration x 8)) on the type / the same on the H800, straight from the estimator."""

    def tokens_per_accelerator_h(ident: str) -> float:
        accel = catalog.accelerator(ident)
        job = reference_workload(accel)
        assert job is not None
        perf = performance(job, resolve_shape(job, catalog), accel, REFERENCE_COUNT)
        assert job.tokens_b is not None
        return job.tokens_b * 1e9 / (perf.duration_h * REFERENCE_COUNT)

    expected = tokens_per_accelerator_h(accelerator) / tokens_per_accelerator_h("h800")
    assert capacity_table(catalog).per_accelerator_hour(accelerator) == pytest.approx(expected, rel=1e-12)


def test_the_reference_workload_runs_at_the_parts_best_precision(catalog: Catalog, table: CapacityTable) -> None:
    assert table.values["h800"].precision == "bf16"
    assert table.values["v100"].precision == "fp16", "Volta has no bf16"
    assert table.values["k80"].precision == "fp32", "Kepler has fp32 only"


def test_capacity_hours_scale_accelerator_hours(table: CapacityTable) -> None:
    assert table.capacity_hours("h800", 8.0) == 8.0
    assert table.capacity_hours("l20", 8.0) == pytest.approx(8.0 * table.per_accelerator_hour("l20"))


def test_an_unknown_type_is_refused_with_the_valid_ones(table: CapacityTable) -> None:
    with pytest.raises(CatalogError, match=r"'tpu-v5'.*valid: .*h800"):
        table.per_accelerator_hour("tpu-v5")


def test_the_table_is_computed_once_per_catalogue_and_is_deterministic(catalog: Catalog) -> None:
    assert capacity_table(catalog) is capacity_table(catalog)
    copy = dataclasses.replace(catalog)
    again = capacity_table(copy)
    assert again is not capacity_table(catalog)
    assert again.values == capacity_table(catalog).values


def test_a_catalogue_without_an_h800_uses_its_first_type(catalog: Catalog) -> None:
    accelerators = {k: v for k, v in catalog.accelerators.items() if k != "h800"}
    other = dataclasses.replace(catalog, accelerators=accelerators)
    assert reference_accelerator(other) == sorted(accelerators)[0]
    assert capacity_table(other).unit == f"{sorted(accelerators)[0].upper()}-equivalent hours"


def test_a_type_the_reference_cannot_run_on_is_valued_by_roofline_and_says_so(catalog: Catalog) -> None:
    tiny = catalog.accelerator("l20").model_copy(update={"id": "tiny", "memory_gb": 0.5})
    other = dataclasses.replace(catalog, accelerators={**catalog.accelerators, "tiny": tiny})
    value = capacity_table(other).values["tiny"]
    assert (value.source, value.tokens_per_accelerator_h) == ("roofline", None)
    assert 0 < value.per_accelerator_hour < 1


def test_the_values_docs_control_plane_md_quotes_are_the_units(table: CapacityTable) -> None:
    """The table under *The capacity unit* in docs/control-plane.md, within 2 % of each value
    (the estimator moves by a percent or so a change; more is a change the docs must say).
    To fix: run `suanli admin capacity` and copy its figures into the table."""
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "control-plane.md").read_text(encoding="utf-8")
    section = text[text.index("| types | H800-equivalent hours per hour |") :]
    quoted: dict[str, float] = {}
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        names, values = (cell.strip() for cell in line.strip("|").split("|"))
        figures = [float(v) for v in values.split(",")]
        types = [n.strip() for n in names.split(",")]
        quoted |= dict(zip(types, figures if len(figures) == len(types) else figures * len(types), strict=True))
    assert set(quoted) == set(table.values), "every packaged type, once"
    for accelerator, figure in quoted.items():
        assert figure == pytest.approx(table.per_accelerator_hour(accelerator), rel=0.02, abs=0.001), accelerator
