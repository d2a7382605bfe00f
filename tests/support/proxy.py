"""A TCP fault proxy on loopback between clients and a broker, driven by the test.

In a fault test::

    proxy = FaultProxy("127.0.0.1", node.port).start()
    url = proxy.url_for(node.url)      # give this URL to the roles under test
    proxy.blackhole()                  # sockets stay open, bytes vanish both ways
    proxy.pass_()                      # heal: bytes flow again (new connections too)

Modes: ``pass_`` (forward), ``latency(ms)`` (delay every chunk), ``blackhole`` (drop every
byte, keep sockets open), ``refuse`` (close new connections at once); ``reset()`` aborts every
open connection whatever the mode. The proxy runs its own event loop on a thread, so a test may
block (sleep, wait on a process) while connections keep flowing. This machine has no netem or
iptables: faults are made in user space.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class FaultProxy:
    """Forwards connections to ``host:port`` through a mode the test can change at any time."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.mode = "pass"
        self.latency_s = 0.0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-proxy", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        hostport = f"127.0.0.1:{self.port}"
        return urlunsplit(
            parts._replace(netloc=f"{netloc[0]}@{hostport}" if len(netloc) == 2 else hostport)
        )

    def pass_(self) -> None:
        self.mode, self.latency_s = "pass", 0.0

    def latency(self, ms: float) -> None:
        self.mode, self.latency_s = "pass", ms / 1000

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def refuse(self) -> None:
        self.mode = "refuse"

    def reset(self) -> None:
        """Abort every open connection, as a crash or a network fault would."""
        self._call(self._abort_all())

    def close(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._abort_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.transport.abort()
            return
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if self.mode == "blackhole":
                    continue  # swallowed: the peer hears nothing, the socket stays open
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if self.mode != "blackhole":  # a black hole tells nobody that the far end hung up
                with contextlib.suppress(Exception):
                    sink.transport.abort()
                self._writers.discard(sink)
