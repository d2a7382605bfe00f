"""The demo bot: answers through the echo model, so a fresh install shows the whole path.

A chat with it (``make run``), each reply with the path it took::

    you: hello            demo: echo: hello          (core -> echo worker -> core)
    you: ping             demo: pong                 (answered by the core alone)
    you: slow 2000 hi     demo: echo: hi             (the model takes 2 s)
    you: fail             demo: Something went wrong...  (the model raises: an error reply)
    you: remind me in 10 minutes to stretch
                          demo: OK: in 10 minutes (at 08:14 UTC) I'll say it here.
    ...ten minutes later, unasked:
                          demo: Reminder for you: stretch
                          (a post: infra/reminders.py keeps it, whichever core is up then)
"""

from __future__ import annotations

import re
import time

from botwerk.cores.bot import Bot, Context, command, fallback
from botwerk.schemas.models.echo import MAX_DELAY_MS, EchoInput

SAY_SOMETHING = "Say something and I'll echo it back; `help` lists my commands."
REMIND_USAGE = (
    "Usage: remind me in 10 minutes to stretch (seconds, minutes, hours or days; "
    "at most 7 days ahead)."
)
MAX_REMIND_S = 7 * 24 * 3600
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_REMIND = re.compile(
    r"^(?:me\s+)?(?:in\s+)?(\d+(?:\.\d+)?)\s*"
    r"(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)\b[\s,:]*(?:to\s+|that\s+)?(.*)$",
    re.IGNORECASE | re.DOTALL,
)


def parse_reminder(args: str) -> tuple[float, str] | None:
    """``"me in 10 minutes to stretch"`` -> ``(600.0, "stretch")``; None when it does not parse.

    >>> parse_reminder("me in 90s to check the oven")
    (90.0, 'check the oven')
    >>> parse_reminder("tomorrow") is None
    True
    """
    found = _REMIND.match(args.strip())
    if found is None or not found[3].strip():
        return None
    return float(found[1]) * _UNIT_S[found[2][0].lower()], found[3].strip()


def _in_words(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


class DemoBot(Bot):
    name = "demo"
    description = "I repeat what you say, through the echo model. Commands:"

    @command("help", help="this list", aliases=("?",))
    async def help(self, ctx: Context) -> str:
        return self.help_text()

    @command("ping", help="answer at once, without any model")
    async def ping(self, ctx: Context) -> str:
        return "pong"

    @command("slow", help="`slow MS text`: echo, with the model taking MS milliseconds")
    async def slow(self, ctx: Context) -> str:
        delay, _, text = ctx.args.partition(" ")
        if not delay.isdigit():
            return "Usage: slow MS text, for example `slow 1500 hello`."
        # The model cuts a longer delay to MAX_DELAY_MS anyway; cutting it here keeps a huge
        # number from overflowing the wire's 64-bit integers.
        asked = EchoInput(text=text or "...", delay_ms=min(int(delay), MAX_DELAY_MS))
        outputs = await ctx.infer("echo", asked)
        return f"echo: {outputs.text}"

    @command("fail", help="make the model fail, to see how errors look")
    async def fail(self, ctx: Context) -> str:
        await ctx.infer("echo", EchoInput(text=ctx.args, fail=True))
        return "the model did not fail"

    @command("remind", help="`remind me in 10 minutes to stretch`: I'll say it here then, unasked")
    async def remind(self, ctx: Context) -> str:
        parsed = parse_reminder(ctx.args)
        if parsed is None:
            return REMIND_USAGE
        delay_s, what = parsed
        if delay_s > MAX_REMIND_S:
            return f"That is too far ahead: at most 7 days from now. {REMIND_USAGE}"
        who = ctx.message.user.name or "you"
        due = await ctx.post_later(delay_s, f"Reminder for {who}: {what}")
        at = time.strftime("%H:%M UTC", time.gmtime(due))
        return f"OK: in {_in_words(delay_s)} (at {at}) I'll say it here."

    @fallback
    async def echo(self, ctx: Context) -> str:
        if not ctx.args:  # a blank message: nothing to echo, so say what to do
            return SAY_SOMETHING
        outputs = await ctx.infer("echo", EchoInput(text=ctx.args))
        return f"echo: {outputs.text}"
