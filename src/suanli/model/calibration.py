"""The estimator against published runs (:mod:`suanli.model.calibration_runs`).

:func:`calibrate` estimates every run with the same code that plans jobs and reports the
ratio to what was measured; :func:`error_table` summarises median and max |error| by job
kind and accelerator, in-sample and out-of-sample apart (``make bench`` prints it).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from suanli.catalog import Catalog
from suanli.model import goodput
from suanli.model.calibration_runs import TRAINING_RUNS, PublishedRun
from suanli.model.calibration_serving import INFERENCE_RUNS
from suanli.model.performance import Performance, batch_inference, performance
from suanli.model.shapes import ModelShape, resolve_shape
from suanli.units import SECONDS_PER_HOUR
from suanli.workload import InlineModel, JobSpec, Resources

PUBLISHED_RUNS: tuple[PublishedRun, ...] = TRAINING_RUNS + INFERENCE_RUNS
"""Every run: training (:mod:`calibration_runs`) and inference (:mod:`calibration_serving`)."""

__all__ = ["PUBLISHED_RUNS", "Calibration", "PublishedRun", "calibrate", "error_table", "job_for", "shape_for"]


@dataclass(frozen=True)
class Calibration:
    run: PublishedRun
    estimated: float
    """The estimate of the run's metric, in the run's unit."""
    perf: Performance

    @property
    def error(self) -> float:
        """Relative error of the estimate, (estimated - published) / published."""
        return self.estimated / self.run.value - 1.0


def job_for(run: PublishedRun) -> JobSpec:
    """The spec that describes ``run`` (its layout pinned where the source states it)."""
    model = run.model
    if isinstance(model, InlineModel) and run.vocab:
        model = model.model_copy(update={"vocab": run.vocab, "tied_embeddings": run.tied_embeddings})
    fields: dict[str, Any] = {
        "apiVersion": "suanli/v1",
        "name": run.id,
        "model": model,
        "precision": run.precision,
        "resources": Resources(accelerators=(run.accelerator,), count=run.count),
    }
    if run.kind == "training":
        fields |= {"kind": "Training", "tokens_b": run.tokens_b}
        if run.seq:
            fields["sequence_tokens"] = run.seq
        if run.global_batch_tokens:
            fields["global_batch_tokens"] = run.global_batch_tokens
        if run.parallelism:
            fields["parallelism"] = run.parallelism
        if run.recompute:
            fields["recompute"] = run.recompute
    else:
        fields |= {
            "kind": "BatchInference",
            "requests": 100_000,
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "prefix_cache_hit": run.prefix_cache_hit or None,
            "tpot_ms": run.tpot_ms,
        }
    return JobSpec.model_validate(fields)


def shape_for(run: PublishedRun, catalog: Catalog) -> ModelShape | None:
    """The run's model sizes as the planner resolves its spec: an inline model carries the
    row's vocabulary (``InlineModel.vocab``), a catalogue model its entry's."""
    return resolve_shape(job_for(run), catalog)


def _estimated(run: PublishedRun, perf: Performance, job: JobSpec) -> float:
    seconds = perf.duration_h * SECONDS_PER_HOUR
    if run.metric == "accelerator_hours":
        return perf.duration_h * run.count
    if run.metric == "tokens_per_s_per_device":
        steady_s = seconds * goodput.goodput(run.count)
        return run.tokens_b * 1e9 / (steady_s * run.count)
    value = {line.name: line.value for line in perf.lines}[run.metric]
    assert isinstance(value, float)
    return value


def calibrate(catalog: Catalog, runs: tuple[PublishedRun, ...] = PUBLISHED_RUNS) -> list[Calibration]:
    """Estimate every published run with the planner's own code."""
    results = []
    for run in runs:
        job = job_for(run)
        shape, accel = shape_for(run, catalog), catalog.accelerator(run.accelerator)
        if run.kind == "inference":
            assert shape is not None
            perf = batch_inference(
                job,
                shape,
                accel,
                run.count,
                max_batch=run.concurrency,
                replica_size=run.parallelism.get("tp") or run.parallelism.get("ep"),
            )
        else:
            perf = performance(job, shape, accel, run.count, flash_attention=run.flash_attention)
        results.append(Calibration(run, _estimated(run, perf, job), perf))
    return results


@dataclass(frozen=True)
class ErrorRow:
    kind: str
    group: str
    in_sample: bool
    runs: int
    median_abs_error: float
    max_abs_error: float


def error_table(results: list[Calibration]) -> list[ErrorRow]:
    """Median and max |error| per (kind, accelerator) and per kind overall ("all"),
    in-sample and out-of-sample apart."""
    keys: dict[tuple[str, str, bool], list[float]] = {}
    for r in results:
        for group in (r.run.accelerator, "all"):
            keys.setdefault((r.run.kind, group, r.run.in_sample), []).append(abs(r.error))
    rows = [
        ErrorRow(kind, group, ins, len(errs), statistics.median(errs), max(errs))
        for (kind, group, ins), errs in sorted(
            keys.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1] == "all", kv[0][1])
        )
    ]
    return rows
