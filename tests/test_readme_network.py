"""README's by-hand network, run as written: the code block that starts with
``suanli serve --data-dir net`` goes to bash line for line, with only what a test must
change (the port and the shared directory, so parallel tests never share them; ``ID``, the
placeholder a reader fills in, becomes the submitted job's id). As root, as CI runs, the
agent sandboxes its job, which is how this test found a job locked out of its own
directory by the block's own ``umask 077``.

The walk passes when the job it submits SUCCEEDED with the output its program prints, and
the plan at the end offers the live site.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.control_harness import free_port, kill_session
from tests.mdscan import blocks

README = ROOT / "README.md"
FIRST_LINE = "suanli serve --data-dir net"
BIN = Path(sys.executable).parent
"""Where this interpreter's ``suanli`` console script is (the venv's bin)."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BIN / "suanli").exists(), reason=f"no suanli console script beside {sys.executable}"),
]


def readme_block() -> list[str]:
    """The README's by-hand network block, its continuation lines joined."""
    for block in blocks(README.read_text(encoding="utf-8")):
        if block.kind == "code" and block.lines and block.lines[0].startswith(FIRST_LINE):
            joined: list[str] = []
            for line in block.lines:
                if joined and joined[-1].endswith("\\"):
                    joined[-1] = joined[-1][:-1] + " " + line.strip()
                else:
                    joined.append(line)
            return joined
    raise AssertionError(f"README.md has no code block starting with {FIRST_LINE!r}")


FIRST_JOB_ID = '$(suanli jobs -o json | python3 -c \'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])\')'
"""What a reader fills in for ``ID``: the newest job's id."""
STOP_ON_FAILURE = " || { echo FAILED: $?; exit 1; }"


def script(lines: list[str], port: int, shared: Path) -> str:
    """The block as a bash script: the test's port and shared directory, ``ID`` after the
    submission set to its job's id, and at the end the server and agent it left running
    stopped."""
    out = ["set -u", "set -o pipefail"]
    for written in lines:
        line = written.replace("8470", str(port)).replace("/tmp/suanli-shared", str(shared))
        line = line.replace(FIRST_LINE, f"{FIRST_LINE} --port {port}")  # README's serve takes the default, 8470
        command = line.split("  #")[0].rstrip()
        if " ID" in command:
            out.append(f"ID={FIRST_JOB_ID}")
            command = command.replace(" ID", " $ID")
        out.append(f"echo {shlex.quote('+ ' + command.strip())} >&2")
        out.append(command if command.endswith("&") else command + STOP_ON_FAILURE)
    out.append("kill $(jobs -p) 2>/dev/null; wait")
    return "\n".join(out) + "\n"


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory outside /tmp and /root that a sandboxed job's user can walk through,
    holding a copy of the examples the block names."""
    path = Path(tempfile.mkdtemp(prefix="suanli-readme-", dir="/var/lib" if os.geteuid() == 0 else None))
    path.chmod(0o755)
    shutil.copytree(ROOT / "examples", path / "examples")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_readme_network_block_runs_as_written(place: Path) -> None:
    lines = readme_block()
    assert any(line.startswith("umask 077") for line in lines), "the walk no longer covers the umask it tests"
    shared = Path(f"/tmp/suanli-shared-{place.name}")  # under /tmp as README's, so the sandbox's private /tmp
    shutil.rmtree(shared, ignore_errors=True)  # must mount it back; made by the block's own mkdir -m 1777
    text = script(lines, free_port(), shared)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")},
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SUANLI_CONFIG_DIR": str(place / "config"),
    }
    proc = subprocess.Popen(
        ["bash", "-c", text],
        cwd=place,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        output, _ = proc.communicate()
        raise AssertionError(f"the block did not end in 240 s:\n{output[-6000:]}") from None
    finally:
        kill_session(proc.pid)
        shutil.rmtree(shared, ignore_errors=True)
    assert proc.returncode == 0, output[-6000:]
    assert "done: total=1240 (expected 1240)" in output, output[-6000:]
    assert "live plan for qwen2.5-7b-support-bot" in output and " qingyang " in output.split("live plan")[-1], output[
        -3000:
    ]
    assert "Traceback" not in output, output[-6000:]
