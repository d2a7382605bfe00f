"""billybard, annalogue and moviebot end to end: real models, real workers and cores as OS
processes, over a real RabbitMQ; and `botwerk up` on a fresh store, answering while its demo
models learn."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from botwerk.infra import messages, topology
from botwerk.testing import ChatClient, admin
from tests.support.waiting import eventually

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(300)]  # 1st: trains


async def start(processes, amqp_url, settings, model_store, *roles):
    """Start ``roles`` and wait until each consumes, off the event loop: the test's bus is
    connected meanwhile and must answer the broker's heartbeats (a blocking wait of over
    10 s under CI's load made the broker drop it)."""
    await asyncio.to_thread(_start, processes, amqp_url, settings, model_store, *roles)


def _start(processes, amqp_url, settings, model_store, *roles):
    processes.env["BOTWERK_MODELS"] = model_store
    names = topology.Names(settings.namespace)
    for kind, name in roles:
        processes.start(kind, name)
        queue = names.infer_queue(name) if kind == "worker" else names.core_queue(name)
        admin.wait_for_consumers(amqp_url, queue, timeout=60)


async def test_billybard_continues_what_you_write(
    processes, amqp_url, settings, rabbit_bus, model_store
):
    await start(
        processes, amqp_url, settings, model_store, ("worker", "charrnn"), ("core", "billybard")
    )
    async with ChatClient(rabbit_bus, settings, bot="billybard") as chat:
        reply = await chat.ask("The police said")
        assert reply.error is None, reply.text
        assert reply.text.startswith("The police said") and len(reply.text) > 30
        assert "I continue whatever you start writing" in (await chat.ask("help")).text
        in_channel = await chat.ask("@billybard The fire", direct=False)
        assert in_channel.text.startswith("The fire"), in_channel.text
        delivered = chat.gateway.stats["delivered"]
        await chat.submit("talking to someone else", direct=False)
        await eventually(lambda: chat.gateway.stats["delivered"] == delivered + 1, timeout=10)
    assert len(chat.replies) == 3  # the message that did not mention the bot got no reply


async def test_annalogue_answers_word_questions(
    processes, amqp_url, settings, rabbit_bus, model_store
):
    await start(
        processes, amqp_url, settings, model_store, ("worker", "word2vec"), ("core", "annalogue")
    )
    async with ChatClient(rabbit_bus, settings, bot="annalogue") as chat:
        similar = await chat.ask("police")
        assert similar.error is None and re.search(r"\d+%", similar.text), similar.text
        versus = await chat.ask("police vs government")
        assert re.search(r"-?\d+%", versus.text), versus.text
        odd = await chat.ask("which doesn't belong: police fire government qwertyuiop")
        assert "qwertyuiop" in odd.text, odd.text  # unknown: named in the answer
        arithmetic = await chat.ask("government - police + fire")
        assert arithmetic.error is None and re.search(r"\d+%", arithmetic.text)
        unknown = await chat.ask("flurbish : police :: fire : ?")
        assert "flurbish" in unknown.text and unknown.error is None


async def test_moviebot_chats_through_the_chat_worker(
    processes, amqp_url, settings, rabbit_bus, model_store
):
    await start(
        processes, amqp_url, settings, model_store, ("worker", "chat"), ("core", "moviebot")
    )
    async with ChatClient(rabbit_bus, settings, bot="moviebot") as chat:
        hello = await chat.ask("How are you doing?")
        assert hello.error is None and hello.text == "I'm doing well, how about you?", hello.text
        beam = await chat.ask("mode=beam beam=6 How are you doing?")
        assert beam.error is None and beam.text, beam.text
        sampled = [await chat.ask("mode=sample temp=1.5 seed=3 do you drink") for _ in range(2)]
        assert sampled[0].text == sampled[1].text  # seeded: the same sample twice
        assert "Say something" in (await chat.ask("@moviebot", direct=False)).text
        assert "I talk like people in the movies" in (await chat.ask("help")).text
        bad = await chat.ask("mode=shout hello")
        assert bad.error is None and "mode must be greedy, sample or beam" in bad.text


async def test_a_missing_model_or_worker_is_a_clear_sentence(
    processes, amqp_url, settings, rabbit_bus, model_store
):
    await start(processes, amqp_url, settings, model_store, ("core", "annalogue"))
    async with ChatClient(rabbit_bus, settings, bot="annalogue") as chat:
        reply = await chat.ask("king - man + woman")
    assert reply.error == "no_worker"
    assert reply.text == messages.NO_WORKER.format(model="word2vec")

    processes.env["BOTWERK_MODELS"] = model_store
    worker = processes.start("worker", "word2vec", "--model", "nonesuch")
    assert worker.wait(timeout=60) == 1
    log = processes.log_of(worker)
    assert "no model 'nonesuch'" in log and "botwerk train" in log


class Console:
    """`botwerk up` as a person at the console: type a line, watch for what comes back."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "botwerk", "up", *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: dict[str, list[tuple[float, str]]] = {"out": [], "err": []}
        for name, stream in (("out", self.process.stdout), ("err", self.process.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream: Any) -> None:
        for line in stream:
            self.lines[name].append((time.monotonic() - self.started, line.rstrip("\n")))

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(
        self, pattern: str, stream: str = "out", timeout: float = 120
    ) -> tuple[float, str]:
        """(seconds since start, the first line of ``stream`` matching ``pattern``)."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            found = [(at, line) for at, line in self.lines[stream] if re.search(pattern, line)]
            if found:
                return found[0]
            assert self.process.poll() is None, self.lines
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {stream} after {timeout:g}s: {self.lines}")

    def leave(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=60)


def test_botwerk_up_answers_at_once_while_its_models_learn_then_with_each_new_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTWERK_")}
    env["BOTWERK_MODELS"] = f"file://{tmp_path / 'models'}"
    console = Console("--first-seconds", "3", "--train-minutes", "0", env=env)
    try:
        console.type("@demo ping")
        at, _ = console.wait_for(r"^demo> pong$", timeout=30)
        assert at < 10, f"the first answer took {at:.1f} s"
        console.type("The government")
        _, learning = console.wait_for(r"^billybard! ", timeout=30)
        assert re.fullmatch(
            r"billybard! billybard is still learning: \d+%, (a few seconds|about \d+ seconds|"
            r"about a minute|about \d+ minutes) left\. Ask me again then!", learning
        ), learning  # fmt: skip
        for bot, model in (
            ("billybard", "charrnn"),
            ("annalogue", "word2vec"),
            ("moviebot", "chat"),
        ):
            console.wait_for(rf"botwerk: {bot} is ready \({model}@1: ", stream="err")
        console.type("The government")
        console.type("@annalogue king - man + woman")
        console.type("@moviebot hello")
        console.wait_for(r"^billybard> The government")
        console.wait_for(r"^annalogue> king - man \+ woman = queen \(\d+%\)")
        console.wait_for(r"^moviebot> .+")
        for bot in ("billybard", "moviebot"):  # a budget of 0: first versions only
            console.wait_for(rf"botwerk: {bot} stops learning: only a first version", "err", 30)
    finally:
        assert console.leave() == 0, console.lines

    again = subprocess.run(
        [sys.executable, "-m", "botwerk", "up", "--train-minutes", "0"], input="@demo ping\n",
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "ready" not in again.stderr and "learning" not in again.stderr, again.stderr
    assert again.stdout.splitlines() == ["demo> pong"]
