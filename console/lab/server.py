"""What both lab servers share: listening, per-connection I/O with scripted misbehaviour,
recording, counters, and a stop() that leaves no socket, transport or task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import struct
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar, cast

from console.core.model import Security
from console.lab.ca import LabCA
from console.lab.scenario import Action, Hostile, ImapScenario, SmtpScenario

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LINE_LIMIT = 64 * 1024
SSL_HANDSHAKE_TIMEOUT = 10.0
SSL_SHUTDOWN_TIMEOUT = 2.0
_NOISE = bytes(b for b in random.Random(7).randbytes(48) if b not in (10, 13))
DEFAULT_GARBAGE = (
    b"\x00\xff\xfe\x16\x03\x01 GARBAGE \x1b[2J\x1b[31m[bold]not[/] a mail server\x07 "
    + _NOISE
    + b"\r\n"
)

S = TypeVar("S", ImapScenario, SmtpScenario)


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


class Closed(Exception):
    """The conversation is over (client gone, hostile end, BYE/421 sent)."""


class Link(Generic[S]):
    """One accepted connection: reading with limits, writing with delay/drip, misbehaving."""

    def __init__(
        self,
        server: LabServer[S],
        number: int,
        scenario: S,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server: LabServer[S] = server
        self.number = number
        self.scenario: S = scenario
        self.reader = reader
        self.writer = writer
        self.raw = cast(asyncio.Transport, writer.transport)
        self.tls = False
        self.delay = scenario.delay_ms / 1000
        self.drip: float | None = None
        self.hostile: Hostile | None = scenario.hostile
        self.gone = False

    async def readline(self) -> bytes:
        """One line without its CRLF; `Closed` at EOF or after the idle timeout."""
        try:
            async with asyncio.timeout(self.server.idle_timeout):
                line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            raise Closed from exc
        except asyncio.LimitOverrunError:
            await self.send(self.server.too_long)
            raise Closed from None
        except TimeoutError:
            await self.send(self.server.idle_bye)
            raise Closed from None
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        self.server.record(self, line)
        return line

    async def readexactly(self, size: int) -> bytes:
        try:
            async with asyncio.timeout(self.server.idle_timeout):
                data = await self.reader.readexactly(size)
        except (asyncio.IncompleteReadError, TimeoutError) as exc:
            raise Closed from exc
        self.server.record(self, data)
        return data

    async def send(self, data: bytes) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.drip is not None:
            for i in range(len(data)):
                self.writer.write(data[i : i + 1])
                await self.writer.drain()
                await asyncio.sleep(self.drip)
            return
        self.writer.write(data)
        await self.writer.drain()

    async def start_tls(self, ctx: ssl.SSLContext) -> None:
        # Plaintext pipelined after STARTTLS must not be read as if it came over TLS.
        buffered = getattr(self.reader, "_buffer", None)
        if buffered:
            buffered.clear()
        await self.writer.start_tls(ctx, ssl_handshake_timeout=SSL_HANDSHAKE_TIMEOUT)
        self.tls = True

    async def misbehave(self, stage: str, command: str | None = None) -> None:
        """Run the scenario's hostile action if it is due here; `Closed` if that ends the talk."""
        hostile = self.hostile
        if hostile is None or not hostile.matches(stage, command):
            return
        self.hostile = None
        action = hostile.action
        if action is Action.DRIP:
            self.drip = hostile.drip_ms / 1000
            return
        if action is Action.CLOSE:
            raise Closed
        if action is Action.RESET:
            self.reset()
            raise Closed
        if action is Action.GARBAGE:
            await self.send(hostile.garbage if hostile.garbage is not None else DEFAULT_GARBAGE)
            if hostile.close_after:
                raise Closed
        elif action is Action.LONG_LINE:
            await self._long_line(hostile.long_line_bytes)
        await self.hang()

    async def hang(self) -> None:
        """Say nothing more; read (and record) until the client leaves or the idle timeout."""
        self.raw.resume_reading()  # paused before an implicit-TLS handshake that never comes
        self.delay = 0.0
        pending = b""
        try:
            async with asyncio.timeout(self.server.idle_timeout):
                while data := await self.reader.read(LINE_LIMIT):
                    *lines, pending = (pending + data).split(b"\n")
                    for line in lines:
                        self.server.record(self, line.removesuffix(b"\r"))
                    pending = pending[-LINE_LIMIT:]
        except TimeoutError:
            pass
        if pending:
            self.server.record(self, pending)
        raise Closed

    async def _long_line(self, limit: int) -> None:
        chunk = b"x" * 16384
        sent = 0
        while sent < limit and not self.writer.is_closing():
            self.writer.write(chunk)
            await self.writer.drain()
            sent += len(chunk)

    def reset(self) -> None:
        sock = self.raw.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.raw.abort()

    async def close(self) -> None:
        """Close politely (TLS close_notify included), but never wait long."""
        if self.server.stopping:
            self.raw.abort()
            return
        self.writer.close()
        try:
            async with asyncio.timeout(SSL_SHUTDOWN_TIMEOUT + 0.5):
                await self.writer.wait_closed()
        except (OSError, TimeoutError, ssl.SSLError):
            pass
        finally:
            if not self.raw.is_closing():
                self.raw.abort()


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
        self._live: set[Link[S]] = set()
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
        self._live.add(link)
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
        self._live.discard(link)
        self.connections_current -= 1
        if self._waiters:
            self._changed()

    def _changed(self) -> None:
        for future, predicate in list(self._waiters):
            if not future.done() and predicate(self):
                future.set_result(None)
