"""The local executor's sandbox: each job as an unprivileged user, in its own PID and mount
namespaces and its own cgroup, with a clean environment.

What a sandboxed job can and cannot see (docs/control-plane.md, "Security model"):

- **who it is**: the tenant's own user (``--sandbox-uids START-END``: one user per tenant,
  ``sj-<12 hex of the tenant id's SHA-256>``, created on demand with the lowest free UID of
  the range) or one fixed user (``--sandbox-user``, default ``suanli-job``, created on
  demand as a system user). Never root: a user whose UID is 0 is refused.
- **its files**: its attempt's workdir and its checkpoint directory, made 0700 and owned by
  that user, and the shared storage the agent names (``--sandbox-share``), as on the
  host. The job directory above them stays root's (0755), so a job cannot plant a
  symbolic link where the agent will later create the next attempt. The agent's whole work
  root is covered by an empty read-only tmpfs, with only the job's own directory mounted
  back; the agent's token file and every ``--sandbox-hide`` path (the server's data
  directory, say) are covered too. ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are private.
- **its processes**: a new PID namespace with its own ``/proc``: no other job, no agent, no
  server to read a command line or environment of. When the job's main process ends (it
  finished, was cancelled, or its agent died), the kernel kills everything else in the
  namespace: no double-forked daemon survives it (:mod:`suanli.agents.sandbox_init`).
- **its environment**: the spec's ``run.env``, the ``SUANLI_*`` variables, and ``PATH``
  (``/usr/local/bin:/usr/bin:/bin`` unless the spec sets it), ``HOME`` (its workdir),
  ``USER``, ``LOGNAME`` and ``TMPDIR``; nothing of the agent's.
- **its resources**: a cgroup v2 group per attempt under the agent's own
  (``<agent's cgroup>/suanli-jobs/<job>-<attempt>-<8 hex>``) where the host lets the agent
  make one, with ``memory.max`` = count x ``memory_per_accelerator_bytes``, ``cpu.max`` = count x
  ``cpus_per_accelerator`` CPUs and ``pids.max`` = :data:`PIDS_PER_JOB` when those
  controllers are delegated to it (Slurm's ``DefMemPerGPU``/``DefCpuPerGPU`` idea: a job's
  share of the host follows its share of the accelerators). Where a controller is missing
  the limit is not enforced, and :meth:`Sandbox.check` says so in the agent's first lines.

Why util-linux's ``unshare`` and not bubblewrap: it is in every Debian and Ubuntu base
system (util-linux is an essential package), needs no setuid helper, and the agent runs as
root anyway, because switching users needs it (as ``slurmd`` does). The mounts and the drop
to the job's user are done by a small init of ours, which also supervises the namespace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from suanli.agents.executors.base import EngineUnavailable, ExecutorError, Launch

log = logging.getLogger(__name__)

DEFAULT_USER = "suanli-job"
MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
PIDS_PER_JOB = 16_384
"""``pids.max`` of a job's cgroup: room for data-loader workers and their threads, not for a
fork bomb that would take the site's other jobs down."""
CPU_PERIOD_US = 100_000
"""``cpu.max``'s period (the kernel's default, 100 ms); the quota is CPUs x period."""
JOBS_CGROUP = "suanli-jobs"
PRIVATE = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))
"""Directories the sandbox replaces with private ones (``sandbox_init.PRIVATE_TMP``)."""
INIT = Path(__file__).with_name("sandbox_init.py")
UNSHARE_FLAGS = ("--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "--mount-proc")
USERADD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SandboxConfig:
    """How the agent sandboxes jobs (the ``suanli agent --sandbox*`` flags).

    ``tenant_uids``: inclusive UID range for one user per tenant; None runs every job as
    ``user``. ``hide``: paths the jobs must not see besides the work root (the token file,
    the server's data directory). ``share``: shared storage every job sees as on the host,
    even under ``/tmp`` or a hidden path (the server's ``--shared-root`` directories).
    ``memory_per_accelerator_bytes``/``cpus_per_accelerator``: a job's limits per
    accelerator it holds (None: no such limit)."""

    user: str = DEFAULT_USER
    tenant_uids: tuple[int, int] | None = None
    hide: tuple[Path, ...] = ()
    share: tuple[Path, ...] = ()
    memory_per_accelerator_bytes: int | None = None
    cpus_per_accelerator: float | None = None

    def __post_init__(self) -> None:
        if self.tenant_uids is not None:
            low, high = self.tenant_uids
            if not 0 < low <= high:
                raise ValueError(f"sandbox UID range {low}-{high}: give 1 <= START <= END (root, UID 0, never)")


@dataclass(frozen=True)
class JobUser:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class Prepared:
    """One sandboxed launch: the argv to start, the orders its init reads on stdin, its cgroup."""

    argv: tuple[str, ...]
    orders: bytes
    cgroup: Path | None
    user: JobUser


def tenant_user_name(tenant: str) -> str:
    """``sj-`` + 12 hex of the tenant id's SHA-256: stable, 15 characters (usernames are
    limited to 32), and telling nothing of the tenant's name."""
    return "sj-" + hashlib.sha256(tenant.encode()).hexdigest()[:12]


def existing_user(name: str) -> JobUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return JobUser(name, entry.pw_uid, entry.pw_gid)


def _useradd(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    base = ["--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group"]
    try:
        return subprocess.run(
            [useradd, *base, *args], capture_output=True, text=True, timeout=USERADD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExecutorError(
            f"cannot create a job user with {useradd}: {exc}. To fix: install passwd (useradd), "
            "or create the user yourself and pass --sandbox-user NAME"
        ) from None


class Users:
    """The job users, created on demand (serialised: the agent may start jobs from threads)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()

    def for_tenant(self, tenant: str | None) -> JobUser:
        """The user a job of ``tenant`` runs as (the fixed user without a range or a tenant)."""
        with self._lock:
            if self.config.tenant_uids is None or tenant is None:
                return self._fixed()
            return self._tenant(tenant, self.config.tenant_uids)

    def _fixed(self) -> JobUser:
        name = self.config.user
        found = existing_user(name)
        if found is None:
            done = _useradd(["--system", "--comment", "suanli jobs", name])
            found = existing_user(name)
            if found is None:
                raise ExecutorError(f"cannot create the job user '{name}': {done.stderr.strip() or done.returncode}")
        return _not_root(found)

    def _tenant(self, tenant: str, uids: tuple[int, int]) -> JobUser:
        name = tenant_user_name(tenant)
        found = existing_user(name)
        uid = uids[0]
        while found is None:
            uid = _free_uid(uid, uids)
            done = _useradd(["--uid", str(uid), "--comment", f"suanli tenant {tenant}", name])
            found = existing_user(name)
            if found is None and "not unique" not in done.stderr:
                raise ExecutorError(f"cannot create the job user '{name}': {done.stderr.strip() or done.returncode}")
            uid += 1  # another agent took that UID between our look and useradd: the next one
        if not uids[0] <= found.uid <= uids[1]:
            raise ExecutorError(
                f"job user '{name}' exists with UID {found.uid}, outside --sandbox-uids {uids[0]}-{uids[1]}. "
                f"To fix: remove it (userdel {name}) or widen the range"
            )
        return _not_root(found)


def _free_uid(start: int, uids: tuple[int, int]) -> int:
    for uid in range(start, uids[1] + 1):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise ExecutorError(
        f"no free UID left in --sandbox-uids {uids[0]}-{uids[1]} for another tenant. To fix: widen the range"
    )


def _not_root(user: JobUser) -> JobUser:
    if user.uid == 0 or user.gid == 0:
        raise ExecutorError(f"job user '{user.name}' is root (UID {user.uid}, GID {user.gid}); jobs never run as root")
    return user


@dataclass
class Cgroups:
    """Where job cgroups go, and which limits the host lets the agent set there."""

    parent: Path | None
    controllers: frozenset[str] = frozenset()
    why_not: str = ""

    @classmethod
    def probe(cls) -> Cgroups:
        """``<cgroup2 mount>/<the agent's own cgroup>/suanli-jobs``, made if missing, with the
        memory, cpu and pids controllers enabled for its children where the parent offers them."""
        mount = _cgroup2_mount()
        if mount is None:
            return cls(None, why_not="no cgroup v2 hierarchy is mounted")
        own = _own_cgroup()
        parent = mount / own.lstrip("/") / JOBS_CGROUP
        try:
            parent.mkdir(exist_ok=True)
        except OSError as exc:
            return cls(None, why_not=f"cannot create {parent}: {exc.strerror}")
        offered = set((parent.parent / "cgroup.controllers").read_text().split())
        enabled: set[str] = set()
        for name in ("memory", "cpu", "pids"):
            if name not in offered:
                continue
            try:
                for level in (parent.parent, parent):
                    (level / "cgroup.subtree_control").write_text(f"+{name}\n")
                enabled.add(name)
            except OSError:
                pass  # not delegated to us (a parent holding processes, or systemd's)
        return cls(parent, frozenset(enabled))

    def describe(self) -> str:
        if self.parent is None:
            return f"no cgroup ({self.why_not}): limits not enforced"
        missing = [name for name in ("memory", "cpu", "pids") if name not in self.controllers]
        limits = f"limits: {', '.join(sorted(self.controllers))}" if self.controllers else "no limits"
        return f"cgroup v2 under {self.parent} ({limits}" + (
            f"; not enforced: {', '.join(missing)}, not delegated to the agent)" if missing else ")"
        )

    def create(self, name: str, count: int, config: SandboxConfig) -> Path | None:
        """A job's cgroup with its limits; None where the host gives no cgroup."""
        if self.parent is None:
            return None
        path = self.parent / name
        try:
            path.mkdir(exist_ok=True)
        except OSError as exc:  # the job still runs, in the namespaces, without its own group
            log.warning("job cgroup %s not made (%s): its limits are not enforced", path, exc.strerror)
            return None
        limits: dict[str, str] = {}
        if "memory" in self.controllers and config.memory_per_accelerator_bytes:
            limits["memory.max"] = str(max(1, count) * config.memory_per_accelerator_bytes)
        if "cpu" in self.controllers and config.cpus_per_accelerator:
            quota_us = round(max(1, count) * config.cpus_per_accelerator * CPU_PERIOD_US)
            limits["cpu.max"] = f"{quota_us} {CPU_PERIOD_US}"
        if "pids" in self.controllers:
            limits["pids.max"] = str(PIDS_PER_JOB)
        for file, value in limits.items():
            (path / file).write_text(value + "\n")
        return path

    @staticmethod
    def remove(path: Path) -> None:
        """Kill whatever is left in a job's cgroup and remove it (best effort: a cgroup
        still emptying is removed by the next agent's probe of the same name, or stays)."""
        kill = path / "cgroup.kill"
        try:
            if kill.exists():
                kill.write_text("1\n")
            path.rmdir()
        except OSError:
            pass


def _cgroup2_mount() -> Path | None:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def _own_cgroup() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return "/"


@dataclass
class Sandbox:
    """Prepares sandboxed launches under ``work_root`` (see the module docstring)."""

    config: SandboxConfig
    work_root: Path
    users: Users = field(init=False)
    cgroups: Cgroups = field(init=False)
    unshare: str = field(init=False, default="unshare")

    def __post_init__(self) -> None:
        self.work_root = self.work_root.absolute()
        self.users = Users(self.config)
        self.cgroups = Cgroups(None, why_not="not probed")

    def check(self) -> str:
        """That this host can sandbox jobs, and how (one line); raises EngineUnavailable."""
        if os.geteuid() != 0:
            raise EngineUnavailable(
                "the job sandbox switches to unprivileged users and makes namespaces, which needs root. "
                "To fix: run the agent as root (as slurmd runs), "
                "or pass --sandbox off to run jobs as the agent's own user"
            )
        found = shutil.which("unshare")
        if found is None:
            raise EngineUnavailable("the job sandbox needs util-linux's unshare. To fix: apt install util-linux")
        self.unshare = found
        probe = subprocess.run([found, *UNSHARE_FLAGS, "true"], capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode != 0:
            raise EngineUnavailable(
                f"this host refuses new PID and mount namespaces ({probe.stderr.strip() or probe.returncode}). "
                "To fix: allow them (in a container: --privileged or CAP_SYS_ADMIN), or pass --sandbox off"
            )
        try:
            user = self.users.for_tenant(None)
        except ExecutorError as exc:
            raise EngineUnavailable(str(exc)) from None
        _reachable(self.work_root)
        self.cgroups = Cgroups.probe()
        who = (
            f"one user per tenant in UIDs {self.config.tenant_uids[0]}-{self.config.tenant_uids[1]}"
            if self.config.tenant_uids
            else f"user {user.name} (UID {user.uid})"
        )
        return f"sandboxed as {who}, PID and mount namespaces ({found}); {self.cgroups.describe()}"

    def prepare(self, launch: Launch) -> Prepared:
        """Make the job's directories its user's, and the argv and orders that start it."""
        user = self.users.for_tenant(launch.labels.get("suanli_tenant"))
        job_dir = self.work_root / launch.job_id
        named = launch.env.get("SUANLI_CHECKPOINT_DIR")
        mine = [launch.workdir, *([Path(named)] if named else [])]  # made by the agent (AgentRunner._launch)
        _let_through(job_dir)
        for target in mine:
            give_to_job(job_dir, target, user, launch.made_dirs)
        shared = [p for p in self.config.share if p.is_dir()]
        keep = [job_dir, *(p for p in [*mine, *shared] if not _inside(p, job_dir))]
        hide = [self.work_root, *self.config.hide]
        env = {
            "PATH": MINIMAL_PATH,
            "HOME": str(launch.workdir),
            "USER": user.name,
            "LOGNAME": user.name,
            "TMPDIR": "/tmp",
            **launch.env,
        }
        # unique per start: a stale group of a crashed agent, or another agent on this host, is never reused
        cgroup = self.cgroups.create(
            f"{launch.job_id}-{launch.attempt}-{secrets.token_hex(4)}", launch.count, self.config
        )
        orders = {
            "uid": user.uid,
            "gid": user.gid,
            "workdir": str(launch.workdir),
            "command": list(launch.command),
            "env": env,
            "keep": [str(p) for p in keep if any(_inside(p, h) for h in (*hide, *PRIVATE))],
            "hide": [str(p) for p in hide],
            "cgroup": None if cgroup is None else str(cgroup),
        }
        argv = (self.unshare, *UNSHARE_FLAGS, "--", sys.executable, "-I", "-S", str(INIT))
        return Prepared(argv, json.dumps(orders).encode(), cgroup, user)


def _reachable(work_root: Path) -> None:
    """Refuse a work root the job users could not walk down to: every directory above it
    must let others through (``o+x``). Those under ``/tmp`` are exempt: the sandbox's private
    ``/tmp`` makes them anew, as root's and mode 0755."""
    private = Path("/tmp")
    for parent in work_root.parents:
        if parent == private or private in parent.parents:
            continue
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise EngineUnavailable(
                f"sandboxed jobs could not reach their directories under {work_root}: {parent} is mode "
                f"{mode & 0o777:o} and lets no other user through. To fix: give a --work-dir outside it "
                f"(such as /var/lib/suanli/work), or chmod o+x {parent}"
            )


def _let_through(job_dir: Path) -> None:
    """The job's directory (root's, made under the agent's umask: 0700 after ``umask 077``)
    mode 0711, so its user can walk through it to its own attempt directory; it still
    cannot list it, and no other job sees it (the work root is covered in theirs)."""
    if job_dir.is_symlink() or not job_dir.is_dir():
        raise ExecutorError(f"job directory {job_dir} is not a plain directory; refusing to run the job in it")
    os.chmod(job_dir, 0o711)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def give_to_job(job_dir: Path, target: Path, user: JobUser, made: frozenset[Path] = frozenset()) -> None:
    """Make ``target`` and the directories between ``job_dir`` and it (which the agent
    made, as root) the job user's, mode 0700. Never a symbolic link (``lchown``, and a link
    is refused). Outside the job's directory (shared storage) only a ``target`` the agent
    made for this launch (``made``), and none of the directories above it: what was there
    keeps the owner and mode its operator gave it."""
    if target == job_dir:
        return
    if not _inside(target, job_dir):
        if target in made:
            _hand_over([target], user)
        return
    _hand_over([target, *(p for p in target.parents if p != job_dir and _inside(p, job_dir))], user)


def _hand_over(chain: list[Path], user: JobUser) -> None:
    for path in reversed(chain):
        if path.is_symlink() or not path.is_dir():
            raise ExecutorError(f"job directory {path} is not a plain directory; refusing to hand it to the job")
        os.chown(path, user.uid, user.gid, follow_symlinks=False)
        os.chmod(path, 0o700)  # not a link (checked above; Linux has no lchmod)
