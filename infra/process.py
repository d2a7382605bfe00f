"""Run roles in this process until a signal, or until one of them finishes on its own.

A role is anything with ``async start()`` and ``async stop()``: a worker, a core, a transport::

    from botwerk.workers.runtime import Worker

    asyncio.run(run_roles(bus, [Worker(bus, settings, model)]))

SIGINT and SIGTERM stop the roles gracefully, in reverse order: consumers stop taking
messages, handlers in flight finish and ack, the connection closes. Unfinished messages go
back to their queues for another process. A role with a ``finished`` task (the console
transport at end of input) ends the process when that task completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any, Protocol

from .bus import Bus

log = logging.getLogger("botwerk.process")

STOP_GRACE_S = 15.0


class Role(Protocol):
    role: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_roles(bus: Bus, roles: list[Any]) -> None:
    """Start the bus and ``roles`` in order; serve; stop them in reverse order."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    await bus.start()
    started: list[Role] = []
    try:
        for role in roles:
            await role.start()
            started.append(role)
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stopping.wait())]
        waits += [role.finished for role in roles if getattr(role, "finished", None)]
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            if not finished.cancelled() and finished.exception():
                log.error("role failed", exc_info=finished.exception())
        waits[0].cancel()
    finally:
        for role in reversed(started):
            try:
                await asyncio.wait_for(role.stop(), STOP_GRACE_S)
            except Exception:
                log.exception("stopping %s", role.role)
        await bus.close()
