"""`botwerk up`: the whole mesh in one process, driven through stdin like a user would."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

DEMO_ONLY = ("--bot", "demo", "--model", "echo")
CHAT = "hello\nping\nslow 200 wait for me\nfail\n"
EXPECTED = [
    "demo! Something went wrong while thinking about that; please try rephrasing.",
    "demo> echo: hello",
    "demo> echo: wait for me",
    "demo> pong",
]


def botwerk_up(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botwerk", "up", *DEMO_ONLY],
        input=CHAT, capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip


def test_up_chats_on_the_in_process_bus_with_no_broker(monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTWERK_")}
    result = subprocess.run(
        [sys.executable, "-m", "botwerk", "up", *DEMO_ONLY],
        input=CHAT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "botwerk up: bus in-process (set BOTWERK_AMQP_URL to use RabbitMQ); bots demo"
        in result.stderr
    )
    assert sorted(result.stdout.splitlines()) == EXPECTED


@pytest.mark.broker
def test_up_runs_on_rabbitmq_when_a_url_is_set(amqp_url, settings):
    result = botwerk_up({"BOTWERK_AMQP_URL": amqp_url, "BOTWERK_NAMESPACE": settings.namespace})
    assert result.returncode == 0, result.stderr
    assert "botwerk up: bus RabbitMQ at amqp://guest:***@" in result.stderr
    assert sorted(result.stdout.splitlines()) == EXPECTED
