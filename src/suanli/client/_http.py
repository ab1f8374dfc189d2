"""HTTP for the SDK: the standard library's :mod:`http.client` by default, httpx when given.

Why not httpx everywhere: importing httpx costs about 80 ms here (it loads rich and click
for its own command line); :mod:`http.client` about 10 ms. A ``suanli submit`` from a shell
loop pays the import on every call (``bench/bench_cli.py`` prints the figures), so the
default transport is the standard library's, one keep-alive connection per client.

A caller may still pass an httpx transport (``httpx.MockTransport`` in the tests, a proxy
or a custom TLS setup in production): :func:`transport_for` wraps any object with httpx's
``handle_request`` in :class:`HttpxTransport`, importing httpx only then.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import SplitResult, urlencode, urlsplit

from suanli.errors import InputError

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
"""What a keep-alive connection the server has since closed raises on its next use."""


class TransportError(Exception):
    """The server could not be reached, or the connection broke before an answer came."""


@dataclass(frozen=True)
class Response:
    """One HTTP answer: status, reason phrase, headers (lower-case names), body, and the path
    that was asked for (for messages)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    path: str

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not)."""
        return json.loads(self.content)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Transport(Protocol):
    """Sends one request to the server: ``target`` is the path and query under the server's
    URL; raises :class:`TransportError` when no answer comes."""

    def send(self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]) -> Response: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ServerUrl:
    """A server's URL, parsed and checked: scheme, host, port, path prefix, and the text to
    show in messages (without user info: a password embedded in it is never printed)."""

    scheme: str
    host: str
    port: int
    prefix: str
    display: str

    @classmethod
    def parse(cls, server: str) -> ServerUrl:
        fix = "To fix: pass --server http://HOST:PORT or set SUANLI_SERVER"
        shown = server if "@" not in server else "(hidden: it has user info)"
        try:
            parts = urlsplit(server.strip())
            port = parts.port
        except ValueError:
            raise InputError(f"the server URL '{shown}' is not valid. {fix}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"server '{shown}' is not an http(s) URL. {fix}")
        host = parts.hostname
        default_port = 443 if parts.scheme == "https" else 80
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        prefix = parts.path.rstrip("/")
        display = SplitResult(parts.scheme, netloc, prefix, "", "").geturl()
        return cls(parts.scheme, host, port or default_port, prefix, display)


def target(path: str, params: Mapping[str, str | int] | None) -> str:
    """``path`` with its query string."""
    return f"{path}?{urlencode(params)}" if params else path


@dataclass
class StdlibTransport:
    """One keep-alive connection through :mod:`http.client`, opened on first use and again
    after the server closes it. A request that meets a connection the server closed while it
    sat idle is sent once more on a fresh one (as browsers and urllib3 do); any other
    failure is a :class:`TransportError`."""

    url: ServerUrl
    timeout_s: float
    _conn: http.client.HTTPConnection | None = field(default=None, init=False, repr=False)

    def _connect(self) -> http.client.HTTPConnection:
        if self.url.scheme == "https":
            return http.client.HTTPSConnection(self.url.host, self.url.port, timeout=self.timeout_s)
        return http.client.HTTPConnection(self.url.host, self.url.port, timeout=self.timeout_s)

    def send(self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
        path = self.url.prefix + target
        for fresh in (self._conn is None, True):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(method, path, body=body, headers=dict(headers))
                answer = self._conn.getresponse()
                content = answer.read()
            except _STALE as exc:
                self.close()
                if fresh:
                    raise TransportError(_describe(exc)) from exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError(_describe(exc)) from exc
            if answer.will_close:
                self.close()
            response_headers = {name.lower(): value for name, value in answer.getheaders()}
            return Response(answer.status, answer.reason, response_headers, content, target.split("?", 1)[0])
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class HttpxTransport:
    """An httpx transport (``httpx.MockTransport``, ``httpx.HTTPTransport(proxy=...)``)
    behind the :class:`Transport` protocol."""

    def __init__(self, url: ServerUrl, timeout_s: float, transport: Any) -> None:
        import httpx

        self._httpx = httpx
        self._client = httpx.Client(base_url=url.display, transport=transport, timeout=timeout_s)

    def send(self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
        try:
            answer = self._client.request(method, target, content=body, headers=dict(headers))
        except self._httpx.TransportError as exc:
            raise TransportError(_describe(exc)) from exc
        response_headers = {name.lower(): value for name, value in answer.headers.items()}
        return Response(answer.status_code, answer.reason_phrase, response_headers, answer.content, answer.url.path)

    def close(self) -> None:
        self._client.close()


def transport_for(url: ServerUrl, timeout_s: float, given: Any = None) -> Transport:
    """The transport a client uses: ``given`` when it is one, wrapped when it is httpx's,
    else the standard library's."""
    if given is None:
        return StdlibTransport(url, timeout_s)
    if hasattr(given, "handle_request"):
        return HttpxTransport(url, timeout_s, given)
    if hasattr(given, "send") and hasattr(given, "close"):
        return given  # type: ignore[no-any-return]
    raise TypeError(f"transport must be an httpx transport or a suanli.client Transport, not {type(given).__name__}")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
