"""Free loopback ports for test servers, chosen where no client connection can take them."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A port the kernel handed out (``bind(0)``) is an ephemeral one, and by the time a
    restarted node binds it again, the outgoing connection of a reconnecting client may hold
    it: the node then dies with ``dist_port_already_used``. Clients never get ports below the
    range, so a node keeps its ports across restarts.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = secrets.randbelow(low - 20_000) + 20_000
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between 20000 and {low} on 127.0.0.1")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
