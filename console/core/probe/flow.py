"""The parts of a ladder that IMAP and SMTP share: running it to a result, connecting, TLS facts."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from console.core.model import CheckResult, Security
from console.core.model import Stage as S
from console.core.probe.steps import Ladder, StageFailure, close_connection, open_socket
from console.core.probe.tls import client_context, tls_info


class SocketSession:
    """The socket the ladder connected, handed to a protocol object (aioimaplib's or
    aiosmtplib's); TLS, implicit or after STARTTLS, upgrades that same transport."""

    protocol: Any  # the library's protocol object; subclasses name its type

    def __init__(self, protocol: asyncio.BaseProtocol) -> None:
        self._loop = asyncio.get_running_loop()
        self.protocol = protocol
        self._sock: socket.socket | None = None
        self._raw: asyncio.Transport | None = None
        self.tls_transport: asyncio.Transport | None = None

    async def attach(self, sock: socket.socket) -> None:
        """Hand our connected socket to the protocol (input stays paused until the greeting)."""
        self._sock = sock
        transport, _ = await self._loop.create_connection(lambda: self.protocol, sock=sock)
        self._raw = transport

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        """Handshake on the current transport (implicit TLS, or after STARTTLS was accepted)."""
        assert self._raw is not None
        tls = await self._loop.start_tls(
            self._raw, self.protocol, context, server_hostname=server_hostname
        )
        assert tls is not None
        self.tls_transport = tls
        self.protocol.transport = tls

    async def close_transports(self) -> None:
        """Close TLS and raw transports; the socket is really closed when this returns."""
        await close_connection(self._sock, self.tls_transport, self._raw)

    async def aclose(self) -> None:
        await self.close_transports()


async def run_ladder(
    ladder: Ladder, session: SocketSession, body: Callable[[], Awaitable[None]]
) -> CheckResult:
    """Every outcome becomes a result; the connection is closed whatever happened."""
    try:
        await body()
        return ladder.ok()
    except StageFailure as failure:
        return ladder.failed(failure)
    except Exception as exc:  # a bug here must still end as a result, not a crash
        return ladder.crashed(exc)
    finally:
        await session.aclose()


async def connect(ladder: Ladder, session: SocketSession, local_addr: str | None) -> socket.socket:
    """dns and connect, then the tls stage for implicit TLS (a STARTTLS upgrade comes later)."""
    settings = ladder.settings
    sock = await open_socket(ladder, local_addr)
    if settings.security is Security.TLS:
        async with ladder.stage(S.TLS) as note:
            await session.attach(sock)
            await session.start_tls(client_context(settings.tls_ca_file), settings.host)
            note.detail = record_tls(ladder, session)
    else:
        await session.attach(sock)
    return sock


def record_tls(ladder: Ladder, session: SocketSession) -> str:
    """TLS version, cipher and certificate go to facts and warnings; returns a one-line summary."""
    transport = session.tls_transport
    if transport is None:
        return ""
    info = tls_info(transport)
    ladder.facts.update(info.facts())
    for warning in info.warnings():
        ladder.warn(warning)
    return info.describe()
