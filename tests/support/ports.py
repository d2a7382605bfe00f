"""Free loopback ports for test servers, chosen where no client connection can take them."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

_GIVEN: set[int] = set()
"""Every port this process handed out: free when picked is not enough, since a caller may bind
it only later (a cluster picks all its nodes' ports, then starts them at once; one node's AMQP
port once came out as another's distribution port, and the first to bind it won)."""


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A port the kernel handed out (``bind(0)``) is an ephemeral one, and by the time a
    restarted node binds it again, the outgoing connection of a reconnecting client may hold
    it: the node then dies with ``dist_port_already_used``. Clients never get ports below the
    range, so a node keeps its ports across restarts. Never the same port twice in a process.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = secrets.randbelow(low - 20_000) + 20_000
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    raise RuntimeError(f"no free port between 20000 and {low} on 127.0.0.1")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
