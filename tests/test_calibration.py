"""The estimator against published training runs (accelerator-hours).

DeepSeek-V3 is the anchor: the FP8 and MoE utilisation factors were set on it, so it must
land within 10 %. The rest of the calibration set (``suanli.model.calibration_runs``) is
checked as an error table against the issue's targets.
"""

from __future__ import annotations

from typing import Any

import pytest

from suanli.catalog import Catalog, load_catalog
from suanli.model import estimate
from suanli.model.calibration import PUBLISHED_RUNS, calibrate, error_table, job_for, shape_for
from suanli.model.estimator import assemble, curve_for
from suanli.model.performance import performance
from suanli.workload import JobSpec
from tests.conftest import T0_S, spec_dict

OWNERSHIP_SITE = "qingyang"
"""Any site can time a job; an ownership site can also cost any accelerator type."""


def published_job(model: Any, precision: str, tokens_b: float, accelerator: str, count: int) -> JobSpec:
    return JobSpec.model_validate(
        spec_dict(
            model=model,
            precision=precision,
            tokens_b=tokens_b,
            resources={"accelerators": [accelerator], "count": count},
        )
    )


def test_deepseek_v3_pretraining_is_within_ten_percent_of_its_reported_h800_hours(catalog: Catalog) -> None:
    """DeepSeek-V3 Technical Report (arXiv:2412.19437), Table 1: pre-training on 14.8T tokens
    took 2,664K H800 GPU-hours on a 2,048-GPU cluster, in FP8."""
    job = published_job("deepseek-v3", "fp8", 14_800, "h800", 2048)
    est = estimate(job, catalog, "h800", 2048, OWNERSHIP_SITE, T0_S)
    assert est.flops == pytest.approx(6 * 37e9 * 14_800e9, rel=1e-12)
    assert est.accelerator_hours == pytest.approx(2_664_000, rel=0.10)


def test_the_calibration_set_has_25_cited_runs_on_four_accelerator_types() -> None:
    """Issue 11: at least 25 published measured runs across at least four accelerator
    families, each with its source, what it measured and an in-sample flag."""
    training = [run for run in PUBLISHED_RUNS if run.kind == "training"]
    assert len(PUBLISHED_RUNS) >= 25
    assert len({run.accelerator for run in PUBLISHED_RUNS}) >= 4
    assert all(run.source and run.metric and run.value > 0 for run in PUBLISHED_RUNS)
    assert len({run.id for run in PUBLISHED_RUNS}) == len(PUBLISHED_RUNS)
    out_of_sample = [run for run in training if not run.in_sample]
    assert len(out_of_sample) >= 4 * len([run for run in training if run.in_sample])


def test_the_calibration_report_uses_the_planners_own_numbers(catalog: Catalog) -> None:
    """``calibrate`` reports what the estimator says for each run's own spec (``job_for``) and,
    where the row states a vocabulary the spec cannot carry, that shape (``shape_for``)."""
    for result in calibrate(catalog, tuple(r for r in PUBLISHED_RUNS if r.metric == "accelerator_hours")):
        run = result.run
        job = job_for(run)
        perf = performance(job, shape_for(run, catalog), catalog.accelerator(run.accelerator), run.count)
        est = assemble(
            job, catalog, perf, run.accelerator, run.count, OWNERSHIP_SITE, T0_S, curve_for(catalog, OWNERSHIP_SITE)
        )
        if run.flash_attention:
            assert result.estimated == pytest.approx(est.accelerator_hours, rel=1e-12)
        assert result.error == pytest.approx(result.estimated / run.value - 1, rel=1e-9)


def test_out_of_sample_training_error_meets_the_issue_median() -> None:
    """The recorded error table (``make bench``): out-of-sample median |error| for training
    6.7 % on 38 runs when this was written (9.3 % before issue 11's fidelity pass, 8.2 % before
    the memory model's binary capacity, BF16 gradient buffer and grouped-query K and V); the
    issue's target is 10 %. A change that moves it past the target shows up here."""
    results = calibrate(load_catalog())
    rows = {(r.kind, r.group, r.in_sample): r for r in error_table(results)}
    assert rows[("training", "all", False)].median_abs_error <= 0.10
    assert rows[("training", "all", True)].max_abs_error <= 0.10
    assert rows[("inference", "all", False)].median_abs_error <= 0.15  # 13.2 % on 23 measurements


KNOWN_TRAINING_MISSES = {"deepseek-v2-pretrain"}
"""Out-of-sample training runs beyond issue 11's 20 %, each explained in docs/estimator.md
("The largest misses"): DeepSeek-V2 (-33 %: its dense sibling DeepSeek 67B, same paper and
cluster, misses by about as much). Nemotron-4 340B left the set (-25.6 -> -3.0 %) when its
published layout fit without full recomputation."""


def test_only_the_documented_training_runs_miss_by_more_than_twenty_percent() -> None:
    """Issue 11 asks for a max out-of-sample training |error| of 20 %; every other run meets it,
    and a run that newly passes it (or a known miss that is fixed) shows up here."""
    results = calibrate(load_catalog(), tuple(r for r in PUBLISHED_RUNS if r.kind == "training"))
    over = {r.run.id for r in results if not r.run.in_sample and abs(r.error) > 0.20}
    assert over == KNOWN_TRAINING_MISSES
