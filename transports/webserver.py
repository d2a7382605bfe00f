"""The web chat's server plumbing: the listening socket, uvicorn, and pushing to a page.

As :mod:`botwerk.transports.web` uses them::

    listener = claim_port("127.0.0.1", 8080)   # PortUnavailable names the problem and the fix
    server = Server(uvicorn.Config(app, lifespan="off")); await server.serve([listener])
    await push(page, {"reply": "pong", ...})   # a page that has just closed is not an error

The port is claimed when the transport is built, so a port in use stops ``botwerk transport
web`` with one line before it connects to anything, and it is never retried: it is a setting
to fix. :class:`Server` is uvicorn without signal handlers of its own (the process's handlers
call the transport's ``stop()``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import WebSocket, WebSocketDisconnect

from botwerk.infra.settings import ConfigError, config_path

log = logging.getLogger("botwerk.transport.web")
UNUSABLE = {errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL}  # a setting to fix, not retry


class PortUnavailable(ConfigError):
    """The web chat cannot listen where it is told to; the message says why and the fix."""


class Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: the process's handlers call ``stop()``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def push(page: WebSocket, frame: dict[str, str]) -> None:
    """Send ``frame`` to a page; a page that has just gone is not an error."""
    try:
        await page.send_json(frame)
    except (WebSocketDisconnect, OSError, RuntimeError) as exc:
        log.info("a page closed before its reply could be shown (%s)", type(exc).__name__)


def claim_port(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``; :class:`PortUnavailable` says why it cannot be."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse it
    try:
        listener.bind((host, port))
        listener.listen(128)  # connections wait in the backlog until uvicorn serves them
    except OSError as exc:
        listener.close()
        if exc.errno not in UNUSABLE and not isinstance(exc, socket.gaierror):
            raise  # something passing (out of file descriptors, say): worth a retry
        why = "in use by another program" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise PortUnavailable(
            f"the web chat cannot listen on {host}:{port} ({why}): stop what uses it, or pick "
            f"another host or port in [transports.web] of {config_path()} or in "
            f'BOTWERK_TRANSPORTS=\'{{"web": {{"port": 8081}}}}\''
        ) from None
    return listener
