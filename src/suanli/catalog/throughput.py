"""Measured throughput tables (job class x accelerator x count -> steps/s).

Two published formats are read:

- **Gavel** (Narayanan et al., OSDI'20), ``simulation_throughputs.json``:
  ``{worker_type: {"('<job type>', <scale factor>)": {"null": steps_per_s, ...}}}``; the
  ``null`` entry is the isolated throughput (0 where the job cannot run on that type,
  e.g. out of memory: such entries are left out); worker types ``k80``, ``p100``, ``v100``.
- **Sia** (Jayaram Subramanya et al., SOSP'23), one directory per application holding
  ``placements-<hw>.csv`` with ``local_bsz, step_time, sync_time, placement``; the
  placement's digits are GPUs per node, so their sum is the count. A step takes
  ``step_time + sync_time`` (no overlap assumed: a lower bound on throughput). The job
  class is ``<app> (local batch <local_bsz>)``. Hardware: ``aws`` = T4,
  ``azure`` = V100, ``dgx``/``dgx-ext`` = A100-40GB, ``quad`` = Quadro RTX 6000,
  ``rtx`` = RTX 2080 Ti (Sia artifact README).

A job on an accelerator or count that was not measured is scaled (see
:meth:`ThroughputTable.steps_per_s`), and the breakdown says how.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from suanli.catalog.catalog import Catalog
from suanli.catalog.schema import Accelerator
from suanli.errors import CatalogError

GAVEL_WORKERS = {"k80": "k80", "p100": "p100", "v100": "v100"}
SIA_HARDWARE = {
    "aws": "t4",
    "azure": "v100",
    "dgx": "a100-40g",
    "dgx-ext": "a100-40g",
    "quad": "rtx6000",
    "rtx": "rtx2080ti",
}

Measurements = Mapping[str, Mapping[str, Mapping[int, float]]]
"""job class -> accelerator id -> count -> steps/s."""


def _reference_peak(accel: Accelerator) -> float:
    """Peak used to carry a measurement to another accelerator: dense fp16 where the
    part has tensor cores for it, else fp32. A rough transfer; flagged in breakdowns."""
    return accel.tflops.get("fp16") or accel.tflops.get("bf16") or accel.tflops.get("fp32") or 0.0


@dataclass(frozen=True)
class ThroughputTable:
    """Measured steps/s by job class, accelerator and count."""

    measurements: Measurements
    accelerators: Mapping[str, Accelerator]
    source: str

    def job_classes(self) -> tuple[str, ...]:
        return tuple(sorted(self.measurements))

    def steps_per_s(self, job_class: str, accel: Accelerator, count: int) -> tuple[float, str] | None:
        """Steps/s of ``job_class`` on ``count`` x ``accel``, and how it was obtained.

        1. measured at this accelerator and count;
        2. else measured at this accelerator at the largest count below (or the smallest
           above), scaled linearly with count;
        3. else the same from the measured accelerator with the closest peak, scaled by
           the ratio of peaks (:func:`_reference_peak`).
        Returns None for an unknown job class.
        """
        by_accel = self.measurements.get(job_class)
        if not by_accel:
            return None
        if accel.id in by_accel:
            rate, how = _at_count(by_accel[accel.id], count)
            return rate, f"{self.source}: {accel.id} {how}"
        target = _reference_peak(accel)
        if target <= 0:
            return None
        candidates = [a for a in by_accel if a in self.accelerators and _reference_peak(self.accelerators[a]) > 0]
        if not candidates:
            return None
        ref_id = min(candidates, key=lambda a: abs(_reference_peak(self.accelerators[a]) / target - 1))
        rate, how = _at_count(by_accel[ref_id], count)
        ratio = target / _reference_peak(self.accelerators[ref_id])
        return rate * ratio, f"{self.source}: {ref_id} {how}, x {ratio:.2f} peak ratio {accel.id}/{ref_id}"


def _at_count(by_count: Mapping[int, float], count: int) -> tuple[float, str]:
    if count in by_count:
        return by_count[count], f"measured at {count}"
    below = [c for c in by_count if c < count]
    base = max(below) if below else min(by_count)
    return by_count[base] * count / base, f"measured at {base}, scaled linearly to {count}"


def _freeze(raw: dict[str, dict[str, dict[int, float]]]) -> Measurements:
    return MappingProxyType(
        {k: MappingProxyType({a: MappingProxyType(dict(c)) for a, c in v.items()}) for k, v in raw.items()}
    )


def load_gavel(path: Path, catalog: Catalog) -> ThroughputTable:
    """Read Gavel's throughput JSON (isolated throughputs only)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read throughput file: {exc}", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno, column=exc.colno) from None
    if not isinstance(data, dict):
        raise CatalogError("expected an object keyed by worker type", path=str(path))
    raw: dict[str, dict[str, dict[int, float]]] = {}
    for worker, jobs in data.items():
        accel_id = GAVEL_WORKERS.get(worker)
        if accel_id is None:  # *_unconsolidated and unknown workers are skipped
            continue
        if not isinstance(jobs, dict):
            raise CatalogError(f"worker '{worker}' must map job types to throughputs", path=str(path))
        for key, entry in jobs.items():
            try:
                job_type, scale = ast.literal_eval(key)
                rate = float(entry["null"])
                count = int(scale)
            except (ValueError, SyntaxError, TypeError, KeyError):
                raise CatalogError(
                    f"worker '{worker}': job key {key!r} must be \"('<job type>', <scale>)\" with a 'null' throughput",
                    path=str(path),
                ) from None
            if rate == 0.0:
                continue  # Gavel writes 0 for a job that cannot run there (out of memory)
            if count < 1 or not rate > 0 or rate == float("inf"):
                raise CatalogError(
                    f"worker '{worker}', job {key!r}: scale must be >= 1 and throughput a positive number, "
                    f"got scale {scale!r} and {entry['null']!r}",
                    path=str(path),
                )
            raw.setdefault(str(job_type), {}).setdefault(accel_id, {})[count] = rate
    if not raw:
        raise CatalogError("no k80/p100/v100 throughputs found", path=str(path))
    accels = {a: catalog.accelerator(a) for a in GAVEL_WORKERS.values() if a in catalog.accelerators}
    return ThroughputTable(_freeze(raw), MappingProxyType(accels), source=f"gavel {path.name}")


def load_sia(directory: Path, catalog: Catalog) -> ThroughputTable:
    """Read Sia's ``placements-<hw>.csv`` files from ``directory`` (one app) or its sub-directories."""
    if not directory.is_dir():
        raise CatalogError("Sia profile directory not found", path=str(directory))
    app_dirs = (
        [directory] if any(directory.glob("placements-*.csv")) else sorted(p for p in directory.iterdir() if p.is_dir())
    )
    raw: dict[str, dict[str, dict[int, float]]] = {}
    for app_dir in app_dirs:
        for csv_path in sorted(app_dir.glob("placements-*.csv")):
            hardware = csv_path.stem.removeprefix("placements-")
            accel_id = SIA_HARDWARE.get(hardware)
            if accel_id is None:
                continue
            _read_sia_csv(csv_path, app_dir.name, accel_id, raw)
    if not raw:
        raise CatalogError("no Sia placements-<hw>.csv files found", path=str(directory))
    accels = {a: catalog.accelerator(a) for a in set(SIA_HARDWARE.values()) if a in catalog.accelerators}
    return ThroughputTable(_freeze(raw), MappingProxyType(accels), source=f"sia {directory.name}")


def _read_sia_csv(path: Path, app: str, accel_id: str, raw: dict[str, dict[str, dict[int, float]]]) -> None:
    import csv  # here: every plan imports this module, few read a Sia profile

    try:
        _read_sia_rows(path, app, accel_id, raw)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CatalogError(f"cannot read Sia profile: {exc}", path=str(path)) from None


def _read_sia_rows(path: Path, app: str, accel_id: str, raw: dict[str, dict[str, dict[int, float]]]) -> None:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"local_bsz", "step_time", "sync_time", "placement"} - set(reader.fieldnames or ())
        if missing:
            raise CatalogError(f"missing column(s) {sorted(missing)}", path=str(path), line=1)
        for row_number, row in enumerate(reader, start=2):
            try:
                bsz = int(float(row["local_bsz"]))
                seconds = float(row["step_time"]) + float(row["sync_time"])
                count = sum(int(d) for d in (row["placement"] or "").strip())
            except (TypeError, ValueError, AttributeError):
                raise CatalogError("missing or non-numeric value", path=str(path), line=row_number) from None
            if not seconds > 0 or seconds == float("inf") or count <= 0:
                raise CatalogError("step time and placement must be positive", path=str(path), line=row_number)
            counts = raw.setdefault(f"{app} (local batch {bsz})", {}).setdefault(accel_id, {})
            counts[count] = max(counts.get(count, 0.0), 1.0 / seconds)


def load_profiles(path: str | Path, catalog: Catalog) -> ThroughputTable:
    """A Gavel JSON file or a Sia profile directory."""
    target = Path(path)
    if not target.exists():
        raise CatalogError("throughput table not found", path=str(target))
    return load_sia(target, catalog) if target.is_dir() else load_gavel(target, catalog)
