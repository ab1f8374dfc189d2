"""Where the SDK finds its server and token: arguments, then the environment, then the
login file that ``suanli login`` writes.

The login file is ``$SUANLI_CONFIG_DIR/credentials.json`` (default ``~/.config/suanli``),
JSON ``{"server": ..., "token": ...}``, mode 0600 in a 0700 directory. Its token is used
only for the server it was saved with, so pointing ``SUANLI_SERVER`` elsewhere never sends
it to another host.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from suanli.client._errors import CredentialsError

SERVER_ENV = "SUANLI_SERVER"
TOKEN_ENV = "SUANLI_TOKEN"
CONFIG_DIR_ENV = "SUANLI_CONFIG_DIR"
DEFAULT_SERVER = "http://127.0.0.1:8470"
"""Where ``suanli serve`` listens unless told otherwise."""


def config_dir() -> Path:
    """``$SUANLI_CONFIG_DIR``, else ``~/.config/suanli``."""
    configured = os.environ.get(CONFIG_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".config" / "suanli"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str | None

    def __repr__(self) -> str:
        return f"Credentials(server={self.server!r}, token={'***' if self.token else None})"


def normalise_server(server: str) -> str:
    """``http://host:port`` without a trailing slash (compare and join URLs the same way)."""
    return server.strip().rstrip("/")


def read_credentials(path: Path | None = None) -> Credentials | None:
    """The saved login, or None when there is no file."""
    path = path or credentials_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read the login file ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialsError(
            f"{path}:{exc.lineno}: the login file is not valid JSON. To fix: run `suanli login` again"
        ) from None
    server, token = (data.get("server"), data.get("token")) if isinstance(data, dict) else (None, None)
    if not isinstance(server, str) or not (token is None or isinstance(token, str)):
        raise CredentialsError(f"{path}: expected {{'server': URL, 'token': TOKEN}}. To fix: run `suanli login` again")
    return Credentials(normalise_server(server), token)


def write_credentials(server: str, token: str, path: Path | None = None) -> Path:
    """Save a login atomically, readable by the owner only (0600; the directory 0700)."""
    path = path or credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", suffix=".json", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"server": normalise_server(server), "token": token}, handle)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def forget_credentials(path: Path | None = None) -> Path | None:
    """Delete the saved login; the path it was at, or None when there was none."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot remove the login file ({exc.strerror})") from None
    return path


def resolve(server: str | None, token: str | None) -> Credentials:
    """Each of server and token: the argument, else its environment variable (for the
    token ``SUANLI_TOKEN``, then the file ``SUANLI_TOKEN_FILE`` names, its whitespace
    dropped), else the login file; the login's token only when the server is the one it
    was saved for."""
    server = server or os.environ.get(SERVER_ENV) or None
    token = token or os.environ.get(TOKEN_ENV) or None
    token_file = os.environ.get("SUANLI_TOKEN_FILE") or None
    if token is None and token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialsError(
                f"SUANLI_TOKEN_FILE={token_file}: cannot read the token file ({exc.strerror}). "
                "To fix: point it at the file the token was saved in, or unset it"
            ) from None
        if not token:
            raise CredentialsError(f"SUANLI_TOKEN_FILE={token_file}: the token file is empty")
    if server is not None and token is not None:
        return Credentials(normalise_server(server), token)
    saved = read_credentials()
    if server is None:
        server = saved.server if saved is not None else DEFAULT_SERVER
    server = normalise_server(server)
    if token is None and saved is not None and saved.server == server:
        token = saved.token
    return Credentials(server, token)
