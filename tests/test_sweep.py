"""Sweeps: scenario grids, inventory changes, local and Ray execution, output files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from suanli.catalog import Catalog
from suanli.errors import InputError, SpecError
from suanli.service.sweep import InventoryChange, apply_inventory, load_sweep, run_sweep, scenarios, write_rows

SWEEP = """\
apiVersion: suanli/v1
kind: Sweep
name: tiny
base: {trace: synthetic, jobs: 150, rate_per_h: 200, network: national, capacity: 0.02, seed: 3}
policies: [fifo, suanli]
load: [1.0, 2.0]
inventory:
  baseline: {}
  no-h800: {remove: [h800]}
outages:
  none: []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_combination_is_one_scenario(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, SWEEP))
    labels = [s.label for s in scenarios(spec)]
    assert len(labels) == 2 * 2 * 2 * 1 == len(set(labels))


def test_removing_a_type_takes_it_out_of_every_site(catalog: Catalog) -> None:
    changed = apply_inventory(catalog.sites, InventoryChange(remove=("h800",)), set(catalog.accelerators))
    assert all("h800" not in site.inventory for site in changed.values())
    before = sum(s.inventory.get("ascend-910b", 0) for s in catalog.sites.values())
    assert sum(s.inventory.get("ascend-910b", 0) for s in changed.values()) == before


def test_adding_accelerators_at_a_site_adds_exactly_that_many(catalog: Catalog) -> None:
    change = InventoryChange(add={"qingyang": {"ascend-910c": 1000}})
    changed = apply_inventory(catalog.sites, change, set(catalog.accelerators))
    assert (
        changed["qingyang"].inventory["ascend-910c"] == catalog.sites["qingyang"].inventory.get("ascend-910c", 0) + 1000
    )


def test_adding_a_type_a_rental_site_never_priced_gives_it_a_price(catalog: Catalog) -> None:
    rental = next(s for s in catalog.sites.values() if s.pricing.model == "rental")
    change = InventoryChange(add={rental.id: {"b200": 8}})
    changed = apply_inventory(catalog.sites, change, set(catalog.accelerators))
    assert changed[rental.id].pricing.accelerator_usd_per_h["b200"] > 0


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (InventoryChange(remove=("h900",)), "h900"),
        (InventoryChange(add={"mars": {"h800": 8}}), "mars"),
    ],
    ids=["unknown-accelerator", "unknown-site"],
)
def test_an_inventory_change_naming_unknowns_is_refused(catalog: Catalog, change: InventoryChange, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        apply_inventory(catalog.sites, change, set(catalog.accelerators))


def test_a_bad_sweep_file_names_the_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_sweep(write(tmp_path, SWEEP.replace("load: [1.0, 2.0]", "load: [1.0, -2.0]\nspeed: fast")))
    assert caught.value.line is not None
    assert caught.value.field is not None


def test_a_local_sweep_runs_every_scenario_and_writes_csv(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, SWEEP))
    result = run_sweep(spec, workers=2)
    assert [r["scenario"] for r in result.rows] == [s.label for s in scenarios(spec)]
    assert all(r["lost"] == 0 and r["completed"] + r["rejected"] == 150 for r in result.rows)
    baseline = {r["policy"]: r for r in result.rows if r["inventory"] == "baseline" and r["load"] == 1.0}
    assert baseline["suanli"]["avg_jct_h"] != baseline["fifo"]["avg_jct_h"]
    out = tmp_path / "rows.csv"
    write_rows(result.rows, out)
    with out.open(encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == len(result.rows)
    assert float(read[0]["avg_jct_h"]) == pytest.approx(result.rows[0]["avg_jct_h"])


def test_a_sweep_is_deterministic_across_worker_counts(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, SWEEP))
    one = run_sweep(spec, workers=1).rows
    two = run_sweep(spec, workers=2).rows
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in one]
    assert strip == [{k: v for k, v in r.items() if k != "wall_s"} for r in two]


def test_a_sweep_on_a_real_local_ray_instance_matches_the_local_run(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is installed with the dev extra; this machine lacks it")
    spec = load_sweep(write(tmp_path, SWEEP.replace("load: [1.0, 2.0]", "load: [1.0]")))
    local = run_sweep(spec, workers=1).rows
    on_ray = run_sweep(spec, ray_address="local").rows
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in on_ray] == [
        {k: v for k, v in r.items() if k != "wall_s"} for r in local
    ]


def test_the_sweep_command_prints_json_and_refuses_bad_outputs(suanli: object, tmp_path: Path) -> None:
    path = write(tmp_path, SWEEP.replace("load: [1.0, 2.0]", "load: [1.0]"))
    ok = suanli("sweep", str(path), "--json", "--workers", "1")  # type: ignore[operator]
    assert ok.code == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["sweep"] == "tiny" and len(data["scenarios"]) == 4
    bad = suanli("sweep", str(path), "--out", str(tmp_path / "rows.xlsx"))  # type: ignore[operator]
    assert bad.code == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
