"""The SDK's exceptions: what the server said, or that it could not be reached.

::

    SuanliError                         (suanli.errors)
     +-- ApiError                       status, code, message, details
     |    +-- Unauthorized              401: no token, or the server does not know it
     |    +-- Forbidden                 403: the token's role may not do this
     |    +-- NotFound                  404: no such object (also another tenant's)
     |    +-- Conflict                  409
     |    |    +-- StaleLease           409 on an agent report: the fencing token is not current
     |    +-- InvalidRequest            413 / 422 (also an InputError: CLI exit code 2)
     |    +-- RateLimited               429: retry_after_s
     |    +-- ServerUnavailable         connection failed, or 5xx after the retries
     +-- CredentialsError               the login file cannot be read (also an InputError)

Messages never carry the token: only the server's URL (without user info), the status,
the server's code and sentence, and how to fix it.
"""

from __future__ import annotations

from typing import Any

from suanli.errors import InputError, SuanliError

LOGIN_HINT = "To fix: run `suanli login --server URL --token TOKEN` or set SUANLI_TOKEN"


class ApiError(SuanliError):
    """The server answered with an error, or could not be reached (``status`` is None then).

    ``code`` is the server's machine code (``ErrorOut.code``), ``message`` its sentence,
    ``details`` the field errors of a 422 where the server gave them.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "ERROR",
        details: list[dict[str, Any]] | None = None,
        hint: str | None = None,
    ) -> None:
        self.status, self.code, self.message, self.details, self.hint = status, code, message, details, hint
        text = message
        if status is not None:
            text += f" (HTTP {status} {code})"
        if details:
            text += "; " + "; ".join(_detail(d) for d in details[:5])
            if len(details) > 5:
                text += f"; ... and {len(details) - 5} more"
        if hint:
            text += f". {hint}"
        super().__init__(text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class Unauthorized(ApiError):
    """401: the request carried no token, or one the server does not know."""


class Forbidden(ApiError):
    """403: the token's role (tenant, operator, admin, agent) may not do this."""


class NotFound(ApiError):
    """404: no such object; another tenant's objects read as missing too."""


class Conflict(ApiError):
    """409: the object's state forbids the change (e.g. cancelling a finished job)."""


class StaleLease(Conflict):
    """409 on ``POST /v1/agents/jobs/{id}/report``: the site's fencing token for the job is
    no longer current (the job was moved, cancelled or preempted); stop running it."""


class InvalidRequest(ApiError, InputError):
    """413 (body too large) or 422 (invalid input, with the field errors in ``details``)."""

    exit_code = 2


class RateLimited(ApiError):
    """429: too many requests; ``retry_after_s`` is the server's ``Retry-After`` if it sent one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs: Any) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **kwargs)


class ServerUnavailable(ApiError):
    """The server could not be reached, or kept answering 5xx, after the client's retries."""


class CredentialsError(InputError):
    """The login file (``credentials.json``) exists but cannot be read or parsed."""


STATUS_ERRORS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}
"""The exception each error status maps to; other 4xx are a plain :class:`ApiError`."""


def _detail(detail: dict[str, Any]) -> str:
    """One field error as ``a.b.c: sentence`` (FastAPI's ``loc``/``msg`` or ``field``/``message``)."""
    loc = detail.get("loc", detail.get("field"))
    msg = detail.get("msg", detail.get("message"))
    if isinstance(loc, list | tuple):
        parts = [str(p) for p in loc]
        if parts and parts[0] == "body":
            parts = parts[1:]
        loc = ".".join(parts)
    if msg is None:
        return str(detail)
    return f"{loc}: {msg}" if loc else str(msg)
