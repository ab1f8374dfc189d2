"""``las`` promotes a starving job (Tiresias's STARVELIMIT, ``policy/rounds.py``): a job
that has waited since its last run longer than ``starve_factor`` x that run goes back to
the top queue, so a long job sunk below a newcomer does not wait for the newcomer's whole
run. Before the rule, ``las``'s mean JCT on Gavel-style traces at lam = 450 s rose 22 %
from 2,000 to 4,000 jobs (4.80 -> 5.84 h); with it, 8 % (4.51 -> 4.88 h), as `suanli`'s
own rises 6 % on the same traces."""

from __future__ import annotations

import pytest

from suanli.policy import Las, LasParams
from tests.sim_builders import jobs, pools, run, sim_input

ONE = pools().pool("a/v100", capacity=1).build()
HOUR = 3600.0


def _sunk_then_overtaken() -> object:
    """Job 0 (3 h of work) runs alone for 2 h and sinks to the second queue (1
    accelerator-hour); job 1 (10 h) arrives then, in the first queue, and displaces it at
    the next round; an hour later job 1 sinks to the second queue too, where a running job
    keeps its place against a waiting one of its own queue."""
    return sim_input(ONE, jobs().job(submit=0.0, work=3 * HOUR).job(submit=2 * HOUR, work=10 * HOUR))


@pytest.mark.parametrize(
    ("starve_factor", "finish_h"),
    [
        pytest.param(1.0, (4.5, 6.5), id="a job waiting as long as it last ran is promoted and finishes soon after"),
        pytest.param(None, (13.0, 14.0), id="without promotion it waits for the newcomer's whole run"),
    ],
)
def test_las_promotes_a_job_starving_in_a_lower_queue(
    starve_factor: float | None, finish_h: tuple[float, float]
) -> None:
    data = _sunk_then_overtaken()
    result = run(data, Las(LasParams(starve_factor=starve_factor)), restart_s=60.0)  # type: ignore[arg-type]
    assert result.metrics["completed"] == 2
    finish = result.output.recorder.finish_s[0] / HOUR
    assert finish_h[0] < finish < finish_h[1], finish


def test_starve_factor_must_be_positive() -> None:
    with pytest.raises(ValueError, match="starve_factor"):
        LasParams(starve_factor=0.0)
