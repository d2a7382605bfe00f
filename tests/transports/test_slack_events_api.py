"""The Slack transport in http mode: Slack's Events API, signed requests only."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from botwerk.transports.slack import SlackTransport
from tests.support.slack import SECRETS, RecordingGateway, callback, message, signed_headers
from tests.support.waiting import eventually

SECRET = SECRETS["SLACK_SIGNING_SECRET"]


@pytest.fixture
async def events(settings, fake_slack, slack_secrets):
    """(URL of the transport's Events API server, stub gateway, HTTP client session)."""
    options = {"mode": "http", "host": "127.0.0.1", "port": 0, "api_url": fake_slack.api_url}
    transport = SlackTransport(
        settings.model_copy(update={"transports": {"slack": options}}), "demo"
    )
    gateway = RecordingGateway()
    task = asyncio.create_task(transport.run(gateway))
    await eventually(lambda: transport.events_url is not None, what="the server listening")
    async with aiohttp.ClientSession() as http:
        yield transport.events_url, gateway, http
    await transport.stop()
    await asyncio.wait_for(task, 10)


async def post(http, url, payload, *, secret=SECRET, timestamp=None):
    body = json.dumps(payload).encode()
    async with http.post(url, data=body, headers=signed_headers(secret, body, timestamp)) as res:
        return res.status, await res.text()


async def test_a_signed_event_is_acked_and_published(events):
    url, gateway, http = events
    status, _ = await post(http, url, callback(message("<@UBOT> hi", ts="7.7")))
    assert status == 200
    await eventually(lambda: gateway.submitted, what="the event published")
    [submitted] = gateway.submitted
    assert (submitted["text"], submitted["thread"], submitted["conversation"]) == (
        "@demo hi", "7.7", "C1"
    )  # fmt: skip


async def test_a_wrong_signature_is_401_and_nothing_is_published(events):
    url, gateway, http = events
    status, _ = await post(http, url, callback(message("<@UBOT> hi")), secret="not-the-secret")
    assert status == 401
    async with http.post(url, data=b"{}") as unsigned:
        assert unsigned.status == 401
    status, _ = await post(http, url, callback(message("<@UBOT> signed")))
    assert status == 200
    await eventually(lambda: gateway.submitted, what="the signed event published")
    assert [s["text"] for s in gateway.submitted] == ["@demo signed"]  # only that one


async def test_a_timestamp_over_five_minutes_old_is_401(events):
    url, gateway, http = events
    replayed = callback(message("<@UBOT> again"))
    status, _ = await post(http, url, replayed, timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    status, _ = await post(http, url, replayed, timestamp=int(time.time()) - 4 * 60)
    assert status == 200  # within five minutes: accepted
    await eventually(lambda: len(gateway.submitted) == 1)


async def test_the_url_verification_challenge_is_answered(events):
    url, gateway, http = events
    challenge = {"type": "url_verification", "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV"}
    status, text = await post(http, url, challenge)
    assert (status, json.loads(text)) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV"})
    assert gateway.submitted == []
