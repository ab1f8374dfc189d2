"""The first process of a job's sandbox: run as ``python -I -S sandbox_init.py`` by
``unshare --pid --fork --kill-child --mount --propagation private --mount-proc``, so it is
PID 1 of a new PID namespace, as root, in a private mount namespace.

It reads its orders (:class:`~suanli.agents.sandbox.InitOrders` as JSON) from standard
input, never from its command line or a file: the job's ``run.env`` may hold secrets, and
every local user can read a process's command line. Then, in order:

1. a private ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (tmpfs, mode 1777);
2. the directories the job keeps (its own job directory, shared storage it names) are
   held open, every hidden path is covered (a read-only empty tmpfs over a
   directory, ``/dev/null`` over a file), and the kept directories are mounted back at
   their own paths: the job sees its own work and nothing of the agent's work root, its
   token or the server's data;
3. it joins the job's cgroup (if the agent made one), so the job and all it starts are
   counted and limited there;
4. it forks the job, which drops to the job's unprivileged user (no supplementary groups,
   ``PR_SET_NO_NEW_PRIVS`` so no setuid program gives root back, umask 077), changes to
   its workdir and executes its command with exactly the environment it was given;
5. it forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 to every process of the
   namespace (``kill(-1, sig)``: daemons that left the job's session too), reaps orphans,
   and exits with the job's status (``128 + n`` for signal ``n``) as soon as the job's own
   process ends.

When PID 1 of a namespace exits, the kernel kills every other process in it, so nothing a
job started (a double-forked daemon included) outlives its main process, its cancel, or
its agent (``--kill-child``: the agent's death kills ``unshare``, whose death kills this).

Standard library only, and no import of :mod:`suanli`: it starts in a few milliseconds and
trusts nothing the job could have put on a path.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
PR_SET_NO_NEW_PRIVS = 38
"""``<linux/mount.h>`` and ``<linux/prctl.h>`` constants."""
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
"""Each job gets its own (a tmpfs, mode 1777) instead of the host's."""
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
EXIT_NOT_FOUND = 127
EXIT_CANNOT_RUN = 126
"""A shell's exit codes for a program it cannot find, or cannot execute."""

_libc = ctypes.CDLL(None, use_errno=True)


def _fail(what: str, err: int) -> None:
    raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """``mount(2)``; raises OSError naming the target."""
    if (
        _libc.mount(
            source.encode(), target.encode(), None if fstype is None else fstype.encode(), flags, data and data.encode()
        )
        != 0
    ):
        _fail(f"mount {target}", ctypes.get_errno())


def isolate_files(keep: list[str], hide: list[str]) -> None:
    """Steps 1 and 2 of the module docstring. The kept directories are held open
    (``O_PATH``) before anything is covered, and mounted back from those descriptors, so
    they return wherever they lie (under a hidden path, or under ``/tmp``)."""
    held = [(os.open(path, os.O_PATH | os.O_DIRECTORY), path) for path in keep]
    os.umask(0o022)  # the mount points below are 0755 even for an agent under umask 077 (the job gets 077)
    for tmp in PRIVATE_TMP:
        if os.path.isdir(tmp):
            mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    covered = []
    for path in hide:
        if os.path.isdir(path) and not os.path.islink(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            covered.append(path)
        elif os.path.lexists(path):
            mount("/dev/null", path, None, MS_BIND)
    for fd, path in held:
        os.makedirs(path, mode=0o755, exist_ok=True)  # in a cover or the private /tmp, or there already
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
    for path in covered:  # read-only, so the job can neither fill a cover nor plant files in it
        mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def become(uid: int, gid: int) -> None:
    """Drop to ``uid``/``gid`` for good: no supplementary groups, no way back through a
    setuid program."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_NO_NEW_PRIVS)", ctypes.get_errno())


def run_job(orders: dict[str, Any]) -> None:
    """Step 4, in the forked child: never returns."""
    try:
        become(int(orders["uid"]), int(orders["gid"]))
        os.umask(0o077)
        os.chdir(orders["workdir"])
    except OSError as exc:
        sys.stderr.write(f"suanli sandbox: cannot set up the job: {exc}\n")
        os._exit(EXIT_CANNOT_RUN)
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_DFL)
    command: list[str] = orders["command"]
    env: dict[str, str] = orders["env"]
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        sys.stderr.write(
            f"suanli sandbox: program '{command[0]}' was not found (PATH={env.get('PATH', '')!r}). "
            "To fix: install it on this site where the job's user may run it, or give its absolute path\n"
        )
        os._exit(EXIT_NOT_FOUND)
    except OSError as exc:
        sys.stderr.write(
            f"suanli sandbox: cannot run '{command[0]}' as the job's user: {exc.strerror}. "
            "To fix: make it executable by every user, outside directories only root may enter (such as /root)\n"
        )
        os._exit(EXIT_CANNOT_RUN)


def supervise(job_pid: int) -> int:
    """Step 5: forward signals, reap, and return the job's shell-style status."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signum)  # from PID 1: every process of the namespace but this one

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return EXIT_CANNOT_RUN  # cannot happen while the job lives; defensive
        if pid == job_pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def main() -> int:
    orders = json.loads(sys.stdin.buffer.read())
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        isolate_files(list(orders["keep"]), list(orders["hide"]))
        cgroup = orders.get("cgroup")
        if cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
                procs.write("0\n")
    except OSError as exc:
        sys.stderr.write(f"suanli sandbox: cannot isolate the job: {exc}\n")
        return EXIT_CANNOT_RUN
    pid = os.fork()
    if pid == 0:
        run_job(orders)
    return supervise(pid)


if __name__ == "__main__":
    sys.exit(main())
