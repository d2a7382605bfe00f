"""`botwerk transport slack` as an OS process, with a worker and a core, over the real RabbitMQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from botwerk.infra import topology
from botwerk.testing import admin
from tests.support.slack import SECRETS, envelope, message
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


@pytest.mark.broker
async def test_a_mention_gets_echo_in_its_thread(processes, amqp_url, settings, fake_slack):
    names = topology.Names(settings.namespace)
    processes.start("worker", "echo")
    processes.start("core", "demo")
    admin.wait_for_consumers(amqp_url, names.infer_queue("echo"))
    admin.wait_for_consumers(amqp_url, names.core_queue("demo"))
    processes.env.update(SECRETS)
    processes.env["BOTWERK_TRANSPORTS"] = json.dumps({"slack": {"api_url": fake_slack.api_url}})
    transport = processes.start("transport", "slack", "--bot", "demo")
    try:
        await fake_slack.wait_connected(timeout=30)
        await fake_slack.push(envelope(message("<@UBOT> hello mesh", ts="1700000001.000200")))
        await eventually(lambda: fake_slack.posts, timeout=30, what="the reply posted")
    finally:
        assert transport.poll() is None, processes.log_of(transport)
    assert fake_slack.posts == [
        {"channel": "C1", "text": "echo: hello mesh", "thread_ts": "1700000001.000200"}
    ]


def test_a_missing_bot_token_stops_the_command_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env |= {"SLACK_APP_TOKEN": SECRETS["SLACK_APP_TOKEN"], "BOTWERK_CONFIG": str(tmp_path / "x")}
    env["BOTWERK_AMQP_URL"] = "amqp://guest:guest@127.0.0.1:5672/"
    done = subprocess.run(
        [sys.executable, "-m", "botwerk", "transport", "slack", "--bot", "demo"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: SLACK_BOT_TOKEN is not set: export it with")
