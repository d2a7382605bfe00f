"""What a namespace's mesh does now: queues, dead letters, components, what has no consumer.

``botwerk status`` prints it (:mod:`botwerk.infra.statuscommands`); from code::

    snapshot = gather(settings, management(settings))   # botwerk.infra.dead.management
    print(render(snapshot))          # or json.dumps(snapshot.as_json())
    sys.exit(0 if snapshot.ok else 1)

Where each part comes from:

- queues (depth ready / unacked, publish and deliver rates) and connections and consumers: the
  RabbitMQ management API, whose statistics lag by up to its ``collect_statistics_interval``
  (5 s by default);
- consumers of each bot's and model's queue: a passive declare over AMQP, which is live (and
  needs no permission), so a worker that just stopped is flagged at once;
- components: the connections whose client properties say they belong to this namespace
  (:mod:`botwerk.infra.naming`), with the model@version each worker last announced, folded from
  the ``{ns}.components`` stream (every ``component.*`` event on ``{ns}.events``, kept);
- dead letters by reason: the first :data:`DEAD_PEEK` of ``{ns}.dead``
  (:func:`botwerk.infra.dead.peek`).

The management API's user is :func:`botwerk.infra.dead.management`'s (the one in
``BOTWERK_MANAGEMENT_URL``, else ``BOTWERK_ADMIN_USER`` / ``BOTWERK_ADMIN_PASSWORD``, else the
one in ``BOTWERK_AMQP_URL``). A ``monitoring`` user such as the namespace's ``{ns}-operator`` sees
all but the dead letters' reasons, which need a user that may read messages.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions

from botwerk.infra.brokeradmin import Management
from botwerk.infra.dead import peek, vhost
from botwerk.infra.naming import Identity
from botwerk.infra.rabbit import _parameters
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names
from botwerk.schemas import BotwerkError, ComponentEvent, decode

DEAD_PEEK = 1000
FIRST_WAIT_S = 0.5  # a stream says nothing at its end: wait this long for its first event,
IDLE_S = 0.2  # then stop once this long passes without another,
READ_MAX_S = 5.0  # or after this long in all (a stream busier than component events are)
ONE_OFF_ROLES = ("cli",)  # a command's short connection (this one too) is no component

Key = tuple[str, str, str]
"""a component in events: (instance, role, name)"""


class StatusError(BotwerkError):
    """Status could not be gathered; the message says what to fix."""


@dataclass(frozen=True)
class QueueRow:
    name: str
    ready: int
    unacked: int
    consumers: int
    publish_rate: float
    deliver_rate: float
    serves: str = ""
    """``bot demo`` or ``model echo`` for a queue that must have a consumer, else empty"""


@dataclass(frozen=True)
class Component:
    role: str
    name: str
    instance: str
    host: str
    pid: int
    since: float
    """when its connection opened, seconds since the Unix epoch"""
    model: str | None = None
    """what it last announced serving, ``<model>@<version>``"""
    consumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    namespace: str
    queues: list[QueueRow]
    components: list[Component]
    dead_letters: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def unserved(self) -> list[str]:
        """Each bot or model whose queue has no consumer: ``bot demo``, ``model echo``."""
        return [q.serves for q in self.queues if q.serves and q.consumers == 0]

    @property
    def ok(self) -> bool:
        return not self.unserved

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "unserved": self.unserved, "ok": self.ok}


def gather(settings: Settings, api: Management) -> Status:
    """One snapshot of ``settings``'s namespace (its virtual host: the AMQP URL's)."""
    if not settings.amqp_url:
        raise StatusError("BOTWERK_AMQP_URL is not set: status reads the namespace over RabbitMQ")
    names, where = Names(settings.namespace), vhost(settings)
    prefix = f"{names.ns}."
    queues = [q for q in api.get(f"queues/{quote(where, safe='')}") or [] if _ours(q, prefix)]
    consumers = api.get(f"consumers/{quote(where, safe='')}") or []
    connections = [c for c in api.get("connections") or [] if c.get("vhost") == where]
    notes: list[str] = []
    live, events = _over_amqp(settings, names, [_serves(q["name"], names) for q in queues], notes)
    return Status(
        settings.namespace,
        [_queue_row(q, names, live) for q in sorted(queues, key=lambda q: q["name"])],
        _components(connections, consumers, events, settings.namespace),
        _dead_letters(settings, notes),
        notes,
    )


def _ours(queue: Mapping[str, Any], prefix: str) -> bool:
    return str(queue.get("name", "")).startswith(prefix)


def _serves(queue: str, names: Names) -> tuple[str, str] | None:
    """``(queue, "bot demo")`` for a core queue, ``(queue, "model echo")`` for an infer queue."""
    for kind, start in (("bot", names.core_queue("")), ("model", names.infer_queue(""))):
        rest = queue.removeprefix(start)
        if rest != queue and rest and "." not in rest:
            return queue, f"{kind} {rest}"
    return None


def _queue_row(queue: Mapping[str, Any], names: Names, live: Mapping[str, int]) -> QueueRow:
    stats = queue.get("message_stats") or {}
    served = _serves(queue["name"], names)
    return QueueRow(
        name=queue["name"],
        ready=int(queue.get("messages_ready") or 0),
        unacked=int(queue.get("messages_unacknowledged") or 0),
        consumers=live.get(queue["name"], int(queue.get("consumers") or 0)),
        publish_rate=float((stats.get("publish_details") or {}).get("rate", 0.0)),
        deliver_rate=float((stats.get("deliver_get_details") or {}).get("rate", 0.0)),
        serves=served[1] if served else "",
    )


def _components(
    connections: Iterable[Mapping[str, Any]],
    consumers: Iterable[Mapping[str, Any]],
    events: Mapping[Key, ComponentEvent],
    namespace: str,
) -> list[Component]:
    consumed: dict[str, list[str]] = {}
    for consumer in consumers:
        connection = (consumer.get("channel_details") or {}).get("connection_name", "")
        consumed.setdefault(connection, []).append(consumer["queue"]["name"])
    found = []
    for connection in connections:
        me = Identity.of(connection.get("client_properties") or {})
        if me is not None and me.namespace == namespace and me.role not in ONE_OFF_ROLES:
            models = _models(events, me.instance)
            since = float(connection.get("connected_at") or 0) / 1000
            queues = tuple(sorted(consumed.get(connection["name"], [])))
            found.append(
                Component(me.role, me.name, me.instance, me.host, me.pid, since, models, queues)
            )
    return sorted(found, key=lambda c: (c.role, c.name, c.since))


def _models(events: Mapping[Key, ComponentEvent], instance: str) -> str | None:
    """What the process ``instance`` serves now: ``echo@2`` (``botwerk up``: several)."""
    models = sorted(
        event.model
        for (of, _, _), event in events.items()
        if of == instance and event.state == "up" and event.model
    )
    return ", ".join(models) or None


def _over_amqp(
    settings: Settings, names: Names, served: Iterable[tuple[str, str] | None], notes: list[str]
) -> tuple[dict[str, int], dict[Key, ComponentEvent]]:
    """Live consumer counts of the bot and model queues, and each component's latest event."""
    params = _parameters(settings, Identity.here(settings, "cli", "status"))
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError as exc:
        raise StatusError(
            f"BOTWERK_AMQP_URL {settings.amqp_url_redacted} unreachable ({exc!r}): start "
            "RabbitMQ or fix the URL"
        ) from None
    try:
        live = {}
        for queue, _ in filter(None, served):
            channel = connection.channel()  # passive: needs no permission on the queue
            live[queue] = channel.queue_declare(queue, passive=True).method.consumer_count
            channel.close()
        return live, _latest_events(connection, names, notes)
    finally:
        connection.close()


def _latest_events(connection: Any, names: Names, notes: list[str]) -> dict[Key, ComponentEvent]:
    """Fold the ``{ns}.components`` stream from its start: each component's latest event."""
    latest: dict[Key, ComponentEvent] = {}
    start = last = time.monotonic()

    def on_event(channel: Any, method: Any, props: Any, body: bytes) -> None:
        nonlocal last
        last = time.monotonic()
        channel.basic_ack(method.delivery_tag)
        try:
            event = decode(body, props.type, props.content_type, expect=(ComponentEvent,))
        except BotwerkError:
            return  # not ours to judge here: the stream only mirrors {ns}.events
        latest[event.instance, event.role, event.name] = event

    def reading() -> bool:
        now = time.monotonic()
        quiet = now - last < (IDLE_S if last > start else FIRST_WAIT_S)
        return quiet and now - start < READ_MAX_S

    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=500)  # a stream consumer must set one
        arguments = {"x-stream-offset": "first"}
        channel.basic_consume(names.components, on_event, arguments=arguments)
        while reading():
            connection.process_data_events(time_limit=IDLE_S / 4)
        channel.close()
    except pika.exceptions.AMQPError as exc:
        notes.append(f"no model@version: {_unreadable(names, exc)}")
    return latest


def _unreadable(names: Names, exc: Exception) -> str:
    text = str(exc)
    if "NOT_FOUND" in text:
        return f"{names.components} is missing: create it with `botwerk broker setup`"
    if "ACCESS_REFUSED" in text:
        return (
            f"the user of BOTWERK_AMQP_URL may not read {names.components}: use the "
            f"{names.ns}-operator user (`botwerk broker setup`) or an administrator"
        )
    return f"cannot read {names.components} ({text})"


def _dead_letters(settings: Settings, notes: list[str]) -> dict[str, int]:
    try:
        letters = peek(settings, DEAD_PEEK)
    except BotwerkError as exc:
        notes.append(f"dead letters by reason: {exc}")
        return {}
    return dict(Counter(letter.code for letter in letters).most_common())
