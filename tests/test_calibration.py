"""The estimator against published training runs (accelerator-hours).

DeepSeek-V3 is the anchor: the FP8 and MoE utilisation factors were set on it, so it must
land within 10 %. The other runs are an independent check with a looser band, each
explained in its test's parameters.
"""

from __future__ import annotations

from typing import Any

import pytest

from suanli.catalog import Catalog
from suanli.model import estimate
from suanli.model.calibration import PUBLISHED_RUNS, calibrate
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


@pytest.mark.parametrize(
    ("model", "precision", "tokens_b", "accelerator", "count", "published_hours", "band", "upper_bound"),
    [
        pytest.param(
            {"params_b": 176.2, "layers": 70, "hidden": 14336, "heads": 112, "context": 2048},
            "bf16",
            366,
            "a100-80g",
            384,
            1_082_990,
            0.35,
            False,
            id="BLOOM 176B, 366B tokens on 384 A100-80GB",
        ),
        pytest.param(
            {"params_b": 130, "layers": 70, "hidden": 12288, "heads": 96, "context": 2048},
            "fp16",
            400,
            "a100-40g",
            768,
            1_105_920,
            0.35,
            True,
            id="GLM-130B, 400B tokens on 768 A100-40GB",
        ),
    ],
)
def test_other_published_runs_land_within_a_looser_band(
    catalog: Catalog,
    model: dict[str, Any],
    precision: str,
    tokens_b: float,
    accelerator: str,
    count: int,
    published_hours: float,
    band: float,
    upper_bound: bool,
) -> None:
    """35 %, not 10 %: these runs were not used to set any factor, and their published hours
    are not clean compute time. BLOOM's 1,082,990 A100-hours (Luccioni et al. 2022) cover
    118 days including restarts, hardware failures and evaluation, so the pure-compute
    estimate should land somewhat below. GLM-130B's figure (Zeng et al., ICLR 2023) is an
    upper bound, 768 GPUs x 60 days = 1,105,920 hours of wall-clock reservation, so the
    estimate must not exceed it and may sit well under it. Both use only the ampere base MFU
    (0.42, from published A100 runs) and the node-count penalties."""
    job = published_job(model, precision, tokens_b, accelerator, count)
    est = estimate(job, catalog, accelerator, count, OWNERSHIP_SITE, T0_S)
    assert est.flops == pytest.approx(6 * model["params_b"] * 1e9 * tokens_b * 1e9, rel=1e-12)
    error = est.accelerator_hours / published_hours - 1
    assert abs(error) <= band, f"{error:+.1%} off the published {published_hours:,.0f} hours"
    if upper_bound:
        assert est.accelerator_hours <= published_hours


def test_the_calibration_report_uses_the_planners_own_numbers(catalog: Catalog) -> None:
    """``suanli.model.calibration`` must report what the estimator says, and the published
    figures it carries must be the ones cited."""
    published = {run.id: run.accelerator_hours for run in PUBLISHED_RUNS}
    assert published == {"deepseek-v3-pretrain": 2_664_000, "bloom-176b": 1_082_990, "glm-130b": 1_105_920}
    for result in calibrate(catalog):
        run = result.run
        job = published_job(
            run.model if isinstance(run.model, str) else run.model.model_dump(exclude_none=True),
            run.precision,
            run.tokens_b,
            run.accelerator,
            run.count,
        )
        est = estimate(job, catalog, run.accelerator, run.count, OWNERSHIP_SITE, T0_S)
        assert result.estimated_hours == pytest.approx(est.accelerator_hours, rel=1e-12)
        assert result.error == pytest.approx(est.accelerator_hours / run.accelerator_hours - 1, rel=1e-9)
        assert abs(result.error) <= (0.10 if run.id == "deepseek-v3-pretrain" else 0.35)
