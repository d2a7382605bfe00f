"""``botwerk scheduler`` and ``botwerk schedules``: run and list the ``[schedules.*]`` tables::

    botwerk schedules            # name, when, next run, bot, transport, conversation, what
    botwerk schedules --json     # the same, one JSON list
    botwerk scheduler &          # Celery beat and a worker of {ns}.scheduled, in one process

The scheduler runs beat on a thread of the worker's process (Celery's ``EmbeddedService``),
not as ``worker -B``'s forked child: one process to supervise and to kill, and no orphaned beat
left ticking after a ``kill -9``. Two schedulers may run (one per host, say): each tick is
still posted once (:mod:`.schedules`). Beat's schedule file lives in a temporary folder,
removed at exit: the claims in the state store, not the file, say what was posted.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from typing import Any

import click
from amqp.exceptions import AMQPError  # type: ignore[import-untyped, unused-ignore]
from kombu.exceptions import OperationalError

from botwerk.infra.commands import friendly, load_settings
from botwerk.infra.rabbit import explain_refusal
from botwerk.infra.settings import Settings, config_path
from botwerk.infra.tls import explain as explain_tls
from botwerk.schemas import BotwerkError
from botwerk.workers.jobs.queues import serve_worker_metrics
from botwerk.workers.jobs.schedules import listing, parse

COLUMNS = ("name", "when", "next", "bot", "transport", "conversation", "says")


@click.command()
@click.pass_obj
@friendly
def scheduler(obj: dict[str, Any]) -> None:
    """Post the [schedules.*] tables of botwerk.toml: Celery beat plus a worker, one process.

    Run more than one for availability: each tick is still posted once, claimed in the state
    store (BOTWERK_STATE_URL: Redis across hosts, SQLite on one host).
    """
    from celery.beat import EmbeddedService

    from botwerk.workers.jobs.firing import check_store, make_scheduler_app, scheduled_queue

    settings = load_settings(obj, "scheduler")
    if not settings.amqp_url:
        raise click.ClickException(
            "BOTWERK_AMQP_URL is not set: the scheduler posts through RabbitMQ; start one "
            "(`rabbitmq-server -detached`) and export BOTWERK_AMQP_URL=amqp://guest:guest@"
            "127.0.0.1:5672/"
        )
    app = make_scheduler_app(settings)  # bad tables stop it here, named
    if not app.botwerk_schedules:
        click.echo(f"no [schedules.NAME] tables in {config_path()}: nothing to post yet", err=True)
    check_store(settings)  # the claims live there: a bad BOTWERK_STATE_URL stops it now
    _reach(app)
    _serve_metrics(settings, scheduled_queue(settings).name)
    folder = tempfile.mkdtemp(prefix=f"botwerk-beat-{settings.namespace}-")
    beat = EmbeddedService(app, thread=True, schedule_filename=f"{folder}/schedule")
    # threads, not solo: with solo, a worker on this quorum queue now and then stopped taking
    # tasks after its first two (an ack never reached the broker); 0 in 14 runs with threads
    queue = scheduled_queue(settings).name
    argv = ["worker", f"--hostname=scheduler-{settings.instance}@%h", "--pool=threads",
            "--concurrency=1", f"--queues={queue}", "--without-gossip", "--without-mingle",
            "--without-heartbeat", f"--loglevel={settings.log_level}"]  # fmt: skip
    beat.start()
    try:
        app.worker_main(argv)
    finally:
        beat.service.stop()  # no wait: the thread is a daemon, and its file goes with the folder
        shutil.rmtree(folder, ignore_errors=True)


def _serve_metrics(settings: Settings, queue: str) -> None:
    """/metrics, /healthz and /readyz on BOTWERK_METRICS_PORT: ready once Celery's worker is."""
    serve_worker_metrics(settings, "scheduler", queue)


def _reach(app: Any) -> None:
    """Declare the scheduler's queues, or say what to fix (password, TLS, a broker to start)."""
    from botwerk.workers.jobs.firing import declare

    try:
        declare(app)
    except (OSError, OperationalError, AMQPError) as exc:
        settings: Settings = app.botwerk_settings
        raise BotwerkError(
            explain_tls(exc, settings)
            or explain_refusal(exc, settings)
            or f"BOTWERK_AMQP_URL={settings.amqp_url_redacted} unreachable ({exc}): start "
            "RabbitMQ with `rabbitmq-server -detached`"
        ) from None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON list instead of a table.")
@friendly
def schedules(as_json: bool) -> None:
    """List the [schedules.*] tables of botwerk.toml, with when each runs next (UTC)."""
    settings = load_settings({}, "schedules", default_level="WARNING")
    rows = listing(parse(settings.schedules), time.time())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no schedules: add a [schedules.NAME] table to {config_path()} (README)")
        return
    cells = [[_cell(row, column) for column in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(COLUMNS)]
    for line in [list(COLUMNS), *cells]:
        click.echo(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )


def _cell(row: dict[str, Any], column: str) -> str:
    if column == "conversation" and row["thread"]:
        return f"{row['conversation']} (thread {row['thread']})"
    if column == "says":
        return f"{row['kind']}: {row['says']}"
    return str(row[column])
