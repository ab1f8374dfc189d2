"""``suanli agent``: join a site to the network and run its jobs on the site's engine
(local processes, in the job sandbox when run as root; Ray; Slurm). Its flags are turned
into the executor's options by :mod:`suanli.cli.agent_link`."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from suanli.cli.agent_link import DEFAULT_RAY_ADDRESS
from suanli.cli.extras import require_extra
from suanli.cli.ops import AGENT_CALL_TIMEOUT_S, ProfileOpt, ServerOpt, TokenFileOpt, _client
from suanli.errors import InputError


def agent_cmd(
    site: Annotated[str, typer.Option("--site", help="The site this agent runs (a catalogue site id).")],
    server: ServerOpt = None,
    token: Annotated[
        str | None,
        typer.Option("--token", hidden=True, help="Refused: give the agent's token with --token-file."),
    ] = None,
    token_file: TokenFileOpt = None,
    profile: ProfileOpt = None,
    executor: Annotated[str, typer.Option("--executor", help="local, ray or slurm.")] = "local",
    inventory: Annotated[
        list[str] | None,
        typer.Option("--inventory", help="TYPE=COUNT, repeatable (default: the catalogue's inventory of the site)."),
    ] = None,
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Where jobs run: WORK_DIR/<job>/<attempt>/.")] = Path(
        "suanli-work"
    ),
    partition: Annotated[
        str | None,
        typer.Option(
            "--partition", help="Slurm partition for sbatch (default: the cluster's default).", show_default=False
        ),
    ] = None,
    gres_template: Annotated[
        str | None,
        typer.Option(
            "--gres-template",
            help="Slurm GRES each job asks for, {count} and {accelerator} filled in: gpu:{count}, "
            "gpu:{accelerator}:{count}, npu:{count} (default: none).",
            show_default=False,
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option("--account", help="Slurm account for sbatch (default: the user's).", show_default=False),
    ] = None,
    slurm_user: Annotated[
        str | None,
        typer.Option(
            "--slurm-user",
            help="The unprivileged account the agent (as root) submits Slurm jobs as, so they run as it; "
            "required when the agent runs as root (Slurm runs a job as its submitter).",
            show_default=False,
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help=f"Ray dashboard address for --executor ray (default {DEFAULT_RAY_ADDRESS}).",
            show_default=False,
        ),
    ] = None,
    ray_resources: Annotated[
        str | None,
        typer.Option(
            "--ray-resources",
            help="Ask Ray for each job's accelerators as this resource: GPU, or a custom one such as NPU "
            "(default: none asked for).",
            show_default=False,
        ),
    ] = None,
    heartbeat_interval_s: Annotated[
        float, typer.Option("--heartbeat-interval", min=0.2, help="Seconds between heartbeats.")
    ] = 5.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Register even while another agent holds the site's lease, replacing it (it stops its jobs).",
        ),
    ] = False,
    max_log_chars: Annotated[
        int,
        typer.Option(
            "--max-log-chars",
            min=1,
            help="Characters of one attempt's output kept and sent to the server; past it the rest is dropped, "
            "counted and named in a last log line (the agent's memory stays bounded however much a job writes).",
        ),
    ] = 100_000_000,
    sandbox: Annotated[
        str,
        typer.Option(
            "--sandbox",
            help="auto, on or off. on: each local job runs as an unprivileged user in its own PID and mount "
            "namespaces and cgroup, seeing only its own directory (needs root and util-linux's unshare); "
            "off: jobs run as the agent's own user, with its PATH; auto: on when the agent runs as root.",
        ),
    ] = "auto",
    sandbox_user: Annotated[
        str,
        typer.Option("--sandbox-user", help="The unprivileged user sandboxed jobs run as (created if missing)."),
    ] = "suanli-job",
    sandbox_uids: Annotated[
        str | None,
        typer.Option(
            "--sandbox-uids",
            help="START-END: one user per tenant instead, with UIDs from this range (created on demand).",
            show_default=False,
        ),
    ] = None,
    sandbox_hide: Annotated[
        list[Path] | None,
        typer.Option(
            "--sandbox-hide",
            help="A path sandboxed jobs must not see (repeatable), such as the server's data dir on the same host; "
            "the work dir and the token file are always hidden.",
            show_default=False,
        ),
    ] = None,
    sandbox_share: Annotated[
        list[Path] | None,
        typer.Option(
            "--sandbox-share",
            help="Shared storage sandboxed jobs see as on the host (repeatable), even under /tmp, whose view "
            "each job gets a private one of: the server's --shared-root directories.",
            show_default=False,
        ),
    ] = None,
    job_memory_gib: Annotated[
        float | None,
        typer.Option(
            "--job-memory-per-accelerator",
            min=0.001,
            help="GiB of memory a sandboxed job may use per accelerator it holds (default: the host's memory "
            "divided by its accelerators; enforced where the host delegates cgroup v2's memory controller).",
            show_default=False,
        ),
    ] = None,
    job_disk_cap_gib: Annotated[
        float | None,
        typer.Option(
            "--job-disk-cap",
            min=0.001,
            help="GiB a local job's workdir may hold (its log included, not its checkpoints); a job over it is "
            "stopped and fails saying so (default: no cap).",
            show_default=False,
        ),
    ] = None,
    job_cpus: Annotated[
        float | None,
        typer.Option(
            "--job-cpus-per-accelerator",
            min=0.01,
            help="CPUs a sandboxed job may use per accelerator it holds (default: the host's CPUs divided by "
            "its accelerators; enforced where the host delegates cgroup v2's cpu controller).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Join a site to the network: check its engine (Slurm answers and has the partition,
    the Ray dashboard answers), register its inventory, heartbeat, run the jobs the
    scheduler assigns through the site's engine (local processes, Ray or Slurm), and stream
    their state, logs and checkpoints back. Refuses to start (exit 2) when the engine cannot
    take jobs or another agent holds the site. Stops its jobs on SIGTERM or Ctrl-C."""
    if executor == "ray":
        require_extra("ray", "agent --executor ray")
    import logging

    from suanli.agents.executors import register_builtins as executors
    from suanli.agents.executors.base import EngineUnavailable
    from suanli.agents.runner import AgentRunner
    from suanli.cli.agent_link import SandboxFlags, SdkLink, executor_options, sandbox_options
    from suanli.service.planning import context

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per heartbeat; failures still show
    catalog = context().catalog
    if site not in catalog.sites:
        raise InputError(f"unknown site '{site}'; valid: {', '.join(sorted(catalog.sites))}")
    counts = _inventory(inventory) if inventory else dict(catalog.sites[site].inventory)
    options = executor_options(
        executor,
        {"--partition": partition, "--gres-template": gres_template, "--account": account, "--slurm-user": slurm_user},
        {"--ray-address": ray_address, "--ray-resources": ray_resources},
    )
    if token is not None:
        raise InputError(
            "the agent does not take --token: a token on its command line can be read by every local user "
            "and job (ps, /proc). To fix: write it to a file only its owner may read (chmod 600) and pass "
            "--token-file PATH, or set $SUANLI_TOKEN_FILE"
        )
    hidden = [*(sandbox_hide or []), *([token_file] if token_file else [])]
    if os.environ.get("SUANLI_TOKEN_FILE"):
        hidden.append(Path(os.environ["SUANLI_TOKEN_FILE"]))
    options |= sandbox_options(
        executor,
        sandbox,
        SandboxFlags(
            sandbox_user,
            sandbox_uids,
            tuple(p.absolute() for p in hidden),
            tuple(p.absolute() for p in sandbox_share or []),
            job_memory_gib,
            job_cpus,
        ),
        counts,
    )
    if job_disk_cap_gib is not None:
        if executor != "local":
            raise InputError(f"--job-disk-cap is for --executor local; {executor} keeps its own storage limits")
        options["disk_cap_bytes"] = int(job_disk_cap_gib * 2**30)
    engine = executors().create(executor, **options)
    found = engine.check(work_dir.absolute())  # before the server hears of it: a site that cannot run jobs never joins
    if executor == "slurm" and slurm_user is None and os.geteuid() == 0:
        raise EngineUnavailable(
            "the agent runs as root, and Slurm runs each job as the user who submitted it: every job would run "
            "as root. To fix: pass --slurm-user USER (an unprivileged account that exists on the cluster's nodes)"
        )
    sys.stderr.write(f"engine: {found}\n")
    client = _client(
        server, None, token_file, timeout_s=max(AGENT_CALL_TIMEOUT_S, 2 * heartbeat_interval_s), profile=profile
    )
    os.environ.pop("SUANLI_TOKEN", None)  # read: no child of the agent inherits it
    runner = AgentRunner(
        SdkLink(client),
        site,
        engine,
        executor,  # type: ignore[arg-type]
        counts,
        work_dir,
        heartbeat_interval_s=heartbeat_interval_s,
        background_stops=True,
        force=force,
        max_log_chars=max_log_chars,
        engine_check=found,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runner.register()
    sys.stderr.write(
        f"agent {runner.agent_id} for {site} ({executor}) registered with {client.server}; work dir {work_dir}\n"
    )
    runner.run_forever(stop)


def _inventory(items: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise InputError(f"--inventory '{item}': expected TYPE=COUNT, e.g. h800=8")
        counts[name.strip()] = int(value)
    return counts
