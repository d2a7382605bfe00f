"""``botwerk trainer``, ``botwerk jobs ...``, and the ``--submit`` every ``train KIND`` has::

    botwerk trainer &                                      # a Celery worker of {ns}.training
    botwerk train charrnn plays.txt --name bard --submit   # prints the job's id
    botwerk jobs follow ID    # a progress bar, then the published model@version or the error
    botwerk jobs list | show ID | cancel ID

The kinds' ``train`` commands take :data:`SUBMIT` and call :func:`submit_job`.
"""

from __future__ import annotations

import json
from typing import Any

import click
from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from botwerk.infra.commands import friendly, load_settings
from botwerk.infra.settings import Settings
from botwerk.workers.jobs import client
from botwerk.workers.jobs.client import JobView
from botwerk.workers.jobs.queues import queues, serve_worker_metrics

SUBMIT = click.option(
    "--submit", is_flag=True,
    help="Send it to the trainers (`botwerk trainer`) as a job and print its id, instead of "
    "training here; a local CORPUS is uploaded into the model store first.",
)  # fmt: skip
"""The ``--submit`` flag of a ``train KIND`` command."""


def submit_job(settings: Settings, kind: str, name: str, corpus: str, options: dict[str, Any],
               names: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Send the job ``train KIND`` validated, print its id (and, on stderr, what next)."""
    plain = json.loads(json.dumps(options, default=str))  # a Path as its text
    readable = client.corpus_for_trainer(settings, corpus, names)
    job = client.submit(settings, kind, name, readable, plain)
    click.echo(job)
    click.echo(f"submitted: {kind} {name} on {readable}; `botwerk jobs follow {job}`", err=True)


@click.command()
@click.option("--include", "-I", "modules", multiple=True, metavar="MODULE",
              help="Import more task modules (Celery's --include).")  # fmt: skip
@click.pass_obj
@friendly
def trainer(obj: dict[str, Any], modules: tuple[str, ...]) -> None:
    """Run training jobs, one at a time: a Celery worker of the namespace's training queue.

    Equivalent to `celery -A botwerk.workers.jobs.app worker`; start more to train more at
    once. Killed mid-job, its job goes back to the queue for the next trainer.
    """
    from botwerk.workers.jobs.app import make_app
    from botwerk.workers.jobs.records import Records

    settings = load_settings(obj, "trainer")
    if not settings.amqp_url:
        raise click.ClickException(
            "BOTWERK_AMQP_URL is not set: the trainer takes its jobs from RabbitMQ; start one "
            "(`rabbitmq-server -detached`) and export BOTWERK_AMQP_URL=amqp://guest:guest@"
            "127.0.0.1:5672/ - without a broker, train in the foreground (no --submit)"
        )
    Records(settings).check()
    app = make_app(settings)
    client.reach(app)
    _serve_metrics(settings)
    argv = ["worker", f"--hostname=trainer-{settings.instance}@%h", "--pool=prefork",
            "--concurrency=1", f"--queues={queues(settings).training.name}",
            f"--loglevel={settings.log_level}", *(f"--include={m}" for m in modules)]  # fmt: skip
    app.worker_main(argv)


def _serve_metrics(settings: Settings) -> None:
    """/metrics, /healthz and /readyz on BOTWERK_METRICS_PORT: ready once Celery's worker is.

    Jobs are not counted here: they run in a pool process whose counters this server cannot
    see (that would take prometheus_client's multiprocess mode and its shared folder).
    """
    serve_worker_metrics(settings, "trainer", queues(settings).training.name)


@click.group()
def jobs() -> None:
    """Training jobs: list, show, follow and cancel them."""


@jobs.command("list")
@click.option("--limit", type=int, default=20, show_default=True)
@friendly
def list_jobs(limit: int) -> None:
    """The newest jobs of the namespace, with their state."""
    settings = load_settings({}, "jobs", default_level="WARNING")
    found = client.recent(settings, limit)
    if not found:
        click.echo(f"no jobs in namespace {settings.namespace}: `botwerk train ... --submit`")
    for view in found:
        what = f"{view.submitted.get('kind', '?')} {view.submitted.get('name', '?')}"
        click.echo(f"{view.id}  {view.state:9} {what:24} {_summary(view)}")


@jobs.command()
@click.argument("job")
@friendly
def show(job: str) -> None:
    """Everything known of JOB: what was submitted, its state, progress, result or error."""
    view = client.look(load_settings({}, "jobs", default_level="WARNING"), job)
    click.echo(f"job {view.id}: {view.state}")
    for key, value in view.submitted.items():
        click.echo(f"  {key}: {value}")
    if view.worker:
        click.echo(f"  trainer: {view.worker}")
    for key, value in (view.progress | view.result).items():
        click.echo(f"  {key}: {value}")
    if view.error:
        click.echo(f"  error: {view.error}")


@jobs.command()
@click.argument("job")
@friendly
def follow(job: str) -> None:
    """Draw JOB's progress until it ends; then its model@version, or its error."""
    settings = load_settings({}, "jobs", default_level="WARNING")
    drawing = _Drawing()
    try:
        view = client.follow(settings, job, drawing.show)
    finally:
        drawing.close()
    _end(view)


@jobs.command()
@click.argument("job")
@friendly
def cancel(job: str) -> None:
    """Stop JOB within seconds; it keeps its last checkpoint and publishes nothing."""
    view = client.cancel(load_settings({}, "jobs", default_level="WARNING"), job)
    click.echo(f"cancelling job {job} ({view.state}): `botwerk jobs show {job}` confirms it")


def _summary(view: JobView) -> str:
    if view.result:
        return f"published {view.result.get('model')}"
    if view.error:
        return view.error[:60]
    p = view.progress
    return f"epoch {p['epoch']}/{p['epochs']} loss {p['loss']}" if "epoch" in p else ""


def _end(view: JobView) -> None:
    if view.result:
        click.echo(f"published {view.result['model']}")
    elif view.state == "REVOKED":
        raise click.ClickException(
            f"job {view.id} cancelled: nothing published; its checkpoints stay in the model "
            f"store, under checkpoints/job-{view.id}/"
        )
    else:
        raise click.ClickException(f"job {view.id} {view.state}: {view.error}")


class _Drawing:
    """A tqdm bar drawn from a job's reported progress (figures the trainer measured)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.said = ""

    def show(self, view: JobView) -> None:
        p = view.progress
        if "done" not in p:
            if view.state != self.said:
                idle = view.state == "PENDING"
                waiting = " (waiting for a trainer: `botwerk trainer`)" if idle else ""
                click.echo(f"job {view.id}: {view.state}{waiting}", err=True)
                self.said = view.state
            return
        if self.bar is None:
            self.bar = tqdm(total=p["total"] or None, unit=p["unit"], unit_scale=True,
                            desc=view.submitted.get("name", "job"),
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix}")  # fmt: skip
        self.bar.n = p["done"]
        figures = {"epoch": f"{p['epoch']}/{p['epochs']}", "step": p["step"]}
        if p.get("loss") is not None:
            figures["loss"] = f"{p['loss']:.3f}"
        figures |= {k: f"{v:.4g}" for k, v in p.get("validation", {}).items()}
        figures[f"{p['unit']}/s"] = f"{p['per_s']:,.0f}"
        if p.get("eta_s") is not None:
            figures["eta"] = tqdm.format_interval(p["eta_s"])
        self.bar.set_postfix(figures, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
