"""The agent's watchdog: a small process that fences the agent's jobs when the agent cannot.

A frozen agent (SIGSTOP, a debugger, a host swapping it out) cannot stop its own jobs,
which run on in sessions of their own while the server, hearing nothing, places them
elsewhere. The watchdog is started by the agent (:func:`start_watchdog`), dies with it
(``PR_SET_PDEATHSIG``) and needs nothing but the agent's lease file
(:class:`~suanli.agents.fencing.Fence` writes it on every acknowledged heartbeat and job
start or end): when the lease is ``F`` old (:mod:`suanli.agents.fencing`), it sends each
job's process group SIGTERM, waits the grace, and sends SIGKILL. It never talks to the
server. It reads the file every ``p`` seconds, and once more before it kills, so a lease
renewed meanwhile spares the jobs (and the agent treats a renewal that came after the
deadline as a lapse: :meth:`Fence.renew`).

Run as ``python -m suanli.agents.watchdog LEASE_FILE``; it writes one line per fence to
stderr (the agent's log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from suanli.agents.fencing import MAX_POLL_S, foreign_group, kill_groups


@dataclass(frozen=True)
class Lease:
    """What the watchdog reads of the lease file."""

    agent_pid: int
    renewed_s: float | None
    fence_after_s: float | None
    grace_s: float
    poll_s: float
    groups: dict[str, int]

    def lapsed(self, now_s: float) -> bool:
        return (
            self.renewed_s is not None
            and self.fence_after_s is not None
            and bool(self.groups)
            and now_s >= self.renewed_s + self.fence_after_s
        )


def read_lease(path: Path) -> Lease | None:
    """The lease file's contents, or None when it is missing or not a lease."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Lease(
            agent_pid=int(data["agent_pid"]),
            renewed_s=None if data["renewed_s"] is None else float(data["renewed_s"]),
            fence_after_s=None if data["fence_after_s"] is None else float(data["fence_after_s"]),
            grace_s=float(data["grace_s"]),
            poll_s=float(data["poll_s"]),
            groups={str(k): int(v) for k, v in data["groups"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def watch(
    path: Path,
    *,
    now_s: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
    parent_pid: Callable[[], int] = os.getppid,
    say: Callable[[str], object] = lambda line: print(line, file=sys.stderr, flush=True),
) -> int:
    """Fence the jobs of the lease at ``path`` whenever it lapses, until the agent is gone
    (its parent changes) or the file is removed (the agent closed it). Returns 0."""
    agent = parent_pid()
    fenced: set[tuple[float | None, int]] = set()
    last: Lease | None = None
    while parent_pid() == agent:
        lease = read_lease(path)
        if lease is None and not path.exists():
            return 0
        last = lease or last
        if last is not None and last.lapsed(now_s()):
            again = read_lease(path) or last  # renewed meanwhile?
            if again.lapsed(now_s()):
                _fence(again, fenced, now_s(), say)
            last = again
        sleep(last.poll_s if last is not None else MAX_POLL_S)
    return 0


def _fence(lease: Lease, fenced: set[tuple[float | None, int]], now_s: float, say: Callable[[str], object]) -> None:
    victims = {
        job: pgid
        for job, pgid in lease.groups.items()
        if (lease.renewed_s, pgid) not in fenced and not foreign_group(pgid, lease.agent_pid)
    }
    if not victims:
        return
    late_s = now_s - (lease.renewed_s or 0.0)
    say(
        f"suanli watchdog: agent {lease.agent_pid} has not renewed its lease for {late_s:.1f} s "
        f"(fence deadline {lease.fence_after_s:.1f} s); stopping job(s) {', '.join(sorted(victims))} "
        f"(process groups {', '.join(str(p) for p in victims.values())}): SIGTERM, SIGKILL after {lease.grace_s:.2f} s"
    )
    killed = kill_groups(victims.values(), lease.grace_s)
    fenced.update((lease.renewed_s, pgid) for pgid in victims.values())
    say(f"suanli watchdog: fenced; SIGKILL needed for process groups {killed or 'none'}")


def start_watchdog(lease_path: Path) -> subprocess.Popen[bytes]:
    """Start the watchdog for ``lease_path`` as a child that dies with this process (the
    calling thread, strictly: call it from the agent's main thread), in a session of its
    own so a terminal's job control (Ctrl-Z) does not freeze it with the agent."""
    from suanli.agents.executors.local import die_with_parent

    return subprocess.Popen(
        [sys.executable, "-m", "suanli.agents.watchdog", str(lease_path)],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 (only prctl runs in the child)
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m suanli.agents.watchdog LEASE_FILE (the agent starts it)", file=sys.stderr)
        return 2
    try:
        return watch(Path(args[0]))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
