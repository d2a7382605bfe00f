"""The names and Celery settings of a namespace's training jobs, shared by every module here.

>>> from botwerk.infra.settings import Settings
>>> found = queues(Settings.load(namespace="demo"))
>>> found.training.name, found.training.queue_arguments["x-queue-type"], found.dead.name
('demo.training', 'quorum', 'demo.training.dead')
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from botwerk.infra import topology
from botwerk.infra.naming import Identity
from botwerk.infra.registry import Registry
from botwerk.infra.settings import Settings
from botwerk.infra.tls import celery_ssl
from botwerk.infra.topology import Limits, Names, limits_of, replicas, work_queue

JOBS = Registry("training job", "botwerk.jobs")
"""Each model kind's ``fit`` function, by job kind (``chat-rl`` is chat's SCST fine-tuning)."""
TASK_PREFIX = "botwerk.train."
WEEK_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Queues:
    """The namespace's training queue and where its dead-lettered jobs go."""

    training: Queue
    dead: Queue
    """``{ns}.training.dead``: the jobs the broker gave up on, read by :class:`DeadJobs`"""


def queues(settings: Settings) -> Queues:
    names = Names(settings.namespace)
    name = settings.exchange("training")
    limits = limits_of(settings)
    arguments = work_queue(name, names.dlx, limits).arguments
    dlx = Exchange(names.dlx, "topic", durable=True, passive=True)  # shared: ensure_shared()
    quorum = {"x-queue-type": "quorum", **replicas(limits)}
    return Queues(
        Queue(name, Exchange(name, "topic"), routing_key=name, queue_arguments=arguments),
        Queue(f"{name}.dead", dlx, routing_key=name, queue_arguments=quorum),
    )


def key_prefix(settings: Settings) -> str:
    """Every Redis key of the namespace's jobs starts with this."""
    return f"botwerk:{settings.namespace}:"


def config(settings: Settings, role: str = "cli") -> dict[str, Any]:
    """The Celery settings of a namespace's training jobs, for a trainer or a client (``cli``)."""
    training = queues(settings).training
    me = Identity.here(settings, role, "training")  # the dashboard: "botwerk trainer training ..."
    return {
        # A cluster: kombu's failover form, full URLs joined by ";", tried in a shuffled order.
        "broker_url": ";".join(settings.amqp_urls) or None,
        "broker_failover_strategy": "shuffle",
        "broker_transport_options": {"client_properties": me.client_properties()},  # to py-amqp
        "broker_use_ssl": celery_ssl(settings),  # amqps://: the bus's CA, certificate, host check
        "broker_connection_retry_on_startup": True,
        "result_backend": settings.results_url,
        "result_backend_transport_options": {"global_keyprefix": key_prefix(settings)},
        "result_extended": True,  # name, args and worker in the result: `jobs show`, Flower
        "result_expires": WEEK_S,
        "task_queues": [training],
        "task_default_queue": training.name,
        "task_default_exchange": training.name,
        "task_default_routing_key": training.name,
        "task_create_missing_queues": False,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,  # acked when done: a trainer killed mid-job loses nothing
        "task_reject_on_worker_lost": True,  # a killed pool process: back to the queue
        "task_track_started": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": 1,  # one job per trainer process
        "worker_cancel_long_running_tasks_on_connection_loss": True,  # the job is redelivered
        "worker_send_task_events": True,  # Flower's live view
        "control_exchange": settings.exchange("celery"),  # revoke, inspect: this namespace's
        "event_exchange": settings.exchange("celeryev"),
    }


def base_app(settings: Settings, role: str = "cli") -> Any:
    """A Celery app configured for the namespace, with no tasks: enough to send and to ask."""
    app = Celery("botwerk", set_as_current=False)
    app.config_from_object(config(settings, role))
    app.botwerk_settings = settings
    return app


def declare(app: Any) -> None:
    """Declare the training queue and its dead-letter queue (idempotent), after the namespace's
    shared exchanges and dead-letter queue, which it only creates if they are missing."""
    settings: Settings = app.botwerk_settings
    found = queues(settings)
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        ensure_shared(connection, Names(settings.namespace), limits_of(settings))
        channel = connection.default_channel
        for queue in (found.dead, found.training):
            queue(channel).declare()


def ensure_shared(connection: Any, names: Names, limits: Limits) -> None:
    """What :meth:`RabbitBus.declare <botwerk.infra.rabbit.RabbitBus>` does for every other role,
    on a kombu connection: check the shared topology passively (no permission needed), and
    declare it only if some of it is missing (which only an administrator may)."""
    shared = topology.base(names, limits)

    def check(channel: Any) -> None:
        for item in shared:
            if isinstance(item, topology.Exchange):
                channel.exchange_declare(item.name, item.kind, passive=True)
            elif isinstance(item, topology.Queue):
                channel.queue_declare(item.name, passive=True)

    def create(channel: Any) -> None:
        for item in shared:
            if isinstance(item, topology.Exchange):
                channel.exchange_declare(item.name, item.kind, durable=True, auto_delete=False)
            elif isinstance(item, topology.Queue):
                channel.queue_declare(
                    item.name, durable=True, auto_delete=False, arguments=item.arguments
                )
            else:
                channel.queue_bind(item.queue, item.exchange, item.routing_key)

    unless_present(connection, check, create)


def unless_present(
    connection: Any, check: Callable[[Any], None], create: Callable[[Any], None]
) -> None:
    """``check(channel)`` with passive declares (no permission needed); if the broker says
    something is missing (a 404 closes that channel), ``create(channel)`` on a fresh one."""
    channel = connection.channel()
    try:
        check(channel)
        return
    except connection.channel_errors:
        pass  # 404: missing, and the broker closed that channel
    finally:
        with contextlib.suppress(*connection.channel_errors, *connection.connection_errors):
            channel.close()
    channel = connection.channel()
    try:
        create(channel)
    finally:
        channel.close()


def serve_worker_metrics(settings: Settings, role: str, queue: str) -> None:
    """/metrics, /healthz and /readyz on ``BOTWERK_METRICS_PORT`` for a Celery worker process
    (the trainer, the scheduler): ready once Celery's worker consumes ``queue``."""
    if not settings.metrics_port:
        return
    import threading

    from celery.signals import worker_ready

    from botwerk.infra import metrics

    ready = threading.Event()
    worker_ready.connect(lambda **_: ready.set(), weak=False)
    metrics.serve(settings.metrics_port)  # a daemon thread: it ends with the process
    metrics.HEALTH.role = role
    metrics.watch(role, queue, lambda: [] if ready.is_set() else [f"not consuming {queue}"])
