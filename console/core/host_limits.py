"""The runner's per-host limit, keyed on the server, not on how its name is written.

`127.0.0.1` and `localhost`, or two CNAMEs of one server, used to get `per_host` connections
each. Now a host's name is resolved first and every name whose addresses overlap, on the same
port, shares one limit (aliases merge as they are met). IMAP and SMTP on one machine are two
services and keep a limit each, as servers count connections per service. Names the provider
catalogue knows share their provider's limit per protocol (every `*.office365.com` name for
SMTP, say). A name that does not resolve keeps a limit of its own: the probe reports it.
"""

from __future__ import annotations

import asyncio

from console.core.model import ServerSettings
from console.core.providers.detection import provider_for_host
from console.core.resolver import Resolve, resolve_once


class HostLimits:
    """One semaphore per server; `await limits.key(settings)` then `limits.slot(key)`."""

    def __init__(
        self, per_host: int, *, resolve_timeout: float, resolve: Resolve = resolve_once
    ) -> None:
        self._per_host = max(1, per_host)
        self._timeout = resolve_timeout
        self._resolve = resolve  # the runner's Resolver: the probe's DNS stage reuses the answer
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._by_address: dict[tuple[str, int], str] = {}  # (address, port) -> its group

    async def key(self, settings: ServerSettings) -> str:
        """The group a server belongs to: its provider's service, else its addresses."""
        name = settings.host.strip().lower().rstrip(".")
        provider = provider_for_host(name)
        if provider is not None:
            return f"provider:{provider.id}:{settings.protocol.value}"
        addresses = await self._addresses(name, settings.port)
        if not addresses:
            return f"name:{name}"
        port = settings.port
        for address in addresses:  # an alias of a server already met: join its group
            known = self._by_address.get((address, port))
            if known is not None:
                break
        else:
            known = f"address:{addresses[0]}:{port}"
        for address in addresses:
            self._by_address.setdefault((address, port), known)
        return known

    def slot(self, key: str) -> asyncio.Semaphore:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self._per_host)
        return slot

    async def _addresses(self, name: str, port: int) -> list[str]:
        try:
            async with asyncio.timeout(self._timeout):
                infos = await self._resolve(name, port)
        except (OSError, TimeoutError, UnicodeError):
            return []
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
