"""Scheduled posts: ``[schedules.NAME]`` tables of botwerk.toml, run by Celery beat.

A schedule posts a fixed ``text``, or sends a ``prompt`` that its bot answers, to one
conversation of one transport, every so often (``every``) or at the times of a cron line::

    [schedules.morning]            # billybard continues "Good morning" in #poetry at 08:00 UTC
    cron = "0 8 * * *"
    bot = "billybard"
    transport = "slack"
    conversation = "#poetry"
    prompt = "Good morning"

    [schedules.heartbeat]          # a fixed text every five minutes
    every = "5m"                   # seconds, or "30s", "5m", "1h"
    bot = "demo"
    transport = "console"
    conversation = "console"
    text = "still here"
    ttl_s = 600                    # dropped if the transport is down longer (default post_ttl_s)

>>> found = parse({"tick": {"every": "30s", "bot": "demo", "transport": "web",
...                         "conversation": "c", "text": "hi"}})
>>> found["tick"].every_s, slot_of(found["tick"], 95.0)
(30.0, 3)

``botwerk scheduler`` runs beat and a worker of the queue ``{ns}.scheduled``
(:mod:`.firing`); ``botwerk schedules`` lists them. Cron lines are read in UTC.

At most one post per tick, however many schedulers run: every tick has a *slot*, the same
number in every scheduler (an interval is aligned to the epoch clock, so its slot is
``floor(now / every)``; a cron tick's slot is its minute, ``floor(now / 60)``). Before
posting, the task claims ``schedule:<NAME>:<slot>`` in the shared store (set if absent, with
a time to live): one scheduler wins, the others log a skip. The post's message id is made
from the namespace, the name and the slot too, so even a post published twice (a claim lost
with its store) is dropped by the transport's duplicate check.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from celery.schedules import crontab, schedstate
from celery.schedules import schedule as interval

from botwerk.infra.settings import ConfigError, config_path, typed_table

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
CRON_SLOT_S = 60
"""a cron tick's slot is its minute: cron lines have no finer field"""


class Schedule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[schedules.NAME]`` table, checked (:func:`parse` makes them)."""

    bot: str
    transport: str
    conversation: str
    every: float | str | None = None
    cron: str | None = None
    thread: str | None = None
    text: str | None = None
    prompt: str | None = None
    ttl_s: int | None = None

    @property
    def every_s(self) -> float | None:
        """``every`` in seconds (None for a cron schedule)."""
        return None if self.every is None else _seconds(self.every)

    @property
    def when(self) -> str:
        """How it runs, as a person reads it: ``every 30s`` or ``cron 0 8 * * *``."""
        if self.every is None:
            return f"cron {self.cron}"
        return f"every {self.every}" if isinstance(self.every, str) else f"every {self.every:g}s"


def parse(tables: Mapping[str, Any]) -> dict[str, Schedule]:
    """Every ``[schedules.NAME]`` table checked; the first bad one raises :class:`ConfigError`
    naming the table and the key (``[schedules.morning] in botwerk.toml: cron: ...``)."""
    return {name: _one(name, table) for name, table in tables.items()}


def _one(name: str, table: Any) -> Schedule:
    where = f"[schedules.{name}] in {config_path()}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of keys (bot, transport, ...)")
    found = typed_table(table, where, Schedule)
    if (found.every is None) == (found.cron is None):
        raise ConfigError(f'{where}: every, cron: give exactly one (every = "5m" or cron = ...)')
    if (found.text is None) == (found.prompt is None):
        raise ConfigError(f"{where}: text, prompt: give exactly one (posted as is, or answered)")
    for key in ("bot", "transport", "conversation"):
        if not getattr(found, key).strip():
            raise ConfigError(f"{where}: {key}: must not be empty")
    if found.ttl_s is not None and not 0 < found.ttl_s <= 30 * 24 * 3600:
        raise ConfigError(f"{where}: ttl_s: {found.ttl_s} is not 1 to 2592000 (30 days)")
    if found.every is not None:
        _check_every(found.every, where)
    else:
        cron(found, where)
    return found


def _check_every(every: float | str, where: str) -> None:
    try:
        seconds = _seconds(every)
    except ValueError:
        raise ConfigError(
            f'{where}: every: {every!r} is not a duration: use seconds or "30s", "5m", "1h"'
        ) from None
    if not seconds >= 1:
        raise ConfigError(f"{where}: every: {every!r} is under a second; use 1 or more")


def _seconds(every: float | str) -> float:
    if isinstance(every, int | float):
        return float(every)
    match = _EVERY.match(every)
    if not match:
        raise ValueError(every)
    return float(match[1]) * _UNITS[match[2]]


def cron(schedule: Schedule, where: str = "") -> crontab:
    """The schedule's cron line as Celery's ``crontab`` (minute hour day month weekday)."""
    fields = (schedule.cron or "").split()
    if len(fields) != 5:
        raise ConfigError(
            f"{where}: cron: {schedule.cron!r} has {len(fields)} fields, not 5: "
            'minute hour day-of-month month day-of-week, such as "0 8 * * *"'
        )
    minute, hour, day, month, weekday = fields
    try:
        return crontab(minute, hour, day_of_week=weekday, day_of_month=day, month_of_year=month)
    except ValueError as exc:
        raise ConfigError(f"{where}: cron: {schedule.cron!r}: {exc}") from None


class Aligned(interval):  # type: ignore[misc]
    """An interval whose ticks fall on multiples of it on the epoch clock, not counted from
    when beat started: so two schedulers tick in the same slots (see the module's text)."""

    def is_due(self, last_run_at: datetime) -> schedstate:
        every, now = self.run_every.total_seconds(), time.time()
        due = math.floor(now / every) > math.floor(last_run_at.timestamp() / every)
        return schedstate(due, (math.floor(now / every) + 1) * every - now)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        every, now = self.run_every.total_seconds(), time.time()
        return timedelta(seconds=(math.floor(now / every) + 1) * every - now)


def when(schedule: Schedule) -> interval | crontab:
    """What beat runs ``schedule`` by."""
    every = schedule.every_s
    return Aligned(timedelta(seconds=every)) if every is not None else cron(schedule)


def slot_of(schedule: Schedule, now: float) -> int:
    """The number of the tick at ``now`` (epoch seconds): equal in every scheduler."""
    return math.floor(now / (schedule.every_s or CRON_SLOT_S))


def next_run(schedule: Schedule, now: float) -> datetime:
    """When ``schedule`` fires next after ``now`` (epoch seconds), in UTC."""
    every = schedule.every_s
    if every is not None:
        return datetime.fromtimestamp((math.floor(now / every) + 1) * every, UTC)
    moment = datetime.fromtimestamp(now, UTC)
    line = cron(schedule)
    line.nowfun = lambda: moment  # "now" is ``now``, not the clock
    remaining: timedelta = line.remaining_estimate(moment)
    return moment + remaining


def listing(schedules: Mapping[str, Schedule], now: float) -> list[dict[str, Any]]:
    """One row per schedule, for ``botwerk schedules`` (its table and its ``--json``)."""
    return [
        {
            "name": name,
            "when": s.when,
            "next": next_run(s, now).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "bot": s.bot,
            "transport": s.transport,
            "conversation": s.conversation,
            "thread": s.thread,
            "kind": "text" if s.text is not None else "prompt",
            "says": s.text if s.text is not None else s.prompt,
        }
        for name, s in sorted(schedules.items())
    ]
