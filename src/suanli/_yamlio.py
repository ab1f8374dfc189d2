"""YAML reading that remembers where every value came from.

:func:`load` returns the document and a map from a field path (a tuple of keys and
list indices) to its 1-based ``(line, column)``, so a validation error deep in a
document can name the line it came from. Duplicate keys are refused (YAML would
silently keep the last one).
"""

from __future__ import annotations

from typing import Any

import yaml

from suanli.errors import InputError

try:  # the C parser is ~10x faster; fall back where libyaml is missing
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

Path_ = tuple[str | int, ...]
Positions = dict[Path_, tuple[int, int]]


class YamlError(InputError):
    """Unparseable YAML, with the line and column of the problem."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        self.message, self.line, self.column = message, line, column
        super().__init__(message)


def load(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document; return ``(data, positions)``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        positions: Positions = {}
        _walk(node, (), positions)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise YamlError(
            f"invalid YAML: {problem}",
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", None, None) from None
    finally:
        loader.dispose()
    return data, positions


def _walk(node: yaml.Node, path: Path_, positions: Positions) -> None:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise YamlError(
                    f"duplicate key '{key}' (first at line {seen[key]})",
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            seen[key] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), positions)
            # point errors about a key at the key itself, not at its value
            positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), positions)


def position_of(positions: Positions, path: Path_) -> tuple[int, int] | None:
    """The position of ``path``, or of its nearest ancestor that has one."""
    for cut in range(len(path), -1, -1):
        found = positions.get(tuple(path[:cut]))
        if found is not None:
            return found
    return None


def dotted(path: Path_) -> str:
    """``('resources', 'count', 0)`` -> ``resources.count[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def undotted(text: str) -> Path_:
    """``resources.count[0]`` -> ``('resources', 'count', 0)`` (the inverse of :func:`dotted`)."""
    path: list[str | int] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        if name:
            path.append(name)
        for index in rest.replace("]", "").split("[") if rest else ():
            path.append(int(index) if index.isdigit() else index)
    return tuple(path)
