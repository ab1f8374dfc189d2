"""The catalogue, compiled once: a pickle of the validated :class:`Catalog` on disk, keyed by
a hash of every catalogue file's text, so a short-lived command (``suanli plan`` from a
shell) skips parsing and validating the YAML (about 13 ms here) when nothing changed.

Key: SHA-256 over Python's version, the schema version, the source of
the catalogue's own classes (``schema.py``, ``catalog.py``: a pickle holds their field
layout) and each file's label and text (packaged and overrides alike): editing any of
them (an upgrade of suanli changes them) or switching interpreters misses and rebuilds.
The cache lives in ``$SUANLI_CACHE_DIR``, else
``$XDG_CACHE_HOME/suanli``, else ``~/.cache/suanli``; ``SUANLI_CACHE_DIR=off`` disables it.
A file that cannot be read or unpickled is rebuilt; one that cannot be written is skipped
(the catalogue still loads, only slower). Files are written atomically (rename) and are the
user's own, as trusted as the user's own code.
"""

from __future__ import annotations

import copyreg
import hashlib
import os
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from suanli.catalog.catalog import Catalog

CACHE_ENV = "SUANLI_CACHE_DIR"
CODE = ("schema.py", "catalog.py")
"""The modules whose classes a compiled catalogue holds."""
KEPT = 8
"""Newest cache files kept (older ones, from edited catalogues, are removed on write)."""


def _proxy(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


copyreg.pickle(MappingProxyType, lambda proxy: (_proxy, (dict(proxy),)))  # the catalogue's read-only maps


def cache_dir() -> Path | None:
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "suanli"


def key(documents: Iterable[tuple[str, str]], schema_version: int) -> str:
    """The hash naming the compiled catalogue of these (label, text) documents."""
    digest = hashlib.sha256(f"{sys.version}\0{schema_version}".encode())
    for module in CODE:
        digest.update(b"\0" + (Path(__file__).parent / module).read_bytes())
    for label, text in documents:
        digest.update(b"\0" + label.encode() + b"\0" + text.encode())
    return digest.hexdigest()[:40]


def read(name: str) -> Catalog | None:
    directory = cache_dir()
    if directory is None:
        return None
    try:
        data = (directory / f"catalog-{name}.pickle").read_bytes()
        found = pickle.loads(data)
    except Exception:  # missing, unreadable, truncated or from another layout: rebuild
        return None
    return found if isinstance(found, Catalog) else None


def write(name: str, catalog: Catalog) -> None:
    directory = cache_dir()
    if directory is None:
        return
    import tempfile  # only on a miss: a short command that reads the cache never loads it

    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(catalog, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, directory / f"catalog-{name}.pickle")
        _prune(directory)
    except OSError:
        return  # a read-only home: the catalogue still loads, from YAML


def _prune(directory: Path) -> None:
    files = sorted(directory.glob("catalog-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEPT:]:
        old.unlink(missing_ok=True)
