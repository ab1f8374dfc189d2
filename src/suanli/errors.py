"""One exception tree for suanli. Every message says what was wrong, where, and how to fix it.

::

    SuanliError
     +-- InputError                 bad user input (exit code 2, HTTP 4xx)
     |    +-- SpecError             a job spec: file, line, field path
     |    +-- CatalogError          a catalogue file: file, line, column
     |    +-- UnknownNameError      a name that is not registered; lists the valid ones
     +-- NoFeasiblePlacement        nothing fits; carries the rejections (exit code 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class SuanliError(Exception):
    """Base of every error suanli raises on purpose."""

    exit_code = 1


class InputError(SuanliError):
    """The user's input is invalid. CLI exit code 2."""

    exit_code = 2


def _location(path: str | None, line: int | None, column: int | None) -> str:
    if path is None:
        return ""
    where = path
    if line is not None:
        where += f":{line}"
        if column is not None:
            where += f":{column}"
    return where + ": "


class SpecError(InputError):
    """A job spec is invalid: names the file, the line and the field path."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path, self.line, self.field, self.hint = path, line, field, hint
        self.reason = message
        text = _location(path, line, None)
        if field:
            text += f"field '{field}': "
        text += message
        if hint:
            text += f". To fix: {hint}"
        super().__init__(text)


class CatalogError(InputError):
    """A catalogue file is invalid: names the file, the line and column (row), and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.line, self.column, self.field = path, line, column, field
        text = _location(path, line, column)
        if field:
            text += f"field '{field}': "
        super().__init__(text + message)


class UnknownNameError(InputError, KeyError):
    """A name was looked up in a registry or catalogue and is not there."""

    def __init__(self, what: str, name: str, valid: Iterable[str]) -> None:
        self.what, self.name, self.valid = what, name, sorted(valid)
        super().__init__(f"unknown {what} '{name}'; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NoFeasiblePlacement(SuanliError):
    """No option satisfies the job's constraints. CLI exit code 3."""

    exit_code = 3

    def __init__(self, job: str, rejected: Sequence[Any]) -> None:
        self.job, self.rejected = job, list(rejected)
        super().__init__(f"no feasible placement for job '{job}' ({len(self.rejected)} options rejected)")
