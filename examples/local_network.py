"""A small computing-power network on this machine: a server, two sites, three jobs.

    .venv/bin/python examples/local_network.py          # or: make network
    .venv/bin/python examples/local_network.py --keep   # leave it running until Ctrl-C (make network KEEP=1)

What it does, with the same commands an operator and a tenant would type:

1. ``suanli serve`` on SQLite in a fresh directory (a free port unless ``--port``);
2. ``suanli admin create-tenant demo`` and one agent token per site;
3. ``suanli agent`` for two catalogue sites, each running jobs as local processes:
   wuhu (Anhui, the east; 4 x A800) and qingyang (Gansu, the west; 4 x H800);
4. submits the three jobs of ``examples/jobs/`` (a training loop that checkpoints, a job
   that prints, a batch job pinned to the western site), shows their progress on one
   line, then each job's state, site and logs, and where to look next.

Everything lives under one directory (printed; kept afterwards so the logs can be read).
Without ``--keep`` the network is shut down once the jobs are done.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from suanli.client import Client

JOBS = Path(__file__).resolve().parent / "jobs"
SUANLI = (sys.executable, "-m", "suanli.cli")
SITES = {"wuhu": {"a800": 4}, "qingyang": {"h800": 4}}
"""Site -> the accelerators its agent offers (catalogue sites: `suanli catalog sites`)."""
SPECS = ("train.yaml", "hello.yaml", "western.yaml")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
HEARTBEAT_S = 1.0
START_TIMEOUT_S = 60.0
JOBS_TIMEOUT_S = 90.0


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return text[-chars:]

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (an agent stops its jobs, the server finishes its requests), then SIGKILL."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


class Network:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.logs = root / "logs"
        self.shared = root / "shared"
        for directory in (self.data, self.logs, self.shared):
            directory.mkdir(parents=True, exist_ok=True)
        self.shared.chmod(0o1777)  # every job's user writes here, as in /tmp
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[Proc] = []
        # the login file of `suanli login` is not read: this network's token is given explicitly
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")}
        self.env |= {"PYTHONUNBUFFERED": "1", "SUANLI_CONFIG_DIR": str(root / "config")}

    def run(self, *args: str) -> str:
        done = subprocess.run([*SUANLI, *args], capture_output=True, text=True, env=self.env, check=False)
        if done.returncode != 0:
            raise SystemExit(f"`suanli {' '.join(args)}` failed ({done.returncode}):\n{done.stderr}")
        return done.stdout.strip()

    def start(self, name: str, *args: str, token: str | None = None) -> Proc:
        log = self.logs / f"{name}.log"
        env = self.env if token is None else {**self.env, "SUANLI_TOKEN": token}  # not in `ps` output
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                [*SUANLI, *args],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches this script only; it stops them in order
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def wait_for(self, proc: Proc, ready: Any, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{what} failed; the end of {proc.log}:\n{proc.tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        agents = [p for p in self.procs if p.name != "server"]
        for proc in agents:  # agents first: they stop their jobs and say so while the server listens
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        for proc in [*agents, *(p for p in self.procs if p.name == "server")]:
            proc.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status) == 200
    except OSError:
        return False


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def specs(shared: Path) -> list[dict[str, Any]]:
    """The example job specs with ${JOBS} and ${SHARED} filled in. The jobs' code is copied
    to the shared storage, as a cluster keeps it where every node (and, with the agents'
    sandbox, every job's user) can read it."""
    code = shared / "jobs"
    shutil.copytree(JOBS, code, dirs_exist_ok=True)
    out = []
    for name in SPECS:
        text = string.Template((JOBS / name).read_text(encoding="utf-8"))
        out.append(yaml.safe_load(text.safe_substitute(JOBS=str(code), SHARED=str(shared))))
    return out


def progress(net: Network, client: Client, ids: Sequence[str], started_s: float) -> list[Any]:
    """Poll until every job ended, on one line (rewritten in place on a terminal)."""
    tty = sys.stdout.isatty()
    last = ""
    deadline = time.monotonic() + JOBS_TIMEOUT_S
    while True:
        jobs = [client.job(job_id) for job_id in ids]
        parts = []
        for job in jobs:
            where = f"@{job.site}" if job.site else ""
            step = _train_step(net, job) if job.state == "RUNNING" else ""
            parts.append(f"{job.name} {job.state}{where}{step}")
        line = f"[{time.monotonic() - started_s:5.1f} s] " + " | ".join(parts)
        if tty:
            sys.stdout.write("\r" + line.ljust(len(last)))
            sys.stdout.flush()
        elif line.split("] ", 1)[1] != last.split("] ", 1)[-1]:
            say(line)
        last = line
        if all(job.state in TERMINAL for job in jobs):
            if tty:
                say()
            return jobs
        if time.monotonic() > deadline:
            if tty:
                say()
            raise SystemExit(f"the jobs did not finish within {JOBS_TIMEOUT_S:.0f} s; see the logs under {net.logs}")
        time.sleep(0.5)


def _train_step(net: Network, job: Any) -> str:
    """`` step 5/16`` for the training job (from the checkpoint the server knows), else ''."""
    if not job.checkpoint:
        return ""
    with contextlib.suppress(OSError, ValueError, KeyError):
        state = json.loads(Path(job.checkpoint).read_text(encoding="utf-8"))
        return f" step {state['step'] + 1}"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the network running until Ctrl-C")
    parser.add_argument("--dir", type=Path, help="directory for everything (default: a new temporary one)")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` shuts the network down as Ctrl-C does
    root = (args.dir or Path(tempfile.mkdtemp(prefix="suanli-network-"))).absolute()
    net = Network(root, args.port)
    started_s = time.monotonic()
    say(f"== a local suanli network under {root}")
    try:
        say(f"   suanli serve --data-dir {net.data} --port {net.port} --shared-root {net.shared}")
        server = net.start(
            "server",
            "serve",
            "--data-dir",
            str(net.data),
            "--port",
            str(net.port),
            "--shared-root",  # the training job's checkpoints: storage both sites see
            str(net.shared),
            "--cycle-interval",
            "0.5",
            "--missed-heartbeats",
            "5",
        )
        net.wait_for(server, lambda: answers(f"{net.url}/v1/health"), "starting the server")

        say("   suanli admin create-tenant demo; suanli admin create-token --role agent --site SITE (per site)")
        with ThreadPoolExecutor(max_workers=1 + len(SITES)) as pool:  # each is a Python start-up: at once
            tenant_f = pool.submit(net.run, "admin", "create-tenant", "demo", "--data-dir", str(net.data))
            agent_f = {
                site: pool.submit(
                    net.run, "admin", "create-token", "--role", "agent", "--site", site, "--data-dir", str(net.data)
                )
                for site in SITES
            }
        tenant = tenant_f.result()
        agent_tokens = {site: future.result() for site, future in agent_f.items()}

        for site, inventory in SITES.items():
            offer = " ".join(f"--inventory {name}={count}" for name, count in inventory.items())
            work = root / f"work-{site}"
            say(
                f"   SUANLI_TOKEN=... suanli agent --site {site} --executor local {offer} --work-dir {work} "
                f"--sandbox-share {net.shared}"
            )
            net.start(
                f"agent-{site}",
                "agent",
                "--server",
                net.url,
                "--site",
                site,
                "--executor",
                "local",
                *[arg for name, count in inventory.items() for arg in ("--inventory", f"{name}={count}")],
                "--work-dir",
                str(root / f"work-{site}"),
                "--heartbeat-interval",
                str(HEARTBEAT_S),
                "--sandbox-share",  # run as root, the agents sandbox their jobs: they see this as on the host
                str(net.shared),
                token=agent_tokens[site],
            )
        for proc in net.procs[1:]:
            net.wait_for(proc, lambda proc=proc: "registered with" in proc.tail(), f"starting {proc.name}")
        say(f"== network up in {time.monotonic() - started_s:.1f} s: the server at {net.url}, sites {', '.join(SITES)}")

        with Client(net.url, tenant) as client:
            say(f"== submitting {', '.join(f'examples/jobs/{name}' for name in SPECS)} (as `suanli submit FILE`)")
            ids = [client.submit(spec).id for spec in specs(net.shared)]
            jobs = progress(net, client, ids, started_s)
            summary(net, client, jobs, tenant)
        if not all(job.state == "SUCCEEDED" for job in jobs):
            say("!! not every job succeeded: see its logs above")
        if args.keep:
            say("== running until Ctrl-C")
            with contextlib.suppress(KeyboardInterrupt):
                while all(proc.popen.poll() is None for proc in net.procs):
                    time.sleep(1)
            say()
        return 0 if all(job.state == "SUCCEEDED" for job in jobs) else 1
    except KeyboardInterrupt:
        say()
        return 130
    finally:
        say("== stopping the agents and the server" + ("" if args.keep else " (`make network KEEP=1` keeps them up)"))
        net.stop()
        say(f"   done in {time.monotonic() - started_s:.1f} s; files kept under {root} (rm -rf it when done)")


def summary(net: Network, client: Client, jobs: Sequence[Any], tenant: str) -> None:
    say("== the jobs")
    for job in jobs:
        took = ""
        if job.started_at and job.finished_at:
            took = f"{_seconds(job.finished_at) - _seconds(job.started_at):.0f} s"
        say(f"   {job.name:<14} {job.id}  {job.state:<9} at {job.site or '-':<9} attempt {job.attempt}  {took}")
        log_file = net.root / f"work-{job.site}" / job.id / str(job.attempt) / "suanli-job.log"
        say(f"       logs: suanli logs {job.id}   file: {log_file}")
        tail = [line for line in client.logs(job.id).text.splitlines() if line.strip()][-2:]
        for line in tail:
            say(f"       | {line}")
    say(f"   results in {net.shared}: {', '.join(sorted(p.name for p in net.shared.iterdir() if p.is_file()))}")
    say("== where to look")
    say(f"   API docs:    {net.url}/v1/docs")
    say(f"   metrics:     {net.url}/metrics (an operator's view; with the admin token:")
    say(f'                curl -H "Authorization: Bearer $(cat {net.data / "admin.token"})" {net.url}/metrics)')
    tenant_file = net.root / "demo.token"  # a file, mode 0600: a token on a command line shows in `ps`
    tenant_file.touch(mode=0o600)
    tenant_file.chmod(0o600)
    tenant_file.write_text(tenant + "\n", encoding="utf-8")
    say(f"   as the tenant: export SUANLI_SERVER={net.url} SUANLI_TOKEN_FILE={tenant_file}")
    say("                  suanli jobs; suanli sites; suanli explain ID; suanli logs ID")
    say(f"   admin token: {net.data / 'admin.token'}")
    say(f"   process logs: {net.logs}/ (server.log, agent-SITE.log)")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    sys.exit(main())
