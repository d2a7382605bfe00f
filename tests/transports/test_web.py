"""The web transport: its pure functions, and its real server in this process on the in-process
bus, driven over real HTTP (httpx) and real WebSockets (websockets)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from botwerk.cores.bot import Bot, Context, command, fallback
from botwerk.cores.runtime import Core
from botwerk.infra.memory import MemoryBus
from botwerk.infra.settings import ConfigError
from botwerk.schemas import Reply
from botwerk.transports.base import TransportRole
from botwerk.transports.web import (
    BadRequest,
    ChatRequest,
    PortUnavailable,
    WebTransport,
    cross_origin,
    http_answer,
    parse_request,
    socket_frame,
    utc_now,
)
from botwerk.transports.webpage import render_page
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


def test_the_page_escapes_its_title_and_embeds_the_bots():
    page = render_page("<Chat & co>", ("demo", "moviebot"))
    assert "<title>&lt;Chat &amp; co&gt;</title>" in page
    config = re.search(r'<script id="config" type="application/json">(.*?)</script>', page)
    assert config and json.loads(config[1]) == {"bots": ["demo", "moviebot"]}
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


@dataclass
class InProcess:
    transport: WebTransport
    bot: MetaBot
    role: TransportRole

    @property
    def url(self):
        return self.transport.url


@pytest_asyncio.fixture
async def web(settings):
    """A WebTransport for bots ``meta`` and ``ghost`` (no core) on the in-process bus."""
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    bot = MetaBot(settings)
    transport = WebTransport(with_web(settings, port=0, max_body_bytes=256), "meta")
    role = TransportRole(bus, settings, transport, "meta", ("meta", "ghost"))
    roles = [Core(bus, settings, bot), role]
    for each in roles:
        await each.start()
    yield InProcess(transport, bot, role)
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
        big = await http.post("/api/chat", json={"text": "x" * 300})
        streamed = await http.post("/api/chat", content=chunks(b"x" * 100, 4))  # no length
        foreign = await http.post(
            "/api/chat", json={"text": "hi"}, headers={"origin": "https://evil.example"}
        )
        health = await http.get("/healthz")
        page = await http.get("/")
    assert ghost.status_code == 503 and ghost.json()["code"] == "no_worker"
    assert "The ghost bot isn't running" in ghost.json()["error"]
    assert big.status_code == streamed.status_code == 413
    assert big.json() == {"error": "the body is over 256 bytes (max_body_bytes)"}
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["error"]
    assert health.json() == {"status": "ok", "bots": ["meta", "ghost"]}
    assert '{"bots": ["meta", "ghost"]}' in page.text


async def frame(socket):
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def test_one_socket_is_one_conversation_and_gets_its_own_replies(web):
    ws_url = web.url.replace("http", "ws") + "/ws"
    async with connect(ws_url) as one, connect(ws_url) as two:
        await one.send(json.dumps({"text": "a", "genre": "noir"}))
        await two.send(json.dumps({"text": "b"}))
        await one.send(json.dumps({"text": "c"}))
        await one.send("not json")
        await one.send(json.dumps({"text": "x" * 300}))
        got_one = [await frame(one) for _ in range(4)]
        got_two = await frame(two)
    said = sorted(frame["reply"] for frame in got_one if "error" not in frame)
    assert [s.split("|")[:2] for s in said] == [["a", "genre=noir"], ["c", "genre=-"]]
    assert said[0].split("|")[2] == said[1].split("|")[2] != got_two["reply"].split("|")[2]
    errors = [frame for frame in got_one if "error" in frame]
    assert {frame["error"] for frame in errors} == {"bad_request"}
    assert any("not JSON" in f["reply"] for f in errors)
    assert any("over 256 bytes" in f["reply"] for f in errors)
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
