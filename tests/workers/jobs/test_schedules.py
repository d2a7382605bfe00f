"""Scheduled posts: tables checked at start; real schedulers (Celery beat and worker, OS
processes), RabbitMQ and Redis, each post counted in the transport's post queue itself."""

from __future__ import annotations

import json
import re
import time
import tomllib
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import pika
import pytest
from click.testing import CliRunner

from botwerk.cli.app import main
from botwerk.infra.settings import ConfigError
from botwerk.infra.topology import Names
from botwerk.schemas import Reply, decode
from botwerk.testing import admin
from botwerk.workers.jobs.firing import message_id, scheduled_queue
from botwerk.workers.jobs.schedules import Aligned, next_run, parse, slot_of, when
from tests.support.ports import free_port
from tests.support.processes import Processes

from .conftest import RESULTS_URL, wait_for

POST_TTL_S = 24 * 3600  # BOTWERK_POST_TTL_S's default: a text post's time to live
GOOD = {"bot": "demo", "transport": "web", "conversation": "lobby", "text": "hi"}


def test_good_tables_are_read_with_their_timing():
    found = parse({
        "tick": {**GOOD, "every": 30},
        "minutes": {**GOOD, "every": "5m", "ttl_s": 60, "thread": "t1"},
        "morning": {**{k: v for k, v in GOOD.items() if k != "text"},
                    "cron": "0 8 * * *", "prompt": "Good morning"},
    })  # fmt: skip
    assert found["tick"].every_s == 30 and found["minutes"].every_s == 300
    assert found["minutes"].thread == "t1" and found["morning"].prompt == "Good morning"
    assert next_run(found["morning"], 0.0) == datetime.fromisoformat("1970-01-01T08:00:00+00:00")
    assert next_run(found["tick"], 95.0).timestamp() == 120  # on the epoch grid, not from start
    assert slot_of(found["morning"], 3600 * 8 + 59) == 480  # a cron tick's slot: its minute


BAD = [
    ({**GOOD}, "every, cron: give exactly one"),
    ({**GOOD, "every": 5, "cron": "* * * * *"}, "every, cron: give exactly one"),
    ({**GOOD, "every": "5 fortnights"}, "every: '5 fortnights' is not a duration"),
    ({**GOOD, "every": 0.5}, "every: 0.5 is under a second"),
    ({**GOOD, "cron": "0 8 * *"}, "cron: '0 8 * *' has 4 fields, not 5"),
    ({**GOOD, "cron": "99 8 * * *"}, "cron: '99 8 * * *': "),
    ({**GOOD, "every": 5, "prompt": "and"}, "text, prompt: give exactly one"),
    ({k: v for k, v in GOOD.items() if k != "text"} | {"every": 5}, "text, prompt"),
    ({**GOOD, "every": 5, "bot": ""}, "bot: must not be empty"),
    ({k: v for k, v in GOOD.items() if k != "transport"} | {"every": 5}, "`transport`"),
    ({**GOOD, "every": 5, "ttl_s": 0}, "ttl_s: 0 is not 1 to"),
    ({**GOOD, "every": 5, "ttl_s": "long"}, "ttl_s: expected `int | null`"),
    ({**GOOD, "every": 5, "chanel": "x"}, "unknown key 'chanel'"),
]


@pytest.mark.parametrize(("table", "said"), BAD, ids=[said for _, said in BAD])
def test_a_bad_table_is_refused_naming_its_key(table, said):
    with pytest.raises(ConfigError) as caught:
        parse({"morning": table})
    assert str(caught.value).startswith("[schedules.morning] in botwerk.toml: ")
    assert said in str(caught.value)


def test_an_interval_ticks_on_the_epoch_grid_whenever_beat_started():
    """Guards one slot per tick across schedulers: both count ticks from the same instants."""
    tick = when(parse({"t": {**GOOD, "every": 3600}})["t"])
    assert isinstance(tick, Aligned)
    started = datetime.fromtimestamp(time.time() // 3600 * 3600 + 1)  # just after this hour's tick
    due, wait_s = tick.is_due(started)
    assert not due and 0 < wait_s <= 3600 and (time.time() + wait_s) % 3600 < 1


def test_schedules_lists_them_and_refuses_a_bad_table(monkeypatch):
    tables = {
        "tick": {**GOOD, "every": "30s"},
        "ask": {**GOOD, "text": None, "every": 60, "prompt": "ping", "thread": "t1"},
    }
    monkeypatch.setenv(
        "BOTWERK_SCHEDULES",
        json.dumps(
            {name: {k: v for k, v in t.items() if v is not None} for name, t in tables.items()}
        ),
    )
    listed = CliRunner().invoke(main, ["schedules"])
    assert listed.exit_code == 0, listed.output
    header, ask, tick = listed.output.splitlines()
    assert header.split() == ["name", "when", "next", "bot", "transport", "conversation", "says"]
    assert ask.startswith("ask ") and "lobby (thread t1)" in ask and "prompt: ping" in ask
    assert "every 30s" in tick and "text: hi" in tick
    rows = json.loads(CliRunner().invoke(main, ["schedules", "--json"]).output)
    assert [row["name"] for row in rows] == ["ask", "tick"] and rows[1]["kind"] == "text"
    monkeypatch.setenv("BOTWERK_SCHEDULES", json.dumps({"tick": {**GOOD, "every": "soon"}}))
    refused = CliRunner().invoke(main, ["schedules"])
    assert refused.exit_code == 1 and "[schedules.tick] in botwerk.toml: every:" in refused.output


def test_the_scheduler_refuses_a_bad_table_at_start_before_it_connects(monkeypatch):
    """Guards "rejected at start": the broker URL points nowhere, so only the table stops it."""
    monkeypatch.setenv("BOTWERK_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/")
    monkeypatch.setenv("BOTWERK_SCHEDULES", json.dumps({"morning": {**GOOD, "cron": "0 8 *"}}))
    refused = CliRunner().invoke(main, ["scheduler"])
    assert refused.exit_code == 1
    assert "[schedules.morning] in botwerk.toml: cron: '0 8 *' has 3 fields" in refused.output


def test_the_scheduler_refuses_a_state_store_it_cannot_open_at_start(monkeypatch, tmp_path):
    """Guards fail-fast: the claims live in the store; without the check every tick would fail."""
    monkeypatch.setenv("BOTWERK_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/")
    monkeypatch.setenv("BOTWERK_SCHEDULES", json.dumps({"tick": {**GOOD, "every": 1}}))
    monkeypatch.setenv("BOTWERK_STATE_URL", f"sqlite:///{tmp_path}/no/such/folder/state.db")
    refused = CliRunner().invoke(main, ["scheduler"])
    assert refused.exit_code == 1 and "BOTWERK_STATE_URL=" in refused.output, refused.output


# --- real schedulers -----------------------------------------------------------------------


@pytest.fixture
def start_scheduler(processes, settings, amqp_url):
    """``start(schedules, count)``: that many ``botwerk scheduler`` processes, consuming."""
    processes.env |= {"BOTWERK_STATE_URL": RESULTS_URL, "BOTWERK_RESULTS_URL": RESULTS_URL}
    yield lambda schedules, count=1: _start(processes, settings, amqp_url, schedules, count)
    import redis

    client = redis.Redis.from_url(RESULTS_URL)
    for key in client.scan_iter(match=f"botwerk:{settings.namespace}:*"):
        client.delete(key)


def _start(processes, settings, amqp_url, schedules, count):
    processes.env["BOTWERK_SCHEDULES"] = json.dumps(schedules)
    started = [processes.start("scheduler") for _ in range(count)]
    queue = scheduled_queue(settings).name
    try:
        admin.wait_for_consumers(amqp_url, queue, count, timeout=30)
    except TimeoutError:
        pytest.fail("\n".join(processes.log_of(p)[-2000:] for p in started))
    return started


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:  # refused, or 503 (an HTTPError): not yet
        return False


def _collect(amqp_url: str, queue: str, seconds: float) -> list[tuple[str, Reply]]:
    """Every message in ``queue`` over ``seconds``: (message id, or for a bot's answer the id
    it answers, and the post)."""
    got: list[tuple[str, Reply]] = []
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
            continue
        assert props.type == Reply.TYPE and props.delivery_mode == 2
        if not props.correlation_id:  # a text post: it lives as long as BOTWERK_POST_TTL_S says
            assert int(props.expiration) == POST_TTL_S * 1000
            ahead_ms = props.headers["x-botwerk-deadline"] - time.time() * 1000
            assert POST_TTL_S * 1000 - 60_000 < ahead_ms <= POST_TTL_S * 1000
        post = decode(body, props.type, props.content_type, expect=(Reply,))
        got.append((props.correlation_id or props.message_id, post))
    connection.close()
    return got


def _slots(namespace: str, name: str, posts: list[tuple[str, Reply]], every: int = 1
           ) -> Counter[int]:  # fmt: skip
    """How many posts each tick got, read back from their message ids (one per slot)."""
    now = int(time.time() // every)
    ids = {message_id(namespace, name, slot): slot for slot in range(now - 120, now + 5)}
    assert all(ident in ids for ident, _ in posts), "a post with an id no tick makes"
    return Counter(ids[ident] for ident, _ in posts)


@pytest.mark.slow
@pytest.mark.broker
def test_a_schedule_posts_once_per_tick_and_a_prompt_is_answered_by_its_bot(
    start_scheduler, processes, settings, amqp_url
):
    names = Names(settings.namespace)
    core = processes.start("core", "demo")
    admin.wait_for_consumers(amqp_url, names.core_queue("demo"), 1, timeout=30)
    ask = {"bot": "demo", "transport": "console", "conversation": "lobby", "thread": "t9",
           "every": 2, "prompt": "ping"}  # fmt: skip
    port = free_port()  # the compose healthcheck asks /readyz there
    processes.env["BOTWERK_METRICS_PORT"] = str(port)
    start_scheduler({"tick": {**GOOD, "every": 1, "text": "tick"}, "ask": ask})
    wait_for(lambda: _ready(port), 10, f"the scheduler's /readyz on {port}")
    posts = _collect(amqp_url, names.post_queue("web"), 4.5)
    per_slot = _slots(settings.namespace, "tick", posts)
    assert set(per_slot.values()) == {1}, f"a tick posted twice: {per_slot}"
    assert len(per_slot) >= 3 and max(per_slot) - min(per_slot) == len(per_slot) - 1  # no gap
    assert {(r.bot, r.conversation, r.text) for _, r in posts} == {("demo", "lobby", "tick")}
    answers = wait_for(
        lambda: _collect(amqp_url, names.post_queue("console"), 0.5),
        10,
        f"the bot's answer in the console's posts:\n{processes.log_of(core)}",
    )
    assert {(r.bot, r.conversation, r.thread, r.text) for _, r in answers} == {
        ("demo", "lobby", "t9", "pong")
    }
    assert set(_slots(settings.namespace, "ask", answers, every=2).values()) == {1}  # ours


@pytest.mark.slow
@pytest.mark.broker
def test_two_schedulers_still_post_each_tick_once(start_scheduler, settings, amqp_url):
    """Guards the claim: both beats send every tick (their logs say the loser skipped), and the
    queue still holds one post per tick; without the claim it would hold two."""
    first, second = start_scheduler({"tick": {**GOOD, "every": 1, "text": "tick"}}, count=2)
    posts = _collect(amqp_url, Names(settings.namespace).post_queue("web"), 5)
    per_slot = _slots(settings.namespace, "tick", posts)
    assert len(per_slot) >= 4 and set(per_slot.values()) == {1}, per_slot
    logs = [Processes.log_of(p) for p in (first, second)]
    skipped = sum(log.count("already posted by another scheduler") for log in logs)
    assert skipped >= len(per_slot) - 2, "both schedulers fire every tick"


def test_the_readme_example_is_valid():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    example = next(b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[schedules." in b)
    found = parse(tomllib.loads(example)["schedules"])
    assert set(found) == {"morning", "heartbeat"} and found["heartbeat"].every_s == 300
