"""``suanli agent`` as operators run it, in real processes: it refuses to start (one line,
exit 2) when its engine cannot take jobs (Slurm's commands missing, a partition Slurm lacks,
a Ray address that does not answer) or when another agent holds the site's lease, and
``--force`` replaces that agent, which then stops. ``--help`` lists the engines' options."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import Result, run_suanli
from tests.control_harness import ControlNetwork, clean_env, free_port, report_on_failure, wait_until
from tests.test_executors_slurm import fake_slurm

SITE = "qingyang"
UNUSED_SERVER = ("--server", "http://127.0.0.1:9")
"""The engine is checked before the server is contacted: these are never reached."""


def agent(*args: str, path: Path | None = None, tmp_path: Path) -> Result:
    """``suanli agent --site qingyang ARGS`` in a subprocess, with ``PATH`` set to ``path``
    (the interpreter is named by its full path, so it needs none)."""
    env = clean_env(tmp_path / "config", {"PATH": str(path)} if path is not None else None)
    return run_suanli("agent", "--site", SITE, "--work-dir", str(tmp_path / "work"), *args, env=env, cwd=tmp_path)


def one_error_line(result: Result) -> str:
    """The command's stderr, which must be one ``error:`` line and no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def test_help_lists_the_slurm_and_ray_options_and_force() -> None:
    done = run_suanli("agent", "--help", env=clean_env(Path("/nonexistent")))
    assert done.code == 0, done.stderr
    text = re.sub(r"\s+", " ", done.stdout)
    for option in ("--partition", "--gres-template", "--account", "--ray-address", "--ray-resources", "--force"):
        assert option in text, option
    assert "gpu:{count}" in text


def test_an_agent_for_slurm_on_a_host_without_sbatch_exits_2_before_registering(tmp_path: Path) -> None:
    no_slurm = tmp_path / "bin"
    no_slurm.mkdir()
    done = agent("--executor", "slurm", *UNUSED_SERVER, path=no_slurm, tmp_path=tmp_path)
    assert done.code == 2
    line = one_error_line(done)
    assert line == (
        f"error: the slurm executor needs 'sbatch', which is not on PATH ({no_slurm}). To fix: install the Slurm "
        "client commands on the agent's host (Debian/Ubuntu: apt-get install slurm-client), or run the agent on a "
        "host that submits to the cluster"
    )


def test_an_agent_for_a_slurm_partition_the_cluster_lacks_exits_2_listing_those_it_has(tmp_path: Path) -> None:
    bin_dir = fake_slurm(tmp_path / "bin", partitions="debug*|up|1\\nbig|up|4\\n")
    done = agent("--executor", "slurm", "--partition", "gpu", *UNUSED_SERVER, path=bin_dir, tmp_path=tmp_path)
    assert done.code == 2
    assert one_error_line(done) == (
        "error: Slurm has no partition 'gpu' (partitions: big, debug (default)). "
        "To fix: pass --partition with one of them"
    )


def test_an_agent_for_a_ray_address_that_does_not_answer_exits_2(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is installed with the dev extra; this machine lacks it")
    address = f"http://127.0.0.1:{free_port()}"
    done = agent("--executor", "ray", "--ray-address", address, *UNUSED_SERVER, tmp_path=tmp_path)
    assert done.code == 2
    line = one_error_line(done)
    assert line.startswith(f"error: the Ray dashboard at {address} does not answer (")
    assert line.endswith(
        "To fix: start the cluster (ray start --head --include-dashboard=true) and pass its "
        "dashboard URL with --ray-address, e.g. http://127.0.0.1:8265"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--partition", "gpu"), "error: --partition is for --executor slurm"),
        (
            ("--gres-template", "gpu:{count}", "--account", "a"),
            "error: --gres-template, --account are for --executor slurm",
        ),
        (("--ray-resources", "NPU"), "error: --ray-resources is for --executor ray"),
    ],
    ids=["a slurm option on a local agent", "two slurm options", "a ray option"],
)
def test_an_option_of_another_executor_is_refused(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = agent("--executor", "local", *args, *UNUSED_SERVER, tmp_path=tmp_path)
    assert (done.code, one_error_line(done)) == (2, message)


def test_a_gres_template_that_cannot_make_a_gres_exits_2(tmp_path: Path) -> None:
    done = agent("--executor", "slurm", "--gres-template", "gpu:{cnt}", *UNUSED_SERVER, tmp_path=tmp_path)
    assert done.code == 2
    assert "GRES template 'gpu:{cnt}' is invalid" in one_error_line(done)


# -- two agents for one site, through a real server ---------------------------------------------


@pytest.mark.slow
def test_a_second_agent_for_a_live_site_exits_2_naming_the_first_and_force_replaces_it(tmp_path: Path) -> None:
    with ControlNetwork(tmp_path) as net, report_on_failure(net):
        net.start_server()
        first = net.start_agent(SITE, {"h800": 2})
        first_id = wait_until(
            lambda: (m := re.search(r"agent (\S+) for qingyang", first.output())) and m.group(1), 10, "the agent id"
        )

        second = net.start_agent(SITE, {"h800": 2}, wait=False, name="agent-second")
        code = second.popen.wait(timeout=60)
        lines = [line for line in second.output().splitlines() if line.startswith("error:")]
        assert code == 2, second.output()
        assert len(lines) == 1 and "Traceback" not in second.output(), second.output()
        assert lines[0].startswith(
            f"error: agent for {SITE} not started (HTTP 409 SITE_HELD): site '{SITE}' is run by agent {first_id} "
            "(token k-"
        ), lines[0]
        assert "its lease expires at " in lines[0]
        assert lines[0].endswith("or replace it with `suanli agent --force`")
        assert first.alive(), "the refused agent changed nothing"

        forced = net.start_agent(SITE, {"h800": 2}, wait=False, extra=("--force",), name="agent-forced")
        wait_until(lambda: "registered with" in forced.output(), 60, "the forced agent to register")
        assert first.popen.wait(timeout=30) == 1, first.output()
        assert f"site '{SITE}' is now run by agent " in first.output()
        assert forced.alive()


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is for an agent running as root")
def test_a_root_agent_for_slurm_without_a_slurm_user_exits_2(tmp_path: Path) -> None:
    bin_dir = fake_slurm(tmp_path / "bin")
    done = agent("--executor", "slurm", *UNUSED_SERVER, path=bin_dir, tmp_path=tmp_path)
    assert done.code == 2, done.stderr
    assert "every job would run as root. To fix: pass --slurm-user USER" in one_error_line(done)
