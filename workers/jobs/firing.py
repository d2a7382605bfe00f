"""The scheduler's Celery app: beat sends ``botwerk.schedule.fire(name, slot)``; a worker posts.

Built on the trainer's app settings (:func:`.queues.config`), with its own queue,
``{ns}.scheduled`` (quorum, the same delivery limit and dead-letter exchange as every work
queue), so a long training job never delays a post. Beat's entries are the schedules of
:mod:`.schedules`; each entry's slot is computed when beat sends it (``BeatLazyFunc``), so a
task that waits in the queue still posts for the tick it was sent for.

What a fired task does::

    claim schedule:<NAME>:<slot> in the state store (BOTWERK_STATE_URL)  # lost: skip, log it
    text   -> a botwerk.reply.v1 to {ns}.replies, key {ns}.post.<transport>
    prompt -> a botwerk.inbound.v1 to {ns}.inbound, key <bot>.<transport>,
              reply_to {ns}.post.<transport>: the bot's core answers there as to any message

Each message is persistent, has a message id made from (namespace, name, slot) and a time to
live (``ttl_s``, default ``BOTWERK_POST_TTL_S``), and is published with a broker confirm. The
post queues are made at start when missing (:func:`declare`), so a transport that never ran
gets its posts when it starts. A publish that fails releases the claim and raises: the task
fails (logged), and the next tick posts again.

Limits: ``memory://`` as the state store claims within one process only; two schedulers need
Redis (or SQLite on one host) to share their claims. A scheduler killed between its claim and
its publish loses that one tick (the claim stands; the redelivered task skips it): at most one
post per tick is the guarantee, not exactly one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from typing import Any

from celery.beat import BeatLazyFunc
from kombu import Exchange, Queue

from botwerk.infra import state
from botwerk.infra.bus import Outgoing, now_ms
from botwerk.infra.naming import Identity
from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names, limits_of, work_queue
from botwerk.schemas import Inbound, Reply, User
from botwerk.schemas.messages import MAX_DEADLINE_MS
from botwerk.workers.jobs.queues import config, ensure_shared, unless_present
from botwerk.workers.jobs.schedules import CRON_SLOT_S, Schedule, parse, when

FIRE = "botwerk.schedule.fire"
META = "botwerk.schedule"
"""the ``meta`` key that names the schedule in a post or a prompt"""
log = logging.getLogger("botwerk.scheduler")


def scheduled_queue(settings: Settings) -> Queue:
    """``{ns}.scheduled``: the fired tasks, through a topic exchange of the same name."""
    name = settings.exchange("scheduled")
    arguments = work_queue(name, Names(settings.namespace).dlx, limits_of(settings)).arguments
    return Queue(name, Exchange(name, "topic"), routing_key=name, queue_arguments=arguments)


def post_queue(settings: Settings, transport: str) -> Queue:
    """``{ns}.post.<transport>`` as :func:`~botwerk.infra.topology.for_posts` declares it."""
    names = Names(settings.namespace)
    name = names.post_queue(transport)
    replies = Exchange(names.replies, "topic", durable=True, passive=True)  # shared: only checked
    arguments = work_queue(name, names.dlx, limits_of(settings)).arguments
    return Queue(name, replies, routing_key=name, queue_arguments=arguments)


def make_scheduler_app(settings: Settings) -> Any:
    """The Celery app of ``settings``'s schedules: the fire task and beat's schedule.

    Bad ``[schedules.*]`` tables raise :class:`~botwerk.infra.settings.ConfigError` here, at
    start, naming the table and the key.
    """
    from celery import Celery

    schedules = parse(settings.schedules)
    queue = scheduled_queue(settings)
    app = Celery("botwerk", set_as_current=False)
    app.config_from_object(config(settings))  # the trainers' settings, then ours over them
    me = Identity.here(settings, "scheduler", "schedules")  # the dashboard's connection name
    app.conf.update(
        task_queues=[queue], task_default_queue=queue.name,
        task_default_exchange=queue.name, task_default_routing_key=queue.name,
        task_ignore_result=True,  # the post is the result; nothing goes to Redis
        worker_concurrency=1, worker_send_task_events=False, worker_enable_remote_control=False,
        broker_transport_options={"client_properties": me.client_properties()},
        beat_schedule={name: _entry(name, s) for name, s in schedules.items()},
    )  # fmt: skip
    app.botwerk_settings = settings
    app.botwerk_schedules = schedules
    app.task(bind=True, shared=False, name=FIRE, acks_late=True)(fire)
    return app


def _entry(name: str, schedule: Schedule) -> dict[str, Any]:
    expires = schedule.every_s or CRON_SLOT_S  # a tick not run by the next one is dropped
    return {
        "task": FIRE,
        "schedule": when(schedule),
        "args": (name, BeatLazyFunc(current_slot, schedule.every_s)),
        "options": {"expires": expires},
    }


def current_slot(every_s: float | None) -> int:
    """The slot of the tick beat sends now (:func:`.schedules.slot_of`)."""
    return int(time.time() // (every_s or CRON_SLOT_S))


def declare(app: Any) -> None:
    """The namespace's shared topology (checked), the scheduled queue and every post queue."""
    settings: Settings = app.botwerk_settings
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        ensure_shared(connection, Names(settings.namespace), limits_of(settings))
        scheduled_queue(settings)(connection.default_channel).declare()
        for transport in sorted({s.transport for s in app.botwerk_schedules.values()}):
            _ensure_post_queue(connection, post_queue(settings, transport))


def _ensure_post_queue(connection: Any, queue: Queue) -> None:
    """Check ``queue`` passively (no permission needed: ``botwerk broker setup`` made it for
    every transport it set up); declare it only if it is missing, which only a user allowed
    to may (``guest`` on a developer's machine). So a transport that never ran gets its posts,
    and the scheduler's broker user needs no right on the post queues."""
    unless_present(
        connection,
        lambda channel: channel.queue_declare(queue.name, passive=True),
        lambda channel: queue(channel).declare(),
    )


def fire(task: Any, name: str, slot: int) -> str:
    """Post schedule ``name``'s tick ``slot``, unless another scheduler already claimed it."""
    settings: Settings = task.app.botwerk_settings
    schedule: Schedule | None = task.app.botwerk_schedules.get(name)
    if schedule is None:  # sent by a beat whose botwerk.toml has it; ours does not
        log.warning("schedule %s is not in this scheduler's botwerk.toml; tick %s skipped",
                    name, slot)  # fmt: skip
        return "unknown"
    key = f"schedule:{name}:{slot}"
    if not asyncio.run(_store(settings, "add", key, 1, claim_ttl_s(schedule))):
        log.info("schedule %s tick %s: already posted by another scheduler", name, slot)
        return "claimed"
    try:
        publish(task.app, name, schedule, slot)
    except BaseException:
        asyncio.run(_store(settings, "delete", key))  # the next try may post it
        raise
    log.info("schedule %s tick %s: %s posted to %s %s", name, slot,
             "text" if schedule.text is not None else "prompt", schedule.transport,
             schedule.conversation)  # fmt: skip
    return "posted"


def check_store(settings: Settings) -> None:
    """Open the state store once, so a bad ``BOTWERK_STATE_URL`` stops the scheduler at start
    (a ConfigError saying how to fix it) rather than failing every tick."""
    asyncio.run(_store(settings, "get", "schedule:-"))


async def _store(settings: Settings, method: str, *args: Any) -> Any:
    store = await state.open_store(settings)
    try:
        return await getattr(store, method)(*args)
    finally:
        await store.close()


def message_id(namespace: str, name: str, slot: int) -> str:
    """The same id for the same tick in every scheduler: transports drop a repeat."""
    digest = hashlib.sha256(f"{namespace}\0{name}\0{slot}".encode()).digest()
    return uuid.UUID(bytes=digest[:16]).hex


def claim_ttl_s(schedule: Schedule) -> float:
    """How long a tick's claim is kept: past any other scheduler's send of the same slot."""
    return max(600.0, 2 * (schedule.every_s or CRON_SLOT_S))


def tick_message(
    settings: Settings, name: str, schedule: Schedule, slot: int
) -> tuple[str, str, Outgoing]:
    """(exchange, routing key, message) of tick ``slot`` of schedule ``name``: its post
    (``text``) to the transport's post queue, or its prompt to the bot's cores."""
    names = Names(settings.namespace)
    post = names.post_queue(schedule.transport)
    ttl_ms = (schedule.ttl_s or settings.post_ttl_s) * 1000
    ident = message_id(settings.namespace, name, slot)
    meta = {META: name}
    if schedule.text is not None:
        reply = Reply(bot=schedule.bot, conversation=schedule.conversation,
                      thread=schedule.thread, text=schedule.text, meta=meta)  # fmt: skip
        msg = Outgoing.of(reply, trace=ident[:16], deadline_ms=now_ms() + ttl_ms,
                          message_id=ident, expiration_ms=ttl_ms)  # fmt: skip
        return names.replies, post, msg
    inbound = Inbound(
        bot=schedule.bot, transport=schedule.transport, conversation=schedule.conversation,
        thread=schedule.thread, user=User(id=f"schedule:{name}", name=name),
        text=schedule.prompt or "", direct=True, sent_at=time.time(), meta=meta,
    )  # fmt: skip
    wait_ms = min(ttl_ms, MAX_DEADLINE_MS)  # a core that is down answers when it is back
    msg = Outgoing.of(inbound, trace=ident[:16], deadline_ms=now_ms() + wait_ms,
                      message_id=ident, reply_to=post, expiration_ms=wait_ms)  # fmt: skip
    return names.inbound, names.inbound_key(schedule.bot, schedule.transport), msg


def publish(app: Any, name: str, schedule: Schedule, slot: int) -> None:
    """Publish the tick's message (:func:`tick_message`) with a broker confirm (the post
    queue was made at start, :func:`declare`)."""
    settings: Settings = app.botwerk_settings
    exchange, key, msg = tick_message(settings, name, schedule, slot)
    confirmed = {"confirm_publish": True}  # this connection's only: not the worker's consumer
    with app.connection_for_write(transport_options=confirmed) as connection:
        connection.Producer().publish(
            msg.body, exchange=exchange, routing_key=key,
            content_type=msg.content_type, content_encoding="binary", headers=msg.headers,
            type=msg.type, message_id=msg.message_id, reply_to=msg.reply_to,
            expiration=msg.expiration_ms / 1000 if msg.expiration_ms is not None else None,
            delivery_mode=2 if msg.persistent else 1, retry=True,
        )  # fmt: skip
