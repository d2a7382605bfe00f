"""billybard, annalogue and moviebot end to end: real models, real workers and cores as OS
processes, over a real RabbitMQ; and `botwerk up` training its demo models on a fresh store."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from botwerk.infra import messages, topology
from botwerk.testing import ChatClient, admin
from tests.support.waiting import eventually

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def start(processes, amqp_url, settings, model_store, *roles):
    processes.env["BOTWERK_MODELS"] = model_store
    names = topology.Names(settings.namespace)
    for kind, name in roles:
        processes.start(kind, name)
        queue = names.infer_queue(name) if kind == "worker" else names.core_queue(name)
        admin.wait_for_consumers(amqp_url, queue, timeout=60)


async def test_billybard_continues_what_you_write(
    processes, amqp_url, settings, rabbit_bus, model_store
):
    start(processes, amqp_url, settings, model_store, ("worker", "charrnn"), ("core", "billybard"))
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
    start(processes, amqp_url, settings, model_store, ("worker", "word2vec"), ("core", "annalogue"))
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
    start(processes, amqp_url, settings, model_store, ("worker", "chat"), ("core", "moviebot"))
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
    start(processes, amqp_url, settings, model_store, ("core", "annalogue"))
    async with ChatClient(rabbit_bus, settings, bot="annalogue") as chat:
        reply = await chat.ask("king - man + woman")
    assert reply.error == "no_worker"
    assert reply.text == messages.NO_WORKER.format(model="word2vec")

    processes.env["BOTWERK_MODELS"] = model_store
    worker = processes.start("worker", "word2vec", "--model", "nonesuch")
    assert worker.wait(timeout=60) == 1
    log = processes.log_of(worker)
    assert "no model 'nonesuch'" in log and "botwerk train" in log


def test_botwerk_up_trains_its_demo_models_then_chats_with_both_bots(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTWERK_")}
    env["BOTWERK_MODELS"] = f"file://{tmp_path / 'models'}"
    chat = "The government\n@annalogue police vs fire\n@moviebot hello\n@demo ping\n"
    command = [sys.executable, "-m", "botwerk", "up", "--train-seconds", "10"]
    first = subprocess.run(
        command, input=chat, capture_output=True, text=True, timeout=240, env=env
    )
    assert first.returncode == 0, first.stderr
    assert "training the demo one" in first.stderr
    said = sorted(line for line in first.stdout.splitlines() if re.match(r"^\w+[>!] ", line))
    assert len(said) == 4, first.stdout  # a bard's answer may run over several lines
    assert said[0].startswith("annalogue> ") and re.search(r"\d+%", said[0])
    assert said[1].startswith("billybard> The government")
    assert said[2] == "demo> pong"
    assert said[3].startswith("moviebot> ") and len(said[3]) > len("moviebot> ")

    again = subprocess.run(command, input="@demo ping\n", capture_output=True, text=True,
                           timeout=120, env=env)  # fmt: skip
    assert again.returncode == 0 and "training" not in again.stderr
    assert again.stdout.splitlines() == ["demo> pong"]
