"""The Celery app of training jobs: its queue, its result backend, its tasks.

The ``celery`` command can point at it, as at any Celery app; settings come from ``BOTWERK_*``
as for every role::

    celery -A botwerk.workers.jobs.app worker       # what `botwerk trainer` runs
    celery -A botwerk.workers.jobs.app flower       # a dashboard, for those who install flower

Broker: ``BOTWERK_AMQP_URL``. Tasks go to ``{ns}.training``, a quorum queue with the same
delivery limit and dead-letter exchange (``{ns}.dlx``) as every work queue, through a topic
exchange of the same name (topic: Celery's native delayed delivery, which it sets up for
quorum queues, binds there). Late acks and reject-on-worker-lost: a trainer killed mid-job
leaves the job in the queue for the next trainer; a job that kills its trainer every time is
dead-lettered once the broker has delivered it ``BOTWERK_DELIVERY_LIMIT`` times. The
dead-lettered copy lands in ``{ns}.training.dead`` (and in ``{ns}.dead`` with everything
else), where every trainer's :class:`DeadJobs` step records it as the job's failure.

Results and progress: Redis at ``BOTWERK_RESULTS_URL``, every key under ``botwerk:{ns}:``.
JSON only, on the wire and in Redis: pickle is refused.

Tasks: ``botwerk.train.<kind>``, one per entry of the ``botwerk.jobs`` entry-point group
(``charrnn``, ``word2vec``, ``chat``, ``chat-rl``); each is :func:`.tasks.run_job` around that
kind's ``fit`` function, the one its foreground ``botwerk train`` calls.
"""

from __future__ import annotations

import functools
from typing import Any

from celery import bootsteps
from kombu import Consumer, Message

from botwerk.infra.settings import Settings
from botwerk.infra.topology import Names
from botwerk.schemas import BotwerkError
from botwerk.workers.jobs.queues import JOBS, TASK_PREFIX, base_app, queues
from botwerk.workers.jobs.tasks import run_job


class JobDeadLettered(BotwerkError):
    """The broker gave up on a job: it was delivered the most times allowed."""


def make_app(settings: Settings) -> Any:
    """A Celery app for ``settings``'s namespace, with a task per installed job kind."""
    app = base_app(settings, role="trainer")
    for kind in JOBS.names():
        app.task(bind=True, shared=False, name=TASK_PREFIX + kind)(run_job)
    app.steps["consumer"].add(DeadJobs)
    return app


class DeadJobs(bootsteps.ConsumerStep):  # type: ignore[misc]
    """A trainer step that records each dead-lettered job as failed, with the broker's reason."""

    def __init__(self, parent: Any, **options: Any) -> None:
        super().__init__(parent, **options)
        self.app = parent.app

    def get_consumers(self, channel: Any) -> list[Any]:
        found = queues(self.app.botwerk_settings)  # declared by `reach` before the worker ran
        return [Consumer(channel, queues=[found.dead], on_message=self.on_dead, accept=["json"])]

    def on_dead(self, message: Message) -> None:
        headers = message.headers or {}
        job = headers.get("id")
        if job:
            record_dead(self.app, str(job), headers)
        message.ack()


def record_dead(app: Any, job: str, headers: dict[str, Any]) -> None:
    """Mark ``job`` failed because the broker dead-lettered it; say why and what to do."""
    settings: Settings = app.botwerk_settings
    deaths = headers.get("x-death") or [{}]
    reason = deaths[0].get("reason") or headers.get("x-first-death-reason") or "unknown"
    error = JobDeadLettered(
        f"dead-lettered by the broker ({reason}) after {settings.delivery_limit} deliveries: "
        f"the job stopped its trainer every time (killed, or out of memory); its message is "
        f"in {Names(settings.namespace).dead}; read the trainers' logs, fix the cause and "
        "submit it again"
    )
    app.backend.mark_as_failure(job, error)


@functools.cache
def _default() -> Any:
    return make_app(Settings.load())


def __getattr__(name: str) -> Any:
    """``app``: the app of the environment's settings, for ``celery -A`` (made on first use)."""
    if name == "app":
        return _default()
    raise AttributeError(name)
