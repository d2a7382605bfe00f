"""The web transport end to end: `botwerk worker echo`, `botwerk core demo` and
`botwerk transport web --bot demo,ghost` as OS processes over the real RabbitMQ, driven over
HTTP by httpx and in headless Chromium by Playwright (the ``web_mesh`` fixture)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.web import WEB_DEADLINE_MS

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
