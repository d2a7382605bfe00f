"""The demo bot: answers through the echo model, so a fresh install shows the whole path.

>>> you: hello            demo: echo: hello          (core -> echo worker -> core)
>>> you: ping             demo: pong                 (answered by the core alone)
>>> you: slow 2000 hi     demo: echo: hi             (the model takes 2 s)
>>> you: fail             demo: Something went wrong...  (the model raises: an error reply)
"""

from __future__ import annotations

from .bot import Bot, Context, command, fallback


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
        outputs = await ctx.infer("echo", text=text or "...", delay_ms=int(delay))
        return f"echo: {outputs['text']}"

    @command("fail", help="make the model fail, to see how errors look")
    async def fail(self, ctx: Context) -> str:
        await ctx.infer("echo", text=ctx.args, fail=True)
        return "the model did not fail"

    @fallback
    async def echo(self, ctx: Context) -> str:
        outputs = await ctx.infer("echo", text=ctx.args)
        return f"echo: {outputs['text']}"
