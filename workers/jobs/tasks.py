"""What a trainer does with a job: fetch its corpus, train, report progress, publish.

:func:`run_job` is the body of every ``botwerk.train.<kind>`` task. It calls the kind's
``fit`` (the same function the foreground ``botwerk train KIND`` calls) with a
:class:`Reporter` as the training loop's ``on_step`` hook (:mod:`botwerk.workers.epochs`):
after each epoch, and at most every :data:`REPORT_S` between, it stores the job's progress in
the result backend as state ``PROGRESS``::

    {"epoch": 2, "epochs": 5, "step": 310, "loss": 1.92, "validation": {"val": 2.01, ...},
     "done": 61440, "total": 153600, "unit": "tok", "per_s": 20480.0, "eta_s": 4.5, ...}

and checks the job's cancel flag, so a cancel stops it between two steps: its checkpoints stay
in the model store (``checkpoints/job-<id>/``), nothing is published, and the job's state is
``REVOKED``. A job redelivered after its trainer died resumes from those checkpoints, on any
trainer that shares the store.

Limits: word2vec trains inside gensim, with no loop of ours: its job reports no progress
until it ends and notices a cancel only before it starts.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import fsspec
from celery.exceptions import Ignore
from celery.utils.log import get_task_logger

from botwerk.infra.settings import Settings
from botwerk.schemas import BotwerkError
from botwerk.workers.commands import publish, store
from botwerk.workers.epochs import Cancelled, Step
from botwerk.workers.jobs.queues import JOBS, TASK_PREFIX
from botwerk.workers.jobs.records import Records

REPORT_S = 0.5
UNITS = {"charrnn": "tok", "chat": "pair", "chat-rl": "prompt"}
"""what each loop's work counts (its ``unit``), by its label: a Step does not say"""
log = get_task_logger(__name__)


def run_job(task: Any, *, name: str, corpus: str, options: dict[str, Any]) -> dict[str, Any]:
    """Train ``name`` on ``corpus`` as the task's kind says, publish it; its model@version."""
    settings: Settings = task.app.botwerk_settings
    job, kind = task.request.id, task.name.removeprefix(TASK_PREFIX)
    reporter = Reporter(task, Records(settings))
    fit = JOBS.load(kind)
    workdir = Path(tempfile.gettempdir(), "botwerk-jobs", settings.namespace, job)
    checkpoints = store(settings).checkpoint_url(f"job-{job}")  # a redelivered job resumes
    log.info("job %s: %s %s on %s; checkpoints in %s", job, kind, name, corpus, checkpoints)
    try:
        reporter.check()
        with readable(corpus) as local:
            model_kind, result, label = fit(
                settings, name, local, dict(options), workdir=workdir, log=log.info,
                progress=False, on_step=reporter, checkpoints=checkpoints,
            )  # fmt: skip
        reporter.check()
        publish(settings, name, model_kind, result, label)
    except Cancelled:
        log.info("job %s cancelled; its checkpoints stay in %s", job, checkpoints)
        task.backend.mark_as_revoked(job, "cancelled", request=task.request)
        raise Ignore() from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # scratch: the checkpoints are in the store
        with contextlib.suppress(OSError):
            workdir.parent.rmdir()  # the namespace's folder, once no job of it is here
    manifest = store(settings).latest(name)  # just published: publish made it latest
    return {"model": manifest.spec, "metrics": manifest.metrics, "checkpoints": checkpoints}


@contextlib.contextmanager
def readable(corpus: str) -> Iterator[str]:
    """``corpus`` as something this trainer can open: a URL is fetched, a name kept as is."""
    parts = urlsplit(corpus)
    if not parts.scheme:  # a name (`chatterbot`) or a path the submitter says is shared
        yield corpus
        return
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if not path.exists():
            raise BotwerkError(
                f"corpus {corpus} is not on this trainer's disk: upload it into the model "
                "store (`--submit` does so for a local path) or give an s3:// URL"
            )
        yield str(path)
        return
    fs, path = fsspec.core.url_to_fs(corpus)
    with tempfile.TemporaryDirectory(prefix="botwerk-corpus-") as tmp:
        local = Path(tmp) / Path(path.rstrip("/")).name
        fs.get(path.rstrip("/"), str(local), recursive=fs.isdir(path))
        yield str(local)


class Reporter:
    """The ``on_step`` hook of a job: its progress into the result backend, its cancel flag."""

    def __init__(self, task: Any, records: Records) -> None:
        self.task, self.records = task, records
        self.last, self.figures = 0.0, dict[str, float]()
        self.began: tuple[float, int] | None = None  # (when, units done) at the first step

    def check(self) -> None:
        if self.records.cancelled(self.task.request.id):
            raise Cancelled(f"job {self.task.request.id} cancelled")

    def __call__(self, step: Step) -> None:
        now = time.monotonic()
        if step.figures:
            self.figures = step.figures
        elif now - self.last < REPORT_S:
            return
        self.last = now
        self.check()
        self.task.update_state(state="PROGRESS", meta=self.progress(step, now))

    def progress(self, step: Step, now: float) -> dict[str, Any]:
        total = step.work * step.epochs
        done = step.work * (step.epoch - (0 if step.figures else 1)) + (
            0 if step.figures else step.units
        )
        self.began = self.began or (now, done)
        per_s = (done - self.began[1]) / (now - self.began[0]) if now > self.began[0] else 0.0
        return {
            "epoch": step.epoch, "epochs": step.epochs, "step": step.steps,
            "loss": None if math.isnan(step.loss) else step.loss, "validation": self.figures,
            "done": done, "total": total, "unit": UNITS.get(step.label, "it"), "per_s": per_s,
            "eta_s": (total - done) / per_s if per_s > 0 else None,
            "checkpoint": step.checkpoint,
        }  # fmt: skip
