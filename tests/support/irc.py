"""IRC for transport tests: a real ngircd on loopback, a raw IRC user, and a SASL server.

In a transport test::

    ircd = Ngircd(tmp_path); ircd.start()          # a plain and a TLS port on 127.0.0.1
    ann = await IrcUser.connect(ircd.port, "ann", channels=("#room",))
    await ann.say("#room", "demobot: ping")
    [line] = await ann.expect(1, to="#room")        # line.raw, line.at, line.text ...

:class:`Ngircd` runs Debian's ``/usr/sbin/ngircd -n -f CONF`` (foreground) with a config
written into the test's folder, so it needs nothing in /etc/ngircd. Started as root it drops
to the user ``nobody`` by itself (it refuses ServerUID 0) after reading its config and
certificate, so the config sets no PidFile: nobody could not write into pytest's 0700
folders. ``MaxPenaltyTime = 0`` turns ngircd's own flood penalties off, so what a test
measures is the client's pacing. The TLS port uses a self-signed certificate for
``localhost``/127.0.0.1 made with ``openssl req -x509`` and fixed ffdhe2048 DH parameters
(ngircd would otherwise spend a second generating its own). :meth:`Ngircd.stop` and
:meth:`Ngircd.start` keep the ports, for reconnect tests; :meth:`Ngircd.freeze` stops the
process (SIGSTOP) for dead-server tests.

ngircd has no SASL: :mod:`.irc_sasl` plays a server that has.

Fixtures: ``ircd`` (a started :class:`Ngircd`; without ngircd installed the test is skipped,
or fails where ``BOTWERK_REQUIRE_BROKER=1`` says servers must be there) and ``irc_user``
(``await irc_user(port, nick, channels=...)``, quit at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from .ports import free_port
from .waiting import eventually

NGIRCD = Path(os.environ.get("BOTWERK_NGIRCD", "/usr/sbin/ngircd"))
SERVER_NAME = "irc.botwerk.test"
CONFIG = """[Global]
Name = {name}
Info = Botwerk test server
AdminInfo1 = Botwerk tests
AdminInfo2 = loopback
AdminEMail = tests@botwerk.test
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = "Botwerk test server"
[Limits]
MaxNickLength = 30
MaxPenaltyTime = 0
MaxConnectionsIP = 0
[Options]
DNS = no
Ident = no
PAM = no
[SSL]
CertFile = {folder}/cert.pem
KeyFile = {folder}/key.pem
DHFile = {folder}/dh.pem
Ports = {tls_port}
"""


def self_signed(folder: Path) -> Path:
    """A certificate (and key, and DH parameters) for localhost and 127.0.0.1; its path."""
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-keyout", str(folder / "key.pem"),
         "-out", str(folder / "cert.pem"), *subject],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048",
         "-out", str(folder / "dh.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / "cert.pem"


class Ngircd:
    """One ngircd process on 127.0.0.1: ``port`` (plain) and ``tls_port``; see the module."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port, self.tls_port = free_port(), free_port()
        self.cert = self_signed(folder)
        self.conf = folder / "ngircd.conf"
        self.conf.write_text(
            CONFIG.format(name=SERVER_NAME, port=self.port, tls_port=self.tls_port, folder=folder)
        )
        self.log = folder / "ngircd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start ngircd and return once both ports take connections."""
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(NGIRCD), "-n", "-f", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        give_up = time.monotonic() + timeout
        for port in (self.port, self.tls_port):
            while not _accepts(port):
                if not self.running or time.monotonic() > give_up:
                    self.stop()
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"ngircd did not start on port {port}; its log:\n{tail}")
                time.sleep(0.01)

    def stop(self) -> None:
        """Stop ngircd (its clients see the connection close); never raises."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)  # in case it was frozen
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def freeze(self, frozen: bool = True) -> None:
        """Stop (SIGSTOP) or resume (SIGCONT) the process: a server that hangs, sockets open."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class IrcLine:
    """One line a client received, as sent (``raw``, CRLF included) and parsed."""

    raw: bytes
    at: float  # time.monotonic() on arrival
    source: str  # the sender's nick, or the server's name
    command: str
    params: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.params[0] if self.params else ""

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""


def parse_line(raw: bytes, at: float = 0.0) -> IrcLine:
    line = raw.decode("utf-8", "replace").rstrip("\r\n")
    tags: dict[str, str] = {}
    if line.startswith("@"):
        tag_text, _, line = line.partition(" ")
        tags = {k: v for k, _, v in (t.partition("=") for t in tag_text[1:].split(";"))}
    source = ""
    if line.startswith(":"):
        prefix, _, line = line.partition(" ")
        source = prefix[1:].split("!")[0]
    head, colon, trailing = line.partition(" :")
    words = head.split()
    params = (*words[1:], trailing) if colon else tuple(words[1:])
    return IrcLine(raw, at, source, words[0].upper() if words else "", params, tags)


class IrcUser:
    """A person on IRC: a raw client that registers, joins, talks and keeps every line."""

    def __init__(
        self, nick: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.nick = nick
        self.lines: list[IrcLine] = []
        self._reader, self._writer = reader, writer
        self._task = asyncio.create_task(self._read(), name=f"irc-user-{nick}")

    @classmethod
    async def connect(cls, port: int, nick: str, *, channels: tuple[str, ...] = ()) -> IrcUser:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        user = cls(nick, reader, writer)
        await user.send(f"NICK {nick}")
        await user.send(f"USER {nick} 0 * :{nick}")
        welcome = await user.wait_for(lambda m: m.command in ("376", "422", "433"), what="MOTD")
        if welcome.command == "433":
            raise RuntimeError(f"nick {nick} is taken")
        for channel in channels:
            await user.join(channel)
        return user

    async def join(self, channel: str) -> None:
        await self.send(f"JOIN {channel}")
        await self.wait_for(lambda m: m.command == "JOIN" and m.source == self.nick, what="JOIN")

    async def say(self, target: str, text: str) -> None:
        await self.send(f"PRIVMSG {target} :{text}")

    async def send(self, line: str) -> None:
        self._writer.write(line.encode() + b"\r\n")
        await self._writer.drain()

    def privmsgs(self, to: str | None = None) -> list[IrcLine]:
        """The PRIVMSG lines received so far, those sent to ``to`` if given."""
        return [m for m in self.lines if m.command == "PRIVMSG" and to in (None, m.target)]

    async def expect(
        self, count: int, *, to: str | None = None, timeout: float = 10.0
    ) -> list[IrcLine]:
        """The first ``count`` PRIVMSGs (to ``to``), once they are there."""
        what = f"{count} PRIVMSG(s) to {to or 'anyone'} reached {self.nick}"
        await eventually(lambda: len(self.privmsgs(to)) >= count, timeout, what)
        return self.privmsgs(to)[:count]

    async def wait_for(
        self, check: Callable[[IrcLine], bool], timeout: float = 10.0, what: str = ""
    ) -> IrcLine:
        """The first line received so far or later for which ``check`` is true."""
        await eventually(lambda: any(map(check, self.lines)), timeout, what or str(check))
        return next(m for m in self.lines if check(m))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("QUIT :bye"), 1)
        self._writer.close()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task

    async def _read(self) -> None:
        while raw := await self._reader.readline():
            line = parse_line(raw, time.monotonic())
            if line.command == "PING":
                await self.send(f"PONG :{line.text}")
            self.lines.append(line)


@pytest.fixture
def ircd(tmp_path: Path) -> Iterator[Ngircd]:
    """A running ngircd for one test (plain ``port``, ``tls_port``); stopped afterwards."""
    if not NGIRCD.exists():
        message = f"no IRC server at {NGIRCD}: install Debian's ngircd (apt-get install ngircd)"
        if os.environ.get("BOTWERK_REQUIRE_BROKER") == "1":
            pytest.fail(message + " (BOTWERK_REQUIRE_BROKER=1: servers may not be missing)")
        pytest.skip(message)
    server = Ngircd(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def irc_user() -> AsyncIterator[Callable[..., Awaitable[IrcUser]]]:
    """``await irc_user(port, nick, channels=("#room",))``: a registered IrcUser."""
    users: list[IrcUser] = []

    async def connect(port: int, nick: str, *, channels: tuple[str, ...] = ()) -> IrcUser:
        users.append(await IrcUser.connect(port, nick, channels=channels))
        return users[-1]

    yield connect
    for user in users:
        await user.close()
