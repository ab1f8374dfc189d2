"""Self-fencing agents: a job's two runs never overlap when its agent loses its lease.

- the fence's figures (``plan_fence``): the defaults, the kill grace's clamp, and the
  sentence when the server's site timeout leaves no room;
- the agent's lease (``Fence``): tripped ``F`` after the last acknowledged heartbeat was
  sent, and an answer that comes after that deadline counts as a lapse;
- the watchdog kills a lapsed lease's process groups by itself (no server, no agent);
- end to end, real ``suanli serve`` and two ``suanli agent`` processes, each reaching the
  server through a TCP proxy of the test's: the agent running a job is frozen with SIGSTOP
  past its lease, or cut off from the server (the proxy drops everything, so its calls
  hang, as in a partition). The job appends ``time.time()`` every 0.1 s to a file per
  attempt and checkpoints to shared storage; every line of one attempt comes before the
  first of the next, and each attempt resumes from the previous one's last checkpoint.

Heartbeats every 0.5 s and a site timeout of six of them (T = 3 s, F = 2 s, a kill grace
of 0.73 s), so each end-to-end case takes some 20 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from suanli.agents.fencing import Fence, FenceTiming, Tracked, group_alive, plan_fence
from suanli.agents.watchdog import read_lease, watch
from suanli.store import sites as site_rows
from tests.control_harness import ControlNetwork, report_on_failure, wait_until
from tests.test_control_e2e import PY, spec, succeeded

HEARTBEAT_S = 0.5
MISSED = 6.0
STEPS = 150
"""Steps of 0.1 s: long enough that an unfenced first attempt still runs when the second starts."""

JOB = """
import json, os, pathlib, signal, sys, time
shared, steps = pathlib.Path(sys.argv[1]), int(sys.argv[2])
attempt, ckpt = os.environ["SUANLI_ATTEMPT"], pathlib.Path(os.environ["SUANLI_CHECKPOINT_DIR"])
resume = os.environ.get("SUANLI_RESUME_FROM") or ""
step = json.loads(pathlib.Path(resume).read_text())["next"] if resume else 0
(shared / f"resumed-{attempt}").write_text(resume)
stamps = open(shared / f"stamps-{attempt}", "a", buffering=1)

def checkpoint(next_step):
    path, tmp = ckpt / f"step-{next_step:06d}.json", ckpt / f".tmp-{attempt}"
    tmp.write_text(json.dumps({"next": next_step, "attempt": attempt}))
    os.replace(tmp, path)
    with open(shared / f"checkpoints-{attempt}", "a") as log:
        log.write(f"{path}\\n")

def on_term(*_):  # the checkpoint signal: save, then end
    checkpoint(step)
    sys.exit(143)

signal.signal(signal.SIGTERM, on_term)
while step < steps:
    stamps.write(f"{time.time()!r}\\n")
    if step % 5 == 0:
        checkpoint(step)
    time.sleep(0.1)
    step += 1
"""


# -- the figures -------------------------------------------------------------------------------


def test_the_default_fence_stops_jobs_at_30_s_and_kills_them_before_the_40_s_timeout() -> None:
    timing = plan_fence(site_timeout_s=40.0, heartbeat_interval_s=5.0, wanted_grace_s=10.0)
    assert isinstance(timing, FenceTiming)
    assert timing.fence_after_s == 30.0
    assert timing.margin_s == pytest.approx(2.25)  # polling 0.25 s + 5 % of T
    assert timing.grace_s == pytest.approx(7.75), "the 10 s grace is clamped to fit before T"
    assert timing.kill_by_s + timing.margin_s == pytest.approx(timing.site_timeout_s)
    assert timing.fence_after_s > 5.0 + 10.0 + 2.0 + 5.0, "a 10 s server restart (start-up 2 s) fences nothing"


def test_a_short_grace_is_kept_as_asked() -> None:
    timing = plan_fence(site_timeout_s=40.0, heartbeat_interval_s=5.0, wanted_grace_s=3.0)
    assert isinstance(timing, FenceTiming) and timing.grace_s == 3.0


@pytest.mark.parametrize(
    ("site_timeout_s", "heartbeat_interval_s"), [(10.0, 5.0), (15.0, 5.0), (1.0, 0.5)], ids=["k=2", "k=3", "tests"]
)
def test_a_site_timeout_with_no_room_for_a_fence_is_refused_with_the_fix(
    site_timeout_s: float, heartbeat_interval_s: float
) -> None:
    refused = plan_fence(site_timeout_s, heartbeat_interval_s, wanted_grace_s=10.0)
    assert isinstance(refused, str)
    assert f"T = {site_timeout_s:.1f} s" in refused and "To fix: run the server" in refused
    assert "--missed-heartbeats 8" in refused


# -- the lease ---------------------------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def fence_at(tmp_path: Path, ticks: Ticks) -> Fence:
    fence = Fence(tmp_path / "lease.json", ticks)
    timing = plan_fence(3.0, 0.5, 10.0)
    assert isinstance(timing, FenceTiming)
    fence.configure(timing)
    return fence


def test_the_lease_trips_f_after_the_last_acknowledged_heartbeat_was_sent(tmp_path: Path) -> None:
    ticks = Ticks()
    fence = fence_at(tmp_path, ticks)
    job = Tracked("j-1", "123-1", 123)
    fence.track(job)
    assert fence.due() == [], "not armed before its first renewal"
    assert fence.renew(100.0) == []
    lease = read_lease(tmp_path / "lease.json")
    assert lease is not None and lease.groups == {"j-1": 123} and lease.renewed_s == 100.0
    ticks.now_s = 101.9
    assert fence.due() == []
    ticks.now_s = 102.0
    assert fence.due() == [job] and fence.fenced(job.handle)
    assert fence.due() == [], "once"
    lease = read_lease(tmp_path / "lease.json")
    assert lease is not None and lease.groups == {}, "the watchdog is not asked to kill it twice"
    fence.untrack(job.handle)
    assert not fence.fenced(job.handle)


def test_an_answer_that_comes_after_the_deadline_is_a_lapse(tmp_path: Path) -> None:
    ticks = Ticks()
    fence = fence_at(tmp_path, ticks)
    job = Tracked("j-1", "123-1", 123)
    fence.track(job)
    fence.renew(100.0)
    ticks.now_s = 102.5  # sent at 101.5, in time, but answered after 102: the watchdog may be killing
    assert fence.renew(101.5) == [job]
    ticks.now_s = 103.0
    assert fence.due() == [], "the new lease runs to 103.5"
    assert fence.track(Tracked("j-2", "124-2", 124)) is False, "a job started under the new lease is not fenced"


def test_the_watchdog_kills_a_lapsed_leases_process_groups_without_the_agent(tmp_path: Path) -> None:
    ready = "import signal, sys, time; {}; print('ready', flush=True); time.sleep(60)"
    jobs = [
        subprocess.Popen([sys.executable, "-c", ready.format(setup)], stdout=subprocess.PIPE, start_new_session=True)
        for setup in ("pass", "signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    ]
    try:
        for job in jobs:
            assert job.stdout is not None and job.stdout.readline() == b"ready\n"
        lease_path = tmp_path / "lease.json"
        fence = Fence(lease_path, time.monotonic)
        fence.configure(FenceTiming(0.5, 3.0, 2.0, 0.3, 0.05, 0.1))
        for job in jobs:
            fence.track(Tracked(f"j-{job.pid}", f"{job.pid}-1", job.pid))
        fence.renew(time.monotonic() - 5.0)  # lapsed 3 s ago
        lines: list[str] = []
        watcher = threading.Thread(
            target=watch, args=(lease_path,), kwargs={"parent_pid": lambda: 1, "say": lines.append}, daemon=True
        )
        watcher.start()
        wait_until(lambda: all(job.poll() is not None for job in jobs), 10, "the watchdog to kill both jobs")
        assert [job.returncode for job in jobs] == [-signal.SIGTERM, -signal.SIGKILL]
        assert "stopping job(s)" in lines[0] and "SIGKILL needed for process groups" in lines[1], lines
        lease_path.unlink()  # the agent closed it
        watcher.join(timeout=5)
        assert not watcher.is_alive()
    finally:
        for job in jobs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGKILL)
            job.wait()
            if job.stdout is not None:
                job.stdout.close()
    assert not any(group_alive(job.pid) for job in jobs)


# -- end to end --------------------------------------------------------------------------------


class CutProxy:
    """A TCP forwarder from a port of its own to the server's; :meth:`cut` drops every byte
    from then on (calls hang until their timeout, as across a partition), :meth:`heal`
    closes the connections that lost data and forwards again."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.cutting = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.sockets.append(client)
            if self.cutting.is_set():
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), name="proxy-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.2)
        while not self.closed.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if self.cutting.is_set():
                continue  # dropped
            try:
                dst.sendall(data)
            except OSError:
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cutting.set()

    def heal(self) -> None:
        with self.lock:
            broken, self.sockets = self.sockets, []
        self.cutting.clear()
        for sock in broken:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        self.heal()


def stamps(shared: Path, attempt: int) -> list[float]:
    path = shared / f"stamps-{attempt}"
    if not path.exists():
        return []
    return [float(line) for line in path.read_text().splitlines() if line.strip()]


def assert_runs_never_overlap_and_each_resumes_from_the_last_checkpoint(shared: Path, attempts: int) -> None:
    runs = {a: stamps(shared, a) for a in range(1, attempts + 1)}
    assert all(runs.values()), f"every attempt wrote: { {a: len(r) for a, r in runs.items()} }"
    for a in range(1, attempts):
        last, first = max(runs[a]), min(runs[a + 1])
        overlap = sum(1 for t in runs[a] if t >= first)
        assert last < first, (
            f"attempts {a} and {a + 1} overlapped: attempt {a} wrote {overlap} line(s) after attempt {a + 1} "
            f"started (its last {last - first:+.2f} s after that)"
        )
        saved = (shared / f"checkpoints-{a}").read_text().splitlines()
        resumed = (shared / f"resumed-{a + 1}").read_text()
        assert resumed == saved[-1], f"attempt {a + 1} resumed from {resumed!r}, not attempt {a}'s last {saved[-1]!r}"


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def run_a_job_through(
    tmp_path: Path,
    control_db: str | None,
    disrupt: Callable[[ControlNetwork, CutProxy, str], contextlib.AbstractContextManager[None]],
    sandbox: bool = False,
) -> str:
    """Run the stamping job, disrupt the agent running it until the job runs again elsewhere,
    let it finish and check its attempts; returns the disrupted agent's log. ``sandbox``:
    the agents sandbox the job (Debian's Python runs it; the shared directory is everyone's)."""
    shared = tmp_path / "shared"
    (shared / "checkpoints").mkdir(parents=True)
    python = PY
    sandboxing: tuple[str, ...] = ()
    if sandbox:
        python, sandboxing = SYSTEM_PY, ("--sandbox", "on", "--sandbox-share", str(shared))
        for directory in (shared, shared / "checkpoints"):
            directory.chmod(0o1777)
    with (
        ControlNetwork(tmp_path / "net", control_db, heartbeat_interval_s=HEARTBEAT_S, missed_heartbeats=MISSED) as net,
        report_on_failure(net),
        contextlib.ExitStack() as stack,
    ):
        net.start_server("--shared-root", str(shared))
        tenant = net.create_tenant("acme")
        port = int(net.url.rsplit(":", 1)[1])
        proxies = {site: CutProxy(port) for site in ("qingyang", "zhongwei")}
        for proxy in proxies.values():
            stack.callback(proxy.close)
        for site, proxy in proxies.items():
            net.start_agent(site, {"h800": 1}, wait=False, extra=("--server", proxy.url, *sandboxing), sandbox=sandbox)
        for site in proxies:
            net.wait_registered(site)
        client = net.client(tenant)
        job = client.submit(
            spec("fenced", python, "-c", JOB, str(shared), str(STEPS), checkpoint_dir=shared / "checkpoints")
        )

        def running() -> tuple[str, int] | None:
            seen = client.job(job.id)
            ok = seen.state == "RUNNING" and seen.site and len(stamps(shared, seen.attempt)) >= 5
            return (seen.site, seen.attempt) if ok and seen.site else None

        site, attempt = wait_until(running, 60, "the job to run and checkpoint")
        assert (shared / f"checkpoints-{attempt}").exists()
        with disrupt(net, proxies[site], site):
            wait_until(lambda: len(stamps(shared, attempt + 1)) >= 3, 60, "the job to run again elsewhere")
            time.sleep(1.0)  # an unfenced first run would write beside the second meanwhile
        done = succeeded(client, job)
        assert done.attempt >= attempt + 1 and done.site != site
        assert_runs_never_overlap_and_each_resumes_from_the_last_checkpoint(shared, done.attempt)

        def back_up() -> bool:
            with net.plane().store.engine.connect() as conn:
                return any(row["id"] == site and row["state"] == "up" for row in site_rows.list_sites(conn))

        wait_until(back_up, 30, f"the disrupted agent's site {site} to be up again")
        return net.agents[site].output(tail_chars=1_000_000)


@pytest.mark.slow
def test_an_agent_frozen_past_its_lease_has_its_job_killed_by_the_watchdog_before_it_runs_elsewhere(
    control_db: str | None, tmp_path: Path
) -> None:
    log = run_a_job_through(tmp_path, control_db, lambda net, _proxy, site: frozen(net.agents[site].pid))
    assert "self-fencing on:" in log
    assert "suanli watchdog: agent" in log and "stopping job(s)" in log, "the watchdog fenced the frozen agent's job"


@pytest.mark.slow
def test_an_agent_cut_off_from_the_server_stops_its_job_before_it_runs_elsewhere(
    control_db: str | None, tmp_path: Path
) -> None:
    @contextlib.contextmanager
    def cut(_net: ControlNetwork, proxy: CutProxy, _site: str) -> Iterator[None]:
        proxy.cut()
        try:
            yield
        finally:
            proxy.heal()

    log = run_a_job_through(tmp_path, control_db, cut)
    assert "self-fencing: no heartbeat acknowledged" in log, "the agent fenced its job itself"


SYSTEM_PY = "/usr/bin/python3"


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or not Path(SYSTEM_PY).exists(),
    reason="the sandbox needs root, util-linux's unshare and /usr/bin/python3",
)
def test_a_frozen_agents_sandboxed_job_is_killed_by_the_watchdog_too(tmp_path: Path) -> None:
    """The watchdog kills the job's process group, which in the sandbox is ``unshare``'s:
    SIGTERM reaches the job through the sandbox's init, SIGKILL ends the whole namespace."""
    log = run_a_job_through(tmp_path, None, lambda net, _proxy, site: frozen(net.agents[site].pid), sandbox=True)
    assert "sandboxed as user" in log and "suanli watchdog: agent" in log, log[-3000:]
