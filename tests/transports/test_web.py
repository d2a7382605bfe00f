"""The web transport: its pure functions, and its real server in this process on the in-process
bus, driven over real HTTP (httpx) and real WebSockets (websockets)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from fastapi.responses import PlainTextResponse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from botwerk.cores.bot import Bot, Context, command, fallback
from botwerk.cores.runtime import Core
from botwerk.infra import topology
from botwerk.infra.memory import MemoryBus
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import ConfigError
from botwerk.schemas import Reply
from botwerk.transports.base import TransportRole
from botwerk.transports.web import (
    BadRequest,
    ChatRequest,
    PortUnavailable,
    TooDeep,
    WebConfig,
    WebTransport,
    cross_origin,
    genres_of,
    http_answer,
    parse_request,
    socket_frame,
    utc_now,
)
from botwerk.transports.webpage import render_page
from botwerk.transports.webserver import CoreWatch, HostGuard, host_name
from tests.support.waiting import eventually

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
T = "2026-12-01T10:00:00Z"


def with_web(settings, **options):
    return settings.model_copy(update={"transports": {"web": options}})


def test_parse_request_fills_in_the_bot_and_names_what_is_wrong():
    bots = ("demo", "moviebot")
    assert parse_request(b'{"text": " hi "}', bots) == ChatRequest(text="hi", bot="demo")
    asked = parse_request('{"text": "hi", "bot": "moviebot", "genre": "noir"}', bots)
    assert (asked.bot, asked.genre) == ("moviebot", "noir")
    refused = {
        b"{nope": (400, "the body is not JSON"),
        b'{"bot": "demo"}': (422, "missing required field `text`"),
        b'{"text": 5}': (422, "text: expected `str`, got `int`"),
        b'{"text": "hi", "genre": ["x"]}': (422, "genre: expected `str | null`, got `array`"),
        b'{"text": "   "}': (422, "text: must not be empty"),
        b'["hi"]': (422, "expected `object`, got `array`"),
        b'{"text": "hi", "bot": "x"}': (400, "unknown bot 'x'; this server talks to: demo, movie"),
    }  # fmt: skip
    for body, (status, words) in refused.items():
        with pytest.raises(BadRequest) as caught:
            parse_request(body, bots)
        assert (caught.value.status, words in str(caught.value)) == (status, True), caught.value


def test_json_nested_too_deeply_is_a_bad_request_not_a_crash():
    deep = b"[" * 1000 + b"]" * 1000  # 2 KB: past the decoder's recursion limit
    for body in (deep, b'{"text": "hi", "x": ' + deep + b"}", b'{"text": ' + deep + b"}"):
        with pytest.raises(TooDeep) as caught:
            parse_request(body, ("demo",))
        assert caught.value.status == 400 and "nested too deeply" in str(caught.value)


def test_replies_become_statuses_and_frames():
    answer = Reply(bot="demo", conversation="c", text="pong")
    assert http_answer(answer, T) == (200, {"reply": "pong", "bot": "demo", "time": T})
    assert socket_frame(answer, T) == {"reply": "pong", "bot": "demo", "time": T}
    codes = {"timeout": 504, "busy": 503, "no_worker": 503, "model_error": 502, "internal": 500}
    for code, status in codes.items():
        failed = Reply(bot="demo", conversation="c", text="Sorry.", error=code)
        expected = {"error": "Sorry.", "code": code, "bot": "demo", "time": T}
        assert http_answer(failed, T) == (status, expected)
        assert socket_frame(failed, T)["error"] == code  # shown, never dropped
    assert ISO_UTC.fullmatch(utc_now())


def test_only_same_origin_browsers_get_in():
    assert not cross_origin({"host": "127.0.0.1:8080"})  # curl, scripts: no Origin
    assert not cross_origin({"host": "127.0.0.1:8080", "origin": "http://127.0.0.1:8080"})
    assert cross_origin({"host": "127.0.0.1:8080", "origin": "https://evil.example"})
    assert cross_origin({"host": "127.0.0.1:8080", "origin": "null"})


def test_only_allowed_host_names_get_in():
    assert [host_name(h) for h in ("Evil.example:80", "[::1]:8080", "127.0.0.1", "")] == [
        "evil.example", "::1", "127.0.0.1", None,
    ]  # fmt: skip
    assert WebConfig().hosts() == ("localhost", "127.0.0.1", "[::1]", "127.0.0.1")
    assert WebConfig(host="0.0.0.0", allowed_hosts=("chat.example.org",)).hosts() == (
        "chat.example.org",
    )  # every interface is no host name: only what is listed
    with pytest.raises(ValueError, match="allowed_hosts must list host names"):
        WebConfig(allowed_hosts=())


async def test_the_host_guard_answers_listed_names_on_any_port():
    async def hello(scope, receive, send):
        await PlainTextResponse("hello")(scope, receive, send)

    async def status(app, url):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=url) as http:
            answer = await http.get("/")
        return answer.status_code, answer.text

    guard = HostGuard(hello, ["chat.example.org", "[::1]"], "[transports.web]")
    assert await status(guard, "http://CHAT.example.org:9999") == (200, "hello")
    assert await status(guard, "http://[::1]:8080") == (200, "hello")
    code, said = await status(guard, "http://localhost:8080")
    assert code == 421 and json.loads(said) == {
        "error": "this chat server does not answer to the host name 'localhost'; if it is "
        "yours, add it to allowed_hosts in [transports.web]"
    }
    anything = HostGuard(hello, ["*"], "[transports.web]")
    assert await status(anything, "http://evil.example:8080") == (200, "hello")


def test_the_page_escapes_its_title_and_embeds_the_bots():
    page = render_page("<Chat & co>", ("demo", "moviebot"), {"moviebot": ["comedy", "noir"]})
    assert "<title>&lt;Chat &amp; co&gt;</title>" in page
    config = re.search(r'<script id="config" type="application/json">(.*?)</script>', page)
    assert config and json.loads(config[1]) == {
        "bots": ["demo", "moviebot"], "genres": {"moviebot": ["comedy", "noir"]},
    }  # fmt: skip
    hostile = render_page("x", ("</script><script>alert(1)",))
    assert hostile.count("</script>") == page.count("</script>")  # the bots stay in their JSON


def test_bad_options_stop_the_bridge_naming_the_key(settings):
    with pytest.raises(ConfigError, match=r"\[transports.web\].*port must be 0-65535"):
        WebTransport(with_web(settings, port=70000), "demo")
    with pytest.raises(ConfigError, match="unknown key 'prot' \\(did you mean 'port'\\?\\)"):
        WebTransport(with_web(settings, prot=8081), "demo")


async def test_a_port_in_use_is_a_clear_error_and_never_retried(settings, free_port):
    first = WebTransport(with_web(settings, port=free_port), "demo")  # it claims the port
    with pytest.raises(PortUnavailable, match=f"127.0.0.1:{free_port} \\(in use by another"):
        WebTransport(with_web(settings, port=free_port), "demo")
    assert not isinstance(PortUnavailable("x"), WebTransport.recoverable_errors)
    await first.stop()  # never ran: stop() gives the port back
    await first.stop()  # and may be called again
    with socket.socket() as again:
        again.bind(("127.0.0.1", free_port))


class MetaBot(Bot):
    """Says what the transport put into the message; ``wait`` holds its answer until released."""

    name = "meta"

    def __init__(self, settings):
        super().__init__(settings)
        self.release = asyncio.Event()

    @command("wait", help="answer once released")
    async def wait(self, ctx: Context) -> str:
        await self.release.wait()
        return "released"

    @fallback
    async def say(self, ctx: Context) -> str:
        message = ctx.message
        genre = message.meta.get("genre", "-")
        return f"{message.text}|genre={genre}|{message.conversation}|{message.user.id}"


def test_genres_come_from_each_bots_table(settings):
    bots = {"moviebot": {"genres": {"noir": "chat-noir", "comedy": "chat-comedy"}}, "x": {}}
    settings = settings.model_copy(update={"bots": bots})
    assert genres_of(settings, ("demo", "moviebot", "x")) == {"moviebot": ["comedy", "noir"]}


@dataclass
class InProcess:
    transport: WebTransport
    bot: MetaBot
    role: TransportRole
    bus: MemoryBus
    core: Core

    @property
    def url(self):
        return self.transport.url


@pytest_asyncio.fixture
async def web(settings):
    """A WebTransport for bots ``meta`` and ``ghost`` (no core) on the in-process bus."""
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    bot = MetaBot(settings)
    transport = WebTransport(with_web(settings, port=0, max_body_bytes=4096), "meta")
    role = TransportRole(bus, settings, transport, "meta", ("meta", "ghost"))
    core = Core(bus, settings, bot)
    roles = [core, role]
    for each in roles:
        await each.start()
    yield InProcess(transport, bot, role, bus, core)
    bot.release.set()
    for each in reversed(roles):
        await each.stop()
    await bus.close()


async def test_genre_reaches_the_bot_and_each_request_is_a_conversation(web):
    async with httpx.AsyncClient(base_url=web.url) as http:
        first = await http.post("/api/chat", json={"text": "hi", "genre": "noir"})
        second = await http.post("/api/chat", json={"text": "hi", "bot": "meta"})
    assert first.status_code == second.status_code == 200
    text, genre, conversation, user = first.json()["reply"].split("|")
    assert (text, genre, first.json()["bot"]) == ("hi", "genre=noir", "meta")
    assert conversation.startswith("rest-") and user == conversation
    assert second.json()["reply"].split("|")[1] == "genre=-"
    assert second.json()["reply"].split("|")[2] != conversation
    assert ISO_UTC.fullmatch(first.json()["time"])


async def chunks(chunk, count):
    for _ in range(count):
        yield chunk


async def test_refusals_are_json_that_says_why(web):
    async with httpx.AsyncClient(base_url=web.url) as http:
        ghost = await http.post("/api/chat", json={"text": "hi", "bot": "ghost"})
        big = await http.post("/api/chat", json={"text": "x" * 5000})
        streamed = await http.post("/api/chat", content=chunks(b"x" * 1000, 5))  # no length
        foreign = await http.post(
            "/api/chat", json={"text": "hi"}, headers={"origin": "https://evil.example"}
        )
        health = await http.get("/healthz")
        page = await http.get("/")
    assert ghost.status_code == 503 and ghost.json()["code"] == "no_worker"
    assert "The ghost bot isn't running" in ghost.json()["error"]
    assert big.status_code == streamed.status_code == 413
    assert big.json() == {"error": "the body is over 4096 bytes (max_body_bytes)"}
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["error"]
    assert health.status_code == 503, health.text  # no core serves ghost
    queue = web.role.gateway.names.core_queue("ghost")
    assert health.json() == {
        "status": "unavailable", "bots": ["meta", "ghost"],
        "problems": [f"no ghost core is running (nothing consumes {queue}): start one with "
                     "`botwerk core ghost`"],
    }  # fmt: skip
    assert '{"bots": ["meta", "ghost"], "genres": {}}' in page.text


async def test_deeply_nested_json_is_a_400_and_closes_a_socket_with_a_code(web):
    deep = "[" * 1000 + "]" * 1000  # 2 KB
    async with httpx.AsyncClient(base_url=web.url) as http:
        answer = await http.post("/api/chat", content=deep)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": 'the body is JSON nested too deeply; send {"text": "hello"}'}
    async with connect(web.url.replace("http", "ws") + "/ws") as page:
        await page.send(deep)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(page.recv(), 5)
    said = closed.value.rcvd
    assert said is not None, "dropped without a close frame"
    assert (said.code, said.reason) == (1007, "that message is JSON nested too deeply")


async def test_dns_rebinding_is_refused_on_every_route(web):
    port = web.transport.port
    evil = {"host": f"evil.example:{port}", "origin": f"http://evil.example:{port}"}
    mine = {"host": f"localhost:{port}", "origin": f"http://localhost:{port}"}
    async with httpx.AsyncClient(base_url=web.url) as http:
        refused = [
            await http.get("/", headers=evil),
            await http.post("/api/chat", json={"text": "hi"}, headers=evil),
            await http.get("/healthz", headers=evil),
        ]
        by_name = await http.post("/api/chat", json={"text": "hi"}, headers=mine)
        by_v6 = await http.get("/", headers={"host": f"[::1]:{port}"})
    assert [answer.status_code for answer in refused] == [421, 421, 421]
    assert "the host name 'evil.example'" in refused[1].json()["error"]
    assert "add it to allowed_hosts in [transports.web]" in refused[1].json()["error"]
    assert by_name.status_code == 200 and by_v6.status_code == 200
    rebound = socket.create_connection(("127.0.0.1", port))  # evil.example now resolves here
    with pytest.raises(InvalidStatus) as caught:
        async with connect(f"ws://evil.example:{port}/ws", sock=rebound, origin=evil["origin"]):
            pass
    assert caught.value.response.status_code == 403
    assert web.transport.guard.refused == 4


async def frame(socket):
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def test_one_socket_is_one_conversation_and_gets_its_own_replies(web):
    ws_url = web.url.replace("http", "ws") + "/ws"
    async with connect(ws_url) as one, connect(ws_url) as two:
        await one.send(json.dumps({"text": "a", "genre": "noir"}))
        await two.send(json.dumps({"text": "b"}))
        await one.send(json.dumps({"text": "c"}))
        await one.send("not json")
        await one.send(json.dumps({"text": "x" * 5000}))
        got_one = [await frame(one) for _ in range(4)]
        got_two = await frame(two)
    said = sorted(frame["reply"] for frame in got_one if "error" not in frame)
    assert [s.split("|")[:2] for s in said] == [["a", "genre=noir"], ["c", "genre=-"]]
    assert said[0].split("|")[2] == said[1].split("|")[2] != got_two["reply"].split("|")[2]
    errors = [frame for frame in got_one if "error" in frame]
    assert {frame["error"] for frame in errors} == {"bad_request"}
    assert any("not JSON" in f["reply"] for f in errors)
    assert any("over 4096 bytes" in f["reply"] for f in errors)
    with pytest.raises(InvalidStatus):
        async with connect(ws_url, origin="https://evil.example"):
            pass


async def test_a_reply_for_a_closed_page_is_dropped_and_counted(web):
    async with connect(web.url.replace("http", "ws") + "/ws") as page:
        await page.send(json.dumps({"text": "wait"}))
        await eventually(lambda: web.role.gateway.stats["published"] == 1, what="published")
    web.bot.release.set()
    await eventually(lambda: web.transport.stats["dropped_replies"] == 1, what="dropped")


async def test_stop_answers_waiting_requests_and_ends_the_server(web):
    async with httpx.AsyncClient(base_url=web.url) as http:
        waiting = asyncio.ensure_future(http.post("/api/chat", json={"text": "wait"}))
        await eventually(lambda: web.role.gateway.stats["published"] == 1, what="published")
        await web.transport.stop()
        answer = await asyncio.wait_for(waiting, 5)
    assert answer.status_code == 503 and "shutting down" in answer.json()["error"]
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=web.url) as http:
            await http.get("/healthz")
    web.bot.release.set()  # the gateway drains what is due, then the role ends
    await asyncio.wait_for(web.role.finished, 5)
    assert web.transport.stats["dropped_replies"] == 1


async def test_a_bot_whose_core_stops_is_unhealthy_and_refused_at_once(web, settings):
    await eventually(lambda: web.transport.watch is not None, what="the server runs")
    watch = web.transport.watch
    await eventually(lambda: watch.counts.get("meta") == 1, what="the core counted")
    await web.core.stop()
    await eventually(lambda: watch.counts.get("meta") == 0, timeout=3, what="its loss seen")
    async with httpx.AsyncClient(base_url=web.url, timeout=3) as http:
        health = await http.get("/healthz")
        started = time.monotonic()
        answer = await http.post("/api/chat", json={"text": "hi"})
        waited = time.monotonic() - started
        async with connect(web.url.replace("http", "ws") + "/ws") as page:
            await page.send(json.dumps({"text": "hi"}))
            said = await frame(page)
    assert health.status_code == 503 and "no meta core is running" in health.json()["problems"][0]
    assert (answer.status_code, answer.json()["code"]) == (503, "no_worker"), answer.text
    assert "The meta bot isn't running" in answer.json()["error"] and waited < 1
    assert said["error"] == "no_worker" and "The meta bot isn't running" in said["reply"]
    assert web.role.gateway.stats["published"] == 0  # nothing waits in the queue for nobody
    again = Core(web.bus, settings, web.bot)
    await again.start()
    try:
        await eventually(lambda: watch.counts.get("meta") == 1, timeout=3, what="it is back")
        async with httpx.AsyncClient(base_url=web.url, timeout=3) as http:
            assert (await http.post("/api/chat", json={"text": "hi"})).status_code == 200
    finally:
        await again.stop()


class FrozenBus(MemoryBus):
    """A bus whose broker stopped answering (as under SIGSTOP): questions never return."""

    async def consumers(self, queue):
        await asyncio.Event().wait()


async def test_the_core_watch_says_when_it_cannot_ask_and_never_blocks_a_bot():
    bus = MemoryBus()  # not started: every question fails
    watch = CoreWatch(bus, {"demo": "ns.core.demo"}, every_s=0.02)
    await watch.check()
    assert watch.problems() == [
        "cannot ask the broker whether the cores run: the bus is not started: call "
        "`await bus.start()` first"
    ]
    assert not watch.unserved("demo")  # unknown: the request goes on, the gateway answers it
    await bus.start()
    await watch.check()  # no such queue: nobody serves demo
    assert watch.unserved("demo") and watch.problems()[0].startswith("no demo core is running")
    frozen = CoreWatch(FrozenBus(), {"demo": "ns.core.demo"}, every_s=0.02)
    await frozen.check()
    asking = frozen._asking
    await frozen.check()  # the same question is still out: not asked again
    assert frozen._asking is asking and not asking.done()
    assert frozen.problems() == ["cannot ask the broker whether the cores run: no answer in 0.1s"]
    asking.cancel()


async def wait_for_count(bus, queue, count):
    give_up = time.monotonic() + 10
    while (got := await bus.consumers(queue)) != count:
        assert time.monotonic() < give_up, f"{queue} has {got} consumers, not {count}"
        await asyncio.sleep(0.05)


@pytest.mark.broker
async def test_the_bus_counts_the_consumers_of_a_queue(bus, settings):
    names = topology.Names(settings.namespace)
    queue = names.core_queue("demo")
    assert await bus.consumers(queue) is None  # no such queue
    await bus.declare(topology.for_core(names, "demo", topology.Limits()))
    assert await bus.consumers(queue) == 0

    async def ignore(delivery):
        delivery.ack()

    serving = await bus.consume(queue, ignore, prefetch=1)
    await wait_for_count(bus, queue, 1)
    await serving.cancel()
    await wait_for_count(bus, queue, 0)


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.mark.broker
async def test_a_user_with_no_permissions_can_count_consumers(rabbit_bus, settings, amqp_url):
    """The transport's broker user may not read a core's queue, yet can see whether it is served."""
    if not shutil.which("rabbitmqctl"):
        pytest.skip("no rabbitmqctl to add a broker user with")
    names = topology.Names(settings.namespace)
    await rabbit_bus.declare(topology.for_core(names, "demo", topology.Limits()))

    async def ignore(delivery):
        delivery.ack()

    await rabbit_bus.consume(names.core_queue("demo"), ignore, prefetch=1)
    user, password = f"botwerk-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rabbitmqctl("add_user", user, password)
    try:
        rabbitmqctl("set_permissions", "-p", "/", user, "^$", "^$", "^$")
        broker = urlsplit(amqp_url)
        url = f"amqp://{user}:{password}@{broker.hostname}:{broker.port or 5672}/"
        weak = RabbitBus(settings.model_copy(update={"amqp_url": url}), name="weak")
        await weak.start(timeout=10)
        try:
            assert await weak.consumers(names.core_queue("demo")) == 1
            assert await weak.consumers(names.core_queue("nobody")) is None
        finally:
            await weak.close()
    finally:
        rabbitmqctl("delete_user", user)
