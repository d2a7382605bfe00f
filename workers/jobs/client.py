"""Submitting, looking at, following and cancelling training jobs, from any machine.

    job = submit(settings, "charrnn", "bard", corpus_for_trainer(settings, "plays.txt"), {})
    view = look(settings, job)           # its state, what was submitted, progress or result
    follow(settings, job, on_progress)   # until it ends; its last view
    cancel(settings, job)                # the flag its loop checks, and Celery's revoke

Nothing here imports torch or the tasks: a job goes to the trainers by its task's name.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amqp.exceptions import AMQPError  # type: ignore[import-untyped, unused-ignore]
from celery import states
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from botwerk.infra.rabbit import explain_refusal
from botwerk.infra.settings import Settings, redact_url
from botwerk.infra.tls import explain as explain_tls
from botwerk.schemas import BotwerkError
from botwerk.workers.jobs.queues import TASK_PREFIX, base_app, declare
from botwerk.workers.jobs.records import Records

POLL_S = 0.3


class NoSuchJob(BotwerkError, LookupError):
    """No job of this namespace has that id."""


@dataclass
class JobView:
    """What is known of one job."""

    id: str
    state: str
    submitted: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    worker: str = ""

    @property
    def finished(self) -> bool:
        return self.state in states.READY_STATES


def corpus_for_trainer(settings: Settings, corpus: str, names: tuple[str, ...] = ()) -> str:
    """``corpus`` as a trainer can read it: a URL as is, a local file uploaded to the store.

    ``names`` are corpora a kind knows by name (``chatterbot``): passed on as they are.
    """
    from botwerk.workers.store import ModelStore

    if "://" in corpus or corpus in names:
        return corpus
    path = Path(corpus)
    if not path.exists():
        raise BotwerkError(
            f"corpus {corpus}: no such file or folder here; give a local path (it is uploaded "
            "into the model store for the trainer) or a URL the trainer can read (s3://...)"
        )
    return ModelStore.from_settings(settings).put_corpus(path)


def submit(settings: Settings, kind: str, name: str, corpus: str, options: dict[str, Any]) -> str:
    """Send a ``kind`` training job to the namespace's trainers; its id."""
    if not settings.amqp_url:
        raise BotwerkError(
            "--submit sends the job over RabbitMQ: set BOTWERK_AMQP_URL "
            "(e.g. amqp://guest:guest@127.0.0.1:5672/), or train here without --submit"
        )
    records = Records(settings)
    records.check()
    app = base_app(settings)
    reach(app)
    job = str(uuid.uuid4())
    records.add(job, {"kind": kind, "name": name, "corpus": corpus, "options": options})
    kwargs = {"name": name, "corpus": corpus, "options": options}
    app.send_task(TASK_PREFIX + kind, kwargs=kwargs, task_id=job)
    return job


def reach(app: Any) -> None:
    """Declare the training queues, or raise an error that says what to fix: the password,
    the virtual host, TLS, or a broker to start."""
    try:
        declare(app)
    except (OSError, OperationalError, AMQPError) as exc:
        settings: Settings = app.botwerk_settings
        raise BotwerkError(
            explain_tls(exc, settings)  # a TLS failure is no broker to start
            or explain_refusal(exc, settings)
            or f"BOTWERK_AMQP_URL={settings.amqp_url_redacted} unreachable ({exc}): start "
            "RabbitMQ with `rabbitmq-server -detached`"
        ) from None


def look(settings: Settings, job: str, records: Records | None = None) -> JobView:
    """The job's state and figures; :class:`NoSuchJob` if the namespace has none by that id."""
    records = records or Records(settings)
    records.check()
    found = AsyncResult(job, app=base_app(settings))
    state, info = found.state, found.info
    submitted = records.info(job)
    if submitted is None and state == states.PENDING:
        raise NoSuchJob(
            f"no job {job} in namespace {settings.namespace} (results at "
            f"{redact_url(settings.results_url)}): `botwerk jobs list` shows the jobs there are"
        )
    view = JobView(job, state, submitted or {}, worker=str(getattr(found, "worker", "") or ""))
    if state == states.SUCCESS and isinstance(info, dict):
        view.result = info
    elif isinstance(info, BaseException):
        view.error = f"{type(info).__name__}: {info}"
    elif isinstance(info, dict):
        view.progress = info
    return view


def follow(settings: Settings, job: str, seen: Callable[[JobView], None]) -> JobView:
    """Call ``seen`` with each new view of the job until it has finished; the last view."""
    records, last = Records(settings), None
    while True:
        view = look(settings, job, records)
        if view != last:
            seen(view)
            last = view
        if view.finished:
            return view
        time.sleep(POLL_S)


def cancel(settings: Settings, job: str) -> JobView:
    """Stop the job within seconds and publish nothing; its view before the cancel."""
    records = Records(settings)
    view = look(settings, job, records)
    if view.finished:
        raise BotwerkError(f"job {job} has already finished ({view.state}): nothing to cancel")
    records.cancel(job)  # a running job's loop sees it between two steps
    if settings.amqp_url:
        base_app(settings).control.revoke(job)  # a trainer that has it queued drops it
    return view


def recent(settings: Settings, limit: int) -> list[JobView]:
    """The newest ``limit`` jobs, newest first."""
    records = Records(settings)
    records.check()
    return [look(settings, job, records) for job in records.ids(limit)]
