"""A queue that nacks the copy a caller asks again, for the tests of asking again.

A caller whose reply queue moved (its cluster node died) sends each waiting message again with
the same id. On a cluster the copy may be nacked: the queue's leader died with the node and a
new one is not elected yet. These helpers play that with a full queue, which nacks alike::

    await fill(bus, exchange, key, filler)         # after the first copy, at the queue's bound
    trigger_the_move()                             # the copy is nacked now
    await drop_first(bus, queue, len(ahead))       # the first copy (and the filler) go
    # ... the copy asked again is taken next; a consumer started now answers it
"""

from __future__ import annotations

import contextlib

from botwerk.infra.bus import Bus, Delivery, Outgoing
from botwerk.infra.errors import Rejected
from tests.support.waiting import eventually


async def fill(bus: Bus, exchange: str, key: str, filler: Outgoing) -> int:
    """Publish ``filler`` to a queue bounded at one that holds one message; how many the queue
    holds ahead of the next publish (2, or 1 if the filler was nacked).

    A quorum queue's bound is soft: it takes one message over it, then nacks (the in-process
    bus does the same).
    """
    with contextlib.suppress(Rejected):
        await bus.publish(exchange, key, filler, mandatory=True)
        return 2
    return 1


async def drop_first(bus: Bus, queue: str, count: int) -> None:
    """Take the first ``count`` messages off ``queue`` and ack them (the first copy's answer
    would go to the lost reply queue); whatever comes after goes back for the real consumer."""
    dropped: list[str] = []

    async def drop(delivery: Delivery) -> None:
        if len(dropped) < count:
            dropped.append(delivery.message.message_id)
            delivery.ack()
        # Else left unsettled: it goes back when the taker stops. Requeued now, it would come
        # straight back to this taker, again and again, past the queue's delivery limit.

    taker = await bus.consume(queue, drop, prefetch=1)
    await eventually(lambda: len(dropped) == count, what=f"{count} messages on {queue}")
    await taker.cancel()
