"""The dead letters in ``{ns}.dead``: read them, replay them, purge the old ones.

A message lands in ``{ns}.dead`` when Botwerk dead-letters it (its reason and origin in
``x-botwerk-*`` headers, see :func:`botwerk.infra.bus.dead_letter`) or when RabbitMQ does (its
``x-death`` header: ``expired``, ``delivery_limit``, ``maxlen``, ``rejected``)::

    for letter in peek(settings, limit=20):
        print(letter.id, letter.reason, letter.queue, letter.preview)
    replay(settings, ids=["3f9a..."])          # back to where it was first published
    purge(settings, older_than_s=7 * 86400)

Two mechanisms, each where it fits:
- Reading (:func:`peek`) goes through the management API's "get messages", which hands the
  messages straight back to the queue: one HTTP call, bodies truncated to what a preview needs,
  and the same path ``botwerk status`` takes.
- Changing (:func:`replay`, :func:`purge`) goes over AMQP with manual acks, because only there
  a message can be held while its copy is confirmed elsewhere. Each dead letter is taken once
  (``basic_get``); a chosen one is acked only after its replay is confirmed (or, for purge, at
  once); every other one stays unacked until the end and then goes back, all together. If the
  command dies halfway, the broker returns whatever it held: nothing not chosen is lost, and a
  chosen one at worst is replayed twice (consumers drop duplicates by message id).

Limits: a peek sees the first ``limit`` dead letters; a replay or purge goes through as many
as the queue held when it began; the user of ``BOTWERK_AMQP_URL`` must be allowed to read
``{ns}.dead`` and publish to the original exchanges (an administrator, not a role's user).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import msgpack
import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from botwerk.infra.brokeradmin import Management
from botwerk.infra.bus import (
    DEAD_AT_HEADER,
    DEAD_EXCHANGE_HEADER,
    DEAD_KEY_HEADER,
    DEAD_QUEUE_HEADER,
    DEADLINE_HEADER,
    REASON_HEADER,
    SENT_HEADER,
    TRACE_HEADER,
    dead_reason,
    now_ms,
)
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names
from botwerk.schemas import BotwerkError, InferRequest

PREVIEW_CHARS = 60
PEEK_BYTES = 2048  # body bytes a peek fetches per message: enough for a preview, not a model
_DEAD_ONLY = (
    REASON_HEADER,
    DEAD_QUEUE_HEADER,
    DEAD_EXCHANGE_HEADER,
    DEAD_KEY_HEADER,
    DEAD_AT_HEADER,
    "x-death",
    "x-delivery-count",
)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class DeadError(BotwerkError):
    """A dead-letter operation that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class DeadLetter:
    """One message in ``{ns}.dead``, as an operator reads it."""

    id: str
    reason: str
    queue: str  # where it died
    exchange: str  # where it was first published: a replay publishes there again
    routing_key: str
    dead_at_ms: int | None  # None: dead-lettered by a Botwerk that did not stamp the time
    deliveries: int  # x-delivery-count as the dead queue hands it out
    size: int  # body bytes
    trace: str | None
    type: str
    preview: str

    @property
    def code(self) -> str:
        """The reason's first words, bounded: ``expired``, ``schema error``, ``handler error``."""
        return self.reason.split(":", 1)[0][:40]

    def json(self) -> dict[str, Any]:
        return {**asdict(self), "code": self.code}

    @classmethod
    def read(
        cls, headers: Mapping[str, Any], props: Mapping[str, Any], body: bytes, size: int
    ) -> DeadLetter:
        """From a message's headers, its properties (``message_id``, ``type``) and body."""
        queue, exchange, key = origin(headers)
        trace = headers.get(TRACE_HEADER)
        return cls(
            id=str(props.get("message_id") or ""),
            reason=dead_reason(dict(headers)),
            queue=queue,
            exchange=exchange,
            routing_key=key,
            dead_at_ms=_dead_at(headers),
            deliveries=int(headers.get("x-delivery-count") or 0),
            size=size,
            trace=str(trace) if trace else None,
            type=str(props.get("type") or ""),
            preview=preview(body),
        )


def origin(headers: Mapping[str, Any]) -> tuple[str, str, str]:
    """(queue it died in, exchange and routing key it was first published with)."""
    if DEAD_QUEUE_HEADER in headers:
        return (
            str(headers[DEAD_QUEUE_HEADER]),
            str(headers.get(DEAD_EXCHANGE_HEADER, "")),
            str(headers.get(DEAD_KEY_HEADER, "")),
        )
    deaths = headers.get("x-death") or [{}]
    first = deaths[-1]  # the broker puts the latest death first
    keys = first.get("routing-keys") or [""]
    return str(first.get("queue", "")), str(first.get("exchange", "")), str(keys[0])


def preview(body: bytes) -> str:
    """A short one-line view of a body, safe for a terminal (no control characters)."""
    try:
        shown: Any = msgpack.unpackb(body, raw=False, max_bin_len=0, strict_map_key=False)
        if isinstance(shown, dict):
            shown = {k: v for k, v in shown.items() if v not in (None, "", [], {})}
    except Exception:  # truncated or not MessagePack: show the bytes themselves
        shown = body[: PREVIEW_CHARS * 2]
    text = "".join(c if c.isprintable() else "?" for c in repr(shown))
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _dead_at(headers: Mapping[str, Any]) -> int | None:
    stamped = headers.get(DEAD_AT_HEADER)
    if isinstance(stamped, int) and not isinstance(stamped, bool):
        return int(stamped)
    deaths = headers.get("x-death") or []
    when = deaths[0].get("time") if deaths else None  # management API: seconds; pika: datetime
    if isinstance(when, datetime):
        return int(when.timestamp() * 1000)
    return int(when) * 1000 if isinstance(when, int) else None


def parse_age(text: str) -> float:
    """``30m``, ``2h``, ``7d`` (also ``s``, ``w``) as seconds; a ValueError says the form."""
    match = _AGE.match(text)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not an age: use a number and a unit, like 30m, 2h or 7d")
    return float(match[1]) * _SECONDS[match[2]]


def matches(letter: DeadLetter, reason: str | None, queue: str | None) -> bool:
    """``reason`` matches a reason that starts with it (any case); ``queue`` the queue's name."""
    if reason and not letter.reason.lower().startswith(reason.lower()):
        return False
    return not queue or letter.queue == queue


# Reading, through the management API.


def management(settings: Settings) -> Management:
    """The management API as the user in BOTWERK_MANAGEMENT_URL, else BOTWERK_ADMIN_USER and
    BOTWERK_ADMIN_PASSWORD, else the user of BOTWERK_AMQP_URL."""
    url, amqp = urlsplit(settings.management_url), urlsplit(settings.amqp_url or "")
    for user, password in (
        (url.username, url.password),
        (os.environ.get("BOTWERK_ADMIN_USER"), os.environ.get("BOTWERK_ADMIN_PASSWORD")),
        (amqp.username, amqp.password),
    ):
        if user and password:
            return Management(settings.management_url, unquote(user), unquote(password))
    raise DeadError(
        "no user for the RabbitMQ management API: put one in BOTWERK_MANAGEMENT_URL "
        "(http://USER:PASSWORD@HOST:15672/) or set BOTWERK_ADMIN_USER and BOTWERK_ADMIN_PASSWORD"
    )


def peek(settings: Settings, limit: int) -> list[DeadLetter]:
    """The first ``limit`` dead letters, oldest first; they stay where they are."""
    api, where = management(settings), f"{_q(vhost(settings))}/{_q(Names(settings.namespace).dead)}"
    if api.get(f"queues/{where}") is None:
        raise DeadError(_missing(settings))
    ask = {
        "count": limit,
        "ackmode": "ack_requeue_true",
        "encoding": "base64",
        "truncate": PEEK_BYTES,
    }
    got = api.call("POST", f"queues/{where}/get", ask) or []
    return [_from_api(message) for message in got]


def _from_api(message: Mapping[str, Any]) -> DeadLetter:
    props = message.get("properties") or {}
    body = base64.b64decode(message.get("payload") or "")
    return DeadLetter.read(props.get("headers") or {}, props, body, message["payload_bytes"])


def vhost(settings: Settings) -> str:
    """The virtual host of BOTWERK_AMQP_URL (``/`` when it names none)."""
    path = urlsplit(settings.amqp_url or "").path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _missing(settings: Settings) -> str:
    return (
        f"there is no queue {Names(settings.namespace).dead} in virtual host "
        f"{vhost(settings)!r}: check BOTWERK_NAMESPACE, or create it with `botwerk broker "
        "setup`"
    )


def _q(name: str) -> str:
    return quote(name, safe="")


# Changing, over AMQP.


@dataclass
class Outcome:
    """What a replay or purge did: ``done`` were settled, ``kept`` stay (with why), and the
    ids asked for that are not there are ``missing``."""

    done: list[DeadLetter] = field(default_factory=list)
    kept: list[tuple[DeadLetter, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


Act = Callable[[DeadLetter, pika.BasicProperties, bytes], str | None]
"""Settles one chosen dead letter: None when done (it is acked), else why it stays."""


def replay(settings: Settings, ids: tuple[str, ...] = (), reason: str | None = None) -> Outcome:
    """Publish the chosen dead letters again where they were first published, confirmed, with
    the same message id and a fresh deadline; ack each dead copy only after its confirm."""
    if not ids and not reason:
        raise DeadError("say which dead letters to replay: give their ids, or --reason")
    wanted = set(ids)
    with _connection(settings) as connection:
        out = _Republisher(connection, settings)
        outcome = _sweep(connection, settings, lambda d: _chosen(d, wanted, reason), out.send)
    seen = {letter.id for letter in outcome.done} | {letter.id for letter, _ in outcome.kept}
    outcome.missing = sorted(wanted - seen)
    return outcome


def purge(settings: Settings, older_than_s: float) -> Outcome:
    """Drop the dead letters that died more than ``older_than_s`` ago; keep the rest (and
    those without a time of death: nothing says they are old)."""
    cutoff = now_ms() - older_than_s * 1000
    with _connection(settings) as connection:
        return _sweep(
            connection, settings, lambda d: (d.dead_at_ms or cutoff) < cutoff, lambda *_: None
        )


def _chosen(letter: DeadLetter, ids: set[str], reason: str | None) -> bool:
    return letter.id in ids if ids else matches(letter, reason, None)


def _sweep(
    connection: pika.BlockingConnection,
    settings: Settings,
    choose: Callable[[DeadLetter], bool],
    act: Act,
) -> Outcome:
    """Take each dead letter there is now once; ``act`` on the chosen ones, ack those it
    settles; give all the others back at the end. ``basic_get`` rather than a consumer: the
    count is known before, and nothing arrives that was not asked for."""
    dead, outcome = Names(settings.namespace).dead, Outcome()
    channel = connection.channel()
    count = _guard(settings, lambda: channel.queue_declare(dead, passive=True)).method.message_count
    for _ in range(count):
        method, props, body = _guard(settings, lambda: channel.basic_get(dead, auto_ack=False))
        if method is None:
            break
        letter = DeadLetter.read(props.headers or {}, vars(props), body, len(body))
        if not choose(letter):
            continue  # held unacked: it goes back with the others below
        if (why := act(letter, props, body)) is None:
            channel.basic_ack(method.delivery_tag)
            outcome.done.append(letter)
        else:
            outcome.kept.append((letter, why))
    channel.basic_nack(0, multiple=True, requeue=True)  # every one still held, in one frame
    channel.close()
    return outcome


class _Republisher:
    """Publishes replays on a confirm-mode channel of its own, reopened if the broker closes
    it (an exchange that is gone closes the channel, not the connection)."""

    def __init__(self, connection: pika.BlockingConnection, settings: Settings) -> None:
        self._connection, self._settings = connection, settings
        self._channel: BlockingChannel | None = None

    def send(self, letter: DeadLetter, props: pika.BasicProperties, body: bytes) -> str | None:
        if self._channel is None or self._channel.is_closed:
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        fresh = replayed(props, self._settings)
        try:
            self._channel.basic_publish(letter.exchange, letter.routing_key, body, fresh, True)
        except pika.exceptions.UnroutableError:
            return f"no queue takes {letter.exchange or '(default)'}/{letter.routing_key} now"
        except pika.exceptions.NackError:
            return f"{letter.queue} refused it (full?)"
        except pika.exceptions.ChannelClosedByBroker as exc:
            return f"the broker refused it: {exc.reply_text}"
        return None


def replayed(props: pika.BasicProperties, settings: Settings) -> pika.BasicProperties:
    """The properties of a replay: the same, less what dead-lettering added, with a fresh
    deadline (now + BOTWERK_DEADLINE_MS) and, for a model request, the time to live to match."""
    headers = {
        k: v
        for k, v in (props.headers or {}).items()
        if k not in _DEAD_ONLY and not k.startswith(("x-first-death-", "x-last-death-"))
    }
    now = now_ms()
    headers[DEADLINE_HEADER] = now + settings.deadline_ms
    headers[SENT_HEADER] = now
    ttl = str(settings.deadline_ms) if props.type == InferRequest.TYPE else None
    kept = {k: v for k, v in vars(props).items() if k not in ("headers", "expiration")}
    return pika.BasicProperties(**kept, headers=headers, expiration=ttl)


@contextmanager
def _connection(settings: Settings) -> Iterator[pika.BlockingConnection]:
    if not settings.amqp_url:
        raise DeadError("BOTWERK_AMQP_URL is not set: point it at RabbitMQ as an administrator")
    nodes = [pika.URLParameters(url) for url in settings.amqp_urls]  # a cluster: first that answers
    host, pid = os.uname().nodename, os.getpid()
    properties = {  # named as every Botwerk connection is, for the dashboard
        "connection_name": f"botwerk cli dead @{host} pid {pid}",
        "botwerk": {
            "role": "cli",
            "name": "dead",
            "instance": settings.instance,
            "host": host,
            "pid": pid,
            "namespace": settings.namespace,
        },
    }
    for params in nodes:
        params.client_properties = properties
    try:
        connection = pika.BlockingConnection(nodes)
    except pika.exceptions.AMQPConnectionError as exc:
        raise DeadError(
            f"BOTWERK_AMQP_URL {settings.amqp_url_redacted}: no connection "
            f"({exc!r}); start RabbitMQ or fix the URL"
        ) from None
    try:
        yield connection
    finally:
        if connection.is_open:
            connection.close()


def _guard(settings: Settings, call: Callable[[], Any]) -> Any:
    """``call()``, with the broker's no to reading ``{ns}.dead`` told as what to do."""
    try:
        return call()
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            raise DeadError(_missing(settings)) from None
        raise DeadError(
            f"the broker user of {settings.amqp_url_redacted} may not read "
            f"{Names(settings.namespace).dead} ({exc.reply_text}): use an administrator's "
            "BOTWERK_AMQP_URL for `botwerk dead`"
        ) from None
