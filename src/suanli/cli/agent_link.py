"""Pieces of ``suanli agent`` (:mod:`suanli.cli.ops`): the executor's options from the
command's flags, and the SDK as the agent runner's :class:`~suanli.agents.runner.ServerLink`,
which turns the server's 409s into the runner's own errors. Nothing heavy is imported here
at module level: ``suanli --help`` reads :data:`DEFAULT_RAY_ADDRESS`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suanli.errors import InputError

if TYPE_CHECKING:
    from suanli.client import Client

DEFAULT_RAY_ADDRESS = "http://127.0.0.1:8265"
"""Where ``ray start --head`` puts the dashboard (Ray's default port, 8265)."""
_RAY_RESOURCE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def executor_options(executor: str, slurm: dict[str, str | None], ray: dict[str, str | None]) -> dict[str, Any]:
    """The executor's constructor options from the agent's flags; flags of another executor
    are refused (one would silently do nothing)."""
    for flags, owner in ((slurm, "slurm"), (ray, "ray")):
        given = [flag for flag, value in flags.items() if value is not None]
        if given and executor != owner:
            raise InputError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --executor {owner}")
    if executor == "slurm":
        return {
            "partition": slurm["--partition"],
            "gres_template": slurm["--gres-template"],
            "account": slurm["--account"],
            "user": slurm["--slurm-user"],
        }
    if executor != "ray":
        return {}
    options: dict[str, Any] = {"address": ray["--ray-address"] or DEFAULT_RAY_ADDRESS}
    resource = ray["--ray-resources"]
    if resource is not None:
        if not _RAY_RESOURCE.match(resource) or resource.upper() == "CPU":
            raise InputError(
                f"--ray-resources {resource!r}: give the Ray resource a job's accelerators are, "
                "GPU or a custom resource name such as NPU (letters, digits, _.-)"
            )
        options["request_accelerators"] = True
        if resource != "GPU":
            options["accelerator_resource"] = resource
    return options


@dataclass(frozen=True)
class SandboxFlags:
    """``suanli agent``'s ``--sandbox-*`` and ``--job-*-per-accelerator`` flags."""

    user: str
    uids: str | None
    hide: tuple[Path, ...]
    share: tuple[Path, ...]
    memory_gib: float | None
    cpus: float | None


def sandbox_options(executor: str, mode: str, flags: SandboxFlags, inventory: dict[str, int]) -> dict[str, Any]:
    """The local executor's ``sandbox`` option from ``--sandbox MODE`` and its flags: on
    when asked, or (``auto``) when the agent runs as root; other executors take none (Slurm
    and Ray run jobs as their own users). A job's default share of the host's memory and
    CPUs is the host's total divided by the site's accelerators (Slurm's DefMemPerGPU and
    DefCpuPerGPU, from the inventory instead of a config file)."""
    if mode not in ("auto", "on", "off"):
        raise InputError(f"--sandbox {mode!r}: give auto, on or off")
    if executor != "local":
        if mode == "on":
            raise InputError(f"--sandbox on is for --executor local; {executor} runs jobs as its own users")
        return {}
    if mode == "off" or (mode == "auto" and os.geteuid() != 0):
        return {}
    from suanli.agents.sandbox import SandboxConfig

    accelerators = max(1, sum(inventory.values()))
    memory_gib = flags.memory_gib
    if memory_gib is None:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 / accelerators
    cpus = flags.cpus if flags.cpus is not None else (os.cpu_count() or 1) / accelerators
    try:
        return {
            "sandbox": SandboxConfig(
                user=flags.user,
                tenant_uids=_uid_range(flags.uids) if flags.uids else None,
                hide=flags.hide,
                share=flags.share,
                memory_per_accelerator_bytes=int(memory_gib * 2**30),
                cpus_per_accelerator=cpus,
            )
        }
    except ValueError as exc:
        raise InputError(f"--sandbox-uids: {exc}") from None


def _uid_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise InputError(f"--sandbox-uids {text!r}: expected START-END, e.g. 200000-265535")
    return int(low), int(high)


class SdkLink:
    """The SDK as the agent runner's ServerLink (the two layers do not import each other):
    the server's 409s become the runner's own errors."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def register(self, body: Any) -> dict[str, Any]:
        from suanli.agents.runner import SiteHeld
        from suanli.client import Conflict

        try:
            return self.client.register(body)
        except Conflict as exc:
            if exc.code == "SITE_HELD":
                raise SiteHeld(f"agent for {body.site} not started (HTTP 409 SITE_HELD): {exc.message}") from None
            raise

    def heartbeat(self, body: Any) -> Any:
        from suanli.agents.runner import AgentReplaced
        from suanli.client import Conflict

        try:
            return self.client.heartbeat(body)
        except Conflict as exc:
            if exc.code == "AGENT_REPLACED":
                raise AgentReplaced(exc.message) from None
            raise

    def assignment(self, job_id: str, fencing_token: int) -> Any:
        from suanli.agents.runner import LeaseLost
        from suanli.client import StaleLease as ClientStale

        try:
            return self.client.assignment(job_id, fencing_token)
        except ClientStale as exc:
            raise LeaseLost(str(exc)) from None

    def report(self, job_id: str, body: Any) -> None:
        from suanli.agents.runner import LeaseLost
        from suanli.client import StaleLease as ClientStale

        try:
            self.client.report(job_id, body)
        except ClientStale as exc:
            raise LeaseLost(str(exc)) from None
