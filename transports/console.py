"""Console: chat with a bot on stdin/stdout. The smallest complete transport.

    $ botwerk transport console --bot demo
    you> hello
    demo> echo: hello

Reads one message per line until end of input (or ``/quit``), then waits for the replies still
due and exits, so ``printf 'hello\\nping\\n' | botwerk up`` is a scriptable chat. Replies print
as ``<bot>> text``; an error reply as ``<bot>! text``. Where the console may talk to several
bots (``botwerk up`` runs a few), a line starting ``@name`` goes to that bot, and ``/bot name``
makes it the one plain lines go to.

The console answers a few lines itself, without asking any bot: a blank line (with what you
can do), ``@name`` for a bot that is not there (with the bots that are; a console has no
people to mention, so ``@`` first always means a bot), and ``/bot``. ``help`` (or ``?``) alone
asks every bot for its help, each reply labelled by its bot as usual; ``help NAME`` asks that
bot only, as ``@NAME help`` does. Limit: replies print as they arrive, so the helps of
several bots come in no fixed order.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from typing import ClassVar, TextIO

from botwerk.infra.settings import Settings
from botwerk.schemas import Reply, User

from .base import Gateway

# What the console itself says, in one place.
EMPTY_LINE = "Type a message for {bot}, `help` to see what you can ask, or Ctrl-D to leave."
HELP_OF_ALL = (
    "What each bot understands (`help NAME` for one; plain lines go to {bot}, "
    "`/bot NAME` switches):"
)
NO_SUCH_BOT = "No bot {name!r} here; there are: {bots}."
NOW_CHATTING = "Now chatting with {bot}."
GREETING_ONE = "Chatting with {bot}. Type `help`, or Ctrl-D to leave."
GREETING_MANY = (
    "Chatting with {bot}; also here: {others}. Type `help` to see what each bot understands; "
    "start a line with @{other} to ask another bot, or `/bot {other}` to switch. Ctrl-D leaves."
)
HELP_WORDS = frozenset({"help", "?"})

# Sections, in the same order in every transport module:
# 1. platform event -> envelope (pure); 2. reply -> platform call (pure); 3. the transport.


# 1. Platform event -> envelope.
def parse_line(line: str) -> str | None:
    """The message in a typed line; None for a blank line."""
    text = line.strip()
    return text or None


def addressed(text: str, bots: tuple[str, ...]) -> str | None:
    """The bot a message names with a leading ``@name`` (one of ``bots``), else None."""
    name = mentioned(text)
    return name if name in bots else None


def mentioned(text: str) -> str | None:
    """The name after a leading ``@`` (lower case, any ``:`` or ``,`` after it dropped).

    >>> mentioned("@Nobody: hi"), mentioned("@ hi"), mentioned("mail @demo")
    ('nobody', None, None)
    """
    first = text.split(maxsplit=1)[0]
    name = first.removeprefix("@").rstrip(":,").lower()
    return name if first.startswith("@") and name else None


def asked_help(text: str, bots: tuple[str, ...]) -> tuple[str, ...]:
    """The bots whose help a line asks for: all for ``help`` alone, one for ``help NAME``.

    >>> asked_help("help", ("billybard", "demo")), asked_help("? demo", ("billybard", "demo"))
    (('billybard', 'demo'), ('demo',))
    >>> asked_help("help me", ("billybard", "demo"))   # not a bot's name: the bot's to read
    ()
    """
    word, _, name = text.lower().partition(" ")
    if word not in HELP_WORDS:
        return ()
    if not name.strip():
        return bots
    return (name.strip(),) if name.strip() in bots else ()


# 2. Reply -> platform call.
def render(reply: Reply) -> str:
    mark = "!" if reply.error else ">"
    return f"{reply.bot}{mark} {reply.text}"


# 3. The transport.
class ConsoleTransport:
    """One local user on stdin/stdout."""

    name: ClassVar[str] = "console"
    max_text: ClassVar[int | None] = None
    recoverable_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    QUIT = frozenset({"/quit", "/exit"})

    def __init__(
        self,
        settings: Settings,
        bot: str,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.bot = bot
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = self.stdin.isatty()
        self.user = User(id=_login(), name=_login())
        self._stopped = asyncio.Event()

    async def run(self, gateway: Gateway) -> None:
        lines = _read_lines(self.stdin)
        if self.interactive:
            self._print(self._greeting(gateway.bots))
        while not self._stopped.is_set():
            line = await lines.get()
            if line is None:
                break
            text = parse_line(line)
            if text in self.QUIT:
                break
            for bot, said in self._to_send(text, gateway.bots):
                await gateway.submit(conversation="console", user=self.user, text=said, bot=bot)

    def _to_send(self, text: str | None, bots: tuple[str, ...]) -> list[tuple[str, str]]:
        """(bot, text) for each message a line makes; lines the console answers make none."""
        if text is None:
            self._print(EMPTY_LINE.format(bot=self.bot))
            return []
        if self._switch(text, bots):
            return []
        if (name := mentioned(text)) is not None and name not in bots:
            self._print(NO_SUCH_BOT.format(name=name, bots=", ".join(bots)))
            return []
        helped = asked_help(text, bots)
        if len(helped) > 1:
            self._print(HELP_OF_ALL.format(bot=self.bot))
        if helped:
            return [(bot, "help") for bot in helped]
        return [(addressed(text, bots) or self.bot, text)]

    def _switch(self, text: str, bots: tuple[str, ...]) -> bool:
        """Handle ``/bot NAME``; True when ``text`` was that command."""
        command, _, name = text.partition(" ")
        if command != "/bot":
            return False
        if name.strip().lower() in bots:
            self.bot = name.strip().lower()
            self._print(NOW_CHATTING.format(bot=self.bot))
        else:
            self._print(NO_SUCH_BOT.format(name=name.strip(), bots=", ".join(bots)))
        return True

    def _greeting(self, bots: tuple[str, ...]) -> str:
        others = [b for b in bots if b != self.bot]
        if not others:
            return GREETING_ONE.format(bot=self.bot)
        return GREETING_MANY.format(bot=self.bot, others=", ".join(others), other=others[0])

    async def send(self, reply: Reply) -> None:
        self._print(render(reply))

    async def stop(self) -> None:
        self._stopped.set()

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()


def _read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines from ``stream`` read on a daemon thread (it never holds up the process's exit)."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            pass  # the loop closed: the process is exiting

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()
    return lines


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"
