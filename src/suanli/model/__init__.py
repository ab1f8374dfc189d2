"""L2: the estimator. Pure functions over catalogue and spec values.

The package loads its modules on first use of a name (PEP 562), so a light importer of
one of them (the wire schemas import :mod:`suanli.model.reasons`) does not pay for the
estimator, the catalogue and numpy.

The function ``performance`` is imported from its module
(``from suanli.model.performance import performance``): the package's attribute of that
name is the submodule once anything has imported it, and a lazy package cannot rebind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suanli._lazy import exports

_EXPORTS = {
    "Line": "suanli.model.breakdown",
    "Section": "suanli.model.breakdown",
    "Estimate": "suanli.model.estimator",
    "assemble": "suanli.model.estimator",
    "curve_for": "suanli.model.estimator",
    "estimate": "suanli.model.estimator",
    "CarbonCurve": "suanli.model.footprint",
    "Cost": "suanli.model.footprint",
    "Power": "suanli.model.footprint",
    "Performance": "suanli.model.performance",
    "Code": "suanli.model.reasons",
    "Infeasible": "suanli.model.reasons",
    "Rejection": "suanli.model.reasons",
    "ModelShape": "suanli.model.shapes",
    "resolve_shape": "suanli.model.shapes",
}

__all__ = [
    "CarbonCurve",
    "Code",
    "Cost",
    "Estimate",
    "Infeasible",
    "Line",
    "ModelShape",
    "Performance",
    "Power",
    "Rejection",
    "Section",
    "assemble",
    "curve_for",
    "estimate",
    "resolve_shape",
]

if TYPE_CHECKING:
    from suanli.model.breakdown import Line, Section
    from suanli.model.estimator import Estimate, assemble, curve_for, estimate
    from suanli.model.footprint import CarbonCurve, Cost, Power
    from suanli.model.performance import Performance
    from suanli.model.reasons import Code, Infeasible, Rejection
    from suanli.model.shapes import ModelShape, resolve_shape


__getattr__ = exports(__name__, _EXPORTS)
