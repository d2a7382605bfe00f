"""The names and shapes of every exchange and queue, as value objects.

A role asks for what it needs (``for_core(names, "demo")``) and hands the result to the bus,
whose one declarer applies it idempotently and again after every reconnect.

>>> names = Names("botwerk")
>>> names.core_queue("demo"), names.infer_queue("echo"), names.reply_queue("core", "a1")
('botwerk.core.demo', 'botwerk.infer.echo', 'botwerk.reply.core.a1')

Exchanges, the dead-letter queue and its binding are *shared*: created once for a namespace, by
``botwerk broker setup`` or by the first role allowed to, and only checked (passively, which needs
no permission) by every other role. Each role creates only what it owns: its work queue, its
reply queue, their bindings. So a role's broker user needs no right to create or delete what
other roles use (docs/security.md).

Replies travel through the topic exchange ``{ns}.replies``, each reply queue bound by its own
name, never through the default exchange: a broker user's rights on a topic exchange can be
narrowed by routing key, so a worker can answer cores and no transport can answer anyone.

Work queues are quorum queues with a delivery limit *and* a dead-letter exchange: without the
exchange, RabbitMQ 3.10 silently drops a message over the limit. They are bounded with
``reject-publish``, so a publisher past the bound gets a nack (and its user "busy") instead of
the oldest message vanishing; that overflow mode also enables at-least-once dead-lettering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .settings import Settings

REPLY_QUEUE_EXPIRES_MS = 300_000  # a reply queue outlives a restart, not its process by long

ExchangeKind = Literal["direct", "topic", "fanout"]


@dataclass(frozen=True)
class Exchange:
    name: str
    kind: ExchangeKind


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)
    durable: bool = True
    shared: bool = False  # part of the namespace's shared topology (see the module's text)

    @property
    def delivery_limit(self) -> int | None:
        limit = self.arguments.get("x-delivery-limit")
        return int(limit) if limit is not None else None

    @property
    def dead_letter_exchange(self) -> str | None:
        return self.arguments.get("x-dead-letter-exchange")

    @property
    def max_length(self) -> int | None:
        length = self.arguments.get("x-max-length")
        return int(length) if length is not None else None


@dataclass(frozen=True)
class Binding:
    queue: str
    exchange: str
    routing_key: str
    shared: bool = False


def is_shared(item: Declarable) -> bool:
    """Whether ``item`` belongs to the namespace rather than to the role declaring it.

    Every exchange is shared: no role owns one.
    """
    return isinstance(item, Exchange) or item.shared


Declarable = Exchange | Queue | Binding


@dataclass(frozen=True)
class Limits:
    """How work queues and the dead-letter queue are bounded; from Settings."""

    delivery_limit: int = 5
    max_length: int = 100_000
    dead_max_length: int = 100_000
    dead_max_age_s: int = 7 * 24 * 3600
    quorum_replicas: int | None = None  # None: RabbitMQ's default (docs/protocol.md)


DEFAULT_LIMITS = Limits()


def limits_of(settings: Settings) -> Limits:
    """The bounds ``settings`` ask for (``BOTWERK_DELIVERY_LIMIT``, ``BOTWERK_DEAD_MAX_*``...)."""
    return Limits(
        delivery_limit=settings.delivery_limit,
        max_length=settings.max_queue_length,
        dead_max_length=settings.dead_max_length,
        dead_max_age_s=settings.dead_max_age_s,
        quorum_replicas=settings.quorum_replicas,
    )


class Names:
    """Every name in one namespace, so no module spells ``f"{ns}.…"`` itself."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self.inbound = f"{namespace}.inbound"
        self.infer = f"{namespace}.infer"
        self.events = f"{namespace}.events"
        self.components = f"{namespace}.components"  # a stream: the component events, kept
        self.dlx = f"{namespace}.dlx"
        self.dead = f"{namespace}.dead"
        self.replies = f"{namespace}.replies"

    def core_queue(self, bot: str) -> str:
        return f"{self.ns}.core.{bot}"

    def infer_queue(self, model: str) -> str:
        return f"{self.ns}.infer.{model}"

    def reply_queue(self, role: str, instance: str) -> str:
        return f"{self.ns}.reply.{role}.{instance}"

    @staticmethod
    def moved(queue: str, moves: int) -> str:
        """The ``moves``-th replacement of a process's own ``queue`` whose cluster node is down
        (docs/protocol.md, "On a cluster"): ``<queue>-moved<moves>``."""
        return f"{queue}-moved{moves}"

    def post_queue(self, transport: str) -> str:
        """A transport kind's durable queue of posts nobody asked for (scheduled, or a bot's own).

        Posts are ``botwerk.reply.v1`` messages published to ``{ns}.replies`` with this name as
        the routing key, as a reply goes to its reply queue; a scheduled prompt's inbound
        message names it as ``reply_to``, so its core's answer lands here with no change.
        """
        return f"{self.ns}.post.{transport}"

    @staticmethod
    def inbound_key(bot: str, transport: str) -> str:
        return f"{bot}.{transport}"


def work_queue(name: str, dlx: str, limits: Limits) -> Queue:
    """A quorum queue that competing consumers share, dead-lettering what it cannot deliver."""
    return Queue(
        name,
        {
            "x-queue-type": "quorum",
            "x-delivery-limit": limits.delivery_limit,
            "x-dead-letter-exchange": dlx,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-max-length": limits.max_length,
            **replicas(limits),
        },
    )


def replicas(limits: Limits) -> dict[str, int]:
    """A quorum queue's replica count when ``BOTWERK_QUORUM_REPLICAS`` sets one, else nothing.

    Left out when unset, so a queue declared before the setting existed is redeclared with the
    same arguments (another argument: PRECONDITION_FAILED) and RabbitMQ picks the count.
    """
    if limits.quorum_replicas is None:
        return {}
    return {"x-quorum-initial-group-size": limits.quorum_replicas}


def dead_queue(name: str, limits: Limits) -> Queue:
    """``{ns}.dead``: bounded by count and by age, so it cannot grow without end.

    Past ``dead_max_length`` the oldest dead letter is dropped (the default overflow,
    ``drop-head``); one older than ``dead_max_age_s`` expires (quorum queues keep a message TTL
    since RabbitMQ 3.10). Nothing dead-letters out of it: what goes is gone.
    """
    arguments = {
        "x-queue-type": "quorum",
        "x-max-length": limits.dead_max_length,
        "x-message-ttl": limits.dead_max_age_s * 1000,
        **replicas(limits),
    }
    return Queue(name, arguments, shared=True)


# `botwerk status` reads it from the start and keeps each component's latest event (its
# model@version after a live swap): a stream, because reading it leaves it whole for the next
# reader. Bounded by age and size; small segments, so the bounds apply to so little traffic.
COMPONENTS_STREAM = {
    "x-queue-type": "stream",
    "x-max-age": "7D",
    "x-max-length-bytes": 16 * 1024 * 1024,
    "x-stream-max-segment-size-bytes": 1024 * 1024,
}


def base(names: Names, limits: Limits = DEFAULT_LIMITS) -> list[Declarable]:
    """The shared topology: the exchanges, and the dead-letter queue bound to catch all.

    Roles only check it passively once it exists, so ``limits`` shapes the dead-letter queue
    only when this call creates it (``botwerk broker setup``, or the first role allowed to).
    """
    return [
        Exchange(names.inbound, "topic"),
        Exchange(names.infer, "direct"),
        Exchange(names.events, "topic"),
        Exchange(names.dlx, "topic"),
        Exchange(names.replies, "topic"),
        dead_queue(names.dead, limits),
        Binding(names.dead, names.dlx, "#", shared=True),
        Queue(names.components, COMPONENTS_STREAM, shared=True),
        Binding(names.components, names.events, "component.#", shared=True),
    ]


def for_core(names: Names, bot: str, limits: Limits) -> list[Declarable]:
    queue = names.core_queue(bot)
    return [
        *base(names, limits),
        work_queue(queue, names.dlx, limits),
        Binding(queue, names.inbound, f"{bot}.*"),
    ]


def for_worker(names: Names, model: str, limits: Limits) -> list[Declarable]:
    queue = names.infer_queue(model)
    return [
        *base(names, limits),
        work_queue(queue, names.dlx, limits),
        Binding(queue, names.infer, model),
    ]


def for_posts(names: Names, transport: str, limits: Limits) -> list[Declarable]:
    """A transport kind's post queue (``{ns}.post.<transport>``), bound to ``{ns}.replies`` by
    its own name: durable, so posts wait for a transport that is down (within their TTL)."""
    queue = names.post_queue(transport)
    return [
        *base(names, limits),
        work_queue(queue, names.dlx, limits),
        Binding(queue, names.replies, queue),
    ]


def reply_queue(name: str) -> Queue:
    """A process's own reply queue: survives a broker restart, expires once the process is gone."""
    return Queue(name, {"x-expires": REPLY_QUEUE_EXPIRES_MS})


def for_replies(names: Names, queue: str) -> list[Declarable]:
    """A reply queue and its binding: replies to ``queue`` are published to ``{ns}.replies``
    with ``queue`` as the routing key."""
    return [*base(names), reply_queue(queue), Binding(queue, names.replies, queue)]
