"""A server that speaks just the SASL part of IRCv3, since ngircd has none.

In a transport test::

    server = SaslServer({"demobot": "s3cret"}); await server.start()
    # connect a client to server.port; then server.logins == ["demobot"]

It answers CAP LS/REQ/END, AUTHENTICATE PLAIN with 900/903 or 904, then registration (001,
422) and JOIN, and keeps every line it heard. Fixture: ``sasl_ircd`` (knows the account
``demobot`` with the password ``s3cret``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from .irc import SERVER_NAME, IrcLine, parse_line


@dataclass
class _Session:
    nick: str = "*"
    user: bool = False
    negotiating: bool = False
    welcomed: bool = False


class SaslServer:
    """Just enough of an IRCv3 server to log a client in with SASL PLAIN; see the module.

    ``heard`` keeps every line received, ``logins`` the accounts that logged in, ``refused``
    the ones that did not."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts
        self.heard: list[str] = []
        self.logins: list[str] = []
        self.refused: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for client in list(self._clients):
                client.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session()
        self._clients.add(writer)
        try:
            while raw := await reader.readline():
                line = parse_line(raw)
                self.heard.append(raw.decode().rstrip("\r\n"))
                for answer in self._answer(session, line):
                    answer = answer if answer.startswith(":") else f":{SERVER_NAME} {answer}"
                    writer.write(f"{answer}\r\n".encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    def _answer(self, session: _Session, line: IrcLine) -> list[str]:
        command, params, nick = line.command, line.params, session.nick
        if command == "CAP" and params[:1] == ("LS",):
            session.negotiating = True
            return ["CAP * LS :sasl=PLAIN"]
        if command == "CAP" and params[:1] == ("REQ",):
            answer = "ACK" if params[1].split() == ["sasl"] else "NAK"
            return [f"CAP {nick} {answer} :{params[1]}"]
        if command == "AUTHENTICATE":
            return self._authenticate(nick, params[0])
        if command == "CAP" and params[:1] == ("END",):
            session.negotiating = False
        elif command == "NICK":
            session.nick = params[0]
        elif command == "USER":
            session.user = True
        elif command == "JOIN":
            return [f":{nick}!{nick}@sasl.test JOIN {params[0]}"]
        elif command == "WHOIS":
            return [f"318 {nick} {params[-1]} :End of WHOIS list"]
        elif command == "PING":
            return [f"PONG {SERVER_NAME} :{params[-1]}"]
        return self._welcome(session)

    def _authenticate(self, nick: str, argument: str) -> list[str]:
        if argument == "PLAIN":
            return ["AUTHENTICATE +"]
        if argument == "*":
            return [f"906 {nick} :SASL authentication aborted"]
        _, account, password = base64.b64decode(argument).decode().split("\0")
        if self.accounts.get(account) == password:
            self.logins.append(account)
            return [f"900 {nick} {nick}!{nick}@sasl.test {account} :You are now logged in",
                    f"903 {nick} :SASL authentication successful"]  # fmt: skip
        self.refused.append(account)
        return [f"904 {nick} :SASL authentication failed"]

    def _welcome(self, session: _Session) -> list[str]:
        if session.welcomed or session.negotiating or not (session.user and session.nick != "*"):
            return []
        session.welcomed = True
        return [f"001 {session.nick} :Welcome", f"422 {session.nick} :MOTD File is missing"]


@pytest_asyncio.fixture
async def sasl_ircd() -> AsyncIterator[SaslServer]:
    server = SaslServer({"demobot": "s3cret"})
    await server.start()
    yield server
    await server.stop()
