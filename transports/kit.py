"""What every platform bridge needs besides the gateway: options, secrets, splitting, pacing.

In a bridge::

    config = transport_options(settings, "irc", IrcConfig)   # [transports.irc] in botwerk.toml
    token = secret("SLACK_BOT_TOKEN", "the bot token (xoxb-...) of your Slack app")
    parts, dropped = split_text(reply.text, 400, measure=utf8_bytes, max_parts=5)
    pace = Pace(rate=1.0, burst=4); await pace.wait()        # flood control before each send
    delay = retry_after(response.headers)                      # seconds an HTTP 429 asks for

Splitting and reading ``Retry-After`` are plain functions:

>>> split_text("Hello there. How are you today?", 16)
(['Hello there.', 'How are you', 'today?'], 0)
>>> split_text("Hello there. How are you today?", 16, max_parts=2)  # 6 characters dropped
(['Hello there.', 'How are you …'], 6)
>>> split_text("Ça va? Très bien.", 10, measure=utf8_bytes)  # as IRC counts: "é" is 2 bytes
(['Ça va?', 'Très', 'bien.'], 0)
>>> retry_after({"Retry-After": "2"}), retry_after({})  # the header, else the default
(2.0, 1.0)

Options are a msgspec Struct per transport, read from ``[transports.<kind>]`` (or the
``BOTWERK_TRANSPORTS`` variable as JSON); unknown keys and bad values stop the bridge with a
message naming them. Secrets only ever come from environment variables: a missing one is a
:class:`MissingSecret` naming the variable, and :func:`secret` never logs a value.

:func:`split_text` cuts a reply too long for the platform at the best boundary it finds
(paragraph, line, sentence, word, else anywhere) measured as the platform measures (characters,
or UTF-8 bytes for IRC); past ``max_parts`` it drops the rest and says how much, so the caller
can log it. :class:`Pace` is a token bucket: ``burst`` sends at once, then ``rate`` a second.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import msgspec

from botwerk.infra.settings import ConfigError, Settings, config_path, typed_table

S = TypeVar("S", bound=msgspec.Struct)
MORE = " …"  # ends a reply cut short after max_parts
_BOUNDARIES = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?])\s+"),
               re.compile(r"\s+"))  # fmt: skip


class MissingSecret(ConfigError):
    """A secret's environment variable is not set; the message names it and what it is."""


def transport_options(settings: Settings, kind: str, config: type[S]) -> S:
    """``[transports.<kind>]`` of botwerk.toml as the typed ``config``; see the module."""
    table = settings.transports.get(kind, {})
    return typed_table(table, f"[transports.{kind}] in {config_path()}", config)


def secret(variable: str, what: str) -> str:
    """The value of the environment variable ``variable``; :class:`MissingSecret` if unset."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise MissingSecret(f"{variable} is not set: export it with {what}")
    return value


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(
    text: str, limit: int, *, measure: Callable[[str], int] = len, max_parts: int = 0
) -> tuple[list[str], int]:
    """``text`` in parts of at most ``limit`` (as ``measure`` counts), and how many characters
    of it were dropped because they would not fit in ``max_parts`` parts (0: no cap)."""
    if limit < 1 or (max_parts and limit <= measure(MORE)):
        raise ValueError(f"limit must be more than {measure(MORE) if max_parts else 0}")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest) <= limit:
            parts.append(rest)
            break
        if max_parts and len(parts) == max_parts - 1:  # the last part: end it with MORE
            cut = _cut(rest, limit - measure(MORE), measure)
            parts.append(rest[:cut].rstrip() + MORE)
            return parts, len(rest[cut:].strip())
        cut = _cut(rest, limit, measure)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts, 0


def _cut(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """Where to end a part of ``text``: the last good boundary that fits, else the most that
    fits (never inside a character)."""
    fits = _fits(text, limit, measure)
    for boundary in _BOUNDARIES:
        ends = [m.start() for m in boundary.finditer(text, 0, fits + 1) if 0 < m.start() <= fits]
        if ends and ends[-1] >= fits // 3:  # not a tiny first part
            return ends[-1]
    return max(fits, 1)


def _fits(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The longest prefix length of ``text`` whose measure is within ``limit``."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def retry_after(headers: Mapping[str, str], default: float = 1.0) -> float:
    """The seconds an HTTP 429 or 503 asks to wait: ``Retry-After`` as seconds or as a date."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())


class Pace:
    """A token bucket: up to ``burst`` calls at once, then ``rate`` calls a second."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next call may go; calls go in the order they waited."""
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._tokens, self._stamp = 1.0, time.monotonic()
            self._tokens -= 1
