"""Which addresses are this machine: the one place segdbg decides what counts as loopback.

`segdbg serve` refuses to bind anything else without ``--allow-remote`` (:func:`is_loopback`),
and the debugger API answers only requests addressed to this machine (:func:`host_allowed`,
against DNS rebinding).
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: Host names that are always this machine.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def host_allowed(host_header: str | None, configured: str) -> bool:
    """Loopback names and addresses, ``*.localhost``, and the host the server was told to bind."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    if (
        host in LOOPBACK_HOSTS
        or host.endswith(".localhost")
        or (host.startswith("127.") and host.replace(".", "").isdigit())
    ):
        return True
    return bool(host) and host == configured.lower() and configured not in ("0.0.0.0", "::", "")
