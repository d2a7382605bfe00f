"""What the training-job tests share: Redis, a trainer as an OS process, ``botwerk`` in-process.

Each test has its own namespace (the ``settings`` fixture), hence its own queues and its own
Redis keys (``botwerk:{ns}:``), and its own model store under ``tmp_path``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from botwerk.cli.app import main
from botwerk.infra.settings import Settings
from botwerk.testing import admin
from botwerk.workers.jobs.queues import queues
from botwerk.workers.jobs.records import Records, ResultsUnreachable

RESULTS_URL = os.environ.get("BOTWERK_RESULTS_URL", "redis://127.0.0.1:6379/0")
CORPUS = "to be or not to be that is the question whether tis nobler in the mind to suffer\n" * 12
TINY = ("--epochs", "1", "--hidden", "8", "--embed", "4", "--seq-len", "16",
        "--batch-size", "4")  # fmt: skip


@pytest.fixture
def jobs_settings(settings: Settings, amqp_url: str, tmp_path) -> Iterator[Settings]:
    """The test's settings, with Redis and a model store of its own.

    Without Redis the test is skipped, or fails under ``BOTWERK_REQUIRE_BROKER=1`` (CI).

    Afterwards the namespace's keys are deleted from Redis."""
    found = Settings.load(
        namespace=settings.namespace, amqp_url=amqp_url, results_url=RESULTS_URL,
        models=f"file://{tmp_path / 'models'}", delivery_limit=2,
    )  # fmt: skip
    records = Records(found)
    try:
        records.check()
    except ResultsUnreachable as exc:
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(f"{exc} (BOTWERK_REQUIRE_BROKER=1: job tests may not skip)")
        pytest.skip(str(exc))
    yield found
    for key in records.redis.scan_iter(match=records.prefix + "*"):
        records.redis.delete(key)


@pytest.fixture
def cli(jobs_settings: Settings, monkeypatch, tmp_path) -> Callable[..., Any]:
    """``botwerk ARGS`` in this process, with the test's settings in the environment."""
    for key in ("namespace", "amqp_url", "results_url", "models", "delivery_limit"):
        monkeypatch.setenv(f"BOTWERK_{key.upper()}", str(getattr(jobs_settings, key)))
    monkeypatch.chdir(tmp_path)

    def invoke(*args: Any) -> Any:
        result = CliRunner().invoke(main, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


@pytest.fixture
def start_trainer(processes, jobs_settings: Settings, amqp_url: str) -> Callable[..., Any]:
    """Start ``botwerk trainer`` (extra arguments passed on); return once it consumes."""
    processes.env |= {
        "BOTWERK_RESULTS_URL": jobs_settings.results_url,
        "BOTWERK_MODELS": jobs_settings.models,
        "BOTWERK_DELIVERY_LIMIT": str(jobs_settings.delivery_limit),
    }

    def start(*args: str, consumers: int = 1) -> Any:
        proc = processes.start("trainer", *args)
        queue = queues(jobs_settings).training.name
        try:
            admin.wait_for_consumers(amqp_url, queue, consumers, timeout=60)
        except TimeoutError:
            pytest.fail(f"no trainer on {queue}:\n{processes.log_of(proc)[-3000:]}")
        return proc

    return start


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:g}s: {what}")
