"""Plans: the feasible options for a job, their Pareto front, the pick, and the rejections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suanli.clock import iso
from suanli.model import Rejection
from suanli.units import SECONDS_PER_HOUR


@dataclass(frozen=True)
class Option:
    """One feasible placement: site x accelerator x count x start.

    ``start_s`` is when the job is admitted (its data starts moving); compute begins
    ``transfer_h`` later and finishes ``duration_h`` after that.
    """

    site: str
    accelerator: str
    count: int
    start_s: float
    transfer_h: float
    duration_h: float
    accelerator_hours: float
    energy_kwh: float
    carbon_kg: float
    cost_usd: float
    pareto: bool = False

    @property
    def compute_start_s(self) -> float:
        return self.start_s + self.transfer_h * SECONDS_PER_HOUR

    @property
    def finish_s(self) -> float:
        return self.compute_start_s + self.duration_h * SECONDS_PER_HOUR

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "accelerator": self.accelerator,
            "count": self.count,
            "start": iso(self.start_s),
            "transfer_h": self.transfer_h,
            "finish": iso(self.finish_s),
            "duration_h": self.duration_h,
            "accelerator_hours": self.accelerator_hours,
            "energy_kwh": self.energy_kwh,
            "carbon_kg": self.carbon_kg,
            "cost_usd": self.cost_usd,
            "pareto": self.pareto,
        }


def rejection_dict(rejection: Rejection) -> dict[str, Any]:
    return {
        "site": rejection.site,
        "accelerator": rejection.accelerator,
        "count": rejection.count,
        "code": str(rejection.code),
        "message": rejection.message,
    }


@dataclass(frozen=True)
class Plan:
    """Options sorted by the objective (the pick first), and every rejection."""

    job: str
    objective: str
    window_start_s: float
    options: tuple[Option, ...]
    rejected: tuple[Rejection, ...]

    @property
    def pick(self) -> Option | None:
        return self.options[0] if self.options else None

    @property
    def front(self) -> tuple[Option, ...]:
        return tuple(o for o in self.options if o.pareto)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "objective": self.objective,
            "window_start": iso(self.window_start_s),
            "options": [o.as_dict() for o in self.options],
            "rejected": [rejection_dict(r) for r in self.rejected],
        }
