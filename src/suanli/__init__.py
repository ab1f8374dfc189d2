"""suanli (算力): plan, estimate and run AI jobs across a national computing-power network.

``import suanli`` stays light: the public names below load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suanli._lazy import exports

__version__ = "0.1.0"

_EXPORTS = {
    "Catalog": "suanli.catalog",
    "load_catalog": "suanli.catalog",
    "JobSpec": "suanli.workload",
    "load_spec": "suanli.workload",
    "parse_spec": "suanli.workload",
    "Estimate": "suanli.model",
    "estimate": "suanli.model",
    "Plan": "suanli.placement",
    "Option": "suanli.placement",
    "plan": "suanli.placement",
    "SuanliError": "suanli.errors",
    "InputError": "suanli.errors",
    "SpecError": "suanli.errors",
    "CatalogError": "suanli.errors",
    "UnknownNameError": "suanli.errors",
    "NoFeasiblePlacement": "suanli.errors",
}

__all__ = [
    "Catalog",
    "CatalogError",
    "Estimate",
    "InputError",
    "JobSpec",
    "NoFeasiblePlacement",
    "Option",
    "Plan",
    "SpecError",
    "SuanliError",
    "UnknownNameError",
    "__version__",
    "estimate",
    "load_catalog",
    "load_spec",
    "parse_spec",
    "plan",
]

if TYPE_CHECKING:
    from suanli.catalog import Catalog, load_catalog
    from suanli.errors import (
        CatalogError,
        InputError,
        NoFeasiblePlacement,
        SpecError,
        SuanliError,
        UnknownNameError,
    )
    from suanli.model import Estimate, estimate
    from suanli.placement import Option, Plan, plan
    from suanli.workload import JobSpec, load_spec, parse_spec


__getattr__ = exports(__name__, _EXPORTS)
