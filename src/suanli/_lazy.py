"""Packages whose public names load their modules on first use (PEP 562), so importing one
light submodule does not pay for the whole package (see ``suanli``, ``suanli.model``,
``suanli.client``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name -> the module defining it, imported
    when the name is first read, then kept in the package's namespace."""

    def __getattr__(name: str) -> Any:  # noqa: N807  (the module hook's name)
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
