"""``botwerk transport console`` keeps the chat apart from the logs.

Over RabbitMQ the console printed an INFO log line for every message between the chat lines
(issue 14). It now logs to stderr at WARNING, like ``botwerk up``; ``--log-level INFO`` still
shows the INFO lines, on stderr. Each test runs a real demo core and a real console.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from botwerk.infra import topology
from botwerk.infra.settings import Settings
from botwerk.testing import admin
from tests.support.processes import Processes

pytestmark = [pytest.mark.slow, pytest.mark.broker]


@pytest.fixture
def core(amqp_url: str, settings: Settings, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A demo core serving the test's namespace; the console's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTWERK_")}
    env |= {"BOTWERK_AMQP_URL": amqp_url, "BOTWERK_NAMESPACE": settings.namespace}
    procs = Processes(env, tmp_path)
    procs.start("core", "demo")
    admin.wait_for_consumers(amqp_url, topology.Names(settings.namespace).core_queue("demo"))
    yield procs.env
    procs.stop_all()


def console(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    """A console to the demo bot, told ``ping`` twice; it ends at the end of its input."""
    return subprocess.run(
        [sys.executable, "-m", "botwerk", *options, "transport", "console", "--bot", "demo"],
        env=env, input="ping\nping\n", capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_the_console_prints_chat_lines_only_and_logs_at_warning(core):
    done = console(core)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["demo> pong", "demo> pong"], done.stdout
    assert " INFO " not in done.stderr, done.stderr


def test_log_level_info_still_shows_the_info_lines_on_stderr(core):
    done = console(core, "--log-level", "INFO")
    assert done.stdout.splitlines() == ["demo> pong", "demo> pong"], done.stdout
    assert " INFO " in done.stderr and "published to demo.console" in done.stderr, done.stderr
