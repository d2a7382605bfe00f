"""pika's asyncio connection, sending the frames of one loop turn with one ``send()``.

pika 1.4 buffers every AMQP frame it writes (three per publish, one per ack) in its transport,
then, once the socket is writable, sends the buffer one frame per ``send()``: 16 system calls
per mesh request, never coalesced under load, 41% of a core's CPU in ``socket.send`` (issue 16).
:class:`CoalescingConnection` joins what is buffered when the socket turns writable (every frame
written since the last send, i.e. during the last loop turn) into one ``send()``. The bytes and
their order are unchanged; only how many system calls carry them changes. Used like
:class:`~pika.adapters.asyncio_connection.AsyncioConnection`::

    connection = CoalescingConnection(params, on_open, on_open_error, on_close, custom_ioloop=loop)

Plain TCP and TLS alike: the join happens above the TLS layer. Limits: pika builds its
transport inside its connector with no way to pass another class, so the connection switches the
class of the transport it is handed to a subclass; that subclass reaches into pika's private
``_produce`` and ``_tx_buffers``. ``tests/infra/test_wire.py`` counts the TCP segments the
kernel sends and fails if a pika upgrade breaks this.
"""

from __future__ import annotations

from collections import deque

from pika.adapters.asyncio_connection import AsyncioConnection
from pika.adapters.utils import io_services_utils as pika_io
from pika.adapters.utils.nbio_interface import AbstractStreamTransport

MAX_JOIN_BYTES = 128 * 1024
"""The largest chunk joined for one ``send()`` (pika's default ``frame_max``): a larger join
gains nothing, and under back-pressure a partial send copies what is left of its chunk."""


def coalesce(buffers: deque[bytes], limit: int = MAX_JOIN_BYTES) -> None:
    """Join consecutive ``buffers`` in place into chunks of at most ``limit`` bytes (a single
    buffer over ``limit`` stays whole), keeping their order."""
    if len(buffers) < 2:
        return
    frames = list(buffers)
    buffers.clear()
    chunk: list[bytes] = []
    size = 0
    for frame in frames:
        if chunk and size + len(frame) > limit:
            buffers.append(b"".join(chunk))
            chunk, size = [], 0
        chunk.append(frame)
        size += len(frame)
    buffers.append(b"".join(chunk))


# pika is read as untyped (no type hints): mypy sees these bases as Any.
class _Coalescing(pika_io._AsyncTransportBase):  # type: ignore[misc]
    """Before pika sends its buffered frames one by one, join them (see :func:`coalesce`)."""

    def _produce(self) -> None:
        coalesce(self._tx_buffers)
        super()._produce()


class _CoalescingPlaintext(_Coalescing, pika_io._AsyncPlaintextTransport):  # type: ignore[misc]
    """pika's plain TCP transport, one ``send()`` per writable socket, and fewer reads.

    Reading takes up to 64 KiB per ``recv()`` (pika: 4 KiB) and stops at a short one: the
    socket is level-triggered, so what arrives later is reported again, and the ``recv()``
    that would only fail with EAGAIN is saved (3.7 of them per request in a core).

    Not done, on purpose: sending at the end of the loop turn without waiting for the loop to
    report the socket writable (it saves two ``epoll_ctl`` calls and a loop turn per send). A
    process resumed after a freeze would then write before it reads; the broker, which closed
    the connection meanwhile, answers with a reset, and the kernel throws away the deliveries
    still unread, so the fault suite's negative control of a frozen worker could no longer
    show what a resumed worker does with them (tests/faults/test_frozen_worker.py).
    """

    _MAX_RECV_BYTES = 64 * 1024
    _MAX_CONSUME_BYTES = 256 * 1024

    def _consume(self) -> None:
        consumed = 0
        while self._state == self._STATE_ACTIVE and consumed < self._MAX_CONSUME_BYTES:
            data = self._sigint_safe_recv(self._sock, self._MAX_RECV_BYTES)
            if not data:
                raise self.RxEndOfFile()
            consumed += len(data)
            self._protocol.data_received(data)
            if len(data) < self._MAX_RECV_BYTES:
                return  # drained for now; the loop says when more comes


class _CoalescingTls(_Coalescing, pika_io._AsyncSSLTransport):  # type: ignore[misc]
    """pika's TLS transport, one ``SSL_write`` per writable socket."""


_SUBCLASS: dict[type, type] = {
    pika_io._AsyncPlaintextTransport: _CoalescingPlaintext,
    pika_io._AsyncSSLTransport: _CoalescingTls,
}


class CoalescingConnection(AsyncioConnection):  # type: ignore[misc]
    """An :class:`AsyncioConnection` whose transport sends each loop turn's frames at once."""

    def _proto_connection_made(self, transport: AbstractStreamTransport) -> None:
        # Called once, right after pika makes the transport and before any frame is written.
        # An unknown transport class (a future pika) is left as it is: slower, still correct.
        coalescing = _SUBCLASS.get(type(transport))
        if coalescing is not None:
            transport.__class__ = coalescing
        super()._proto_connection_made(transport)
