"""Host name lookups for a fleet check: one per name, however many accounts share it.

A fleet of 500 mailboxes on `outlook.office365.com` used to ask the system resolver 1,000 times
(once per IMAP and SMTP check, and again for the runner's per-host limit). The `Resolver` asks
once per host name: lookups in flight are shared by everyone who asks meanwhile, an answer is kept
for `ttl` seconds (a fleet run's length; a later run asks again), and a failure is kept only
`failure_ttl` seconds (long enough for the checks already queued behind it, short enough that a
re-test after fixing the name looks again). Names are looked up without a port; each caller gets
the addresses with its own port, in `loop.getaddrinfo`'s shape.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

AddrInfo = tuple[Any, ...]
"""(family, type, proto, canonname, sockaddr), as `loop.getaddrinfo` returns them."""
Resolve = Callable[[str, int], Awaitable[list[AddrInfo]]]
"""`await resolve(host, port)`: the TCP addresses of a host, with that port."""
Lookup = Callable[[str], Awaitable[list[AddrInfo]]]

TTL_SECONDS = 60.0
FAILURE_TTL_SECONDS = 10.0


async def system_lookup(host: str) -> list[AddrInfo]:
    """The system resolver (getaddrinfo in asyncio's thread pool), TCP addresses only."""
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, 0, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)


async def resolve_once(host: str, port: int) -> list[AddrInfo]:
    """No sharing: what a single check outside a fleet run uses."""
    return with_port(await system_lookup(host), port)


class Resolver:
    """Shared, coalesced, briefly cached lookups; `await resolver(host, port)`."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        failure_ttl: float = FAILURE_TTL_SECONDS,
        lookup: Lookup = system_lookup,
    ) -> None:
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._lookup = lookup
        self._known: dict[str, tuple[float, list[AddrInfo] | BaseException]] = {}
        self._asking: dict[str, asyncio.Future[list[AddrInfo]]] = {}

    async def __call__(self, host: str, port: int) -> list[AddrInfo]:
        return with_port(await self.addresses(host), port)

    async def addresses(self, host: str) -> list[AddrInfo]:
        name = host.strip().lower()
        loop = asyncio.get_running_loop()
        known = self._known.get(name)
        if known is not None:
            until, answer = known
            if loop.time() < until:
                if isinstance(answer, BaseException):
                    raise answer
                return answer
            del self._known[name]
        asking = self._asking.get(name)
        if asking is None:
            asking = self._asking[name] = asyncio.ensure_future(self._ask(name))
            asking.add_done_callback(_retrieved)
        # shielded: one caller's cancellation (its check's deadline) must not cancel the others'
        return await asyncio.shield(asking)

    async def _ask(self, name: str) -> list[AddrInfo]:
        loop = asyncio.get_running_loop()
        try:
            answer = await self._lookup(name)
        except (OSError, UnicodeError) as exc:
            self._known[name] = (loop.time() + self._failure_ttl, exc)
            raise
        finally:
            self._asking.pop(name, None)
        self._known[name] = (loop.time() + self._ttl, answer)
        return answer


def _retrieved(future: asyncio.Future[list[AddrInfo]]) -> None:
    """Every waiter may have gone (cancelled): the outcome is still taken, never "unretrieved"."""
    if not future.cancelled():
        future.exception()


def with_port(infos: list[AddrInfo], port: int) -> list[AddrInfo]:
    out = []
    for family, kind, proto, canonname, sockaddr in infos:
        out.append((family, kind, proto, canonname, (sockaddr[0], port, *sockaddr[2:])))
    return out
