"""L5: the Python SDK for a suanli server's REST API (``/v1``), over httpx.

>>> from suanli.client import Client  # doctest: +SKIP
>>> client = Client()  # $SUANLI_SERVER / $SUANLI_TOKEN, else the `suanli login` file
>>> job = client.submit(yaml.safe_load(open("job.yaml")))
>>> for text in client.follow_logs(job.id):
...     print(text, end="")

Answers are the wire models of :mod:`suanli.schemas`; errors are the tree drawn in
:mod:`suanli.client._errors` (``ApiError`` and its subclasses, all ``SuanliError``). Tests
pass ``transport=httpx.MockTransport(handler)`` to run without a network.
"""

from suanli.client._client import Client
from suanli.client._credentials import (
    CONFIG_DIR_ENV,
    DEFAULT_SERVER,
    SERVER_ENV,
    TOKEN_ENV,
    credentials_path,
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
    "credentials_path",
    "read_credentials",
    "write_credentials",
]
