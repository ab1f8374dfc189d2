"""One exception tree for suanli. Every message says what was wrong, where, and how to fix it.
Each class name is defined once in the whole package (``tests/test_api_hygiene.py`` checks).

::

    SuanliError                              (exit code 1)
     +-- InputError                          bad user input (exit code 2, HTTP 422)
     |    +-- SpecError                      a job spec: file, line, field path
     |    +-- CatalogError                   a catalogue file: file, line, column
     |    +-- UnknownNameError               a name that is not registered; lists the valid ones
     |    +-- YamlError        (_yamlio)     a YAML file that does not parse
     |    +-- TraceError       (traces)      a trace file: its path, row and column
     |    +-- StoreError       (store)       a store that cannot be opened or migrated
     |    +-- CredentialsError (client)      a saved login that cannot be read
     +-- NoFeasiblePlacement                 nothing fits; carries the rejections (exit code 3)
     +-- MissingExtra         (cli)          a command's extra is not installed; names it (exit code 2)
     +-- SchedulerError       (scheduler)    a policy asked for the impossible (a bug, never input)
     +-- ExecutorError        (agents)       a site's engine refused or failed to start a job
     +-- LeaseLost            (agents)       the server refused an agent's report (409): stop the job
     +-- Refusal              (service)      the control plane refuses a request: HTTP status + code
     |    +-- Unauthenticated, ForbiddenRefusal, NotFoundRefusal, ConflictRefusal,
     |        Unprocessable, RateLimitRefusal
     +-- ApiError             (client)       the SDK's view of a refused or failed request
          +-- Unauthorized, Forbidden, NotFound, RateLimited, ServerUnavailable
          +-- Conflict +-- StaleLease
          +-- InvalidRequest (also an InputError)

``model.reasons.Infeasible`` is control flow inside the estimator (an option that cannot
run), caught by the planner and turned into a rejection; it never leaves the core.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

SUGGESTION_CUTOFF = 0.6
"""difflib's similarity ratio a valid name needs to be suggested (its default: ``token_b``
and ``tokens_b`` score 0.93, ``h80`` and ``h800`` 0.86, ``gpus`` and ``count`` 0.22)."""


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name ``name`` was most likely meant to be, or None: the one that differs
    only in case, else the most similar by :func:`difflib.get_close_matches`, ignoring case."""
    by_lower: dict[str, str] = {}
    for option in valid:
        by_lower.setdefault(option.lower(), option)
    wanted = name.lower()
    if wanted in by_lower:
        return by_lower[wanted]
    found = difflib.get_close_matches(wanted, list(by_lower), n=1, cutoff=SUGGESTION_CUTOFF)
    return by_lower[found[0]] if found else None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest valid name, or ``""`` when none is close."""
    found = closest(name, valid)
    return f"; did you mean '{found}'?" if found is not None and found != name else ""


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
            text += f"{' ' if message.endswith('?') else '. '}To fix: {hint}"
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
    """A name was looked up in a registry or catalogue and is not there: the message
    suggests the closest valid name, if one is close, then lists them all."""

    def __init__(self, what: str, name: str, valid: Iterable[str]) -> None:
        self.what, self.name, self.valid = what, name, sorted(valid)
        self.suggestion = closest(name, self.valid)
        lead = "; valid" if self.suggestion is None else f"; did you mean '{self.suggestion}'? valid"
        super().__init__(f"unknown {what} '{name}'{lead}: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NoFeasiblePlacement(SuanliError):
    """No option satisfies the job's constraints. CLI exit code 3."""

    exit_code = 3

    def __init__(self, job: str, rejected: Sequence[Any]) -> None:
        self.job, self.rejected = job, list(rejected)
        super().__init__(f"no feasible placement for job '{job}' ({len(self.rejected)} options rejected)")
