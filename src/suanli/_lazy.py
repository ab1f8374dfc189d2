"""Packages whose public names load their modules on first use (PEP 562), so importing one
light submodule does not pay for the whole package (see ``suanli``, ``suanli.model``,
``suanli.client``); and stand-ins for modules a short process imports but never uses
(:func:`defer`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from types import ModuleType
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


def defer(name: str, functions: Iterable[str] = ()) -> None:
    """Put a stand-in for module ``name`` in :data:`sys.modules` (unless the module is
    loaded): the stand-in imports the real module when any of its attributes is first read,
    gives way to it in ``sys.modules`` and forwards to it. Each of ``functions`` is a
    function of the stand-in that calls the real one, for importers that take it with
    ``from name import function`` and may never call it.

    For a module a short process imports but does not use: pydantic's plugin loader takes
    ``entry_points`` from ``importlib.metadata`` when the first model is built, and calls it
    only when plugins are on (:data:`suanli.cli.plan_cmds.UNUSED_MODULES`)."""
    if name in sys.modules:
        return
    from importlib.util import find_spec

    spec = find_spec(name)
    if spec is None:
        return
    stand_in = ModuleType(name, f"Stands for {name} until it is first used (suanli._lazy.defer).")
    stand_in.__spec__ = spec
    if spec.submodule_search_locations is not None:  # a package: `from name import f` looks for __path__
        stand_in.__path__ = list(spec.submodule_search_locations)

    def real() -> ModuleType:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return import_module(name)

    def forward(attribute: str) -> Any:
        return getattr(real(), attribute)

    stand_in.__getattr__ = forward  # type: ignore[method-assign]  # PEP 562: only for names it lacks
    for function in functions:
        stand_in.__dict__[function] = _forwarding(real, function)
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, stand_in)  # `import a.b` then `a.b.f()` reads it there


def _forwarding(real: Callable[[], ModuleType], function: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(real(), function)(*args, **kwargs)

    call.__name__ = call.__qualname__ = function
    return call
