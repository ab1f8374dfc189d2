"""Where the SDK finds its server and token: arguments, then the environment, then a
profile of the config file, then the login file that ``suanli login`` writes.

The config file is ``$SUANLI_CONFIG_DIR/config.toml`` (default ``~/.config/suanli``), with
named profiles, as SkyPilot's and kubectl's contexts::

    profile = "lab"                      # the one used when none is chosen

    [profiles.lab]
    server = "http://10.0.0.5:8470"
    token_file = "~/.config/suanli/lab.token"   # relative paths: to this directory
    output = "table"                     # listings' default: table, json, yaml or csv

    [profiles.prod]
    server = "https://suanli.example.cn"
    token_file = "prod.token"

A profile is chosen by ``--profile NAME``, else ``$SUANLI_PROFILE``, else the file's
``profile``. It holds no token itself, only where one is (a file, mode 0600).

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

PROFILE_ENV = "SUANLI_PROFILE"
PROFILE_KEYS = ("server", "token_file", "output")
OUTPUTS = ("table", "json", "yaml", "csv")
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


@dataclass(frozen=True)
class Profile:
    name: str
    server: str | None = None
    token_file: Path | None = None
    output: str | None = None


def config_path() -> Path:
    return config_dir() / "config.toml"


def read_profile(name: str | None = None, path: Path | None = None) -> Profile | None:
    """The profile ``name`` (else ``$SUANLI_PROFILE``, else the file's ``profile``) of the
    config file, or None when no profile is chosen or there is no file. An unknown name, a
    key that is not one of :data:`PROFILE_KEYS` or a file that is not TOML is an error
    naming the file and what to fix."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if name:
            raise CredentialsError(f"--profile {name}: there is no config file {path}. To fix: write one") from None
        return None
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read the config file ({exc.strerror})") from None
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"{path}: not valid TOML ({exc})") from None
    profiles = data.get("profiles", {})
    chosen = name or os.environ.get(PROFILE_ENV) or data.get("profile")
    if not chosen:
        return None
    if not isinstance(profiles, dict) or chosen not in profiles or not isinstance(profiles[chosen], dict):
        import difflib

        known = sorted(profiles) if isinstance(profiles, dict) else []
        close = difflib.get_close_matches(str(chosen), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise CredentialsError(
            f"{path}: no profile '{chosen}' ({hint}profiles: {', '.join(known) or 'none'}). "
            f"To fix: add [profiles.{chosen}] or choose another"
        )
    entry: dict[str, object] = profiles[chosen]
    unknown = sorted(set(entry) - set(PROFILE_KEYS))
    if unknown:
        raise CredentialsError(
            f"{path}: [profiles.{chosen}] has unknown key {unknown[0]!r} (keys: {', '.join(PROFILE_KEYS)})"
        )
    values = {key: entry.get(key) for key in PROFILE_KEYS}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise CredentialsError(f"{path}: [profiles.{chosen}] {key} must be a string")
    if values["output"] is not None and values["output"] not in OUTPUTS:
        raise CredentialsError(f"{path}: [profiles.{chosen}] output must be one of {', '.join(OUTPUTS)}")
    token_file = Path(str(values["token_file"])).expanduser() if values["token_file"] else None
    if token_file is not None and not token_file.is_absolute():
        token_file = path.parent / token_file
    server, output = values["server"], values["output"]
    return Profile(
        str(chosen),
        server if isinstance(server, str) else None,
        token_file,
        output if isinstance(output, str) else None,
    )


def _read_token_file(path: str | Path, label: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialsError(
            f"{label}={path}: cannot read the token file ({exc.strerror}). "
            "To fix: point it at the file the token was saved in"
        ) from None
    if not token:
        raise CredentialsError(f"{label}={path}: the token file is empty")
    return token


def resolve(server: str | None, token: str | None, profile: str | None = None) -> Credentials:
    """Each of server and token: the argument, else its environment variable (for the
    token ``SUANLI_TOKEN``, then the file ``SUANLI_TOKEN_FILE`` names, its whitespace
    dropped), else the chosen profile of the config file (its ``token_file``), else the
    login file; the login's token only when the server is the one it was saved for."""
    server = server or os.environ.get(SERVER_ENV) or None
    token = token or os.environ.get(TOKEN_ENV) or None
    token_file = os.environ.get("SUANLI_TOKEN_FILE") or None
    if token is None and token_file is not None:
        token = _read_token_file(token_file, "SUANLI_TOKEN_FILE")
    if server is None or token is None:
        chosen = read_profile(profile)
        if chosen is not None:
            server = server or chosen.server
            if token is None and chosen.token_file is not None:
                token = _read_token_file(chosen.token_file, f"profile {chosen.name}: token_file")
    elif profile:
        read_profile(profile)  # a profile asked for must exist, though nothing is taken from it
    if server is not None and token is not None:
        return Credentials(normalise_server(server), token)
    saved = read_credentials()
    if server is None:
        server = saved.server if saved is not None else DEFAULT_SERVER
    server = normalise_server(server)
    if token is None and saved is not None and saved.server == server:
        token = saved.token
    return Credentials(server, token)
