"""What both lab servers share: listening, recording, counters, and a stop() that leaves no
socket, transport or task behind."""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Self

from console.core.model import Security
from console.lab.ca import LabCA
from console.lab.link import LINE_LIMIT, Closed, Link, S
from console.lab.scenario import ImapScenario, SmtpScenario

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Received:
    """One line (CRLF removed) or IMAP literal as the server got it."""

    conn: int  # connection number, 1-based, in accept order
    tls: bool  # it arrived over TLS
    data: bytes


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential the server decoded, accepted or not (the point: where did it travel?)."""

    conn: int
    tls: bool
    mechanism: str  # LOGIN (IMAP command or SMTP mechanism), PLAIN, XOAUTH2
    username: str
    secret: str = field(repr=False)
    accepted: bool = False


class _LabProtocol(asyncio.StreamReaderProtocol):
    """Tracks the raw transport, and pauses it before an implicit-TLS handshake so that the
    ClientHello is not read as plaintext before `start_tls()` takes over the socket."""

    def __init__(self, server: LabServer[Any], scenario: ImapScenario | SmtpScenario) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(asyncio.StreamReader(limit=LINE_LIMIT, loop=loop), self._cb, loop=loop)
        self._lab = server
        self._scenario = scenario
        self._link: Link[Any] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._scenario.security is Security.TLS:
            transport.pause_reading()  # type: ignore[attr-defined]
        super().connection_made(transport)

    def _cb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._link = self._lab._accept(self._scenario, reader, writer)

    def eof_received(self) -> bool | None:
        if self._link is not None:
            self._lab._gone(self._link)
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._link is not None:
            self._lab._gone(self._link)
        super().connection_lost(exc)


class LabServer(ABC, Generic[S]):
    """Base of `LabImapServer` and `LabSmtpServer`: see the package docstring for the API."""

    too_long: bytes = b""
    idle_bye: bytes = b""

    def __init__(
        self,
        scenario: S,
        *,
        ca: LabCA | None = None,
        port: int = 0,
        idle_timeout: float = 120.0,
        record: bool = True,
    ) -> None:
        self.scenario: S = scenario  # may be replaced; applies to the next connections
        self.ca = ca if ca is not None else LabCA.default()
        self.host = HOST
        self.port = port
        self.idle_timeout = idle_timeout
        self.record_lines = record
        self.stopping = False
        self.received: list[Received] = []
        self.credentials: list[Credential] = []
        self.errors: list[BaseException] = []
        self.connections_total = 0
        self.connections_current = 0
        self.max_concurrent = 0
        self.logins_accepted = 0
        self.logins_rejected = 0
        self.auth_commands_before_tls = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._raw: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()
        self._waiters: list[tuple[asyncio.Future[None], Callable[[Any], bool]]] = []

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Self:
        if self._server is not None:
            return self
        if self.scenario.security is not Security.NONE:
            self.ca.server_context(self.scenario.cert)  # build (and cache) before timing starts
        loop = asyncio.get_running_loop()
        self.stopping = False
        self._server = await loop.create_server(
            lambda: _LabProtocol(self, self.scenario), self.host, self.port, backlog=4096
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the listener and every connection now (silent and dripping ones too)."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping = True
        server.close()
        for task in list(self._tasks):
            task.cancel()
        for transport in list(self._raw):
            transport.abort()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()
        for _ in range(3):  # let connection_lost callbacks close the sockets
            await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def running(self) -> bool:
        return self._server is not None

    # ---- what the tests read -----------------------------------------------------------

    def lines(self, conn: int | None = None) -> list[bytes]:
        """Raw received lines (and literals), of one connection or all."""
        return [r.data for r in self.received if conn is None or r.conn == conn]

    def credentials_seen(self) -> list[Credential]:
        return list(self.credentials)

    def saw_auth_before_tls(self) -> bool:
        """Did any client send an auth command, or a credential, over a plaintext connection?"""
        return self.auth_commands_before_tls > 0 or any(not c.tls for c in self.credentials)

    def reset_stats(self) -> None:
        self.received.clear()
        self.credentials.clear()
        self.connections_total = 0
        self.max_concurrent = self.connections_current
        self.logins_accepted = self.logins_rejected = self.auth_commands_before_tls = 0

    async def wait_until(self, predicate: Callable[[Self], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate(server)` holds (re-checked on every connection/line/login)."""
        if predicate(self):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (future, predicate)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            self._waiters.remove(entry)

    # ---- used by the sessions ----------------------------------------------------------

    def record(self, link: Link[S], data: bytes) -> None:
        if self.record_lines:
            self.received.append(Received(link.number, link.tls, data))
        if self._waiters:
            self._changed()

    def credential(
        self, link: Link[S], mechanism: str, username: str, secret: str, accepted: bool
    ) -> None:
        self.credentials.append(
            Credential(link.number, link.tls, mechanism, username, secret, accepted)
        )
        if accepted:
            self.logins_accepted += 1
        else:
            self.logins_rejected += 1
        if self._waiters:
            self._changed()

    def auth_command(self, link: Link[S]) -> None:
        if not link.tls:
            self.auth_commands_before_tls += 1

    @abstractmethod
    async def session(self, link: Link[S]) -> None:
        """The protocol conversation on one connection."""

    # ---- internals ---------------------------------------------------------------------

    def _accept(
        self, scenario: S, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Link[S]:
        self.connections_total += 1
        self.connections_current += 1
        self.max_concurrent = max(self.max_concurrent, self.connections_current)
        link = Link(self, self.connections_total, scenario, reader, writer)
        self._raw.add(link.raw)
        if self.stopping:
            link.raw.abort()
        task = asyncio.get_running_loop().create_task(self._run(link))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(link, t))
        if self._waiters:
            self._changed()
        return link

    async def _run(self, link: Link[S]) -> None:
        try:
            await self.session(link)
        except (Closed, OSError, EOFError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client left, or a scripted end; nothing to report
        finally:
            self._gone(link)
            await link.close()

    def _done(self, link: Link[S], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._gone(link)
        if not link.raw.is_closing():
            link.raw.abort()
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            self.errors.append(exc)
            log.error("lab session %d failed", link.number, exc_info=exc)

    def _gone(self, link: Link[S]) -> None:
        if link.gone:
            return
        link.gone = True
        self.connections_current -= 1
        if self._waiters:
            self._changed()

    def _changed(self) -> None:
        for future, predicate in list(self._waiters):
            if not future.done() and predicate(self):
                future.set_result(None)
