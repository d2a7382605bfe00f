"""Bots' memory in the mesh: two competing moviebot cores and restarted ones keep every context.

The chat model is :class:`tests.support.context_chat.ContextChat`, whose reply shows the line
the core sent as context; the cores, the worker and Redis are real processes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import redis

from botwerk.infra import topology
from botwerk.testing import ChatClient, admin

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REDIS = "redis://127.0.0.1:6379/0"
CONVERSATIONS = 5  # odd: with one message in flight, round robin moves a conversation's
TURNS = 3  # next message to the other core every time


@pytest.fixture
def redis_keys(settings) -> Iterator[None]:
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS} ({exc}); start one with `redis-server --daemonize yes`")
    yield
    for key in client.scan_iter(match=f"botwerk:{settings.namespace}:*"):
        client.delete(key)


def start_cores(processes, amqp_url, settings, count: int) -> list:
    cores = [processes.start("core", "moviebot") for _ in range(count)]
    queue = topology.Names(settings.namespace).core_queue("moviebot")
    admin.wait_for_consumers(amqp_url, queue, count=count)
    return cores


async def talk(chat: ChatClient, turns: range) -> dict[str, list[str]]:
    """Each conversation says ``<conversation>-t<turn>`` in turn, one message in flight at a
    time; each conversation's replies, which show the context its core sent."""
    replies: dict[str, list[str]] = {f"conv{i}": [] for i in range(CONVERSATIONS)}
    for turn in turns:
        for conversation, said in replies.items():
            reply = await chat.ask(f"{conversation}-t{turn}", conversation=conversation)
            assert reply.error is None, reply.text
            said.append(reply.text)
    return replies


def expected(conversation: str, turns: range) -> list[str]:
    """Each turn's reply when the core sent the conversation's previous line as context."""
    return [f"{conversation}-t{t}|{conversation}-t{t - 1}" if t else f"{conversation}-t0|"
            for t in turns]  # fmt: skip


@pytest.mark.parametrize("state", ["redis", "memory"])
async def test_competing_and_restarted_cores_keep_every_conversations_context(
    state, processes, amqp_url, settings, rabbit_bus, request
):
    """With Redis every reply has its context, through two competing cores and after both are
    replaced. The negative control, ``memory://`` in each process, loses context (this run
    can fail)."""
    if state == "redis":
        request.getfixturevalue("redis_keys")
        processes.env["BOTWERK_STATE_URL"] = REDIS
    processes.start("worker", "tests.support.context_chat:ContextChat", "--name", "chat")
    admin.wait_for_consumers(amqp_url, topology.Names(settings.namespace).infer_queue("chat"))
    cores = start_cores(processes, amqp_url, settings, 2)
    async with ChatClient(rabbit_bus, settings, bot="moviebot") as chat:
        before = await talk(chat, range(TURNS))
        for core in cores:  # a restart (a deploy): whatever a core held in memory is gone.
            # SIGTERM, not SIGKILL: a killed core may leave the last message unacked, and the
            # new core that answers it again would know that one line (the control's noise).
            processes.kill(core, signal.SIGTERM)
        start_cores(processes, amqp_url, settings, 2)
        after = await talk(chat, range(TURNS, TURNS + 1))
    competing = [before[c] == expected(c, range(TURNS)) for c in before]
    restarted = [after[c] == expected(c, range(TURNS, TURNS + 1)) for c in after]
    if state == "redis":
        assert all(competing) and all(restarted), {c: before[c] + after[c] for c in before}
    else:
        assert not all(competing)  # the other core never saw some conversation's last line
        assert not any(restarted)  # and new cores know nothing
