"""The parts of a ladder that IMAP and SMTP share: running it to a result, connecting, TLS facts."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

from console.core.model import CheckResult, Security
from console.core.model import Stage as S
from console.core.probe.steps import Ladder, StageFailure, open_socket
from console.core.probe.tls import client_context, tls_info


class ProbeSession(Protocol):
    """One protocol conversation over a socket the ladder connected (IMAP or SMTP)."""

    @property
    def tls_transport(self) -> asyncio.Transport | None: ...

    async def attach(self, sock: socket.socket) -> None: ...

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> None: ...

    async def aclose(self) -> None: ...


async def run_ladder(
    ladder: Ladder, session: ProbeSession, body: Callable[[], Awaitable[None]]
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


async def connect(ladder: Ladder, session: ProbeSession, local_addr: str | None) -> socket.socket:
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


def record_tls(ladder: Ladder, session: ProbeSession) -> str:
    """TLS version, cipher and certificate go to facts and warnings; returns a one-line summary."""
    transport = session.tls_transport
    if transport is None:
        return ""
    info = tls_info(transport)
    ladder.facts.update(info.facts())
    for warning in info.warnings():
        ladder.warn(warning)
    return info.describe()
