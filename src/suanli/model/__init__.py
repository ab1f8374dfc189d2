"""L2: the estimator. Pure functions over catalogue and spec values."""

from suanli.model.breakdown import Line, Section
from suanli.model.estimator import Estimate, assemble, curve_for, estimate
from suanli.model.footprint import CarbonCurve, Cost, Power
from suanli.model.performance import Performance, performance
from suanli.model.reasons import Code, Infeasible, Rejection
from suanli.model.shapes import ModelShape, resolve_shape

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
    "performance",
    "resolve_shape",
]
