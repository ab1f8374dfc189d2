"""Trace names and formats -> loaders. Unknown names fail with the valid ones.

``--trace NAME`` picks a known trace: ``synthetic`` (generated), ``philly`` and
``openb`` (read from the data directory: ``$SUANLI_DATA``, else ``../shared/data`` or
``./shared/data`` where they exist). ``--trace PATH --trace-format FORMAT`` reads a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from suanli.catalog import ThroughputTable
from suanli.errors import InputError, UnknownNameError
from suanli.traces.gavel import load_gavel_trace
from suanli.traces.philly import load_philly
from suanli.traces.synthetic import SyntheticParams, synthetic
from suanli.traces.trace import Trace

DATA_ENV = "SUANLI_DATA"
NAMED = {
    "philly": ("traces", "philly", "philly.csv"),
    "openb": ("traces", "openb", "csv", "openb_pod_list_default.csv"),
}
NAMES = ("synthetic", *NAMED)


@dataclass(frozen=True)
class TraceOptions:
    reference: str | None = None
    """Accelerator the trace's durations were measured on (each format has a default)."""
    profiles: ThroughputTable | None = None
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)
    seed: int = 0


Loader = Callable[[Path, TraceOptions], Trace]


def _with_reference(load: Callable[..., Trace]) -> Loader:
    def loader(path: Path, options: TraceOptions) -> Trace:
        return load(path) if options.reference is None else load(path, reference=options.reference)

    return loader


def _gavel(path: Path, options: TraceOptions) -> Trace:
    if options.reference is None:
        return load_gavel_trace(path, options.profiles)
    return load_gavel_trace(path, options.profiles, options.reference)


class TraceRegistry:
    """Trace formats by name."""

    def __init__(self) -> None:
        self._formats: dict[str, Loader] = {}

    def register(self, name: str, loader: Loader) -> None:
        if name in self._formats:
            raise ValueError(f"trace format '{name}' is already registered")
        self._formats[name] = loader

    def formats(self) -> tuple[str, ...]:
        return tuple(self._formats)

    def load(self, trace: str, trace_format: str | None, options: TraceOptions) -> Trace:
        if trace_format is None:
            if trace == "synthetic":
                params = options.synthetic
                if options.reference is not None:
                    params = SyntheticParams(**{**params.__dict__, "reference": options.reference})
                return synthetic(params, seed=options.seed)
            if trace in NAMED:
                return self._formats[trace](data_file(trace), options)
            if Path(trace).exists():
                raise InputError(
                    f"'{trace}' is a file: say its format with --trace-format ({', '.join(self._formats)})"
                )
            raise UnknownNameError("trace", trace, NAMES)
        loader = self._formats.get(trace_format)
        if loader is None:
            raise UnknownNameError("trace format", trace_format, self._formats)
        path = Path(trace)
        if not path.exists():
            raise InputError(f"trace file not found: {path}")
        return loader(path, options)


def data_dirs() -> list[Path]:
    env = os.environ.get(DATA_ENV)
    if env:
        return [Path(env)]
    return [Path("../shared/data"), Path("shared/data"), Path("data")]


def data_file(name: str) -> Path:
    parts = NAMED[name]
    for base in data_dirs():
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    tried = ", ".join(str(b.joinpath(*parts)) for b in data_dirs())
    raise InputError(
        f"trace '{name}' needs its data file ({'/'.join(parts)}); tried {tried}. "
        f"To fix: set {DATA_ENV}=DIR, or pass the file with --trace PATH --trace-format {name}"
    )


def register_builtins(registry: TraceRegistry | None = None) -> TraceRegistry:
    from suanli.traces.acme import load_acme
    from suanli.traces.csv_format import load_csv
    from suanli.traces.helios import load_helios
    from suanli.traces.openb import load_openb
    from suanli.traces.pai import load_pai

    registry = registry or TraceRegistry()
    registry.register("philly", _with_reference(load_philly))
    registry.register("gavel", _gavel)
    registry.register("openb", _with_reference(load_openb))
    registry.register("helios", _with_reference(load_helios))
    registry.register("acme", _with_reference(load_acme))
    registry.register("pai", _with_reference(load_pai))
    registry.register("csv", _with_reference(load_csv))
    return registry
