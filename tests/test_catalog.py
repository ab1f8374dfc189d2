"""The catalogue: packaged data, user overrides with located errors, network paths, throughput tables."""

from __future__ import annotations

import itertools
import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from suanli.catalog import (
    SCHEMA_VERSION,
    Catalog,
    great_circle_km,
    load_catalog,
    load_gavel,
    load_profiles,
    load_sia,
)
from suanli.errors import CatalogError, InputError, UnknownNameError
from tests.conftest import need_shared

REQUIRED_ACCELERATORS = (
    "ascend-910b",
    "ascend-910b2",
    "ascend-910c",
    "mlu370-x8",
    "k100",
    "a100-80g",
    "a800",
    "h100",
    "h800",
    "h20",
    "h200",
    "l20",
    "b200",
    "rtx4090",
)
"""Accelerator ids the catalogue must hold (the project's requirements)."""
REQUIRED_SITES = (
    "zhangjiakou",
    "yangtze-delta",
    "wuhu",
    "shaoguan",
    "tianfu",
    "chongqing",
    "guian",
    "helinger",
    "qingyang",
    "zhongwei",
)
"""The ten national clusters of East Data, West Computing."""
REQUIRED_MODELS = (
    "qwen2.5-7b",
    "qwen2.5-72b",
    "deepseek-v3",
    "deepseek-r1",
    "deepseek-r1-distill-qwen-1.5b",
    "deepseek-r1-distill-qwen-7b",
    "glm-4-9b",
    "baichuan2-13b",
    "internlm2.5-7b",
    "internlm2.5-20b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
)
"""Open models the catalogue must hold (at least 12 in all)."""


def all_rows(catalog: Catalog) -> list[Any]:
    return [
        row
        for table in (
            catalog.accelerators,
            catalog.sites,
            catalog.grid_regions,
            catalog.hour_profiles,
            catalog.links,
            catalog.models,
        )
        for row in table.values()
    ]


# -- the packaged catalogue ---------------------------------------------------------------


def test_the_packaged_catalogue_has_the_required_accelerators_and_sites(catalog: Catalog) -> None:
    assert set(REQUIRED_ACCELERATORS) <= set(catalog.accelerators)
    assert set(REQUIRED_SITES) <= set(catalog.sites)
    assert set(REQUIRED_MODELS) <= set(catalog.models)
    assert len(catalog.models) >= 12


def test_the_packaged_catalogue_is_loaded_once_and_immutable(catalog: Catalog) -> None:
    assert load_catalog() is load_catalog(), "loading is cached"
    with pytest.raises(TypeError):
        catalog.sites["elsewhere"] = catalog.sites["qingyang"]  # type: ignore[index]


def test_every_entry_is_keyed_by_its_own_id(catalog: Catalog) -> None:
    for table in (catalog.accelerators, catalog.sites, catalog.grid_regions, catalog.models, catalog.hour_profiles):
        for key, row in table.items():
            assert key == row.id


def test_every_site_inventory_names_catalogue_accelerators(catalog: Catalog) -> None:
    for site in catalog.sites.values():
        assert site.inventory, f"{site.id} has no inventory"
        assert set(site.inventory) <= set(catalog.accelerators), site.id
        assert all(count >= 0 for count in site.inventory.values()), site.id


def test_every_site_uses_a_catalogue_grid_region_whose_profile_exists(catalog: Catalog) -> None:
    for site in catalog.sites.values():
        region = catalog.grid_region(site.grid_region)
        assert region.profile in catalog.hour_profiles, region.id


def test_every_rental_site_prices_everything_it_holds(catalog: Catalog) -> None:
    for site in catalog.sites.values():
        if site.pricing.model == "rental":
            assert set(site.inventory) <= set(site.pricing.accelerator_usd_per_h), site.id


def test_every_entry_names_a_source(catalog: Catalog) -> None:
    for row in all_rows(catalog):
        assert row.source.strip(), f"{type(row).__name__} {row.id} has no source"
    assert catalog.network_defaults.source.strip()


def test_estimated_names_real_fields(catalog: Catalog) -> None:
    rows: list[Any] = [*all_rows(catalog), catalog.network_defaults]
    for row in rows:
        fields = type(row).model_fields
        for name in row.estimated:
            head, _, sub = name.partition(".")
            assert head in fields, f"{getattr(row, 'id', row)}: estimated names unknown field {name!r}"
            if sub:
                value = getattr(row, head)
                keys = value.keys() if isinstance(value, dict) else type(value).model_fields
                assert sub in keys, f"{getattr(row, 'id', row)}: estimated names {name!r}, but {head} has no {sub!r}"


def test_every_hour_profile_has_24_hours_averaging_one(catalog: Catalog) -> None:
    for region in catalog.grid_regions.values():
        shape = catalog.hour_profile(region.profile).multipliers
        assert len(shape) == 24
        assert sum(shape) / 24 == pytest.approx(1.0, abs=0.02), region.profile
        assert min(shape) >= 0


def test_a_site_intensity_profile_averages_its_grid_region_intensity(catalog: Catalog) -> None:
    for site in catalog.sites.values():
        region = catalog.grid_region(site.grid_region)
        latest = region.intensity_g_per_kwh[max(region.intensity_g_per_kwh)]
        profile = catalog.intensity_profile_g_per_kwh(site.id)
        assert len(profile) == 24
        assert sum(profile) / 24 == pytest.approx(latest, rel=0.02)


def test_every_model_has_no_more_active_than_total_parameters(catalog: Catalog) -> None:
    for model in catalog.models.values():
        assert 0 < model.active_params_b <= model.params_b, model.id
    assert catalog.model("deepseek-v3").is_moe
    assert not catalog.model("qwen2.5-7b").is_moe


@pytest.mark.parametrize("lookup", ["accelerator", "site", "model", "grid_region", "hour_profile"])
def test_an_unknown_id_is_an_input_error_listing_the_valid_ones(catalog: Catalog, lookup: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        getattr(catalog, lookup)("no-such-thing")
    assert isinstance(info.value, InputError)
    assert "no-such-thing" in str(info.value)
    assert info.value.valid, "the valid names are listed"
    assert all(name in str(info.value) for name in info.value.valid)


# -- user overrides ------------------------------------------------------------------------


def packaged_entry(catalog: Catalog, table: str, ident: str) -> dict[str, Any]:
    row = getattr(catalog, table)[ident]
    return row.model_dump(mode="json")


def write_file(directory: Path, stem: str, kind: str, items: list[dict[str, Any]] | str) -> Path:
    """A catalogue file; ``items`` as data (dumped in block style) or as literal YAML lines."""
    path = directory / f"{stem}.yaml"
    head = f"schema_version: {SCHEMA_VERSION}\nkind: {kind}\nitems:\n"
    body = textwrap.dedent(items) if isinstance(items, str) else yaml.safe_dump(items, sort_keys=False)
    path.write_text(head + body, encoding="utf-8")
    return path


def new_site(**changes: Any) -> dict[str, Any]:
    site: dict[str, Any] = {
        "id": "test-site",
        "name": "Test cluster",
        "hub": "gansu",
        "province": "Gansu",
        "zone": "cn",
        "lat": 36.0,
        "lon": 104.0,
        "pue": 1.2,
        "grid_region": "gansu",
        "electricity_usd_per_kwh": 0.05,
        "pricing": {"model": "ownership"},
        "inventory": {"h800": 8},
        "source": "written for this test",
    }
    site.update(changes)
    return site


def test_a_user_directory_extends_the_catalogue_with_a_new_id(tmp_path: Path, catalog: Catalog) -> None:
    write_file(tmp_path, "sites", "sites", [new_site()])
    extended = load_catalog(tmp_path)
    assert set(extended.sites) == set(catalog.sites) | {"test-site"}
    assert extended.site("test-site").inventory == {"h800": 8}
    assert extended.accelerators == catalog.accelerators, "files not in the directory stay packaged"


def test_a_user_directory_replaces_an_entry_with_the_same_id_whole(tmp_path: Path, catalog: Catalog) -> None:
    original = catalog.site("qingyang")
    replacement = packaged_entry(catalog, "sites", "qingyang")
    replacement.update(pue=original.pue + 0.17, name="Qingyang (test)", inventory={"h20": 16})
    write_file(tmp_path, "sites", "sites", [replacement])
    replaced = load_catalog(tmp_path)
    site = replaced.site("qingyang")
    assert site.pue == pytest.approx(original.pue + 0.17)
    assert site.name == "Qingyang (test)"
    assert site.inventory == {"h20": 16}, "the entry is replaced whole, not merged"
    assert set(replaced.sites) == set(catalog.sites)
    assert catalog.site("qingyang").pue == original.pue, "the packaged catalogue is untouched"


def test_a_user_model_becomes_nameable(tmp_path: Path) -> None:
    model = {
        "id": "tiny-test-model",
        "name": "Tiny",
        "org": "tests",
        "params_b": 1.0,
        "active_params_b": 1.0,
        "layers": 16,
        "hidden": 2048,
        "heads": 16,
        "kv_heads": 4,
        "context": 4096,
        "source": "written for this test",
    }
    write_file(tmp_path, "models", "models", [model])
    assert load_catalog(tmp_path).model("tiny-test-model").layers == 16


def test_a_yml_extension_is_read_too(tmp_path: Path) -> None:
    write_file(tmp_path, "sites", "sites", [new_site()]).rename(tmp_path / "sites.yml")
    assert "test-site" in load_catalog(tmp_path).sites


def test_a_missing_override_directory_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "not-here"
    with pytest.raises(CatalogError) as info:
        load_catalog(missing)
    assert str(missing) in str(info.value)
    assert info.value.exit_code == 2


def test_an_override_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    file = tmp_path / "sites.yaml"
    file.write_text("schema_version: 1\n", encoding="utf-8")
    with pytest.raises(CatalogError):
        load_catalog(file)


SITE_LINES = """\
- id: test-site
  name: Test cluster
  hub: gansu
  province: Gansu
  zone: cn
  lat: 36.0
  lon: 104.0
  pue: 1.2
  grid_region: gansu
  electricity_usd_per_kwh: 0.05
  pricing: {model: ownership}
  inventory: {h800: 8}
  source: written for this test
"""
HEAD_LINES = 3  # schema_version, kind, items


def site_line(key: str, item: int = 0) -> int:
    """The 1-based line of ``key`` in the ``item``-th copy of SITE_LINES in a sites.yaml."""
    offset = next(i for i, text in enumerate(SITE_LINES.splitlines()) if text.lstrip("- ").startswith(f"{key}:"))
    return HEAD_LINES + item * len(SITE_LINES.splitlines()) + offset + 1


def column_of(text: str, line: int, needle: str) -> int:
    return text.splitlines()[line - 1].index(needle) + 1


BAD_SITES = [
    # id, file body (after the header), expected field, expected line, needle for the column
    ("unknown-field", SITE_LINES + "  colour: blue\n", "items[0].colour", HEAD_LINES + 14, "colour"),
    (
        "negative-inventory",
        SITE_LINES.replace("{h800: 8}", "{h800: -8}"),
        "items[0].inventory",
        site_line("inventory"),
        "inventory",
    ),
    (
        "unknown-accelerator-in-inventory",
        SITE_LINES.replace("{h800: 8}", "{h999: 8}"),
        "items[0].inventory.h999",
        site_line("inventory"),
        "h999",
    ),
    ("duplicate-id", SITE_LINES + SITE_LINES, "items[1].id", site_line("id", item=1), "id"),
    (
        "rental-site-without-a-price-for-its-inventory",
        SITE_LINES.replace("{model: ownership}", "{model: rental, accelerator_usd_per_h: {a800: 1.0}}"),
        "items[0].pricing.accelerator_usd_per_h",
        site_line("pricing"),
        "accelerator_usd_per_h",
    ),
    (
        "rental-site-without-any-prices",
        SITE_LINES.replace("{model: ownership}", "{model: rental}"),
        "items[0].pricing",
        site_line("pricing"),
        "pricing",
    ),
    (
        "unknown-grid-region",
        SITE_LINES.replace("grid_region: gansu", "grid_region: atlantis"),
        "items[0].grid_region",
        site_line("grid_region"),
        "grid_region",
    ),
    ("latitude-out-of-range", SITE_LINES.replace("lat: 36.0", "lat: 136.0"), "items[0].lat", site_line("lat"), "lat"),
    (
        "pricing-is-not-a-mapping",
        SITE_LINES.replace("{model: ownership}", "cheap"),
        "items[0].pricing",
        site_line("pricing"),
        "pricing",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "line", "needle"), [case[1:] for case in BAD_SITES], ids=[case[0] for case in BAD_SITES]
)
def test_a_bad_override_entry_names_file_line_column_and_field(
    tmp_path: Path, body: str, field: str, line: int, needle: str
) -> None:
    path = write_file(tmp_path, "sites", "sites", body)
    text = path.read_text(encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    error = info.value
    column = column_of(text, line, needle)
    assert (error.path, error.line, error.column, error.field) == (str(path), line, column, field), str(error)
    assert str(error).startswith(f"{path}:{line}:{column}: field '{field}': ")


def test_an_unknown_inventory_accelerator_lists_the_valid_ones(tmp_path: Path, catalog: Catalog) -> None:
    write_file(tmp_path, "sites", "sites", SITE_LINES.replace("{h800: 8}", "{h999: 8}"))
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert all(accel in str(info.value) for accel in catalog.accelerators)


def test_a_yaml_syntax_error_in_an_override_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("schema_version: 1\nkind: models\nitems:\n- id: x\n  name: a: b\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert info.value.path == str(path)
    assert info.value.line == 5
    assert info.value.column is not None
    assert "invalid YAML" in str(info.value)


def test_a_duplicate_key_in_an_override_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text("schema_version: 1\nkind: sites\nkind: sites\nitems: []\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert (info.value.path, info.value.line, info.value.column) == (str(path), 3, 1)
    assert "duplicate key 'kind'" in str(info.value)


@pytest.mark.parametrize(
    ("header", "field", "line"),
    [
        ("schema_version: 2\nkind: sites\n", "schema_version", 1),
        ("kind: sites\nschema_version: '1'\n", "schema_version", 2),
        ("schema_version: 1\nkind: models\n", "kind", 2),
        ("schema_version: 1\n\nkind: site\n", "kind", 3),
    ],
    ids=["version-2", "version-as-a-string", "kind-of-another-file", "misspelt-kind"],
)
def test_a_wrong_envelope_is_refused_at_its_line(tmp_path: Path, header: str, field: str, line: int) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(header + "items: []\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert (info.value.path, info.value.line, info.value.column, info.value.field) == (str(path), line, 1, field)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "", "just text\n"], ids=["a-list", "empty", "a-string"])
def test_an_override_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "grid.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert info.value.path == str(tmp_path / "grid.yaml")


def test_an_hour_profile_not_averaging_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(
        "schema_version: 1\nkind: grid\nitems: []\nprofiles:\n- id: lopsided\n  name: L\n"
        f"  multipliers: {[2.0] * 24}\n  source: test\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert info.value.line == 7
    assert info.value.field == "profiles[0].multipliers"
    assert "average" in str(info.value)


def test_estimated_naming_an_unknown_field_is_refused(tmp_path: Path) -> None:
    write_file(tmp_path, "sites", "sites", SITE_LINES + "  estimated: [colour]\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert "colour" in str(info.value)
    assert info.value.field is not None
    assert info.value.field.startswith("items[0]")


def test_a_link_to_an_unknown_site_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "network.yaml"
    path.write_text(
        "schema_version: 1\nkind: network\nitems:\n"
        "- {id: q-nowhere, a: qingyang, b: nowhere, latency_ms: 5, bandwidth_gbps: 10, source: test}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 4, "items[0].b")
    assert "nowhere" in str(info.value)


# -- network ---------------------------------------------------------------------------------


def site_pairs(catalog: Catalog) -> list[tuple[str, str]]:
    return list(itertools.combinations(sorted(catalog.sites), 2))


def test_paths_are_symmetric(catalog: Catalog) -> None:
    for a, b in site_pairs(catalog):
        assert catalog.path(a, b) == catalog.path(b, a)


def test_a_site_to_itself_has_infinite_bandwidth_and_minimum_latency(catalog: Catalog) -> None:
    for site in catalog.sites:
        path = catalog.path(site, site)
        assert math.isinf(path.bandwidth_gbps)
        assert path.latency_ms == catalog.network_defaults.min_latency_ms


def test_derived_latency_grows_with_distance(catalog: Catalog) -> None:
    def km(pair: tuple[str, str]) -> float:
        a, b = (catalog.site(s) for s in pair)
        return great_circle_km(a.lat, a.lon, b.lat, b.lon)

    derived = [pair for pair in site_pairs(catalog) if catalog.path(*pair).derived]
    assert derived, "the packaged network derives its paths from coordinates"
    ordered = sorted(derived, key=km)
    latencies = [catalog.path(*pair).latency_ms for pair in ordered]
    assert latencies == sorted(latencies)
    assert latencies[-1] > latencies[0]


def test_derived_latencies_lie_between_the_minimum_and_thirty_ms(catalog: Catalog) -> None:
    assert catalog.network_defaults.min_latency_ms == 1
    for a, b in site_pairs(catalog):
        path = catalog.path(a, b)
        if path.derived:
            assert 1.0 <= path.latency_ms <= 30.0, (a, b, path.latency_ms)
            assert path.bandwidth_gbps == catalog.network_defaults.bandwidth_gbps


def test_a_link_in_the_file_wins_over_the_derived_path(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "network.yaml").write_text(
        "schema_version: 1\nkind: network\nitems:\n"
        "- {id: q-z, a: qingyang, b: zhongwei, latency_ms: 7.5, bandwidth_gbps: 400, source: test}\n",
        encoding="utf-8",
    )
    linked = load_catalog(tmp_path)
    for a, b in (("qingyang", "zhongwei"), ("zhongwei", "qingyang")):
        path = linked.path(a, b)
        assert (path.latency_ms, path.bandwidth_gbps, path.derived) == (7.5, 400, False)
    assert linked.network_defaults == catalog.network_defaults, "defaults kept when the file has none"
    assert linked.path("qingyang", "wuhu") == catalog.path("qingyang", "wuhu")


def test_a_path_to_an_unknown_site_is_an_unknown_name_error(catalog: Catalog) -> None:
    with pytest.raises(UnknownNameError):
        catalog.path("qingyang", "atlantis")


coordinates = st.tuples(st.floats(-90, 90), st.floats(-180, 180))


@given(p=coordinates, q=coordinates)
def test_great_circle_distance_is_symmetric_and_bounded(p: tuple[float, float], q: tuple[float, float]) -> None:
    d = great_circle_km(*p, *q)
    assert d == pytest.approx(great_circle_km(*q, *p), abs=1e-6)
    assert 0 <= d <= math.pi * 6371.0088 + 1e-6
    assert great_circle_km(*p, *p) == pytest.approx(0, abs=1e-6)


def test_great_circle_distance_matches_a_known_value() -> None:
    # a quarter of a meridian: pi/2 x the mean Earth radius
    assert great_circle_km(0, 0, 90, 0) == pytest.approx(math.pi / 2 * 6371.0088, rel=1e-9)


# -- throughput tables ---------------------------------------------------------------------


GAVEL_SAMPLE = {
    "v100": {
        "('ResNet-50 (batch size 64)', 1)": {"null": 4.0, "('Transformer (batch size 64)', 1)": [2.0, 3.0]},
        "('ResNet-50 (batch size 64)', 2)": {"null": 7.0},
        "('Transformer (batch size 64)', 1)": {"null": 8.0},
    },
    "k80": {"('ResNet-50 (batch size 64)', 1)": {"null": 0.5}},
    "v100_unconsolidated": {"('ResNet-50 (batch size 64)', 1)": {"null": 99.0}},
}


def write_json(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "throughputs.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_gavel_reads_isolated_throughputs_by_job_accelerator_and_count(tmp_path: Path, catalog: Catalog) -> None:
    table = load_gavel(write_json(tmp_path, GAVEL_SAMPLE), catalog)
    assert table.job_classes() == ("ResNet-50 (batch size 64)", "Transformer (batch size 64)")
    resnet = table.measurements["ResNet-50 (batch size 64)"]
    assert dict(resnet["v100"]) == {1: 4.0, 2: 7.0}
    assert dict(resnet["k80"]) == {1: 0.5}
    assert "v100_unconsolidated" not in resnet, "unconsolidated workers are skipped"


def test_a_gavel_measurement_is_returned_as_measured(tmp_path: Path, catalog: Catalog) -> None:
    table = load_gavel(write_json(tmp_path, GAVEL_SAMPLE), catalog)
    found = table.steps_per_s("ResNet-50 (batch size 64)", catalog.accelerator("v100"), 2)
    assert found is not None
    assert found[0] == 7.0
    assert "measured at 2" in found[1]


def test_an_unmeasured_count_scales_linearly_from_the_largest_below(tmp_path: Path, catalog: Catalog) -> None:
    table = load_gavel(write_json(tmp_path, GAVEL_SAMPLE), catalog)
    found = table.steps_per_s("ResNet-50 (batch size 64)", catalog.accelerator("v100"), 8)
    assert found is not None
    assert found[0] == pytest.approx(7.0 * 8 / 2)


def test_an_unmeasured_accelerator_scales_by_peak_from_the_closest_measured_one(
    tmp_path: Path, catalog: Catalog
) -> None:
    table = load_gavel(write_json(tmp_path, GAVEL_SAMPLE), catalog)
    h100, v100 = catalog.accelerator("h100"), catalog.accelerator("v100")
    found = table.steps_per_s("Transformer (batch size 64)", h100, 1)
    assert found is not None
    assert found[0] == pytest.approx(8.0 * h100.tflops["fp16"] / v100.tflops["fp16"])
    assert table.steps_per_s("No such job", h100, 1) is None


def test_load_profiles_picks_the_reader_by_path_type(tmp_path: Path, catalog: Catalog) -> None:
    table = load_profiles(write_json(tmp_path, GAVEL_SAMPLE), catalog)
    assert "ResNet-50 (batch size 64)" in table.job_classes()
    with pytest.raises(CatalogError):
        load_profiles(tmp_path / "missing.json", catalog)


SIA_HEADER = "local_bsz,step_time,sync_time,placement\n"


def write_sia(tmp_path: Path, rows: str, hardware: str = "azure", app: str = "resnet") -> Path:
    directory = tmp_path / app
    directory.mkdir(exist_ok=True)
    (directory / f"placements-{hardware}.csv").write_text(SIA_HEADER + rows, encoding="utf-8")
    return directory


def test_load_sia_reads_a_placements_csv(tmp_path: Path, catalog: Catalog) -> None:
    directory = write_sia(tmp_path, "32,0.2,0.05,1\n32,0.4,0.1,44\n64,0.3,0.1,2\n")
    table = load_sia(directory, catalog)
    assert table.job_classes() == ("resnet (local batch 32)", "resnet (local batch 64)")
    batch32 = table.measurements["resnet (local batch 32)"]
    assert set(batch32) == {"v100"}, "azure is V100"
    assert dict(batch32["v100"]) == pytest.approx({1: 1 / 0.25, 8: 1 / 0.5}), "placement 44 is 4 + 4 GPUs"
    assert dict(table.measurements["resnet (local batch 64)"]["v100"]) == pytest.approx({2: 1 / 0.4})


def test_load_sia_reads_every_application_under_a_parent_directory(tmp_path: Path, catalog: Catalog) -> None:
    write_sia(tmp_path, "16,0.1,0.0,1\n", app="bert")
    write_sia(tmp_path, "16,0.2,0.0,1\n", hardware="dgx", app="yolo")
    (tmp_path / "bert" / "placements-unknownhw.csv").write_text(SIA_HEADER + "16,1,1,1\n", encoding="utf-8")
    table = load_sia(tmp_path, catalog)
    assert table.job_classes() == ("bert (local batch 16)", "yolo (local batch 16)")
    assert set(table.measurements["yolo (local batch 16)"]) == {"a100-40g"}
    assert set(table.measurements["bert (local batch 16)"]) == {"v100"}


def test_load_sia_keeps_the_best_of_repeated_placements(tmp_path: Path, catalog: Catalog) -> None:
    directory = write_sia(tmp_path, "32,0.5,0.0,2\n32,0.25,0.0,11\n")
    assert dict(load_sia(directory, catalog).measurements["resnet (local batch 32)"]["v100"]) == {2: 4.0}


BAD_CSVS = [
    ("non-numeric-step-time", SIA_HEADER + "32,fast,0.1,1\n", 2),
    ("zero-step-time", SIA_HEADER + "32,0.1,0.0,1\n32,0,0,1\n", 3),
    ("zero-gpus", SIA_HEADER + "32,0.1,0.0,0\n", 2),
    ("missing-column", "local_bsz,step_time,placement\n32,0.1,1\n", 1),
    ("short-row", SIA_HEADER + "32,0.1,0.1\n", 2),
    ("empty-file", "", 1),
]


@pytest.mark.parametrize(("text", "line"), [c[1:] for c in BAD_CSVS], ids=[c[0] for c in BAD_CSVS])
def test_a_malformed_sia_csv_is_a_catalog_error_with_its_line(
    tmp_path: Path, catalog: Catalog, text: str, line: int
) -> None:
    directory = tmp_path / "app"
    directory.mkdir()
    path = directory / "placements-azure.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_sia(directory, catalog)
    assert info.value.path == str(path)
    assert info.value.line == line


def test_a_sia_csv_that_is_not_utf8_is_a_catalog_error(tmp_path: Path, catalog: Catalog) -> None:
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "placements-azure.csv").write_bytes(SIA_HEADER.encode() + b"32,0.1,0.0,\xff\n")
    with pytest.raises(CatalogError):
        load_sia(directory, catalog)


def test_a_sia_directory_without_placements_is_a_catalog_error(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "app").mkdir()
    with pytest.raises(CatalogError):
        load_sia(tmp_path, catalog)


def test_a_missing_sia_directory_is_a_catalog_error(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(CatalogError):
        load_sia(tmp_path / "missing", catalog)


BAD_GAVEL = [
    ("truncated-json", '{"v100": {'),
    ("a-list", "[1, 2]"),
    ("worker-not-an-object", '{"v100": [4.0]}'),
    ("key-not-a-tuple", json.dumps({"v100": {"ResNet-50": {"null": 4.0}}})),
    ("no-null-entry", json.dumps({"v100": {"('ResNet-50', 1)": {"other": 4.0}}})),
    ("throughput-not-a-number", json.dumps({"v100": {"('ResNet-50', 1)": {"null": "fast"}}})),
    ("scale-not-a-number", json.dumps({"v100": {"('ResNet-50', 'x')": {"null": 4.0}}})),
    ("scale-is-none", json.dumps({"v100": {"('ResNet-50', None)": {"null": 4.0}}})),
    ("scale-zero", json.dumps({"v100": {"('ResNet-50', 0)": {"null": 4.0}}})),
    ("negative-throughput", json.dumps({"v100": {"('ResNet-50', 1)": {"null": -4.0}}})),
    ("no-known-workers", json.dumps({"tpu": {"('ResNet-50', 1)": {"null": 4.0}}})),
]


@pytest.mark.parametrize("text", [c[1] for c in BAD_GAVEL], ids=[c[0] for c in BAD_GAVEL])
def test_a_malformed_gavel_file_is_a_catalog_error_naming_it(tmp_path: Path, catalog: Catalog, text: str) -> None:
    path = tmp_path / "throughputs.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_gavel(path, catalog)
    assert info.value.path == str(path)


def test_invalid_gavel_json_names_line_and_column(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "throughputs.json"
    path.write_text('{\n  "v100": {\n    oops\n', encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_gavel(path, catalog)
    assert (info.value.line, info.value.column) == (3, 5)


def test_the_real_gavel_table_gives_resnet50_v100_near_the_published_figure(catalog: Catalog) -> None:
    path = need_shared("traces", "gavel", "simulation_throughputs.json")
    table = load_gavel(path, catalog)
    found = table.steps_per_s("ResNet-50 (batch size 64)", catalog.accelerator("v100"), 1)
    assert found is not None
    # Gavel's MANIFEST: ResNet-50 bs64 isolated throughput K80 0.619, P100 2.619, V100 4.395 steps/s
    assert found[0] == pytest.approx(4.395, abs=0.01)
    k80 = table.measurements["ResNet-50 (batch size 64)"]["k80"][1]
    assert k80 == pytest.approx(0.619, abs=0.01)


def test_the_real_sia_profiles_load_for_every_hardware_type(catalog: Catalog) -> None:
    directory = need_shared("profiles", "sia")
    table = load_sia(directory, catalog)
    accelerators = {a for by_accel in table.measurements.values() for a in by_accel}
    assert {"v100", "a100-40g", "t4"} <= accelerators
    for by_accel in table.measurements.values():
        for by_count in by_accel.values():
            assert all(count >= 1 and rate > 0 for count, rate in by_count.items())
    assert any(name.startswith("imagenet (local batch") for name in table.job_classes())
