"""Sweeps: scenario grids, inventory changes, baselines, local and Ray execution, output
files, the HTML report, and the format as docs/simulator.md documents it."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from suanli import __version__
from suanli.catalog import Catalog
from suanli.clock import SimClock
from suanli.errors import InputError, SpecError
from suanli.service.report import provenance
from suanli.service.sweep import (
    InventoryChange,
    Scenario,
    SweepResult,
    against_baseline,
    apply_inventory,
    baseline_of,
    load_sweep,
    run_sweep,
    scenarios,
    write_rows,
)
from suanli.service.sweep_report import render_sweep_report
from suanli.sim.network import load_network
from tests.conftest import EXAMPLES, ROOT
from tests.test_report import check

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
    report = tmp_path / "sweep.html"
    ok = suanli("sweep", str(path), "--json", "--workers", "1", "--report", str(report))  # type: ignore[operator]
    assert ok.code == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["sweep"] == "tiny" and len(data["scenarios"]) == 4
    text = report.read_text(encoding="utf-8")
    assert "Scenario grid" in text and f"suanli sweep {path} --json --workers 1 --report {report}" in text
    bad = suanli("sweep", str(path), "--out", str(tmp_path / "rows.xlsx"))  # type: ignore[operator]
    assert bad.code == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
    bad = suanli("sweep", str(path), "--report", str(tmp_path / "r.txt"))  # type: ignore[operator]
    assert bad.code == 2 and "--report must end in .html or .htm" in bad.stderr and "Traceback" not in bad.stderr
    nested = tmp_path / "new" / "dir" / "rows.csv"
    ok = suanli("sweep", str(path), "--workers", "1", "--out", str(nested))  # type: ignore[operator]
    assert ok.code == 0 and nested.read_text().startswith("scenario,"), ok.stderr
    (tmp_path / "a-file").write_text("")
    bad = suanli("sweep", str(path), "--report", str(tmp_path / "a-file" / "r.html"))  # type: ignore[operator]
    assert bad.code == 2 and "--report: cannot make its directory" in bad.stderr and "Traceback" not in bad.stderr


# -- baselines ---------------------------------------------------------------------------------


def test_each_policy_is_compared_with_itself_at_the_first_value_of_each_axis(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, SWEEP))
    scenario = Scenario("suanli", 2.0, "no-h800", "none", 0.0)
    assert baseline_of(spec, scenario) == Scenario("suanli", 1.0, "baseline", "none", 0.0)


def test_a_named_baseline_policy_is_the_baseline_of_every_scenario(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, SWEEP + "baseline: {policy: fifo, inventory: no-h800}\n"))
    scenario = Scenario("suanli", 2.0, "baseline", "none", 0.0)
    assert baseline_of(spec, scenario) == Scenario("fifo", 1.0, "no-h800", "none", 0.0)


def test_a_baseline_off_the_grid_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match=r"baseline.inventory 'more-h800' is not on the sweep's inventory axis"
    ) as caught:
        load_sweep(write(tmp_path, SWEEP + "baseline: {inventory: more-h800}\n"))
    assert caught.value.line == SWEEP.count("\n") + 1
    assert caught.value.field == "baseline"


def _row(policy: str, load: float, **metrics: Any) -> dict[str, Any]:
    label = Scenario(policy, load, "baseline", "none", 0.0).label
    return {"scenario": label, "policy": policy, "load": load, "inventory": "baseline", "outages": "none"} | {
        "failure_rate": 0.0,
        **metrics,
    }


def test_metrics_against_the_baseline_are_ratios_or_deltas(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, SWEEP))
    rows = [
        _row("fifo", 1.0, avg_jct_h=2.0, avg_queue_h=0.0, window_utilisation=0.40, lost=0, cost_usd=100.0),
        _row("fifo", 2.0, avg_jct_h=3.0, avg_queue_h=0.5, window_utilisation=0.55, lost=2, cost_usd=float("nan")),
    ]
    base, loaded = against_baseline(spec, rows)
    assert base["avg_jct_h"] == 1.0 and base["window_utilisation"] == 0.0
    assert loaded["avg_jct_h"] == pytest.approx(1.5)
    assert loaded["window_utilisation"] == pytest.approx(0.15)
    assert loaded["lost"] == 2
    assert loaded["avg_queue_h"] is None  # a ratio to 0
    assert loaded["cost_usd"] is None  # NaN
    assert loaded["carbon_kg"] is None  # not in the rows


# -- the report --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    path = tmp_path_factory.mktemp("sweep") / "sweep.yaml"
    path.write_text(SWEEP, encoding="utf-8")
    return run_sweep(load_sweep(path), workers=2)


def test_the_sweep_report_shows_the_grid_and_every_scenario_against_its_baseline(swept: SweepResult) -> None:
    made_by = provenance(["sweep", "tiny.yaml", "--report", "r.html"], SimClock(1_796_284_800.0))
    text = render_sweep_report(swept, made_by)
    checker = check(text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in text
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", text))
    assert facts["suanli version"] == __version__
    assert "suanli sweep tiny.yaml --report r.html" in facts["command"]
    assert facts["generated"] == "2026-12-03 08:00:00 UTC"
    assert facts["seed"].startswith("3 ")
    grid = checker.tables["8 scenarios: every combination of the axes"]
    assert ["inventory", "no-h800", "remove every h800"] in grid
    assert ["load", "x 1, x 2", "arrival-rate scale"] in grid
    table = re.search(r'<table class="metrics sweep">.*?</table>', text, re.S)
    assert table is not None
    results = check(table.group(0).replace("metrics sweep", "metrics")).table
    header = results[0]
    assert header[:5] == ["policy", "load", "inventory", "outages", "failures"]
    jct = header.index("mean JCT (h)")
    by_label = {r["scenario"]: r for r in swept.rows}
    for cells in results[1:]:
        scenario = Scenario(cells[0], float(cells[1]), cells[2], cells[3], float(cells[4]))
        row, base = by_label[scenario.label], by_label[baseline_of(swept.spec, scenario).label]
        if row is base:
            assert cells[jct] == f"{row['avg_jct_h']:.3f}baseline"
        else:
            assert cells[jct] == f"{row['avg_jct_h']:.3f}x{row['avg_jct_h'] / base['avg_jct_h']:,.2f}"
    assert sum(cell.endswith("baseline") for cells in results[1:] for cell in cells[jct : jct + 1]) == 2
    assert text.count("against the baseline</text>") == 3  # the JCT, carbon and cost ratio charts


# -- the documented format and the example -------------------------------------------------------


def _docs_sweep_yaml() -> str:
    text = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    section = text.split("## Sweep files", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None, "docs/simulator.md's Sweep files section has no yaml block"
    return match.group(1)


def test_the_docs_sweep_example_loads_and_is_the_shipped_example(tmp_path: Path) -> None:
    documented = load_sweep(write(tmp_path, _docs_sweep_yaml()))
    shipped = load_sweep(EXAMPLES / "sweeps" / "h800-supply.yaml")
    assert documented == shipped
    assert len(scenarios(documented)) == 2 * 2 * 3 * 2


def test_the_docs_table_lists_every_key_of_the_format() -> None:
    from suanli.service.sweep import BaselineSpec, BaseRun, InventoryChange, OutageSpec, SweepSpec

    text = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8").split("## Sweep files", 1)[1]
    keys = set(re.findall(r"^\| `([^`]+)` \|", text, re.M))
    expected = {field.alias or name for name, field in SweepSpec.model_fields.items()}
    expected |= {f"base.{name}" for name in BaseRun.model_fields}
    expected |= {f"inventory.NAME.{name}" for name in InventoryChange.model_fields}
    expected |= {f"outages.NAME[].{name}" for name in OutageSpec.model_fields}
    assert expected <= keys, sorted(expected - keys)
    for name in BaselineSpec.model_fields:
        assert f"`{name}`" in text


def test_the_example_adds_10000_ascend_910c_that_are_300_in_the_simulated_network(catalog: Catalog) -> None:
    spec = load_sweep(EXAMPLES / "sweeps" / "h800-supply.yaml")
    change = spec.inventory["more-910c-qingyang"]
    assert change.add == {"qingyang": {"ascend-910c": 10_000}}

    def simulated_910c(sites: dict[str, Any]) -> int:
        pools = load_network(_with_sites(catalog, sites), "national", "a100-80g", spec.base.capacity).pools
        return dict(zip(pools.names, pools.capacity, strict=True))["qingyang/ascend-910c"]

    before = simulated_910c(dict(catalog.sites))
    after = simulated_910c(apply_inventory(catalog.sites, change, set(catalog.accelerators)))
    assert after - before == 300
    assert "10,000 more Ascend 910C" in (EXAMPLES / "sweeps" / "h800-supply.yaml").read_text(encoding="utf-8")


def _with_sites(catalog: Catalog, sites: dict[str, Any]) -> Catalog:
    return type(catalog)(
        accelerators=catalog.accelerators,
        sites=sites,
        grid_regions=catalog.grid_regions,
        hour_profiles=catalog.hour_profiles,
        links={},
        network_defaults=catalog.network_defaults,
        models=catalog.models,
    )
