"""Refusals of the control plane, each with the HTTP status and the machine code the API
answers with. The server maps these (and :class:`~suanli.errors.InputError`, as 422) to
responses; nothing else may become a 4xx, and nothing here may become a 500.
"""

from __future__ import annotations

from typing import Any

from suanli.errors import SuanliError


class Refusal(SuanliError):
    """A request the control plane refuses: ``status`` (HTTP), ``code``, a sentence."""

    status = 400
    code = "BAD_REQUEST"
    exit_code = 2

    def __init__(self, message: str, code: str | None = None, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class Unauthenticated(Refusal):
    status, code = 401, "UNAUTHENTICATED"


class ForbiddenRefusal(Refusal):
    status, code = 403, "FORBIDDEN"


class NotFoundRefusal(Refusal):
    status, code = 404, "NOT_FOUND"
    exit_code = 1


class ConflictRefusal(Refusal):
    status, code = 409, "CONFLICT"
    exit_code = 1


class Unprocessable(Refusal):
    """Well-formed but refused by a rule (a filing not approved, nothing can host the job)."""

    status, code = 422, "UNPROCESSABLE"


class RateLimitRefusal(Refusal):
    status, code = 429, "RATE_LIMITED"
    exit_code = 1

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
