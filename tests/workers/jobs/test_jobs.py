"""Training as Celery jobs, end to end: real trainers (OS processes), RabbitMQ and Redis."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import pytest

from botwerk.workers.jobs.client import look
from botwerk.workers.jobs.queues import base_app, declare, queues
from botwerk.workers.jobs.records import Records
from botwerk.workers.store import ModelStore

from .conftest import CORPUS, TINY, wait_for
from .poison import NAME as POISON

pytestmark = [pytest.mark.slow, pytest.mark.broker]


def _corpus(tmp_path):
    path = tmp_path / "plays.txt"
    path.write_text(CORPUS)
    return path


def _submitted(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_a_submitted_job_is_trained_followed_and_published(cli, start_trainer, jobs_settings,
                                                           tmp_path):  # fmt: skip
    start_trainer()
    job = _submitted(cli("train", "charrnn", _corpus(tmp_path), "--name", "bard", *TINY,
                         "--submit"))  # fmt: skip
    followed = cli("jobs", "follow", job)
    assert followed.exit_code == 0, followed.output
    assert "published bard@1" in followed.output  # the bar itself: test_follow.py
    manifest = ModelStore.from_settings(jobs_settings).latest("bard")
    assert manifest.spec == "bard@1" and manifest.kind == "charrnn"
    assert manifest.corpus == "plays.txt"  # uploaded into the store, read from there
    listed = cli("jobs", "list").output
    assert job in listed and "SUCCESS" in listed and "published bard@1" in listed
    shown = cli("jobs", "show", job).output
    assert "SUCCESS" in shown and "model: bard@1" in shown and "trainer: trainer-" in shown


def test_a_cancelled_job_stops_keeps_its_checkpoint_and_publishes_nothing(
    cli, start_trainer, jobs_settings, tmp_path
):
    start_trainer()
    epochs = ("--epochs", "500", "--checkpoint-minutes", "0")  # one checkpoint per step
    job = _submitted(cli("train", "charrnn", _corpus(tmp_path), "--name", "bard",
                         *TINY[2:], *epochs, "--submit"))  # fmt: skip
    wait_for(lambda: look(jobs_settings, job).progress.get("step", 0) >= 2, 90, "training")
    assert cli("jobs", "cancel", job).exit_code == 0
    view = wait_for(lambda: (v := look(jobs_settings, job)).finished and v, 20, "cancelled")
    assert view.state == "REVOKED"
    followed = cli("jobs", "follow", job)
    assert followed.exit_code == 1 and "cancelled: nothing published" in followed.output
    assert ModelStore.from_settings(jobs_settings).manifests() == []
    kept = tmp_path / "models" / "checkpoints" / f"job-{job}"
    assert any(kept.iterdir()), "the last checkpoint is kept"
    again = cli("jobs", "cancel", job)
    assert again.exit_code == 1 and "already finished (REVOKED)" in again.output


def test_a_job_that_kills_its_trainer_every_time_is_dead_lettered(start_trainer, jobs_settings,
                                                                  cli):  # fmt: skip
    trainer = start_trainer("--include", "tests.workers.jobs.poison")
    app = base_app(jobs_settings)
    declare(app)
    job = str(uuid.uuid4())
    Records(jobs_settings).add(job, {"kind": "poison", "name": "-", "corpus": "-"})
    app.send_task(POISON, task_id=job)
    view = wait_for(lambda: (v := look(jobs_settings, job)).finished and v, 90, "dead-lettered")
    assert view.state == "FAILURE" and "dead-lettered by the broker" in view.error
    shown = cli("jobs", "show", job).output
    assert "JobDeadLettered" in shown and "delivery_limit" in shown, shown
    assert trainer.poll() is None, "the trainer outlives its pool process"


def test_a_job_whose_trainer_is_killed_goes_to_the_next_trainer_and_resumes(
    cli, start_trainer, jobs_settings, processes, tmp_path
):
    first = start_trainer()
    epochs = ("--epochs", "500", "--checkpoint-minutes", "0")  # long; a checkpoint per step
    job = _submitted(cli("train", "charrnn", _corpus(tmp_path), "--name", "bard",
                         *TINY[2:], *epochs, "--submit"))  # fmt: skip
    wait_for(lambda: look(jobs_settings, job).progress.get("step", 0) >= 3, 90, "training")
    processes.kill(first)  # SIGKILL: the job is neither acked nor finished
    killed_at = look(jobs_settings, job).progress["step"]
    second = start_trainer()
    wait_for(lambda: "resuming from" in processes.log_of(second), 60, "resumed")
    assert "job " + job in processes.log_of(second)
    wait_for(lambda: look(jobs_settings, job).progress.get("step", 0) > killed_at, 60, "more")
    assert cli("jobs", "cancel", job).exit_code == 0  # enough: the run would take minutes
    view = wait_for(lambda: (v := look(jobs_settings, job)).finished and v, 20, "cancelled")
    assert view.state == "REVOKED" and "trainer-" in view.worker


def test_word2vec_trains_as_a_job_on_a_url_the_trainer_reads(
    cli, start_trainer, jobs_settings, tmp_path
):
    start_trainer()
    url = _corpus(tmp_path).as_uri()  # file://: the trainer reads it where it is
    job = _submitted(cli("train", "word2vec", url, "--name", "vectors", "--min-count", "1",
                         "--vector-size", "8", "--epochs", "1", "--submit"))  # fmt: skip
    followed = cli("jobs", "follow", job)
    assert followed.exit_code == 0 and "published vectors@1" in followed.output, followed.output
    assert ModelStore.from_settings(jobs_settings).latest("vectors").kind == "word2vec"


def test_chat_and_its_fine_tuning_train_as_jobs_on_an_uploaded_folder(
    cli, start_trainer, jobs_settings, cornell_dir
):
    start_trainer()
    small = ("--genre", "comedy", "--epochs", "1", "--hidden", "16", "--embed", "8")
    job = _submitted(cli("train", "chat", cornell_dir, "--name", "movie", *small, "--submit"))
    followed = cli("jobs", "follow", job)
    assert followed.exit_code == 0 and "published movie@1" in followed.output, followed.output
    tuned = _submitted(cli("train", "chat", cornell_dir, "--name", "movie", "--genre", "comedy",
                           "--rl", "--epochs", "1", "--samples", "2", "--submit"))  # fmt: skip
    followed = cli("jobs", "follow", tuned)
    assert followed.exit_code == 0 and "published movie@2" in followed.output, followed.output
    stored = ModelStore.from_settings(jobs_settings).manifests()
    assert [(m.spec, m.corpus) for m in stored] == [
        ("movie@1", f"{cornell_dir.name} [comedy]"), ("movie@2", f"{cornell_dir.name} [comedy]")
    ]  # fmt: skip


def test_the_training_queue_is_quorum_with_the_dead_letter_exchange(jobs_settings):
    if not shutil.which("rabbitmqctl"):
        pytest.skip("no rabbitmqctl to read the queue's arguments from the broker")
    declare(base_app(jobs_settings))
    listed = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "name", "type", "arguments", "--formatter", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = {q["name"]: q for q in json.loads(listed)}
    training = found[queues(jobs_settings).training.name]
    arguments = {name: value for name, _, value in training["arguments"]}
    assert training["type"] == "quorum"
    assert arguments["x-delivery-limit"] == jobs_settings.delivery_limit
    assert arguments["x-dead-letter-exchange"] == f"{jobs_settings.namespace}.dlx"
    assert found[f"{jobs_settings.namespace}.training.dead"]["type"] == "quorum"


def test_submit_refuses_what_the_trainer_could_not_use(cli, tmp_path, monkeypatch):
    corpus = _corpus(tmp_path)
    missing = cli("train", "charrnn", tmp_path / "nope.txt", "--name", "b", "--submit")
    assert missing.exit_code == 1 and "no such file or folder here" in missing.output
    workdir = cli("train", "charrnn", corpus, "--name", "b", "--workdir", "w", "--submit")
    assert workdir.exit_code == 2 and "--workdir" in workdir.output
    bad = cli("train", "charrnn", corpus, "--name", "b", "--hidden", "0", "--submit")
    assert bad.exit_code == 1 and "hidden" in bad.output
    monkeypatch.setenv("BOTWERK_RESULTS_URL", "redis://127.0.0.1:1/0")
    down = cli("jobs", "list")
    assert down.exit_code == 1 and "BOTWERK_RESULTS_URL" in down.output
    assert "redis-server --daemonize yes" in down.output and "Traceback" not in down.output
    monkeypatch.delenv("BOTWERK_AMQP_URL")
    nobroker = cli("train", "charrnn", corpus, "--name", "b", "--submit")
    assert nobroker.exit_code == 1 and "BOTWERK_AMQP_URL" in nobroker.output


def test_an_unknown_job_is_one_clear_line(cli):
    result = cli("jobs", "show", "nope")
    assert result.exit_code == 1 and "no job nope" in result.output
    assert "botwerk jobs list" in result.output
