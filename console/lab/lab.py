"""Many scenario servers at once, sharing one CA: what the demo and the benchmarks start."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Self, overload

from console.lab.ca import LabCA
from console.lab.imap_server import LabImapServer
from console.lab.scenario import ImapScenario, SmtpScenario
from console.lab.server import LabServer
from console.lab.smtp_server import LabSmtpServer


class Lab:
    """Starts servers for scenarios and stops them all; owns its CA unless one is given."""

    def __init__(
        self, ca: LabCA | None = None, *, idle_timeout: float = 120.0, record: bool = True
    ) -> None:
        self._owns_ca = ca is None
        self.ca = ca if ca is not None else LabCA()
        self.idle_timeout = idle_timeout
        self.record = record
        self.servers: list[LabServer[Any]] = []

    @overload
    async def start(self, scenario: ImapScenario) -> LabImapServer: ...
    @overload
    async def start(self, scenario: SmtpScenario) -> LabSmtpServer: ...

    async def start(self, scenario: ImapScenario | SmtpScenario) -> LabServer[Any]:
        """Start one server (IMAP or SMTP, by the scenario's type) on a free port."""
        server: LabServer[Any]
        kwargs: dict[str, Any] = {
            "ca": self.ca,
            "idle_timeout": self.idle_timeout,
            "record": self.record,
        }
        if isinstance(scenario, ImapScenario):
            server = LabImapServer(scenario, **kwargs)
        else:
            server = LabSmtpServer(scenario, **kwargs)
        self.servers.append(server)
        return await server.start()

    async def start_all(
        self, scenarios: Iterable[ImapScenario | SmtpScenario]
    ) -> list[LabServer[Any]]:
        """Start one server per scenario, concurrently, in the given order."""
        return list(await asyncio.gather(*(self.start(s) for s in scenarios)))

    async def stop(self) -> None:
        servers, self.servers = self.servers, []
        await asyncio.gather(*(s.stop() for s in servers))
        if self._owns_ca:
            self.ca.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
