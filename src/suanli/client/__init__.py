"""L5: the Python SDK for a suanli server's REST API (``/v1``).

>>> from suanli.client import Client  # doctest: +SKIP
>>> client = Client()  # $SUANLI_SERVER / $SUANLI_TOKEN, else the `suanli login` file
>>> job = client.submit(yaml.safe_load(open("job.yaml")))
>>> for text in client.follow_logs(job.id):
...     print(text, end="")

Answers are the wire models of :mod:`suanli.schemas`; errors are the tree drawn in
:mod:`suanli.client._errors` (``ApiError`` and its subclasses, all ``SuanliError``).
:class:`Wire` is the same calls answering decoded JSON, without pydantic (what the CLI's
everyday commands use, to start fast). HTTP goes through the standard library; tests pass
``transport=httpx.MockTransport(handler)`` to run without a network.

Names load their modules on first use (PEP 562), so ``import suanli.client._wire`` does
not pay for pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suanli._lazy import exports

_EXPORTS = {
    "Client": "suanli.client._client",
    "Wire": "suanli.client._wire",
    "CONFIG_DIR_ENV": "suanli.client._credentials",
    "DEFAULT_SERVER": "suanli.client._credentials",
    "SERVER_ENV": "suanli.client._credentials",
    "TOKEN_ENV": "suanli.client._credentials",
    "credentials_path": "suanli.client._credentials",
    "read_credentials": "suanli.client._credentials",
    "write_credentials": "suanli.client._credentials",
    "forget_credentials": "suanli.client._credentials",
    **{
        name: "suanli.client._errors"
        for name in (
            "ApiError",
            "Conflict",
            "CredentialsError",
            "Forbidden",
            "InvalidRequest",
            "NotFound",
            "RateLimited",
            "ServerUnavailable",
            "StaleLease",
            "Unauthorized",
        )
    },
}

__all__ = [
    "CONFIG_DIR_ENV",
    "DEFAULT_SERVER",
    "SERVER_ENV",
    "TOKEN_ENV",
    "ApiError",
    "Client",
    "Conflict",
    "CredentialsError",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "ServerUnavailable",
    "StaleLease",
    "Unauthorized",
    "Wire",
    "credentials_path",
    "forget_credentials",
    "read_credentials",
    "write_credentials",
]

if TYPE_CHECKING:
    from suanli.client._client import Client
    from suanli.client._credentials import (
        CONFIG_DIR_ENV,
        DEFAULT_SERVER,
        SERVER_ENV,
        TOKEN_ENV,
        credentials_path,
        forget_credentials,
        read_credentials,
        write_credentials,
    )
    from suanli.client._errors import (
        ApiError,
        Conflict,
        CredentialsError,
        Forbidden,
        InvalidRequest,
        NotFound,
        RateLimited,
        ServerUnavailable,
        StaleLease,
        Unauthorized,
    )
    from suanli.client._wire import Wire


__getattr__ = exports(__name__, _EXPORTS)
