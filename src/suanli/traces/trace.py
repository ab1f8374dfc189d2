"""A trace: one normalised arrival stream, stored by column for speed and memory.

Every loader (Philly, Alibaba openb, Gavel, Helios, Acme, PAI, plain CSV, synthetic)
produces a :class:`Trace`. A job's work is its duration on the trace's reference
accelerator (``work_s``); a job of a measured class (Gavel's job types) also carries its
class, so the simulator can use measured throughputs on other accelerators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from suanli.errors import InputError


class FinalState(IntEnum):
    """How the job ended in the original trace (simulation replays it to completion)."""

    UNKNOWN = 0
    COMPLETED = 1
    FAILED = 2
    KILLED = 3


@dataclass(frozen=True)
class Trace:
    """Jobs sorted by submit time. Arrays are parallel, one entry per job.

    - ``submit_s``: seconds since the trace's first submission (float64)
    - ``work_s``: duration on ``reference`` with the job's own accelerator count (float64)
    - ``gpus``: accelerators requested (int32, >= 1)
    - ``gpu_type``: index into ``types`` the job is constrained to, or -1 (int16)
    - ``job_class``: index into ``classes``, or -1 (int32)
    - ``tenant``: index into ``tenants`` (int32)
    - ``state``: :class:`FinalState` in the original trace (int8)
    - ``steps``: work as steps of ``job_class`` where the trace gives it, else NaN (float64)
    - ``deadline_s``: completion deadline in trace seconds, NaN for none (float64)
    """

    name: str
    reference: str
    submit_s: np.ndarray
    work_s: np.ndarray
    gpus: np.ndarray
    gpu_type: np.ndarray
    job_class: np.ndarray
    tenant: np.ndarray
    state: np.ndarray
    steps: np.ndarray
    types: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ("default",)
    epoch_s: float = 0.0
    """UTC time of ``submit_s == 0`` (calendar alignment for carbon), 0 when unknown."""
    source: str = ""
    notes: tuple[str, ...] = field(default=())
    deadline_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.submit_s)
        if self.deadline_s is None:
            object.__setattr__(self, "deadline_s", np.full(n, np.nan))
        for name in ("work_s", "gpus", "gpu_type", "job_class", "tenant", "state", "steps", "deadline_s"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"trace column {name} has {len(getattr(self, name))} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.submit_s)

    @property
    def gpu_seconds(self) -> float:
        return float(np.dot(self.work_s, self.gpus))

    def head(self, n: int) -> Trace:
        """The first ``n`` jobs."""
        return self.select(np.arange(min(n, len(self))))

    def until(self, t_s: float) -> Trace:
        """Jobs submitted before ``t_s``."""
        return self.select(np.flatnonzero(self.submit_s < t_s))

    def select(self, index: np.ndarray) -> Trace:
        return Trace(
            name=self.name,
            reference=self.reference,
            submit_s=self.submit_s[index],
            work_s=self.work_s[index],
            gpus=self.gpus[index],
            gpu_type=self.gpu_type[index],
            job_class=self.job_class[index],
            tenant=self.tenant[index],
            state=self.state[index],
            steps=self.steps[index],
            types=self.types,
            classes=self.classes,
            tenants=self.tenants,
            epoch_s=self.epoch_s,
            source=self.source,
            notes=self.notes,
            deadline_s=self.deadlines[index],
        )

    @property
    def deadlines(self) -> np.ndarray:
        assert self.deadline_s is not None
        return self.deadline_s

    def with_deadlines(self, deadline_s: np.ndarray) -> Trace:
        """The same jobs with these deadlines (trace seconds, NaN for none)."""
        return Trace(**{**self.__dict__, "deadline_s": np.asarray(deadline_s, dtype=np.float64)})

    def scaled(self, load: float) -> Trace:
        """The same jobs arriving ``load`` times as fast (inter-arrival gaps / load)."""
        if not load > 0:
            raise InputError(f"load scale must be > 0, got {load}")
        return Trace(
            **{
                **self.__dict__,
                "submit_s": self.submit_s / load,
                "deadline_s": self.deadlines - self.submit_s + self.submit_s / load,
            }
        )


def build(
    name: str,
    reference: str,
    submit_s: np.ndarray,
    work_s: np.ndarray,
    gpus: np.ndarray,
    *,
    gpu_type: np.ndarray | None = None,
    job_class: np.ndarray | None = None,
    tenant: np.ndarray | None = None,
    state: np.ndarray | None = None,
    steps: np.ndarray | None = None,
    types: tuple[str, ...] = (),
    classes: tuple[str, ...] = (),
    tenants: tuple[str, ...] = ("default",),
    epoch_s: float = 0.0,
    source: str = "",
    notes: tuple[str, ...] = (),
) -> Trace:
    """A :class:`Trace` from columns: sorted by submit time (stable), shifted to start at 0,
    with defaults for missing columns and checks on values."""
    n = len(submit_s)
    submit = np.asarray(submit_s, dtype=np.float64)
    work = np.asarray(work_s, dtype=np.float64)
    count = np.asarray(gpus, dtype=np.int32)
    if n and (not np.isfinite(submit).all() or not np.isfinite(work).all()):
        raise InputError(f"trace {name}: submit times and durations must be finite numbers")
    if n and (work < 0).any():
        raise InputError(f"trace {name}: negative duration in row {int(np.flatnonzero(work < 0)[0]) + 1}")
    if n and (count < 1).any():
        raise InputError(f"trace {name}: accelerator count below 1 in row {int(np.flatnonzero(count < 1)[0]) + 1}")
    order = np.argsort(submit, kind="stable")
    first = float(submit[order[0]]) if n else 0.0

    def column(values: np.ndarray | None, dtype: type, default: float) -> np.ndarray:
        if values is None:
            return np.full(n, default, dtype=dtype)
        return np.asarray(values, dtype=dtype)[order]

    return Trace(
        name=name,
        reference=reference,
        submit_s=submit[order] - first,
        work_s=work[order],
        gpus=count[order],
        gpu_type=column(gpu_type, np.int16, -1),
        job_class=column(job_class, np.int32, -1),
        tenant=column(tenant, np.int32, 0),
        state=column(state, np.int8, FinalState.UNKNOWN),
        steps=column(steps, np.float64, np.nan),
        types=types,
        classes=classes,
        tenants=tenants,
        epoch_s=epoch_s + first,
        source=source,
        notes=notes,
    )
