"""`botwerk up`: the whole mesh in one process, driven through stdin like a user would."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

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


def test_up_runs_the_schedules_and_posts_into_the_console(tmp_path):
    """`botwerk up` runs [schedules] itself (no Celery, no broker): a text every second and a
    prompt the demo bot answers ("ping" -> "pong") show in the console between the chat."""
    schedules = {
        "tick": {"every": 1, "bot": "demo", "transport": "console",
                 "conversation": "console", "text": "tick tock"},
        "ask": {"every": 1, "bot": "demo", "transport": "console",
                "conversation": "console", "prompt": "ping"},
    }  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTWERK_")}
    env |= {"BOTWERK_SCHEDULES": json.dumps(schedules), "BOTWERK_STATE_URL": "memory://"}
    up = subprocess.Popen(
        [sys.executable, "-m", "botwerk", "up", *DEMO_ONLY], cwd=tmp_path, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in up.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        assert up.stdin is not None
        up.stdin.write("hello\n")
        up.stdin.flush()
        give_up = time.monotonic() + 45
        while seen.count("demo> tick tock") < 2 or seen.count("demo> pong") < 2:
            seen.append(lines.get(timeout=max(give_up - time.monotonic(), 0.1)).rstrip("\n"))
    finally:
        if up.stdin is not None:
            up.stdin.close()  # end of input: up waits for the last replies and exits
        up.wait(timeout=30)
    assert up.stderr is not None
    err = up.stderr.read()
    assert "demo> echo: hello" in seen
    assert up.returncode == 0, err
    assert "schedules tick (every 1s), ask (every 1s)" in err
