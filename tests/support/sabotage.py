"""Botwerk with one protection switched off: the negative controls of the fault suite.

    python -m tests.support.sabotage inline_compute -- worker echo

A fault test proves something only if it fails once the protection it relies on is gone. Each
sabotage removes one, by patching Botwerk before the role starts; in a test's own process the
same functions take ``monkeypatch.setattr`` instead of ``setattr``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from botwerk.infra import consumer, rabbit, rpc, topology
from botwerk.infra.bus import Delivery, Outgoing, check_size
from botwerk.infra.rabbit import RabbitBus

Patch = Callable[[Any, str, Any], None]
SABOTAGES: dict[str, Callable[[Patch], None]] = {}
log = logging.getLogger("botwerk.sabotage")


def sabotage(fn: Callable[[Patch], None]) -> Callable[[Patch], None]:
    SABOTAGES[fn.__name__] = fn
    return fn


@sabotage
def early_ack(patch: Patch) -> None:
    """Ack each message as it arrives, before the work it asks for is done (auto-ack).

    ``consumer._run`` settles for every typed handler: the Responder that cores and workers
    answer through (``infra/responder.py``) and every reply inbox (``infra/rpc.py``)."""

    async def run(bus: Any, names: Any, delivery: Delivery, work: Any, *_: Any) -> str:
        delivery.ack()
        try:
            return await work or "ok"
        except Exception as exc:
            log.warning("sabotage early_ack: %s (the message is gone anyway)", exc)
            return "error"

    patch(consumer, "_run", run)


@sabotage
def no_confirms(patch: Patch) -> None:
    """Publish and move on without waiting for the broker's confirm."""

    async def publish(
        self: RabbitBus, exchange: str, key: str, message: Outgoing, *, mandatory: bool = False,
        timeout: float | None = None, cap: bool = True,
    ) -> None:  # fmt: skip
        if cap:
            check_size(message, self._settings.max_message_bytes)
        await self._wait_ready(self._settings.publish_timeout_s)
        assert self._publisher is not None
        self._publisher.publish(exchange, key, message, mandatory)

    patch(RabbitBus, "publish", publish)


@sabotage
def transient(patch: Patch) -> None:
    """Classic non-durable work queues and no confirms: a broker crash empties the queues."""
    no_confirms(patch)
    patch(topology, "work_queue", lambda name, dlx, limits: topology.Queue(name, {}, durable=False))


@sabotage
def no_asking_again(patch: Patch) -> None:
    """A process whose reply queue moved (its node lost) does not ask again what it waited for:
    its callers' copies are never sent (a gateway's users' messages, a core's model calls)."""
    from botwerk.transports.base import Gateway

    patch(Gateway, "_ask_again", lambda self: None)
    patch(rpc.Replies, "_ask_again", lambda self: None)


@sabotage
def unreplicated(patch: Patch) -> None:
    """Work queues as classic durable queues: on a cluster, one node holds each, no replica."""
    patch(topology, "work_queue", lambda name, dlx, limits: topology.Queue(name, {}))


@sabotage
def inline_compute(patch: Patch) -> None:
    """Run the model on the event loop, blocking heartbeats while it computes."""
    from botwerk.workers.batching import Batched, Batcher

    async def compute(self: Any, batch: list[Any]) -> None:
        outputs = self._predict([pending.item for pending in batch])
        for pending, output in zip(batch, outputs, strict=True):
            pending.future.set_result(Batched(output, len(batch), 0.0))

    patch(Batcher, "_compute", compute)


@sabotage
def no_reconnect(patch: Patch) -> None:
    """Give up for good when the connection drops."""

    async def supervise(self: RabbitBus) -> None:
        lost = await self._connect()
        await lost
        self._ready.clear()
        log.error("sabotage no_reconnect: connection lost; not reconnecting")

    patch(RabbitBus, "_supervise", supervise)


@sabotage
def no_consumer_restart(patch: Patch) -> None:
    """A consumer the broker cancels or whose channel it closes stays gone."""
    patch(RabbitBus, "_on_consumer_lost", lambda self, consumer, why: None)


@sabotage
def no_dead_letter_exchange(patch: Patch) -> None:
    """Quorum work queues with a delivery limit but no dead-letter exchange."""
    original = topology.work_queue

    def work_queue(name: str, dlx: str, limits: topology.Limits) -> topology.Queue:
        unwanted = ("x-dead-letter-exchange", "x-dead-letter-strategy")
        args = {k: v for k, v in original(name, dlx, limits).arguments.items() if k not in unwanted}
        return topology.Queue(name, args)

    patch(topology, "work_queue", work_queue)


@sabotage
def no_probation(patch: Patch) -> None:
    """Workers take full batches from the start, including what a crash handed back."""
    from botwerk.workers.runtime import Worker

    original = Worker._subscribe

    async def subscribe(self: Worker, prefetch: int) -> Any:
        return await original(self, self.settings.max_batch)

    patch(Worker, "_subscribe", subscribe)


@sabotage
def crash_on_bad_input(patch: Patch) -> None:
    """A message that fails validation kills the process instead of being dead-lettered."""

    async def die(bus: Any, names: Any, delivery: Delivery, reason: str, **_: Any) -> None:
        log.error("sabotage crash_on_bad_input: %s", reason)
        os._exit(3)

    patch(consumer, "dead_letter", die)


@sabotage
def ignore_deadlines(patch: Patch) -> None:
    """Start work whatever its deadline, and send requests without a time to live.

    ``Delivery.expired`` is what the Responder checks before a core or worker starts."""
    from botwerk.workers.batching import Batcher

    patch(Delivery, "expired", lambda self: False)
    patch(Batcher, "_expire", staticmethod(lambda pending: False))

    class NoTimeToLive(Outgoing):
        @classmethod
        def of(cls, *args: Any, **kwargs: Any) -> Outgoing:
            kwargs.pop("expiration_ms", None)
            return Outgoing.of(*args, **kwargs)

    patch(rpc, "Outgoing", NoTimeToLive)


@sabotage
def keep_dead_deliveries(patch: Patch) -> None:
    """Finish the handlers of a channel that died, and dead-letter what they held."""
    from botwerk.infra.amqp import Consumer

    def lost(self: Consumer, why: str) -> None:
        if self.active:
            self.on_lost(self, why)

    patch(Consumer, "_lost", lost)
    patch(Delivery, "live", property(lambda self: True))


@sabotage
def unbounded_deadlines(patch: Patch) -> None:
    """Take any deadline from the wire and publish any time to live, one channel for all."""
    from botwerk.infra import amqp, responder

    patch(responder, "MAX_DEADLINE_MS", 2**62)
    patch(amqp, "MAX_EXPIRATION_MS", 2**62)
    no_isolation(patch)


def no_isolation(patch: Patch) -> None:
    """A publish channel the broker closes takes the connection, and all it holds, with it."""
    original = RabbitBus._on_publisher_lost

    def on_publisher_lost(self: RabbitBus, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    patch(RabbitBus, "_on_publisher_lost", on_publisher_lost)


@sabotage
def drop_oldest(patch: Patch) -> None:
    """Bounded work queues that silently drop their oldest message when full."""
    original = topology.work_queue

    def work_queue(name: str, dlx: str, limits: topology.Limits) -> topology.Queue:
        args = dict(original(name, dlx, limits).arguments, **{"x-overflow": "drop-head"})
        for key in ("x-dead-letter-exchange", "x-dead-letter-strategy"):
            args.pop(key)
        return topology.Queue(name, args)

    patch(topology, "work_queue", work_queue)


@sabotage
def give_up_when_blocked(patch: Patch) -> None:
    """No confirms, and a connection blocked by an alarm for 5 s is closed, losing its buffer."""
    no_confirms(patch)
    original = rabbit._parameters

    def parameters(settings: Any, identity: Any) -> Any:
        nodes = original(settings, identity)  # one parameter set per node of the URL
        for params in nodes:
            params.blocked_connection_timeout = 5
        return nodes

    patch(rabbit, "_parameters", parameters)


def apply(names: str, patch: Patch = setattr) -> None:
    """Apply the comma-separated sabotages in ``names``."""
    for name in filter(None, names.split(",")):
        if name not in SABOTAGES:
            raise SystemExit(f"unknown sabotage {name!r}; known: {', '.join(SABOTAGES)}")
        SABOTAGES[name](patch)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        raise SystemExit("usage: python -m tests.support.sabotage NAME[,NAME] -- botwerk-args...")
    apply(args[0])
    from botwerk.cli.app import main as botwerk

    botwerk(args=args[2:], prog_name="botwerk")


if __name__ == "__main__":
    main()
