"""Parse job specs from YAML into :class:`JobSpec`, with errors that name file, line and field."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from suanli import _yamlio
from suanli.catalog import Catalog, canonical_id
from suanli.clock import to_datetime
from suanli.errors import SpecError, closest, did_you_mean
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
    checker.data = data = checker.expand_accelerators(data)
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise checker.from_validation(exc) from None
    checker.check_kind(spec)
    if catalog is not None:
        spec = checker.resolve_names(spec, catalog)
    return spec


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model in a field's type (``int | CountRange`` -> ``CountRange``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field_names(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """The keys a spec may write in ``model`` (aliases, as in YAML), each with its own model."""
    return {info.alias or name: _model_in(info.annotation) for name, info in model.model_fields.items()}


def _model_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The spec model that the mapping at ``path`` is read into (``('resources',)`` -> Resources)."""
    model: type[BaseModel] | None = JobSpec
    for part in path:
        if isinstance(part, int) or model is None:
            continue  # list items: no spec list holds mappings
        model = _field_names(model).get(part)
    return model


def _every_field(model: type[BaseModel] = JobSpec, prefix: str = "") -> dict[str, str]:
    """Each key of the spec at any depth -> its dotted path (the shallowest, if several)."""
    found: dict[str, str] = {}
    nested: list[tuple[type[BaseModel], str]] = []
    for name, inner in _field_names(model).items():
        found.setdefault(name, prefix + name)
        if inner is not None:
            nested.append((inner, f"{prefix}{name}."))
    for inner, path in nested:
        for name, dotted in _every_field(inner, path).items():
            found.setdefault(name, dotted)
    return found


ACCELERATOR_COUNT = re.compile(r"^(?P<name>[^:]*):(?P<count>[^:]*)$")
"""SkyPilot's ``h800:8``: an accelerator type and how many of it."""


class _Checker:
    def __init__(self, path: str, data: Any, positions: _yamlio.Positions) -> None:
        self.path, self.data, self.positions = path, data, positions

    def expand_accelerators(self, data: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``data`` with ``resources.accelerators`` in its long form.

        ``accelerators: h800`` is ``[h800]``; SkyPilot's ``h800:8`` is ``h800`` with
        ``count: 8``. In a list every type must ask for the same count (a job has one count
        range for all its types), and an explicit ``count`` must agree with it.
        """
        resources = data.get("resources")
        if not isinstance(resources, dict):
            return data
        items = resources.get("accelerators")
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            return data
        where = ("resources", "accelerators")
        names: list[Any] = []
        counted: list[tuple[int, str, int]] = []  # (index, as written, count)
        for index, item in enumerate(items):
            found = ACCELERATOR_COUNT.match(item.strip()) if isinstance(item, str) else None
            if found is None:
                names.append(item)
                continue
            name, count_text = found.group("name").strip(), found.group("count").strip()
            if not name:
                raise self.error((*where, index), f"'{item}': name the accelerator type before ':', like h800:8")
            if not count_text.isdigit() or int(count_text) < 1:
                raise self.error(
                    (*where, index), f"'{item}': the count after ':' must be a whole number from 1, like {name}:8"
                )
            names.append(name)
            counted.append((index, item.strip(), int(count_text)))
        if not counted:
            return {**data, "resources": {**resources, "accelerators": items}}
        _, first, count = counted[0]
        for index, written, other in counted[1:]:
            if other != count:
                low, high = sorted((count, other))
                raise self.error(
                    (*where, index),
                    f"'{written}' asks for {other} accelerators but '{first}' for {count}; "
                    "a job has one count for all its types",
                    hint=f"give them the same count, or list the types alone with count: {{min: {low}, max: {high}}}",
                )
        with_count = {index for index, _, _ in counted}
        for index, item in enumerate(items):
            if index not in with_count:
                raise self.error(
                    (*where, index),
                    f"'{item}' has no count but '{first}' has",
                    hint=f"write {item}:{count}, or list the types alone and set count",
                )
        given = resources.get("count")
        if "count" in resources and given not in (count, str(count), {"min": count, "max": count}):
            raise self.error(
                ("resources", "count"),
                f"{given} disagrees with '{first}' in resources.accelerators",
                hint=f"keep one of them: count: {count}, or the types without ':{count}'",
            )
        return {**data, "resources": {**resources, "accelerators": names, "count": count}}

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
            message, hint = self._unknown_field(field)
        elif kind == "missing":
            message, hint = "required field is missing", None
        else:
            message, hint = str(first["msg"]), None
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            if kind == "literal_error" and isinstance(first["input"], str):
                expected = re.findall(r"'([^']*)'", str(first.get("ctx", {}).get("expected", "")))
                message += did_you_mean(first["input"], expected)
        others = len(relevant) - 1
        if others > 0:
            message += f" ({others} more problem{'s' if others > 1 else ''} in this spec)"
        return self.error(field, message, hint)

    @staticmethod
    def _unknown_field(field: tuple[str | int, ...]) -> tuple[str, str | None]:
        """The message and hint for an unknown key: the same key where it belongs
        (``regions`` -> ``constraints.regions``), else the closest key of the same mapping,
        else the closest key anywhere."""
        key, parent = str(field[-1]), field[:-1]
        model = _model_at(parent)
        here = list(_field_names(model)) if model is not None else []
        elsewhere = _every_field()
        moved = {name: path for name, path in elsewhere.items() if path != _yamlio.dotted((*parent, name))}
        if key.lower() in {name.lower() for name in here}:
            return f"unknown field; did you mean '{closest(key, here)}'?", None
        if key.lower() in {name.lower() for name in moved}:
            return f"unknown field here; did you mean '{moved[str(closest(key, moved))]}'?", None
        near = closest(key, here)
        if near is not None:
            return f"unknown field; did you mean '{near}'?", None
        far = closest(key, moved)
        if far is not None:
            return f"unknown field here; did you mean '{moved[far]}'?", None
        return "unknown field", "remove it or check its spelling (see docs/spec.md)"

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

    def _catalogue_id(self, field: tuple[str | int, ...], what: str, name: str, ids: Iterable[str], hint: str) -> str:
        """The catalogue id ``name`` means (``H100`` -> ``h100``), or an error suggesting the
        closest one."""
        options = sorted(ids)
        found = canonical_id(name, options)
        if found is None:
            raise self.error(field, f"unknown {what} '{name}'{did_you_mean(name, options)}", hint=hint)
        return found

    def resolve_names(self, spec: JobSpec, catalog: Catalog) -> JobSpec:
        """``spec`` with its catalogue names checked and replaced by the catalogue's ids
        (matched ignoring case, ``_`` for ``-`` and spaces), so later code sees only ids."""
        updates: dict[str, Any] = {}
        if isinstance(spec.model, str):
            models = ", ".join(sorted(catalog.models))
            hint = f"use one of {models}, or inline {{params_b: ...}}"
            updates["model"] = self._catalogue_id(("model",), "model", spec.model, catalog.models, hint)
        accelerators = tuple(
            "any"
            if accel.lower() == "any"
            else self._catalogue_id(
                ("resources", "accelerators", index),
                "accelerator",
                accel,
                catalog.accelerators,
                f"use 'any' or one of {', '.join(sorted(catalog.accelerators))}",
            )
            for index, accel in enumerate(spec.resources.accelerators)
        )
        updates["resources"] = spec.resources.model_copy(update={"accelerators": tuple(dict.fromkeys(accelerators))})
        constraints: dict[str, Any] = {}
        valid_regions = sorted(catalog.region_names())
        regions = spec.constraints.regions
        if regions is not None:
            hint = f"use a site, hub, province or zone: {', '.join(valid_regions)}"
            constraints["regions"] = tuple(
                self._catalogue_id(("constraints", "regions", index), "region", region, valid_regions, hint)
                for index, region in enumerate(regions)
            )
        zones = sorted({site.zone for site in catalog.sites.values()})
        residency = spec.constraints.residency
        if residency is not None:
            hint = f"use one of {', '.join(zones)}"
            constraints["residency"] = self._catalogue_id(
                ("constraints", "residency"), "residency zone", residency, zones, hint
            )
        data = spec.constraints.data
        if data is not None:
            hint = f"use one of {', '.join(sorted(catalog.sites))}"
            site = self._catalogue_id(("constraints", "data", "site"), "site", data.site, catalog.sites, hint)
            constraints["data"] = data.model_copy(update={"site": site})
        updates["constraints"] = spec.constraints.model_copy(update=constraints)
        return spec.model_copy(update=updates)
