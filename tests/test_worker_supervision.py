"""A ``serve --workers`` worker follows its supervisor: each of the two mechanisms alone
(Linux's parent-death signal, the watchdog thread) stops a worker whose parent was killed
with SIGKILL; ``wait_for_port`` waits for a port a dying server still holds, and names it
when it stays taken. (``test_serve_workers.py`` runs the whole with real uvicorn workers.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from suanli.server.workers import wait_for_port
from tests.control_harness import pid_alive, wait_until

WORKER = textwrap.dedent(
    """
    import sys, time
    from suanli.server import workers
    if sys.argv[2] == "watchdog":
        workers._set_parent_death_signal = lambda sig: False
    else:
        workers._watch = lambda supervisor_pid: None
    workers.follow_supervisor(int(sys.argv[1]))
    print("following", flush=True)
    time.sleep(60)
    """
)
SUPERVISOR = textwrap.dedent(
    """
    import os, subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2]], stdout=sys.stdout)
    print(worker.pid, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize(
    "mechanism",
    [
        pytest.param("watchdog", id="the watchdog alone notices the new parent"),
        pytest.param(
            "deathsig",
            id="the parent-death signal alone stops it",
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's"),
        ),
    ],
)
def test_a_worker_stops_within_a_second_or_two_of_its_supervisors_kill_9(mechanism: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, WORKER, mechanism], stdout=subprocess.PIPE, text=True
    ) as supervisor:
        assert supervisor.stdout is not None
        worker_pid = int(supervisor.stdout.readline())
        assert supervisor.stdout.readline().strip() == "following"
        assert pid_alive(worker_pid)
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait()
        wait_until(lambda: not pid_alive(worker_pid), 3.0, f"worker {worker_pid} to stop ({mechanism})")


def test_wait_for_port_returns_once_the_holder_lets_go_and_names_the_port_otherwise() -> None:
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    with pytest.raises(OSError, match=rf"port {port} on 127.0.0.1 is in use.*To fix: stop what listens there"):
        wait_for_port("127.0.0.1", port, timeout_s=0.3)
    threading.Timer(0.3, holder.close).start()
    started = time.monotonic()
    wait_for_port("127.0.0.1", port, timeout_s=5.0)
    assert 0.2 < time.monotonic() - started < 5.0
