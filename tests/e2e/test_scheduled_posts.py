"""Scheduled posts end to end: every tick of a schedule reaches the platform once.

One ``botwerk scheduler`` (Celery beat and worker, the claims on Redis) runs three ``every = 1``
schedules, one per transport, each a real ``botwerk transport`` process: a fixed text to the
console (read on its stdout), a fixed text to the web room ``#lobby`` (two sockets in
``/ws?room=lobby``, each must see every tick), and the prompt ``ping`` to Slack, which a
``botwerk core demo`` answers (``pong``) through ``chat.postMessage`` of the real SDK against
the local Slack server (:mod:`tests.support.slack`).

The texts are the same every tick, so a post is matched to its tick by order and time: the
scheduler's log names the slots it posted (one second each); the i-th post a platform shows
belongs to the i-th slot, and must come after that second began and before the one after next
ended. So a missing tick, a tick shown twice, or one shown for another (a missing one and a
doubled one) fails, and so does a gap in the scheduler's own slots.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from botwerk.infra import topology
from botwerk.testing import admin
from tests.support.ports import free_port
from tests.support.processes import Processes
from tests.support.slack import SECRETS
from tests.support.waiting import eventually
from tests.support.web import wait_until_serving

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REDIS = "redis://127.0.0.1:6379/0"
TICKS = 5  # posted ticks of each schedule before the scheduler is stopped
LATE_S = 1.0  # how far past its own second a tick's post may arrive (a busy CI machine)
POSTED = re.compile(r"schedule (\w+) tick (\d+): (?:text|prompt) posted")
CHANNEL = "C0TICKS"
SCHEDULES = {
    "console": {"transport": "console", "conversation": "console", "text": "tick"},
    "web": {"transport": "web", "conversation": "#lobby", "text": "tick"},
    "slack": {"transport": "slack", "conversation": CHANNEL, "prompt": "ping"},
}


@pytest.fixture
def redis_claims(settings) -> Iterator[str]:
    """Redis as the scheduler's state store (where the claims live); the namespace's keys are
    deleted afterwards."""
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS} ({exc}); start one with `redis-server --daemonize yes`")
    yield REDIS
    for key in client.scan_iter(match=f"botwerk:{settings.namespace}:*"):
        client.delete(key)


def read_lines(stream, into: list[tuple[float, str]]) -> None:
    """Append (arrival time, line) for each line of ``stream``, on a daemon thread."""

    def pump() -> None:
        for line in stream:
            into.append((time.time(), line.rstrip("\n")))

    threading.Thread(target=pump, name="console-stdout", daemon=True).start()


async def listen(page: ClientConnection, into: list[tuple[float, str]]) -> None:
    """Append (arrival time, text) for each frame ``page`` receives, until it closes."""
    async for frame in page:
        into.append((time.time(), json.loads(frame)["reply"]))


def posted_slots(log: str) -> dict[str, list[int]]:
    """Each schedule's posted slots, in the order the scheduler's log names them."""
    found: dict[str, list[int]] = {name: [] for name in SCHEDULES}
    for name, slot in POSTED.findall(log):
        found[name].append(int(slot))
    return found


def check_once_each(where: str, slots: list[int], arrivals: list[float]) -> None:
    """The i-th arrival is tick ``slots[i]``'s post: in its second, or ``LATE_S`` after."""
    assert len(arrivals) == len(slots), f"{where}: {len(arrivals)} posts for {len(slots)} ticks"
    for slot, came in zip(slots, sorted(arrivals), strict=True):
        assert slot <= came < slot + 1 + LATE_S, f"{where}: tick {slot}'s post came at {came:.3f}"


async def test_each_tick_reaches_console_web_and_slack_once(
    processes, amqp_url, settings, redis_claims, fake_slack
):
    names = topology.Names(settings.namespace)
    port = free_port()
    processes.env |= SECRETS | {
        "BOTWERK_TRANSPORTS": json.dumps(
            {"web": {"port": port}, "slack": {"api_url": fake_slack.api_url}}
        ),
        "BOTWERK_STATE_URL": redis_claims,
    }
    core = processes.start("core", "demo")
    console = processes.start("transport", "console", "--bot", "demo", stdin=subprocess.PIPE)
    web = processes.start("transport", "web", "--bot", "demo")
    slack = processes.start("transport", "slack", "--bot", "demo")
    shown: list[tuple[float, str]] = []
    read_lines(console.stdout, shown)
    for queue in (names.core_queue("demo"), *map(names.post_queue, SCHEDULES)):
        await asyncio.to_thread(admin.wait_for_consumers, amqp_url, queue, 1, 30)
    await asyncio.to_thread(wait_until_serving, f"http://127.0.0.1:{port}", web)
    await fake_slack.wait_connected()
    pages: list[list[tuple[float, str]]] = [[], []]
    url = f"ws://127.0.0.1:{port}/ws?room=lobby"
    async with connect(url) as first, connect(url) as second:
        listeners = [asyncio.create_task(listen(p, got)) for p, got in zip((first, second), pages)]
        processes.env["BOTWERK_SCHEDULES"] = json.dumps({
            name: {"bot": "demo", "every": 1, **table} for name, table in SCHEDULES.items()
        })  # fmt: skip
        scheduler = processes.start("scheduler")
        log = lambda: processes.log_of(scheduler)  # noqa: E731
        await eventually(
            lambda: all(len(s) >= TICKS for s in posted_slots(log()).values()),
            timeout=30, what=f"{TICKS} ticks of each schedule posted",
        )  # fmt: skip
        await asyncio.to_thread(processes.kill, scheduler, signal.SIGTERM)  # its log now names every tick it posted
        slots = posted_slots(log())
        counts = lambda: [len(pages[0]), len(pages[1]), len(shown), len(fake_slack.posts)]  # noqa: E731
        wanted = [len(slots["web"])] * 2 + [len(slots["console"]), len(slots["slack"])]
        await eventually(lambda: counts() >= wanted, timeout=10, what="every post shown")
        await asyncio.sleep(1.5)  # a second copy of any of them would come now
        for listener in listeners:
            listener.cancel()
    for name, posted in slots.items():  # the scheduler itself: each tick once, none skipped
        assert posted == list(range(posted[0], posted[0] + len(posted))), (name, posted)
    check_once_each("web page 1", slots["web"], [t for t, _ in pages[0]])
    check_once_each("web page 2", slots["web"], [t for t, _ in pages[1]])
    check_once_each("console", slots["console"], [t for t, _ in shown])
    to_epoch = time.time() - time.monotonic()  # the local Slack stamps calls on the monotonic clock
    slack_times = [to_epoch + t for t in fake_slack.call_times["chat.postMessage"]]
    check_once_each("slack", slots["slack"], slack_times)
    assert {text for _, text in pages[0] + pages[1]} == {"tick"}
    assert {line for _, line in shown} == {"demo> tick"}
    assert {(p["channel"], p["text"]) for p in fake_slack.posts} == {(CHANNEL, "pong")}
    for proc in (core, console, web, slack):
        assert proc.poll() is None, processes.log_of(proc)
