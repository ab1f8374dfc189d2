"""Process-wide settings read once at the edges and passed down, never read inside loops."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CATALOG_ENV = "SUANLI_CATALOG"
"""Environment variable naming a directory of catalogue files that override the packaged ones."""


@dataclass(frozen=True)
class Settings:
    catalog_dir: Path | None = None

    @classmethod
    def from_env(cls, catalog_dir: str | os.PathLike[str] | None = None) -> Settings:
        """Settings from explicit arguments, falling back to the environment."""
        chosen = catalog_dir if catalog_dir is not None else os.environ.get(CATALOG_ENV) or None
        return cls(catalog_dir=Path(chosen) if chosen is not None else None)
