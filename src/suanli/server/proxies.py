"""Who the client is: the socket's peer, unless that peer is a trusted reverse proxy.

``X-Forwarded-For`` is a header any client can write, so it is read only when the
connection comes from an address the operator declared (``suanli serve --trusted-proxy
ADDR``, an address or a network such as ``10.0.0.0/8``; ``*`` trusts every peer, for a
server that only a proxy can reach). The client is then the right-most address of the
header that is not itself a trusted proxy (each proxy appends the peer it saw, so entries
to the left of the last untrusted one are the client's own claims). uvicorn is given the
same list (``forwarded_allow_ips``), so its ``request.client`` agrees.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

MAX_ADDRESS_CHARS = 128
"""The audit log's ``remote`` column; a longer forwarded value is cut there."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxy(entry: str) -> str:
    """``entry`` as it is kept: ``*``, an address or a network (``10.0.0.0/8``). Raises
    ValueError naming the entry otherwise."""
    entry = entry.strip()
    if entry == "*":
        return entry
    try:
        return str(ipaddress.ip_network(entry, strict=False)) if "/" in entry else str(ipaddress.ip_address(entry))
    except ValueError:
        raise ValueError(
            f"trusted proxy '{entry}' is neither an IP address nor a network (10.0.0.5, 10.0.0.0/8, ::1, *)"
        ) from None


class TrustedProxies:
    """The peers whose ``X-Forwarded-For`` is believed. Entries that are not addresses or
    networks are compared as names (a test client's ``testclient``, a unix socket)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.every = False
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for given in entries:
            entry = given.strip()
            if entry == "*":
                self.every = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry)

    def __bool__(self) -> bool:
        return self.every or bool(self.names) or bool(self.networks)

    def trusts(self, host: str | None) -> bool:
        if host is None or not self:
            return False
        if self.every or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_of(self, forwarded_for: str) -> str | None:
        """The client an ``X-Forwarded-For`` value names (right-most untrusted entry; the
        left-most when every one is trusted), or None when it names none."""
        hosts = [_host_of(part) for part in forwarded_for.split(",")]
        hosts = [host for host in hosts if host]
        for host in reversed(hosts):
            if not self.trusts(host):
                return host[:MAX_ADDRESS_CHARS]
        return hosts[0][:MAX_ADDRESS_CHARS] if hosts else None


def _host_of(value: str) -> str:
    """The host of one forwarded entry: ``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:5678``, ``::1``."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        return value[1 : value.index("]")]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value
