"""Parse job specs from YAML into :class:`JobSpec`, with errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from suanli import _yamlio
from suanli.catalog import Catalog
from suanli.errors import SpecError
from suanli.workload.spec import KIND_FIELDS, KIND_ONLY_FIELDS, JobSpec


def load_spec(path: str | Path, catalog: Catalog | None = None) -> JobSpec:
    """Read and validate the spec at ``path`` (and, given a catalogue, its names)."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", path=label, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc}", path=label) from None
    return parse_spec(text, label, catalog)


def parse_spec(text: str, path: str = "<spec>", catalog: Catalog | None = None) -> JobSpec:
    """Validate spec ``text``; ``path`` labels error messages."""
    try:
        data, positions = _yamlio.load(text)
    except _yamlio.YamlError as exc:
        raise SpecError(exc.message, path=path, line=exc.line) from None
    checker = _Checker(path, data, positions)
    if not isinstance(data, dict):
        raise checker.error((), "a job spec must be a YAML mapping", hint="start with 'apiVersion: suanli/v1'")
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise checker.from_validation(exc) from None
    checker.check_kind(spec)
    if catalog is not None:
        checker.check_names(spec, catalog)
    return spec


class _Checker:
    def __init__(self, path: str, data: Any, positions: _yamlio.Positions) -> None:
        self.path, self.data, self.positions = path, data, positions

    def error(self, field: tuple[str | int, ...], message: str, hint: str | None = None) -> SpecError:
        pos = _yamlio.position_of(self.positions, field)
        return SpecError(
            message,
            path=self.path,
            line=pos[0] if pos else None,
            field=_yamlio.dotted(field) or None,
            hint=hint,
        )

    def _data_path(self, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
        """Keep the parts of a pydantic error location that exist in the document.

        Union members add their type names (``int``, ``CountRange``) to locations;
        those are not fields the user wrote.
        """
        node: Any = self.data
        kept: list[str | int] = []
        for part in loc:
            if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            ):
                node = node[part]
                kept.append(part)
            elif isinstance(node, dict) and isinstance(part, str) and part[:1].islower() and "[" not in part:
                kept.append(part)  # a missing field: name it even though it is absent
                node = None
        return tuple(kept)

    def from_validation(self, exc: ValidationError) -> SpecError:
        errors = exc.errors()

        def document_order(error: Any) -> tuple[bool, int, int]:
            """Errors about what the user wrote first, in document order; missing fields last."""
            pos = _yamlio.position_of(self.positions, self._data_path(tuple(error["loc"])))
            line, column = pos if pos is not None else (0, 0)
            return error["type"] == "missing", line, column

        first = min(errors, key=document_order)
        field = self._data_path(tuple(first["loc"]))
        kind = first["type"]
        if kind == "extra_forbidden":
            message, hint = "unknown field", "remove it or check its spelling (see docs/spec.md)"
        elif kind == "missing":
            message, hint = "required field is missing", None
        else:
            message, hint = str(first["msg"]), None
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
        if len(errors) > 1:
            message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in this spec)"
        return self.error(field, message, hint)

    def check_kind(self, spec: JobSpec) -> None:
        given = set(self.data)
        for name, kinds in KIND_ONLY_FIELDS.items():
            if name in given and spec.kind not in kinds:
                raise self.error(
                    (name,),
                    f"not used by kind {spec.kind}",
                    hint=f"remove it; it applies to {' and '.join(kinds)}",
                )
        required = KIND_FIELDS[spec.kind]
        if spec.kind in ("Training", "FineTuning") and spec.profile is not None:
            required = ()
        missing = [name for name in required if getattr(spec, name) is None]
        if missing:
            raise self.error(
                ("kind",),
                f"kind {spec.kind} needs {', '.join(missing)}",
                hint=f"add {', '.join(missing)} (see docs/spec.md)",
            )
        if spec.model is None and spec.profile is None:
            raise self.error(("model",), "required field is missing", hint="name a catalogue model, e.g. qwen2.5-7b")

    def check_names(self, spec: JobSpec, catalog: Catalog) -> None:
        if isinstance(spec.model, str) and spec.model not in catalog.models:
            raise self.error(
                ("model",),
                f"unknown model '{spec.model}'",
                hint=f"use one of {', '.join(sorted(catalog.models))}, or inline {{params_b: ...}}",
            )
        for index, accel in enumerate(spec.resources.accelerators):
            if accel != "any" and accel not in catalog.accelerators:
                raise self.error(
                    ("resources", "accelerators", index),
                    f"unknown accelerator '{accel}'",
                    hint=f"use 'any' or one of {', '.join(sorted(catalog.accelerators))}",
                )
        valid_regions = catalog.region_names()
        for index, region in enumerate(spec.constraints.regions or ()):
            if not any(catalog.site_matches(site, region) for site in catalog.sites.values()):
                raise self.error(
                    ("constraints", "regions", index),
                    f"unknown region '{region}'",
                    hint=f"use a site, hub, province or zone: {', '.join(sorted(valid_regions))}",
                )
        zones = {site.zone for site in catalog.sites.values()}
        residency = spec.constraints.residency
        if residency is not None and residency not in zones:
            raise self.error(
                ("constraints", "residency"),
                f"unknown residency zone '{residency}'",
                hint=f"use one of {', '.join(sorted(zones))}",
            )
        data = spec.constraints.data
        if data is not None and data.site not in catalog.sites:
            raise self.error(
                ("constraints", "data", "site"),
                f"unknown site '{data.site}'",
                hint=f"use one of {', '.join(sorted(catalog.sites))}",
            )
