"""One accepted lab connection: bounded reads, writes with delay or drip, scripted misbehaviour."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import struct
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from console.lab.scenario import Action, Hostile, ImapScenario, SmtpScenario

if TYPE_CHECKING:
    from console.lab.server import LabServer

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


class Closed(Exception):
    """The conversation is over (client gone, hostile end, BYE/421 sent)."""


class Link(Generic[S]):
    """One accepted connection: reading with limits, writing with delay/drip, misbehaving."""

    def __init__(
        self,
        server: LabServer[Any],
        number: int,
        scenario: S,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server: LabServer[Any] = server
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
            if exc.partial:  # the client's last words, without a line end
                self.server.record(self, exc.partial)
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
                if i:
                    await asyncio.sleep(self.drip)
                self.writer.write(data[i : i + 1])
                await self.writer.drain()
            return
        self.writer.write(data)
        await self.writer.drain()

    def hold(self) -> None:
        """Stop reading before answering STARTTLS: the ClientHello that follows our OK must
        stay in the socket for `start_tls()`, not land in the plaintext buffer."""
        self.raw.pause_reading()

    async def start_tls(self, ctx: ssl.SSLContext) -> None:
        """The TLS handshake (reading is paused until here); `delay` stands in for its RTT."""
        self.raw.pause_reading()
        # Plaintext pipelined after STARTTLS must not be read as if it came over TLS.
        buffered = getattr(self.reader, "_buffer", None)
        if buffered:
            buffered.clear()
        if self.delay:
            await asyncio.sleep(self.delay)
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
