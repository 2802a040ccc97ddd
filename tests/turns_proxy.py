"""A TCP relay on 127.0.0.1 that counts the turns of one conversation.

A turn is a round trip the client waits for: the server says something, and only after that does
the client speak (or hang up). The relay logs which side sent each chunk, in the order it
arrives; runs of chunks from one side are one flight. Every server flight followed by a client
flight (a close counts as one) is a turn. What the client writes and does not wait for (LOGOUT,
QUIT, pipelined commands) joins the flight before it and costs nothing; a TLS handshake counts
as what it is on the wire (TLS 1.3 with a server that speaks first: ClientHello -> server hello
is one turn, client Finished -> greeting the next).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

CHUNK = 65536


@dataclass
class Conversation:
    sides: list[str] = field(default_factory=list)  # "c" / "s" per chunk, "c" for the close too

    def flights(self) -> list[str]:
        merged: list[str] = []
        for side in self.sides:
            if not merged or merged[-1] != side:
                merged.append(side)
        return merged

    @property
    def turns(self) -> int:
        flights = self.flights()
        return sum(1 for a, b in itertools.pairwise(flights) if (a, b) == ("s", "c"))


@dataclass
class TurnsProxy:
    """Relays 127.0.0.1:`port` to 127.0.0.1:`target`; one `Conversation` per connection."""

    target: int
    port: int = 0
    conversations: list[Conversation] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        talk = Conversation()
        self.conversations.append(talk)
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        both = (
            asyncio.ensure_future(_pump(client_r, server_w, "c", talk)),
            asyncio.ensure_future(_pump(server_r, client_w, "s", talk)),
        )
        try:
            await asyncio.gather(*both)
        finally:
            for task in both:
                task.cancel()
            await asyncio.gather(*both, return_exceptions=True)
            # abort, not close: a close waits for unsent data a gone peer never reads, and a
            # transport still closing when the loop ends leaks its socket (ResourceWarning)
            for writer in (client_w, server_w):
                writer.transport.abort()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

    async def __aenter__(self) -> TurnsProxy:
        def start(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(self._relay(r, w))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._server = await asyncio.start_server(start, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def settled(self) -> Conversation:
        """The one conversation, once both sides have finished."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        assert len(self.conversations) == 1, self.conversations
        return self.conversations[0]


@contextlib.asynccontextmanager
async def turns_proxy(target: int) -> AsyncIterator[TurnsProxy]:
    async with TurnsProxy(target) as proxy:
        yield proxy


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: str, talk: Conversation
) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            talk.sides.append(side)
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    if side == "c":
        talk.sides.append("c")  # the client's close is its last flight
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()
