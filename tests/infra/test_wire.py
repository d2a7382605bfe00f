"""Fewer bytes and system calls per message: one ``send()`` per loop turn, acks batched.

The kernel counts the data segments and bytes each socket sends (``TCP_INFO``). With one frame
per ``send()``, as pika alone writes them, a burst of publishes costs three segments each; with
one ``basic.ack`` per message, acking a burst costs 21 bytes each. TLS connections go through
the same join: ``tests/infra/test_tls.py`` runs a bus over amqps.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import deque
from urllib.parse import urlsplit

import psutil
import pytest

from botwerk.infra.bus import Delivery, Outgoing
from botwerk.infra.rabbit import RabbitBus, RabbitSubscription
from botwerk.infra.topology import Queue
from botwerk.infra.wire import coalesce
from botwerk.schemas import Reply
from tests.support.waiting import collect, eventually

pytestmark = pytest.mark.broker

DATA_SEGS_OUT = 156
"""Offset of ``tcpi_data_segs_out`` (u32) in Linux's ``struct tcp_info`` (since Linux 4.6)."""
BYTES_SENT = 200
"""Offset of ``tcpi_bytes_sent`` (u64) in ``struct tcp_info`` (since Linux 4.19)."""
ACK_FRAME = 21
"""Bytes of one ``basic.ack`` frame: 7 of header, 13 of method, 1 frame end."""


def _broker_sockets(port: int) -> set[int]:
    """The file descriptors of this process's TCP connections to ``port``."""
    connections = psutil.Process().net_connections(kind="tcp")
    return {c.fd for c in connections if c.raddr and c.raddr.port == port}


def _sent(fd: int) -> tuple[int, int]:
    """The data segments and the bytes the socket ``fd`` has sent."""
    with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:  # a dup: closes alone
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("I", info, DATA_SEGS_OUT)[0], struct.unpack_from(
        "Q", info, BYTES_SENT
    )[0]


@pytest.fixture
async def wired(amqp_url, settings):
    """A bus of the test's own, and the file descriptor of its connection to the broker."""
    port = urlsplit(amqp_url).port or 5672
    before = _broker_sockets(port)
    bus = RabbitBus(settings, role="test", name="wire")
    await bus.start(timeout=10)
    (fd,) = _broker_sockets(port) - before
    yield bus, fd
    await bus.close()


def _burst(n: int) -> list[Outgoing]:
    return [Outgoing.of(Reply(bot="b", conversation="c", text=f"{i}")) for i in range(n)]


async def test_a_burst_of_publishes_leaves_in_a_few_segments_not_three_each(wired):
    bus, fd = wired
    segments, _ = _sent(fd)
    # Gathered: every publish writes its three frames in the same loop turn.
    await asyncio.gather(*(bus.publish("", "nowhere", msg) for msg in _burst(50)))
    segments = _sent(fd)[0] - segments
    assert 1 <= segments <= 5, f"50 publishes took {segments} TCP segments"


async def _held(
    bus: RabbitBus, queue: str, count: int
) -> tuple[RabbitSubscription, list[Delivery]]:
    """``count`` messages published to a fresh ``queue`` and delivered, none settled."""
    await bus.declare([Queue(queue, durable=False, arguments={"x-expires": 60_000})])
    held: list[Delivery] = []

    async def hold(delivery: Delivery) -> None:
        held.append(delivery)

    subscription = await bus.consume(queue, hold, prefetch=count)
    await asyncio.gather(*(bus.publish("", queue, msg) for msg in _burst(count)))
    await eventually(lambda: len(held) == count, what=f"{count} deliveries")
    return subscription, held


async def test_the_acks_of_one_loop_turn_go_as_one_multiple_ack(wired, settings):
    bus, fd = wired
    _, held = await _held(bus, f"{settings.namespace}.acks", 20)
    _, sent = _sent(fd)
    for delivery in held:
        delivery.ack()
    await eventually(lambda: _sent(fd)[1] > sent, what="the acks sent")
    assert _sent(fd)[1] - sent == ACK_FRAME


async def test_a_delivery_not_acked_is_not_acked_with_the_others(wired, settings):
    bus, fd = wired
    queue = f"{settings.namespace}.gap"
    subscription, held = await _held(bus, queue, 10)
    _, sent = _sent(fd)
    for delivery in held[:4] + held[5:]:
        delivery.ack()
    # One multiple ack for the first four, then one each for the five past the gap.
    await eventually(lambda: _sent(fd)[1] - sent == 6 * ACK_FRAME, what="six ack frames")
    await subscription.cancel()  # its channel closes: what it did not ack goes back
    again = await collect(bus, queue)
    await eventually(lambda: len(again) == 1, what="the one not acked delivered again")
    assert again[0].message.message_id == held[4].message.message_id


def test_frames_are_joined_in_order_up_to_the_limit():
    buffers = deque([b"ab", b"cd", b"efgh", b"i", b"jklmnop", b"q"])
    coalesce(buffers, limit=5)
    assert list(buffers) == [b"abcd", b"efghi", b"jklmnop", b"q"]
    single = deque([b"only"])
    coalesce(single, limit=1)
    assert list(single) == [b"only"]
