"""The bare pika chain with the mesh's guarantees: the broker's floor under the mesh.

The same four hops as the mesh (transport -> core -> worker -> core -> transport), each role its
own process, with what the mesh promises and nothing else:

- the core's and the worker's queues are quorum queues, reply queues classic durable ones
  expiring like the mesh's (``x-expires``);
- every message is persistent except the worker's answer (transient, as in the mesh: only its
  live caller can use it);
- publisher confirms, pipelined (asynchronous, by callback, never one at a time), and manual
  acks: a role acks a delivery only once what it caused is confirmed, the core its inbound
  message once the reply to the transport is confirmed;
- the mesh's envelopes (``botwerk.inbound.v1`` ... ``botwerk.reply.v1`` bodies, MessagePack with
  bin types) and properties and headers (``type``, ``message_id``, ``correlation_id``,
  ``x-botwerk-deadline``, ``x-botwerk-trace``, ``x-botwerk-sent``), published ``mandatory``.

What it leaves out is Botwerk's own work: no schema validation, no deadline checks, no
metrics, no logging, no reconnects. pika's SelectConnection, one callback per frame, no asyncio.

Each hop publishes straight to its queue (the default exchange), or, ``routed``, through
exchanges of the mesh's kinds and bindings (inbound: topic, ``<bot>.*``; infer: direct, the
model's name; replies: topic, each reply queue's own name), so the broker routes every message
as it does the mesh's: what routing costs the broker is then in this chain too.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgpack
import pika
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from bench.chain import URL, spawn
from botwerk.testing import admin

REPLY_QUEUE = {"x-expires": 300_000}
WORK_QUEUE = {"x-queue-type": "quorum"}
PREFETCH = {"worker": 16, "core": 32}  # BOTWERK_MAX_BATCH and BOTWERK_PREFETCH's defaults


EXCHANGES = {"inbound": "topic", "infer": "direct", "replies": "topic"}  # the mesh's kinds


def route(ns: str, routed: bool, hop: str, queue: str) -> tuple[str, str]:
    """The exchange and routing key that take a message of ``hop`` to ``queue``."""
    if not routed:
        return "", queue
    key = {"inbound": "demo.bench", "infer": "echo", "replies": queue}[hop]
    return f"{ns}.x.{hop}", key


def declare(ns: str, routed: bool = False) -> None:
    """The chain's queues (and, ``routed``, its exchanges and bindings), on a connection of
    their own."""
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        channel = connection.channel()
        for name in ("core", "worker"):
            channel.queue_declare(f"{ns}.{name}", durable=True, arguments=WORK_QUEUE)
        for name in ("core.replies", "client"):
            channel.queue_declare(f"{ns}.{name}", durable=True, arguments=REPLY_QUEUE)
        if not routed:
            return
        for hop, kind in EXCHANGES.items():
            channel.exchange_declare(f"{ns}.x.{hop}", kind, durable=True)
        bindings = [("core", "inbound", "demo.*"), ("worker", "infer", "echo")]
        bindings += [(name, "replies", f"{ns}.{name}") for name in ("core.replies", "client")]
        for name, hop, key in bindings:
            channel.queue_bind(f"{ns}.{name}", f"{ns}.x.{hop}", key)


def properties(kind: str, **fields: Any) -> BasicProperties:
    """The mesh's properties and headers for a message of type ``botwerk.<kind>.v1``."""
    now_ms = int(time.time() * 1000)
    message_id = uuid.uuid4().hex
    headers = {"x-botwerk-deadline": now_ms + 30_000, "x-botwerk-sent": now_ms}
    headers["x-botwerk-trace"] = message_id[:16]
    return BasicProperties(
        content_type="application/msgpack",
        type=f"botwerk.{kind}.v1",
        message_id=message_id,
        delivery_mode=1 if kind == "infer_reply" else 2,
        headers=headers,
        **fields,
    )


def pack(body: dict[str, Any]) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


class Confirming:
    """One SelectConnection channel with publisher confirms: ``publish(..., then)`` calls
    ``then()`` once the broker confirms that message, ``multiple`` confirms included."""

    def __init__(
        self,
        consume: dict[str, Callable[..., None]],
        prefetch: int,
        ready: Any,
        route: Callable[[str, str], tuple[str, str]],
    ) -> None:
        self.consume = consume
        self.route = route  # (hop, queue) -> (exchange, routing key)
        self.prefetch = prefetch
        self.ready = ready
        self.pending: dict[int, Callable[[], None]] = {}
        self.published = 0
        self.channel: Channel
        parameters = pika.URLParameters(URL)
        parameters.heartbeat = 0  # a driver idles between interleaved runs
        self.connection = pika.SelectConnection(
            parameters, on_open_callback=lambda c: c.channel(on_open_callback=self._opened)
        )

    def _opened(self, channel: Channel) -> None:
        self.channel = channel
        channel.confirm_delivery(self._on_confirm, callback=lambda _: self._confirming())

    def _confirming(self) -> None:
        self.channel.basic_qos(prefetch_count=self.prefetch, callback=lambda _: self._qos())

    def _qos(self) -> None:
        for queue, handler in self.consume.items():
            self.channel.basic_consume(queue, handler)
        self.ready()

    def publish(
        self, hop: str, queue: str, body: bytes, props: BasicProperties, then: Callable[[], None]
    ) -> None:
        exchange, key = self.route(hop, queue)
        self.channel.basic_publish(exchange, key, body, props, mandatory=True)
        self.published += 1
        self.pending[self.published] = then

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if not isinstance(method, Basic.Ack):
            raise RuntimeError(f"the broker refused a message: {method}")
        tags = [t for t in self.pending if t <= method.delivery_tag] if method.multiple else []
        for tag in tags or [method.delivery_tag]:
            self.pending.pop(tag)()


def guaranteed_worker(ns: str, routed: bool = False) -> None:
    def on_request(channel: Channel, method: Any, props: BasicProperties, body: bytes) -> None:
        request = msgpack.unpackb(body, raw=False)
        reply = {"model": "echo", "version": "1", "outputs": {"text": request["inputs"]["text"]}}
        answer = properties("infer_reply", correlation_id=props.message_id)
        tag = method.delivery_tag
        link.publish("replies", props.reply_to, pack(reply), answer, lambda: channel.basic_ack(tag))

    routes = functools.partial(route, ns, routed)
    link = Confirming({f"{ns}.worker": on_request}, PREFETCH["worker"], lambda: None, routes)
    link.connection.ioloop.start()


def guaranteed_core(ns: str, routed: bool = False) -> None:
    replies = f"{ns}.core.replies"
    waiting: dict[str, tuple[int, BasicProperties, dict[str, Any]]] = {}

    def on_inbound(channel: Channel, method: Any, props: BasicProperties, body: bytes) -> None:
        inbound = msgpack.unpackb(body, raw=False)
        request = properties("infer", reply_to=replies, expiration="30000")
        waiting[request.message_id] = (method.delivery_tag, props, inbound)
        infer = {"model": "echo", "inputs": {"text": inbound["text"]}}
        link.publish("infer", f"{ns}.worker", pack(infer), request, lambda: None)

    def on_reply(channel: Channel, method: Any, props: BasicProperties, body: bytes) -> None:
        inbound_tag, asked, inbound = waiting.pop(props.correlation_id)
        text = "echo: " + msgpack.unpackb(body, raw=False)["outputs"]["text"]
        reply = {"bot": "demo", "conversation": inbound["conversation"], "text": text}
        answer = properties("reply", correlation_id=asked.message_id)
        reply_tag = method.delivery_tag

        def done() -> None:
            channel.basic_ack(inbound_tag)
            channel.basic_ack(reply_tag)

        link.publish("replies", asked.reply_to, pack(reply), answer, done)

    consume = {f"{ns}.core": on_inbound, replies: on_reply}
    link = Confirming(consume, PREFETCH["core"], lambda: None, functools.partial(route, ns, routed))
    link.connection.ioloop.start()


def start_guaranteed(ns: str, routed: bool = False) -> list[Any]:
    """The chain's core and worker, consuming when this returns."""
    declare(ns, routed)
    roles = spawn(
        [
            functools.partial(guaranteed_worker, routed=routed),
            functools.partial(guaranteed_core, routed=routed),
        ],
        ns,
    )
    for queue in (f"{ns}.worker", f"{ns}.core"):
        admin.wait_for_consumers(URL, queue)
    return roles


class GuaranteedClient:
    """The transport: persistent inbound messages with pipelined confirms, replies acked."""

    def __init__(self, ns: str, routed: bool = False) -> None:
        self.ns = ns
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        routes = functools.partial(route, ns, routed)
        self.link = Confirming({f"{ns}.client": self._on_reply}, 256, self._stop, routes)
        self.link.connection.ioloop.start()  # until consuming
        self.todo = 0
        self.inflight = 1

    def _stop(self) -> None:
        self.link.connection.ioloop.stop()

    def _send(self) -> None:
        self.todo -= 1
        conversation = uuid.uuid4().hex
        user = {"id": "bench", "name": "Bench"}
        inbound = {"bot": "demo", "transport": "bench", "conversation": conversation, "user": user,
                   "text": f"m{self.todo}", "direct": True, "sent_at": time.time()}  # fmt: skip
        props = properties("inbound", reply_to=f"{self.ns}.client")
        self.sent[props.message_id] = time.perf_counter()
        self.link.publish("inbound", f"{self.ns}.core", pack(inbound), props, lambda: None)

    def _on_reply(self, channel: Channel, method: Any, props: BasicProperties, body: bytes) -> None:
        self.latencies.append(time.perf_counter() - self.sent.pop(props.correlation_id))
        channel.basic_ack(method.delivery_tag)
        if self.todo > 0:
            self._send()
        elif not self.sent:
            self._stop()

    def run(self, inflight: int, count: int) -> list[float]:
        """The latency of each of ``count`` requests sent with ``inflight`` outstanding."""
        self.latencies = []
        self.todo = count
        for _ in range(min(inflight, count)):
            self._send()
        self.link.connection.ioloop.start()
        return self.latencies
