"""Reason codes: every "no" carries one, with a sentence.

Codes are stable machine names (they appear in JSON output and the API); the sentence
is for people and may change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """One enum for every reason in suanli: the planner's rejections (first block), the
    scheduler's and the policies' reasons for a job not started or stopped (second), as
    the wire schema, ``suanli explain`` and the JSON outputs show them."""

    ACCELERATOR_ABSENT = "ACCELERATOR_ABSENT"
    INSUFFICIENT_ACCELERATORS = "INSUFFICIENT_ACCELERATORS"
    INSUFFICIENT_MEMORY = "INSUFFICIENT_MEMORY"
    PRECISION_UNSUPPORTED = "PRECISION_UNSUPPORTED"
    REGION_NOT_ALLOWED = "REGION_NOT_ALLOWED"
    RESIDENCY_VIOLATION = "RESIDENCY_VIOLATION"
    EXPORT_RESTRICTED = "EXPORT_RESTRICTED"
    DEADLINE_MISSED = "DEADLINE_MISSED"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    """The deadline is at or before the job's earliest start (``max(now, earliest_start)``):
    no option can meet it, so the whole job is refused once, whatever its data or site."""
    OVER_BUDGET = "OVER_BUDGET"
    OVER_CARBON_CAP = "OVER_CARBON_CAP"
    DATA_TRANSFER_TOO_SLOW = "DATA_TRANSFER_TOO_SLOW"
    SLO_NOT_MET = "SLO_NOT_MET"
    CAPACITY_TOO_LOW = "CAPACITY_TOO_LOW"
    NO_PROFILE = "NO_PROFILE"
    LAYOUT_MISMATCH = "LAYOUT_MISMATCH"
    """The spec's ``parallelism`` cannot be laid out on this count (tp x cp x pp x dp must
    equal it, with a sequence of the global batch per data-parallel rank)."""
    # the scheduler's and the policies' reasons, and a job's own progress
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    WAITING_FOR_CAPACITY = "WAITING_FOR_CAPACITY"
    HELD_FOR_CLEANER_HOUR = "HELD_FOR_CLEANER_HOUR"
    WAITING_FOR_FASTER_POOL = "WAITING_FOR_FASTER_POOL"
    BEHIND_HIGHER_PRIORITY = "BEHIND_HIGHER_PRIORITY"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    NO_LIVE_SITE = "NO_LIVE_SITE"
    PREEMPTED_BY_POLICY = "PREEMPTED_BY_POLICY"
    SITE_LOST = "SITE_LOST"
    EXECUTOR_FAULT = "EXECUTOR_FAULT"
    """The site's engine could not start the job (not the job's fault): it waits again."""
    SPEC_NO_LONGER_VALID = "SPEC_NO_LONGER_VALID"
    FILING_WITHDRAWN = "FILING_WITHDRAWN"
    """A public service's model filing was rejected or withdrawn while it ran or waited: it
    is stopped, or held until a filing of its model is approved (``suanli serve
    --on-filing-withdrawn``)."""
    WAITING_FOR_DEPENDENCY = "WAITING_FOR_DEPENDENCY"
    """A job's ``depends_on`` has not all SUCCEEDED yet: it is not offered to the policy."""
    DEPENDENCY_NEVER_SATISFIED = "DEPENDENCY_NEVER_SATISFIED"
    """A job it depends on FAILED or was CANCELLED: the job is cancelled (Slurm's
    ``kill_invalid_depend``)."""
    PLACED = "PLACED"


ReasonCode = Code
"""The name the scheduler and the wire schema use for :class:`Code`."""


@dataclass(frozen=True)
class Rejection:
    """Why one option (site x accelerator x count, maybe a start) is infeasible."""

    code: Code
    message: str
    site: str | None = None
    accelerator: str | None = None
    count: int | None = None
    miss: float | None = None
    """How far a near miss missed, as a fraction of the limit (0.1 = 10 % over); sorts near misses."""

    def at(self, site: str | None = None, accelerator: str | None = None, count: int | None = None) -> Rejection:
        """The same reason, located at an option."""
        return Rejection(
            self.code,
            self.message,
            site if site is not None else self.site,
            accelerator if accelerator is not None else self.accelerator,
            count if count is not None else self.count,
            self.miss,
        )


class Infeasible(Exception):
    """Raised by estimator functions when an option cannot run at all."""

    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection
        super().__init__(f"{rejection.code}: {rejection.message}")
