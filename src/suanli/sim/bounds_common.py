"""What the LP bounds share: a HiGHS instance that prints nothing."""

from __future__ import annotations

import os
import sys
from typing import Any


def quiet_highs(highspy: Any) -> Any:
    """A HiGHS instance whose start-up banner (written by C++ to fd 1) does not reach
    stdout, where it would corrupt ``--json`` output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h
