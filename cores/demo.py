"""The demo bot: answers through the echo model, so a fresh install shows the whole path.

A chat with it (``make run``), each reply with the path it took::

    you: hello            demo: echo: hello          (core -> echo worker -> core)
    you: ping             demo: pong                 (answered by the core alone)
    you: slow 2000 hi     demo: echo: hi             (the model takes 2 s)
    you: fail             demo: Something went wrong...  (the model raises: an error reply)
"""

from __future__ import annotations

from botwerk.cores.bot import Bot, Context, command, fallback
from botwerk.schemas.models.echo import MAX_DELAY_MS, EchoInput

SAY_SOMETHING = "Say something and I'll echo it back; `help` lists my commands."


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

    @fallback
    async def echo(self, ctx: Context) -> str:
        if not ctx.args:  # a blank message: nothing to echo, so say what to do
            return SAY_SOMETHING
        outputs = await ctx.infer("echo", EchoInput(text=ctx.args))
        return f"echo: {outputs.text}"
