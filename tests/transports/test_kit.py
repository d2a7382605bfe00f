"""What every bridge shares: typed options, secrets, long replies split, pacing, Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import time

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from botwerk.infra.settings import ConfigError, Settings
from botwerk.transports.kit import (
    MORE,
    MissingSecret,
    Pace,
    retry_after,
    secret,
    split_text,
    transport_options,
    utf8_bytes,
)


class Options(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    server: str = "irc.libera.chat"
    port: int = 6697


def test_options_come_from_the_transport_table_and_typos_are_named():
    settings = Settings.load(transports={"irc": {"port": 6667}})
    assert transport_options(settings, "irc", Options) == Options(port=6667)
    assert transport_options(Settings.load(), "irc", Options) == Options()
    with pytest.raises(ConfigError, match=r"\[transports.irc\].*unknown key 'prot'.*'port'"):
        transport_options(Settings.load(transports={"irc": {"prot": 1}}), "irc", Options)
    with pytest.raises(ConfigError, match=r"\[transports.irc\].*port: expected `int`"):
        transport_options(Settings.load(transports={"irc": {"port": "x"}}), "irc", Options)


def test_a_missing_secret_names_its_variable(monkeypatch):
    monkeypatch.setenv("BOTWERK_TEST_TOKEN", "s3cret")
    assert secret("BOTWERK_TEST_TOKEN", "the token") == "s3cret"
    monkeypatch.setenv("BOTWERK_TEST_TOKEN", "  ")
    with pytest.raises(MissingSecret, match=r"^BOTWERK_TEST_TOKEN is not set: export it with"):
        secret("BOTWERK_TEST_TOKEN", "the token")


def test_long_text_is_cut_at_the_best_boundary_that_fits():
    text = "First sentence here. Second one is longer than that.\n\nA new paragraph."
    parts, dropped = split_text(text, 40)
    assert parts == ["First sentence here.", "Second one is longer than that.",
                     "A new paragraph."] and dropped == 0  # fmt: skip
    assert split_text("a" * 25, 10) == (["a" * 10, "a" * 10, "a" * 5], 0)  # no boundary: cut
    with pytest.raises(ValueError, match="limit must be more than"):
        split_text("abc", 2, max_parts=1)
    assert split_text("short", 10) == (["short"], 0)
    assert split_text("", 10) == ([], 0)


def test_past_max_parts_the_rest_is_dropped_and_counted():
    words = " ".join(f"word{i}" for i in range(40))  # 269 characters
    parts, dropped = split_text(words, 50, max_parts=2)
    assert len(parts) == 2 and parts[-1].endswith(MORE) and len(parts[-1]) <= 50
    kept = sum(len(p) for p in parts) - len(MORE)
    assert len(words) - 3 <= kept + dropped <= len(words)  # only the spaces between parts go


@given(st.text(alphabet="aé€𝄞 .\n", max_size=300), st.integers(4, 60))
def test_parts_fit_in_bytes_and_keep_every_character(text, limit):
    parts, dropped = split_text(text, limit, measure=utf8_bytes)
    assert dropped == 0 and all(0 < utf8_bytes(p) <= limit for p in parts)
    assert "".join("".join(p.split()) for p in parts) == "".join(text.split())


def test_retry_after_reads_seconds_or_a_date():
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after": "0.5"}) == 0.5
    assert retry_after({}, default=2.0) == 2.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after({"Retry-After": later}) <= 31


async def test_pace_lets_a_burst_through_then_spaces_the_rest():
    pace = Pace(rate=20.0, burst=3)  # 50 ms apart after the first three
    started = time.monotonic()
    stamps = []
    for _ in range(6):
        await pace.wait()
        stamps.append(time.monotonic() - started)
    assert stamps[2] < 0.03  # the burst went at once
    assert stamps[5] >= 0.14  # three more at 20 a second: at least ~150 ms
    with pytest.raises(ValueError):
        Pace(rate=0)
    await asyncio.sleep(0)
