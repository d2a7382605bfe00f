"""Console: chat with a bot on stdin/stdout. The smallest complete transport.

    $ botwerk transport console --bot demo
    you> hello
    demo> echo: hello

Reads one message per line until end of input (or ``/quit``), then waits for the replies still
due and exits, so ``printf 'hello\\nping\\n' | botwerk up`` is a scriptable chat. Replies print
as ``<bot>> text``; an error reply as ``<bot>! text``. Where the console may talk to several
bots (``botwerk up`` runs a few), a line starting ``@name`` goes to that bot, and ``/bot name``
makes it the one plain lines go to.
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

# Sections, in the same order in every transport module:
# 1. platform event -> envelope (pure); 2. reply -> platform call (pure); 3. the transport.


# 1. Platform event -> envelope.
def parse_line(line: str) -> str | None:
    """The message in a typed line; None for a blank line."""
    text = line.strip()
    return text or None


def addressed(text: str, bots: tuple[str, ...]) -> str | None:
    """The bot a message names with a leading ``@name`` (one of ``bots``), else None."""
    first = text.split(maxsplit=1)[0]
    name = first.removeprefix("@").rstrip(":,").lower()
    return name if first.startswith("@") and name in bots else None


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
            if text is not None and not self._switch(text, gateway.bots):
                await gateway.submit(
                    conversation="console", user=self.user, text=text,
                    bot=addressed(text, gateway.bots) or self.bot,
                )  # fmt: skip

    def _switch(self, text: str, bots: tuple[str, ...]) -> bool:
        """Handle ``/bot NAME``; True when ``text`` was that command."""
        command, _, name = text.partition(" ")
        if command != "/bot":
            return False
        if name.strip().lower() in bots:
            self.bot = name.strip().lower()
            self._print(f"Now chatting with {self.bot}.")
        else:
            self._print(f"No bot {name.strip()!r} here; there are: {', '.join(bots)}.")
        return True

    def _greeting(self, bots: tuple[str, ...]) -> str:
        others = [b for b in bots if b != self.bot]
        if not others:
            return f"Chatting with {self.bot}. Type `help`, or Ctrl-D to leave."
        return (
            f"Chatting with {self.bot}; also here: {', '.join(others)}. Type `help`; start a "
            f"line with @{others[0]} to ask another bot, or `/bot {others[0]}` to switch. "
            "Ctrl-D leaves."
        )

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
