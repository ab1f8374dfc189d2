"""Pieces of ``suanli agent`` (:mod:`suanli.cli.ops`): the executor's options from the
command's flags, and the SDK as the agent runner's :class:`~suanli.agents.runner.ServerLink`,
which turns the server's 409s into the runner's own errors. Nothing heavy is imported here
at module level: ``suanli --help`` reads :data:`DEFAULT_RAY_ADDRESS`."""

from __future__ import annotations

import re
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
