"""Published training runs the estimator is checked against.

Each run gives the work (active parameters x tokens), the hardware and the
accelerator-hours reported. :func:`calibrate` estimates each with the same code that
plans jobs and reports the error. DeepSeek-V3 is the anchor (within 10 %); the others
are reported with the caveats noted on each.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.catalog import Catalog
from suanli.model.performance import performance
from suanli.model.shapes import resolve_shape
from suanli.workload import InlineModel, JobSpec, Resources


@dataclass(frozen=True)
class PublishedRun:
    id: str
    model: str | InlineModel
    precision: str
    tokens_b: float
    accelerator: str
    count: int
    accelerator_hours: float
    source: str
    caveat: str = ""


PUBLISHED_RUNS: tuple[PublishedRun, ...] = (
    PublishedRun(
        "deepseek-v3-pretrain",
        "deepseek-v3",
        "fp8",
        14_800,
        "h800",
        2048,
        2_664_000,
        "DeepSeek-V3 Technical Report, arXiv:2412.19437, Table 1",
        "anchor: FP8 utilisation factor and MoE factor were set on this run",
    ),
    PublishedRun(
        "bloom-176b",
        InlineModel(params_b=176.2, layers=70, hidden=14336, heads=112, kv_heads=112, context=2048),
        "bf16",
        366,
        "a100-80g",
        384,
        1_082_990,
        "Luccioni et al., 'Estimating the Carbon Footprint of BLOOM' (2022); BigScience BLOOM paper",
        "hours include restarts and hardware failures over 118 days",
    ),
    PublishedRun(
        "glm-130b",
        InlineModel(params_b=130, layers=70, hidden=12288, heads=96, kv_heads=96, context=2048),
        "fp16",
        400,
        "a100-40g",
        768,
        1_105_920,
        "Zeng et al., 'GLM-130B' (ICLR 2023): 768 A100-40G for 60 days",
        "published hours are an upper bound (60 days x 768 GPUs)",
    ),
)


@dataclass(frozen=True)
class Calibration:
    run: PublishedRun
    estimated_hours: float

    @property
    def error(self) -> float:
        """Relative error of the estimate, (estimated - published) / published."""
        return self.estimated_hours / self.run.accelerator_hours - 1.0


def calibrate(catalog: Catalog, runs: tuple[PublishedRun, ...] = PUBLISHED_RUNS) -> list[Calibration]:
    """Estimate every published run's accelerator-hours with the planner's own code."""
    results = []
    for run in runs:
        job = JobSpec.model_validate(
            {
                "apiVersion": "suanli/v1",
                "kind": "Training",
                "name": run.id,
                "model": run.model,
                "precision": run.precision,
                "tokens_b": run.tokens_b,
                "resources": Resources(accelerators=(run.accelerator,), count=run.count),
            }
        )
        perf = performance(job, resolve_shape(job, catalog), catalog.accelerator(run.accelerator), run.count)
        results.append(Calibration(run, perf.duration_h * run.count))
    return results
