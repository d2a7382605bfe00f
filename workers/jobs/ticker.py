"""``botwerk up``'s scheduler: the ``[schedules.*]`` of botwerk.toml, fired on the event loop.

``botwerk scheduler`` runs the schedules with Celery beat (:mod:`.firing`); ``botwerk up`` runs
everything in one process, often with no broker at all (the in-process bus), where Celery has
nothing to run on. So ``up`` runs this role instead, beside its workers, cores and transport::

    ticker = Ticker(bus, settings)   # ConfigError at start for a bad [schedules.NAME] table
    await ticker.start()             # one task per schedule, each sleeping until its next tick

Each tick is the same as beat's: the same slot (:func:`.schedules.slot_of`), claimed in the
state store under the same key, and the same message (:func:`.firing.tick_message`) published
on the bus with a broker confirm. So an ``up`` and a ``botwerk scheduler`` on one broker and
store still post once per tick. Our own code, not a library: the ticks are a few lines on top
of Celery's own schedule arithmetic (:func:`.schedules.next_run`), which it reuses.
"""

from __future__ import annotations

import asyncio
import logging
import time

from botwerk.infra import topology
from botwerk.infra.bus import Bus
from botwerk.infra.settings import Settings
from botwerk.infra.state import StateStore, open_store
from botwerk.workers.jobs.firing import claim_ttl_s, tick_message
from botwerk.workers.jobs.schedules import Schedule, next_run, parse, slot_of

log = logging.getLogger("botwerk.scheduler")


class Ticker:
    """Fires every schedule of ``settings`` through ``bus``; see the module."""

    role = "scheduler"
    name = "schedules"

    def __init__(self, bus: Bus, settings: Settings, store: StateStore | None = None) -> None:
        self.bus, self.settings = bus, settings
        self.schedules: dict[str, Schedule] = parse(settings.schedules)  # bad tables: at once
        self.store, self._own_store = store, store is None
        self._tasks: list[asyncio.Task[None]] = []
        self.fired: dict[str, int] = dict.fromkeys(self.schedules, 0)
        """ticks each schedule posted from here (not those another scheduler claimed)"""

    async def start(self) -> None:
        if not self.schedules:
            return
        if self.store is None:
            self.store = await open_store(self.settings)
        names, limits = topology.Names(self.settings.namespace), topology.limits_of(self.settings)
        for transport in sorted({s.transport for s in self.schedules.values()}):
            await self.bus.declare(topology.for_posts(names, transport, limits))
        for name, schedule in self.schedules.items():
            self._tasks.append(asyncio.create_task(self._run(name, schedule), name=name))
        log.info("scheduler: %s", self.summary())

    def not_ready(self) -> list[str]:
        return []

    def summary(self) -> str:
        """The schedules it runs, for ``botwerk up``'s banner: ``tick (every 5s)``, or none."""
        return ", ".join(f"{n} ({s.when})" for n, s in self.schedules.items()) or "none"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._own_store and self.store is not None:
            store, self.store = self.store, None
            await store.close()

    async def _run(self, name: str, schedule: Schedule) -> None:
        while True:
            due = next_run(schedule, time.time()).timestamp()
            await asyncio.sleep(max(due - time.time(), 0))
            try:
                await self.fire(name, schedule, slot_of(schedule, due + 0.001))
            except Exception as exc:  # the bus or the store away: this tick is lost, not the role
                log.warning("schedule %s: tick not posted (%s); the next one tries again",
                            name, exc)  # fmt: skip

    async def fire(self, name: str, schedule: Schedule, slot: int) -> bool:
        """Post ``name``'s tick ``slot`` unless another scheduler claimed it; whether we did."""
        assert self.store is not None, "start() first"
        key = f"schedule:{name}:{slot}"
        if not await self.store.add(key, 1, claim_ttl_s(schedule)):
            log.info("schedule %s tick %s: already posted by another scheduler", name, slot)
            return False
        exchange, routing_key, message = tick_message(self.settings, name, schedule, slot)
        try:
            await self.bus.publish(exchange, routing_key, message, mandatory=True)
        except BaseException:
            await self.store.delete(key)  # not posted: let the next try have it
            raise
        self.fired[name] += 1
        return True
