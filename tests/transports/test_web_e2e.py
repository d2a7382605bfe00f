"""The web transport end to end: `botwerk worker echo`, `botwerk core demo` and
`botwerk transport web --bot demo,ghost` as OS processes over the real RabbitMQ, driven over
HTTP by httpx and in headless Chromium by Playwright (the ``web_mesh`` fixture)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from botwerk.infra import topology
from botwerk.infra.rabbit import RabbitBus
from botwerk.infra.settings import Settings
from tests.support.web import GHOST_GENRES, WEB_DEADLINE_MS

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def test_rest_chat_through_the_mesh(web_url):
    with httpx.Client(base_url=web_url, timeout=10) as http:
        hello = http.post("/api/chat", json={"text": "hello"})
        ping = http.post("/api/chat", json={"text": "ping", "bot": "demo"})
    assert hello.status_code == 200, hello.text
    assert (hello.json()["reply"], hello.json()["bot"]) == ("echo: hello", "demo")
    assert ping.json()["reply"] == "pong"
    sent = datetime.strptime(hello.json()["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 5


def test_bad_requests_get_json_errors_that_say_what_is_wrong(web_url):
    with httpx.Client(base_url=web_url, timeout=10) as http:
        answers = {
            "not json": http.post("/api/chat", content=b"hello?"),
            "no text": http.post("/api/chat", json={"bot": "demo"}),
            "text a number": http.post("/api/chat", json={"text": 42}),
            "too big": http.post("/api/chat", json={"text": "x" * 9000}),
            "unknown bot": http.post("/api/chat", json={"text": "hi", "bot": "nobody"}),
            "bot not running": http.post("/api/chat", json={"text": "hi", "bot": "ghost"}),
        }
    got = {what: (a.status_code, a.json()["error"]) for what, a in answers.items()}
    assert got["not json"][0] == 400 and "not JSON" in got["not json"][1]
    assert got["no text"] == (422, "object missing required field `text`")
    assert got["text a number"] == (422, "text: expected `str`, got `int`")
    assert got["too big"] == (413, "the body is over 8192 bytes (max_body_bytes)")
    assert got["unknown bot"] == (400, "unknown bot 'nobody'; this server talks to: demo, ghost")
    status, error = got["bot not running"]
    assert status == 503 and "The ghost bot isn't running" in error


def test_a_slow_answer_is_a_504_within_the_deadline(web_url):
    with httpx.Client(base_url=web_url, timeout=30) as http:
        started = time.monotonic()
        slow = http.post("/api/chat", json={"text": "slow 5000 hi"})
        waited = time.monotonic() - started
        assert slow.status_code == 504, slow.text
        assert slow.json()["code"] == "timeout" and "took too long" in slow.json()["error"]
        assert waited < WEB_DEADLINE_MS / 1000 + 1
        # The echo worker sleeps out those 5 s; the next tests need it free again.
        give_up = time.monotonic() + 15
        while http.post("/api/chat", json={"text": "back?"}).status_code != 200:
            assert time.monotonic() < give_up, "the echo worker never came back"


def test_the_chat_page_in_chromium(web_url, chromium):
    page = chromium.new_page()
    page.goto(web_url)
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#bot option")).to_have_text(["demo", "ghost"])  # a bot picker
    page.fill("#text", "hello from chromium")
    page.press("#text", "Enter")
    answer = page.locator(".msg.bot").last
    expect(answer.locator(".text")).to_have_text("echo: hello from chromium")
    expect(answer.locator(".meta")).to_contain_text("demo")
    page.select_option("#bot", "ghost")
    page.fill("#text", "anyone there?")
    page.click("#send")
    expect(page.locator(".msg.bot.error .text")).to_contain_text("ghost bot isn't running")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-chat.png"))
    page.close()


def test_a_second_server_on_the_port_stops_with_a_clear_error(web_mesh):
    second = web_mesh.processes.start("transport", "web", "--bot", "demo")
    assert second.wait(timeout=30) != 0
    said = web_mesh.processes.log_of(second).strip().splitlines()
    assert len(said) == 1, said  # one line, no trace, and before connecting to RabbitMQ
    assert said[0].startswith(f"Error: the web chat cannot listen on 127.0.0.1:{web_mesh.port} ")
    assert "(in use by another program)" in said[0]
    with httpx.Client(base_url=web_mesh.url, timeout=10) as http:  # the first one serves on
        assert http.post("/api/chat", json={"text": "ping"}).json()["reply"] == "pong"


def assert_on_screen(page: Page, selector: str) -> None:
    """``selector``'s box lies inside the viewport, and nothing scrolls sideways."""
    view = page.viewport_size
    box = page.locator(selector).bounding_box()
    assert view is not None and box is not None, selector
    inside = (box["x"] >= 0, box["y"] >= 0, box["x"] + box["width"] <= view["width"],
              box["y"] + box["height"] <= view["height"])  # fmt: skip
    assert all(inside), f"{selector} at {box} is off a {view} screen"
    assert page.evaluate("document.documentElement.scrollWidth") <= view["width"]


def test_the_page_fits_a_phone_and_offers_genres_only_for_bots_with_some(web_url, chromium):
    page = chromium.new_page(viewport={"width": 375, "height": 667})
    page.goto(web_url)
    expect(page.locator("#state")).to_have_text("connected")
    assert_on_screen(page, "#send")
    expect(page.locator("#genre")).to_be_hidden()  # demo has no genres
    page.select_option("#bot", "ghost")
    expect(page.locator("#genre")).to_be_visible()
    expect(page.locator("#genre option")).to_have_text(["any genre", *sorted(GHOST_GENRES)])
    assert_on_screen(page, "#send")
    assert_on_screen(page, "#genre")
    page.select_option("#bot", "demo")
    expect(page.locator("#genre")).to_be_hidden()
    page.fill("#text", "hello from a phone")
    page.click("#send")
    expect(page.locator(".msg.bot .text").last).to_have_text("echo: hello from a phone")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-chat-phone.png"))
    page.close()


def declare_core_queue(amqp_url: str, namespace: str, bot: str) -> int | None:
    """Declare ``bot``'s core queue as a core would, but consume nothing; its consumer count.

    On a thread of its own: Playwright's sync API holds this thread's event loop."""

    async def declare() -> int | None:
        names = topology.Names(namespace)
        bus = RabbitBus(Settings.load(namespace=namespace, amqp_url=amqp_url), name="test")
        await bus.start(timeout=10)
        try:
            await bus.declare(topology.for_core(names, bot, topology.Limits()))
            return await bus.consumers(names.core_queue(bot))
        finally:
            await bus.close()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, declare()).result(timeout=30)


def test_a_bot_whose_queue_has_no_consumer_is_refused_at_once(web_mesh, amqp_url):
    """ghost's queue exists but no core consumes it: 503 at once, not a 504 at the deadline."""
    assert declare_core_queue(amqp_url, web_mesh.namespace, "ghost") == 0
    with httpx.Client(base_url=web_mesh.url, timeout=10) as http:
        health = http.get("/healthz")
        started = time.monotonic()
        ghost = http.post("/api/chat", json={"text": "hi", "bot": "ghost"})
        waited = time.monotonic() - started
        demo = http.post("/api/chat", json={"text": "ping", "bot": "demo"})
    assert health.status_code == 503
    queue = topology.Names(web_mesh.namespace).core_queue("ghost")
    assert health.json()["problems"] == [
        f"no ghost core is running (nothing consumes {queue}): start one with `botwerk core ghost`"
    ]  # and none for demo: its core is counted
    assert (ghost.status_code, ghost.json()["code"]) == (503, "no_worker"), ghost.text
    assert "The ghost bot isn't running" in ghost.json()["error"]
    assert waited < WEB_DEADLINE_MS / 1000 / 2, waited
    assert demo.json()["reply"] == "pong"
