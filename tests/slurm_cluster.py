"""A one-node Slurm cluster on this host for tests and benchmarks (munged, slurmctld and
slurmd in a temporary directory, on free ports), started with :func:`one_node_slurm`.

It needs root (slurmd starts jobs as their users) and Debian's slurm-wlm; without them
:class:`SlurmUnavailable` says what is missing (tests skip with that reason, benchmarks
print it)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SBIN = (Path("/usr/sbin"), Path("/usr/local/sbin"), Path("/usr/bin"), Path("/usr/local/bin"))
START_TIMEOUT_S = 60.0


class SlurmUnavailable(Exception):
    """No cluster could be started here; the message says why."""


def _binary(name: str) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    return next((d / name for d in SBIN if (d / name).exists()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no output)"


def _wait(what: str, ready: Any, processes: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        for name, process in processes.items():
            if process.poll() is not None:
                raise SlurmUnavailable(
                    f"{name} exited with {process.returncode} while waiting for {what}:\n{_tail(logs / name)}"
                )
        if time.monotonic() > deadline:
            raise SlurmUnavailable(
                f"{what} not ready within {START_TIMEOUT_S} s:\n" + "\n".join(_tail(logs / n) for n in processes)
            )
        time.sleep(0.2)


SLURM_CONF = """\
ClusterName=suanlitest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=2
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
"""One node (this host, 2 CPUs), munge authentication on a private socket, no accounting
(so the executor's exit-code file is what tells how jobs ended), no cgroups (containers
rarely allow them): ``proctrack/linuxproc`` and ``task/none``."""


@contextlib.contextmanager
def one_node_slurm() -> Iterator[Path]:
    """A running one-node Slurm cluster; yields its slurm.conf. Raises
    :class:`SlurmUnavailable` when slurm-wlm is missing, this is not root, or a daemon does
    not come up."""
    binaries = {name: _binary(name) for name in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")}
    missing = sorted(name for name, path in binaries.items() if path is None)
    if missing:
        raise SlurmUnavailable(
            f"slurm-wlm is not installed (missing {', '.join(missing)}); apt-get install slurm-wlm runs these"
        )
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurmd must run as root to start jobs")
    root = Path(tempfile.mkdtemp(prefix="suanli-slurm-", dir="/tmp"))
    root.chmod(0o755)  # munged refuses a socket in a directory others cannot traverse
    for sub in ("state", "spool", "munge", "logs"):
        (root / sub).mkdir()
    (root / "munge").chmod(0o755)
    key_dir = root / "munge-key"
    key_dir.mkdir(mode=0o700)
    (key_dir / "munge.key").write_bytes(secrets.token_bytes(1024))
    (key_dir / "munge.key").chmod(0o600)
    munge_socket = root / "munge" / "socket"
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(host=host, ctld_port=_free_port(), d_port=_free_port(), munge_socket=munge_socket, root=root),
        encoding="utf-8",
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    logs = root / "logs"
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, *argv: str) -> None:
        with (logs / name).open("wb") as sink:
            processes[name] = subprocess.Popen(
                [str(binaries[name]), *argv], stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def node_idle() -> bool:
        done = subprocess.run(
            [str(binaries["sinfo"]), "-h", "-o", "%T"], env=env, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() == "idle"

    try:
        start(
            "munged",
            "-F",
            f"--key-file={key_dir / 'munge.key'}",
            f"--socket={munge_socket}",
            f"--pid-file={root / 'munge' / 'pid'}",
            f"--log-file={logs / 'munged.log'}",
            f"--seed-file={root / 'munge' / 'seed'}",
        )
        _wait("munged's socket", munge_socket.exists, processes, logs)
        start("slurmctld", "-D", "-f", str(conf))
        start("slurmd", "-D", "-f", str(conf))
        _wait("the node to be idle in sinfo", node_idle, processes, logs)
        yield conf
    finally:
        scancel = _binary("scancel")
        if scancel is not None and "slurmctld" in processes:
            subprocess.run([str(scancel), "--user=root"], env=env, capture_output=True, check=False, timeout=30)
            time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            process = processes.get(name)
            if process is None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)
