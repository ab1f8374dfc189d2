"""Real control-plane processes for tests: ``suanli serve`` and ``suanli agent`` as
subprocesses, a fresh PostgreSQL database, a local Ray head.

Every process runs in a session of its own (``start_new_session``) with its output in a
file, so a test can kill one process (``Proc.kill``: SIGKILL, as a crash would) or a whole
group (``Proc.stop``), and print every process's log when it fails
(``ControlNetwork.report``). :class:`ControlNetwork` is a context manager whose exit stops
everything it started, also when the test failed::

    with ControlNetwork(tmp_path, db_url) as net:
        net.start_server()
        tenant = net.create_tenant("acme")
        net.start_agents(("qingyang", {"h800": 2}), ("zhongwei", {"h800": 2}))
        client = net.client(tenant)

Only the standard library and pytest are imported here (``tests/conftest.py`` imports this
module); psycopg and the SDK are imported when used. Ports are chosen free and every
directory lives under the test's own path, so tests run in parallel (``pytest -n``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from suanli.client import Client
    from suanli.service.control.plane import ControlPlane

T = TypeVar("T")

SUANLI = (sys.executable, "-m", "suanli.cli")
"""How to run the command line (the package's ``__main__``), in this interpreter."""
POSTGRES_ENV = "SUANLI_TEST_POSTGRES"
"""Overrides where PostgreSQL is: a URL of a server database the tests may create databases from."""
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 60.0
"""A server or agent that is not up within this long fails the test (with its log)."""
LOG_TAIL_CHARS = 12_000


def free_port() -> int:
    """A TCP port nobody listens on now (another process may take it before it is used:
    good enough for tests, which start their server right away)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:  # no /proc (not Linux): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def clean_env(config_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without suanli's own variables (a developer's
    ``SUANLI_TOKEN`` must not leak into a test), with a private login directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")}
    env |= {"SUANLI_CONFIG_DIR": str(config_dir), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    env |= dict(extra or {})
    return env


# -- processes -------------------------------------------------------------------------------


@dataclass
class Proc:
    """A process started by the harness, in its own session, its output in ``log_path``."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail_chars: int = LOG_TAIL_CHARS) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text if len(text) <= tail_chars else "...\n" + text[-tail_chars:]

    def kill(self) -> None:
        """SIGKILL this process only, as a crash or the OOM killer would; its children
        are left to whatever it arranged for them."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process's group, wait up to ``timeout_s``, then SIGKILL the group."""
        if self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout_s)
        _signal_group(self.pid, signal.SIGKILL)  # stragglers of the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_session(sid: int) -> list[int]:
    """SIGKILL every live process of session ``sid`` (on Linux; elsewhere nothing), one by
    one by pid: a process started with ``start_new_session`` and all it started, including
    those that moved to process groups of their own (Ray's workers do). The pids killed."""
    killed = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def start_process(name: str, argv: Sequence[str], log_dir: Path, env: Mapping[str, str], cwd: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as sink:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    return Proc(name, list(argv), log_path, popen)


# -- a network: a server and its agents ------------------------------------------------------


@dataclass
class ControlNetwork:
    """A server on SQLite (under ``root/data``) or on ``db_url``, and agents, as real
    processes; short heartbeats and cycles so sites are declared lost within seconds
    (``heartbeat_interval_s x missed_heartbeats``: 2 s by default; an agent whose engine
    takes longer than that to accept a job, such as Ray, needs more, as its loop waits)."""

    root: Path
    db_url: str | None = None
    cycle_interval_s: float = 0.2
    heartbeat_interval_s: float = 0.5
    missed_heartbeats: float = 4.0
    procs: list[Proc] = field(default_factory=list)
    agents: dict[str, Proc] = field(default_factory=dict)
    work_dirs: dict[str, Path] = field(default_factory=dict)
    url: str = ""
    server: Proc | None = None
    _clients: list[Client] = field(default_factory=list)
    _plane: ControlPlane | None = None

    def __post_init__(self) -> None:
        self.root = self.root.absolute()
        self.data_dir = self.root / "data"
        self.log_dir = self.root / "logs"
        self.config_dir = self.root / "config"
        for directory in (self.data_dir, self.log_dir, self.config_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.env = clean_env(self.config_dir)

    def __enter__(self) -> ControlNetwork:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def store_args(self) -> list[str]:
        """``--data-dir`` (SQLite, and where the admin token goes) plus ``--db`` when given."""
        return ["--data-dir", str(self.data_dir), *(["--db", self.db_url] if self.db_url else [])]

    # -- commands ------------------------------------------------------------------------

    def suanli(
        self, *args: str, token: str | None = None, check: bool = True, timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``suanli ARGS`` to completion; with ``token``, against this network's server
        (``SUANLI_SERVER``/``SUANLI_TOKEN``, as a user would set them)."""
        env = dict(self.env)
        if token is not None:
            env |= {"SUANLI_SERVER": self.url, "SUANLI_TOKEN": token}
        done = subprocess.run(
            [*SUANLI, *args], capture_output=True, text=True, env=env, cwd=self.root, timeout=timeout_s, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"`suanli {' '.join(args)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n{self.report()}"
            )
        return done

    def admin(self, *args: str) -> str:
        """``suanli admin ARGS`` on the store (no server needed); its stdout, stripped."""
        return self.suanli("admin", *args, *self.store_args).stdout.strip()

    def create_tenant(self, name: str, cli: bool = False) -> str:
        """A new tenant; its token. Made here, through the service layer, as ``suanli admin
        create-tenant`` does (``cli``: by running that command, a few seconds slower)."""
        if cli:
            return self.admin("create-tenant", name)
        from suanli.service.control import admin
        from suanli.service.control.auth import LOCAL_ADMIN

        return admin.create_tenant(self.plane(), LOCAL_ADMIN, name, "tests").token

    def agent_token(self, site: str) -> str:
        """A new agent token for ``site`` (as ``suanli admin create-token --role agent``)."""
        from suanli.service.control import admin
        from suanli.service.control.auth import LOCAL_ADMIN

        return admin.create_token(self.plane(), LOCAL_ADMIN, "agent", site=site, remote="tests").token

    def plane(self) -> ControlPlane:
        """The network's store, opened in this process (and migrated: the first opening of
        a fresh store must come before the server's, so the two never migrate at once)."""
        if self._plane is None:
            from suanli.service.control.plane import control_plane
            from suanli.store import open_store

            self._plane = control_plane(open_store(self.data_dir, self.db_url))
        return self._plane

    # -- processes -----------------------------------------------------------------------

    def start_server(self, *extra: str, port: int | None = None) -> Proc:
        """``suanli serve`` on ``port`` (default: a free one); returns once ``/v1/health`` answers."""
        self.plane()
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [
            *SUANLI,
            "serve",
            *self.store_args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--cycle-interval",
            str(self.cycle_interval_s),
            "--missed-heartbeats",
            str(self.missed_heartbeats),
            *extra,
        ]
        self.server = self._start("server", argv)
        self._wait_for(self.server, lambda: _answers(f"{self.url}/v1/health"), "the server's /v1/health")
        return self.server

    def start_agent(
        self,
        site: str,
        inventory: Mapping[str, int],
        *,
        executor: str = "local",
        ray_address: str | None = None,
        token: str | None = None,
        wait: bool = True,
        extra: Sequence[str] = (),
        name: str | None = None,
        sandbox: bool = False,
    ) -> Proc:
        """``suanli agent`` for ``site`` (work dir ``root/work-<site>``) with ``extra``
        arguments; with ``wait``, returns once it has registered. ``name``: its log's name
        (default ``agent-<site>``; give another to a second agent of the site). Its token
        goes in a 0600 file. ``sandbox``: run its jobs in the sandbox (the default
        ``--sandbox auto`` as root); without it ``--sandbox off``, because most tests' jobs
        run this venv's Python, which lives where an unprivileged user cannot reach."""
        assert self.url, "start the server first"
        work_dir = self.root / f"work-{site}"
        self.work_dirs[site] = work_dir
        token_file = self.root / f"{name or f'agent-{site}'}.token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write((token or self.agent_token(site)) + "\n")
        argv = [
            *SUANLI,
            "agent",
            "--server",
            self.url,
            "--token-file",
            str(token_file),
            *([] if sandbox else ["--sandbox", "off"]),
            "--site",
            site,
            "--executor",
            executor,
            *[arg for name, count in inventory.items() for arg in ("--inventory", f"{name}={count}")],
            "--work-dir",
            str(work_dir),
            "--heartbeat-interval",
            str(self.heartbeat_interval_s),
            *(["--ray-address", ray_address] if ray_address else []),
            *extra,
        ]
        proc = self._start(name or f"agent-{site}", argv)
        self.agents[site] = proc
        if wait:
            self.wait_registered(site)
        return proc

    def start_agents(self, *sites: tuple[str, Mapping[str, int]]) -> list[Proc]:
        """Several local agents, started at once; returns once all have registered."""
        procs = [self.start_agent(site, inventory, wait=False) for site, inventory in sites]
        for site, _ in sites:
            self.wait_registered(site)
        return procs

    def wait_registered(self, site: str) -> None:
        proc = self.agents[site]
        self._wait_for(proc, lambda: "registered with" in proc.output(), f"the agent of {site} to register")

    def client(self, token: str) -> Client:
        """An SDK client for this server (closed with the network)."""
        from suanli.client import Client

        made = Client(self.url, token, retries=5)
        self._clients.append(made)
        return made

    def close(self) -> None:
        """Stop every process, agents first (SIGTERM, then SIGKILL), then the server."""
        for made in self._clients:
            made.close()
        if self._plane is not None:
            self._plane.store.dispose()
        agents = [p for p in self.procs if p is not self.server]
        with ThreadPoolExecutor(max_workers=max(len(agents), 1)) as pool:
            list(pool.map(lambda p: p.stop(timeout_s=10.0), agents))
        if self.server is not None:
            self.server.stop(timeout_s=15.0)

    def report(self) -> str:
        """Every process's command and log tail, for a failing test's output."""
        parts = []
        for proc in self.procs:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"===== {proc.name} ({state}): {' '.join(_redact(proc.argv))}\n{proc.output()}")
        return "\n".join(parts)

    def _start(self, name: str, argv: list[str]) -> Proc:
        proc = start_process(name, argv, self.log_dir, self.env, self.root)
        self.procs.append(proc)
        return proc

    def _wait_for(self, proc: Proc, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}) before {what}:\n{proc.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {START_TIMEOUT_S:.0f} s:\n{self.report()}")
            time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _redact(argv: Sequence[str]) -> list[str]:
    return ["***" if previous == "--token" else arg for previous, arg in zip(["", *argv], argv, strict=False)]


@contextlib.contextmanager
def report_on_failure(net: ControlNetwork) -> Iterator[ControlNetwork]:
    """Re-raise a failure inside the block with every process's log appended."""
    try:
        yield net
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, pytest.skip.Exception)):
            raise
        raise AssertionError(f"{exc}\n\n{net.report()}") from exc


# -- PostgreSQL ------------------------------------------------------------------------------


def postgres_server_url() -> str:
    """The PostgreSQL the tests may create databases on: ``$SUANLI_TEST_POSTGRES`` or the
    CI machine's (``postgres`` with trust authentication on 127.0.0.1:5432, database ``test``)."""
    return os.environ.get(POSTGRES_ENV) or POSTGRES_DEFAULT


def postgres_unreachable(server_url: str) -> str | None:
    """Why PostgreSQL at ``server_url`` cannot be used (None when it can)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[server]')"
    try:
        with psycopg.connect(server_url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL is not reachable at {server_url} ({first}); set {POSTGRES_ENV} to a server URL"
    return None


@contextlib.contextmanager
def fresh_postgres_database(server_url: str, prefix: str = "suanli_e2e") -> Iterator[str]:
    """Create ``<prefix>_<random>`` on the server, yield its URL, drop it afterwards
    (``WITH (FORCE)``: connections a killed process left behind do not keep it alive)."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
