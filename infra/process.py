"""Run roles in this process until a signal, or until one of them finishes on its own.

A role is anything with ``async start()`` and ``async stop()``: a worker, a core, a transport::

    from botwerk.workers.runtime import Worker

    asyncio.run(run_roles(bus, [Worker(bus, settings, model)]))

SIGINT and SIGTERM stop the roles gracefully, in reverse order: consumers stop taking
messages, handlers in flight finish and ack, the connection closes. Unfinished messages go
back to their queues for another process. A signal that comes before the roles serve (the
broker down, a password refused, a model still loading) ends the process at once: nothing has
been taken from a queue yet. A role with a ``finished`` task (the console
transport at end of input) ends the process when that task completes.

With ``BOTWERK_METRICS_PORT`` set (the roles' settings), the process serves Prometheus metrics,
``/healthz`` and ``/readyz`` on that port for all its roles (:mod:`botwerk.infra.metrics`):
ready once the bus is connected and every role has started and says nothing against it (a
role's ``not_ready()``: a model still loading, no consumer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from functools import partial
from typing import Any, Protocol

from . import metrics
from .bus import Bus

log = logging.getLogger("botwerk.process")

OFFLINE = "not connected to the broker (it reconnects with backoff)"
STOP_GRACE_S = 15.0
OFFLINE_GRACE_S = 0.5  # stopping a role while the broker is away


class Role(Protocol):
    role: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_roles(bus: Bus, roles: list[Any]) -> None:
    """Start the bus and ``roles`` in order; serve; stop them in reverse order.

    A signal is heeded in every state: while the bus still connects (broker down, password
    wrong), while a role starts (a model loading), and while serving.
    """
    stopping = _stop_on_signals()
    started: list[Role] = []
    server = _serve_metrics(bus, roles, started)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        if not await _unless_stopped(_start(bus, roles, started), stop):
            log.info("stopped before serving")
            return
        waits: list[asyncio.Future[Any]] = [stop]
        waits += [role.finished for role in roles if getattr(role, "finished", None)]
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            if finished is not stop and not finished.cancelled() and finished.exception():
                log.error("role failed", exc_info=finished.exception())
    finally:
        stop.cancel()
        await _stop(bus, started)
        if server is not None:
            server.close()
            metrics.forget()


def _serve_metrics(bus: Bus, roles: list[Any], started: list[Role]) -> metrics.MetricsServer | None:
    """Serve metrics and health on the roles' ``metrics_port``; None when it is 0 (off)."""
    port = next((role.settings.metrics_port for role in roles if hasattr(role, "settings")), 0)
    if not port:
        return None
    metrics.HEALTH.role = roles[0].role if len(roles) == 1 else "up"
    metrics.watch_loop(asyncio.get_running_loop())
    metrics.watch("bus", bus.kind, lambda: [] if getattr(bus, "connected", True) else [OFFLINE])
    for role in roles:
        metrics.watch(role.role, getattr(role, "name", ""), partial(_not_ready, role, started))
    try:  # watched first: the first /readyz already hears every role
        server = metrics.serve(port)
    except BaseException:
        metrics.forget()
        raise
    log.info("metrics, /healthz and /readyz on port %d", server.port)
    return server


def _not_ready(role: Any, started: list[Role]) -> list[str]:
    """What the role says against its readiness; "starting" until it has started."""
    reasons = list(role.not_ready()) if hasattr(role, "not_ready") else []
    return reasons or ([] if role in started else ["starting"])


def _stop_on_signals() -> asyncio.Event:
    """An event that SIGINT and SIGTERM set (where the loop can take signal handlers)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    return stopping


async def _start(bus: Bus, roles: list[Any], started: list[Role]) -> None:
    await bus.start()
    for role in roles:
        await role.start()
        started.append(role)


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Future[Any]) -> bool:
    """Run ``work`` to its end (True), or cancel it when ``stop`` comes first (False)."""
    task = asyncio.ensure_future(work)
    await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # a failure to start is raised, not hidden
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False


async def _stop(bus: Bus, started: list[Role]) -> None:
    # Connected, handlers in flight may finish and ack. Not connected, nothing can be acked
    # (the broker has requeued it all already), so a role waiting on the broker is not awaited.
    grace = STOP_GRACE_S if getattr(bus, "connected", True) else OFFLINE_GRACE_S
    for role in reversed(started):
        try:
            await asyncio.wait_for(role.stop(), grace)
        except TimeoutError:
            log.warning("%s did not stop within %gs; leaving it", role.role, grace)
        except Exception:
            log.exception("stopping %s", role.role)
    await bus.close()
