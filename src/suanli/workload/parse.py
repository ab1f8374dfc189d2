"""Parse job specs from YAML into :class:`JobSpec`, with errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from suanli import _yamlio
from suanli.catalog import Catalog
from suanli.clock import to_datetime
from suanli.errors import SpecError
from suanli.workload.spec import KIND_FIELDS, KIND_ONLY_FIELDS, JobSpec, RelativeTime, parse_time

BOOLEAN_FIELDS = frozenset({"public"})
"""The spec's flags: the only fields where a YAML boolean is meant."""


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
    return _validate(data, positions, path, catalog)


def validate_spec(data: Any, label: str = "spec", catalog: Catalog | None = None) -> JobSpec:
    """Validate a spec already decoded (the JSON body of an API request): the same checks as
    :func:`parse_spec`; errors name ``label`` and the field path (there are no lines)."""
    return _validate(data, {}, label, catalog)


TIME_FIELDS = ("earliest_start", "deadline")
"""The ``constraints`` fields that take a time (absolute, or relative to now)."""


def pin_times(data: Any, now_s: float) -> Any:
    """A copy of ``data`` (a decoded spec) with its relative times (``now``, ``+7d``)
    replaced by the absolute times they mean at ``now_s`` (ISO 8601, UTC): what the control
    plane stores at submission, so that a job's window does not move each time it is
    re-planned. Anything that is not a relative time (absolute, absent, malformed) is kept
    as it is, for validation to judge."""
    if not isinstance(data, dict) or not isinstance(data.get("constraints"), dict):
        return data
    constraints = dict(data["constraints"])
    for name in TIME_FIELDS:
        value = constraints.get(name)
        if not isinstance(value, str):
            continue
        try:
            moment = parse_time(value, name)
        except ValueError:
            continue  # validation says what is wrong, and where
        if isinstance(moment, RelativeTime):
            constraints[name] = to_datetime(moment.at_s(now_s)).isoformat()
    return {**data, "constraints": constraints}


def _validate(data: Any, positions: _yamlio.Positions, path: str, catalog: Catalog | None) -> JobSpec:
    checker = _Checker(path, data, positions)
    if not isinstance(data, dict):
        raise checker.error((), "a job spec must be a YAML mapping", hint="start with 'apiVersion: suanli/v1'")
    checker.refuse_booleans(data, ())
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

    def refuse_booleans(self, node: Any, path: tuple[str | int, ...]) -> None:
        """``true``/``false`` only where a flag is meant: YAML booleans would otherwise pass
        as 1 and 0 for numbers (pydantic's lax mode)."""
        if isinstance(node, bool):
            if path and path[-1] not in BOOLEAN_FIELDS:
                raise self.error(path, f"expected a number or text, got the boolean {str(node).lower()}")
        elif isinstance(node, dict):
            for key, value in node.items():
                self.refuse_booleans(value, (*path, str(key)))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self.refuse_booleans(value, (*path, index))

    def _data_path(self, error: Any) -> tuple[tuple[str | int, ...], bool]:
        """The parts of a pydantic error location that exist in the document, and whether
        the error is about a union member the value is not (so a more relevant error exists).

        Union members add their tags to locations: ``int``, ``constrained-str`` (scalar
        members), ``CountRange``, ``function-after[..., CountRange]`` (model members). A scalar tag under a
        mapping the user wrote, or a model tag under a scalar, means the other member was
        meant. A missing field is named even though it is absent.
        """
        node: Any = self.data
        kept: list[str | int] = []
        wrong_member = False
        loc = tuple(error["loc"])
        for index, part in enumerate(loc):
            if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            ):
                node = node[part]
                kept.append(part)
                continue
            is_last = index == len(loc) - 1
            if isinstance(node, dict) and error["type"] == "missing" and is_last and isinstance(part, str):
                kept.append(part)
            elif isinstance(part, str) and (part[:1].isupper() or "[" in part):
                wrong_member = wrong_member or not isinstance(node, dict)
            elif isinstance(node, dict | list):
                wrong_member = True  # a scalar member's tag under a mapping or list
        return tuple(kept), wrong_member

    def from_validation(self, exc: ValidationError) -> SpecError:
        errors = exc.errors()
        located = [(error, *self._data_path(error)) for error in errors]
        relevant = [item for item in located if not item[2]] or located

        def document_order(item: tuple[Any, tuple[str | int, ...], bool]) -> tuple[bool, int, int]:
            """Errors about what the user wrote first, in document order; missing fields last."""
            pos = _yamlio.position_of(self.positions, item[1])
            line, column = pos if pos is not None else (0, 0)
            return item[0]["type"] == "missing", line, column

        first, field, _ = min(relevant, key=document_order)
        kind = first["type"]
        if kind == "extra_forbidden":
            message, hint = "unknown field", "remove it or check its spelling (see docs/spec.md)"
        elif kind == "missing":
            message, hint = "required field is missing", None
        else:
            message, hint = str(first["msg"]), None
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
        others = len(relevant) - 1
        if others > 0:
            message += f" ({others} more problem{'s' if others > 1 else ''} in this spec)"
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
