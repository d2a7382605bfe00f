"""Scheduled posts end to end: each tick of a schedule shows on its platform once.

Two ``botwerk scheduler`` processes (Celery beat and worker each, their claims on Redis) run
three ``every = 1`` schedules, one per transport, each a real ``botwerk transport`` process:

- ``console``: a fixed text, read on the console's stdout;
- ``web``: a fixed text to the room ``#lobby``, which two sockets (``/ws?room=lobby``) have
  open: each must see every tick;
- ``slack``: the prompt ``ping``, answered ``pong`` by a ``botwerk core demo`` and posted
  through ``chat.postMessage`` of the real SDK against the local Slack server
  (:mod:`tests.support.slack`).

The texts are the same every tick, so the ticks are counted, not read: the schedulers' logs
name the slots they posted (one second each); they must be consecutive and each named once,
and each platform must then show exactly as many posts, the i-th no earlier than the i-th
slot's second and at most ``LATE_S`` after the next one's start (:func:`check_once_each`,
whose own test shows it refuses a missing tick, a doubled one and a post out of its time).
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
from typing import IO

import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from botwerk.infra import topology
from botwerk.testing import admin
from tests.support.ports import free_port
from tests.support.processes import Processes
from tests.support.slack import SECRETS, FakeSlack
from tests.support.waiting import eventually
from tests.support.web import wait_until_serving

REDIS = "redis://127.0.0.1:6379/0"
TICKS = 5  # ticks of each schedule posted before the schedulers are stopped
LATE_S = 1.5  # how long past the next tick's start a post may still arrive (a busy machine)
POSTED = re.compile(r"schedule (\w+) tick (\d+): (?:text|prompt) posted")
CHANNEL = "C0TICKS"
SCHEDULES = {
    "console": {"transport": "console", "conversation": "console", "text": "tick"},
    "web": {"transport": "web", "conversation": "#lobby", "text": "tick"},
    "slack": {"transport": "slack", "conversation": CHANNEL, "prompt": "ping"},
}
Arrivals = list[tuple[float, str]]  # (epoch seconds it arrived, what it said)


def posted_slots(log: str) -> dict[str, list[int]]:
    """Each schedule's posted slots, sorted, as the schedulers' logs name them."""
    found: dict[str, list[int]] = {name: [] for name in SCHEDULES}
    for name, slot in POSTED.findall(log):
        found[name].append(int(slot))
    return {name: sorted(slots) for name, slots in found.items()}


def check_once_each(where: str, slots: list[int], arrivals: list[float]) -> None:
    """One post per slot, none skipped: the slots are consecutive, a platform showed as many
    posts, and the i-th came in slot i's second or up to ``LATE_S`` after the next began."""
    assert slots == list(range(slots[0], slots[0] + len(slots))), f"{where}: ticks {slots}"
    assert len(arrivals) == len(slots), f"{where}: {len(arrivals)} posts for {len(slots)} ticks"
    for slot, came in zip(slots, sorted(arrivals), strict=True):
        assert slot <= came < slot + 1 + LATE_S, f"{where}: tick {slot}'s post came at {came:.3f}"


@pytest.mark.parametrize(
    ("slots", "arrivals", "said"),
    [
        ([10, 11, 13], [10.1, 11.1, 13.1], "ticks [10, 11, 13]"),  # a slot skipped
        ([10, 11, 11], [10.1, 11.1, 11.2], "ticks [10, 11, 11]"),  # a slot posted twice
        ([10, 11, 12], [10.1, 12.1], "2 posts for 3 ticks"),  # a post lost
        ([10, 11, 12], [10.1, 11.1, 11.2, 12.1], "4 posts for 3 ticks"),  # a post shown twice
        ([10, 11, 12], [10.1, 10.2, 12.1], "tick 11's post came at 10.200"),  # 11 lost, 10 twice
        ([10, 11, 12], [10.1, 11.1, 14.5], "tick 12's post came at 14.500"),  # far too late
    ],
)
def test_the_check_refuses_a_missing_doubled_or_misplaced_tick(slots, arrivals, said):
    """The negative controls of the end-to-end test below: its check fails on each fault."""
    with pytest.raises(AssertionError, match=re.escape(said)):
        check_once_each("here", slots, arrivals)


@pytest.fixture
def redis_claims(settings) -> Iterator[str]:
    """Redis as the schedulers' state store, where their claims live; the namespace's keys are
    deleted afterwards."""
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS} ({exc}); start one with `redis-server --daemonize yes`")
    yield REDIS
    for key in client.scan_iter(match=f"botwerk:{settings.namespace}:*"):
        client.delete(key)


def read_lines(stream: IO[str], into: Arrivals) -> None:
    """Append each line of ``stream`` to ``into`` as it comes, on a daemon thread."""

    def pump() -> None:
        for line in stream:
            into.append((time.time(), line.rstrip("\n")))

    threading.Thread(target=pump, name="console-stdout", daemon=True).start()


async def listen(page: ClientConnection, into: Arrivals) -> None:
    """Append the text of each frame ``page`` receives to ``into``, until it closes."""
    async for frame in page:
        into.append((time.time(), json.loads(frame)["reply"]))


async def start_mesh(
    processes: Processes, amqp_url: str, namespace: str, port: int, slack: FakeSlack
) -> Arrivals:
    """The demo core and the three transports, consuming; what the console prints."""
    processes.start("core", "demo")
    console = processes.start("transport", "console", "--bot", "demo", stdin=subprocess.PIPE)
    web = processes.start("transport", "web", "--bot", "demo")
    processes.start("transport", "slack", "--bot", "demo")
    printed: Arrivals = []
    assert console.stdout is not None
    read_lines(console.stdout, printed)
    names = topology.Names(namespace)
    for queue in (names.core_queue("demo"), *map(names.post_queue, SCHEDULES)):
        await asyncio.to_thread(admin.wait_for_consumers, amqp_url, queue, 1, 30)
    await asyncio.to_thread(wait_until_serving, f"http://127.0.0.1:{port}", web)
    await slack.wait_connected()
    return printed


async def run_schedulers(processes: Processes) -> dict[str, list[int]]:
    """Two schedulers, until each schedule posted ``TICKS`` ticks; then stopped, the slots
    their logs name (so every post the platforms will show)."""
    processes.env["BOTWERK_SCHEDULES"] = json.dumps({
        name: {"bot": "demo", "every": 1, **table} for name, table in SCHEDULES.items()
    })  # fmt: skip
    schedulers = [processes.start("scheduler") for _ in range(2)]

    def logs() -> str:
        return "".join(map(processes.log_of, schedulers))

    await eventually(
        lambda: all(len(s) >= TICKS for s in posted_slots(logs()).values()),
        timeout=30, what=f"{TICKS} ticks of each schedule posted:\n{logs()[-3000:]}",
    )  # fmt: skip
    for scheduler in schedulers:
        scheduler.send_signal(signal.SIGTERM)  # a warm stop: a task under way still logs
    for scheduler in schedulers:
        await asyncio.to_thread(scheduler.wait, 30)
    return posted_slots(logs())


@pytest.mark.broker
@pytest.mark.slow
async def test_each_tick_shows_once_on_the_console_the_web_and_slack(
    processes, amqp_url, settings, redis_claims, fake_slack
):
    port = free_port()
    transports = {"web": {"port": port}, "slack": {"api_url": fake_slack.api_url}}
    processes.env |= SECRETS | {
        "BOTWERK_TRANSPORTS": json.dumps(transports), "BOTWERK_STATE_URL": redis_claims
    }  # fmt: skip
    printed = await start_mesh(processes, amqp_url, settings.namespace, port, fake_slack)
    pages: tuple[Arrivals, Arrivals] = ([], [])
    url = f"ws://127.0.0.1:{port}/ws?room=lobby"
    async with connect(url) as first, connect(url) as second:
        listening = [asyncio.create_task(listen(page, got))
                     for page, got in zip((first, second), pages, strict=True)]  # fmt: skip
        slots = await run_schedulers(processes)
        want = {"page 1": slots["web"], "page 2": slots["web"], "console": slots["console"],
                "slack": slots["slack"]}  # fmt: skip

        def shown() -> dict[str, int]:
            got = (len(pages[0]), len(pages[1]), len(printed), len(fake_slack.posts))
            return dict(zip(want, got, strict=True))

        await eventually(lambda: all(shown()[k] >= len(v) for k, v in want.items()),
                         what=f"every post shown: {shown()} of {want}")  # fmt: skip
        await asyncio.sleep(1.5)  # a second copy of any of them would come by now
        for task in listening:
            task.cancel()
    to_epoch = time.time() - time.monotonic()  # the local Slack stamps on the monotonic clock
    came = {"page 1": [t for t, _ in pages[0]], "page 2": [t for t, _ in pages[1]],
            "console": [t for t, _ in printed],
            "slack": [to_epoch + t for t in fake_slack.call_times["chat.postMessage"]]}  # fmt: skip
    for where, ticks in want.items():
        check_once_each(where, ticks, came[where])
    assert {text for _, text in pages[0] + pages[1]} == {"tick"}
    assert {line for _, line in printed} == {"demo> tick"}
    assert {(p["channel"], p["text"]) for p in fake_slack.posts} == {(CHANNEL, "pong")}
