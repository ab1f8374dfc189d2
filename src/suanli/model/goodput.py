"""Goodput: the share of wall-clock time a large training run makes progress.

Steady-state step time (:mod:`suanli.model.training`) leaves out restarts, lost work since
the last checkpoint, checkpoint writes and stragglers; these grow with the number of
accelerators, since each can fail. The Llama 3 report (Meta, "The Llama 3 Herd of
Models", 2024, sec. 3.3.4) gives both ends: 466 job interruptions in a 54-day snapshot on
16,384 H100 (419 unexpected), and more than 90 % effective training time. So

    interruptions per accelerator-hour  r = 466 / (54 x 24 h x 16,384) = 2.19e-5
    time lost per interruption          c = 10 % x 54 x 24 h / 466     = 0.278 h
    goodput(count) = 1 / (1 + r x c x count)

which is 0.909 at 16,384 accelerators (the report's 90 %), 0.988 at 2,048 and above 0.999
below 128. Treating "more than 90 %" as 90 % makes this a conservative bound.
Accelerator-hours include it; the step time does not.
"""

from __future__ import annotations

INTERRUPTIONS_PER_ACCELERATOR_H = 466 / (54 * 24 * 16_384)
LOST_H_PER_INTERRUPTION = 0.10 * 54 * 24 / 466


def goodput(count: int) -> float:
    """Fraction of wall-clock time spent on useful steps with ``count`` accelerators."""
    return 1.0 / (1.0 + INTERRUPTIONS_PER_ACCELERATOR_H * LOST_H_PER_INTERRUPTION * count)
