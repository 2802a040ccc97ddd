"""`mailconsole --demo`: the lab's servers on 127.0.0.1 and a temporary account file that uses them.

The lab runs on its own event loop in a background thread, so the TUI (or `check --demo`) keeps
its own loop and the demo needs nothing from them but the account file path and the in-memory
secrets. The real keyring is never touched; nothing outside 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from console.core.config_write import new_config_file
from console.core.model import Protocol, Security
from console.core.secrets import MemorySecrets
from console.lab.demo_import import demo_rows, load_spec, write_csv
from console.lab.lab import Lab
from console.lab.mailstore import Delivery, Mailstore
from console.lab.scenario import Hostile, ImapScenario, SmtpScenario
from console.lab.server import HOST

SERVER_HOSTS: Mapping[Protocol, str] = {Protocol.IMAP: HOST, Protocol.SMTP: "localhost"}
"""IMAP as 127.0.0.1, SMTP as localhost: each login gets its own keyring key, as with real hosts."""
DEMO_HOSTS: frozenset[str] = frozenset(SERVER_HOSTS.values())
"""The only hosts a demo session may contact."""

_ACCOUNT_KEYS = ("email", "name", "tags", "provider", "reply_address", "send_only")


@dataclass(frozen=True)
class DemoAccount:
    """One demo account as written in demo.toml (see the file's header for the keys)."""

    table: Mapping[str, Any]

    @property
    def email(self) -> str:
        return str(self.table["email"])

    def server(self, protocol: Protocol) -> str | None:
        name = self.table.get(protocol.value)
        return str(name) if name else None

    @property
    def password(self) -> str:
        """What the servers accept."""
        return str(self.table["password"])

    def secret(self, protocol: Protocol) -> str:
        """What the demo keyring holds for this login (deliberately wrong for some accounts)."""
        return str(self.table.get(f"{protocol.value}_password", self.table["password"]))

    def username(self, protocol: Protocol) -> str:
        if protocol is Protocol.IMAP and self.table.get("reply_address"):
            return str(self.table["reply_address"])
        return self.email

    @property
    def fixable(self) -> str | None:
        return self.table.get("fixable")


@dataclass
class DemoPlan:
    """The demo's data: scenario tables by server name, the accounts, the [settings] table."""

    servers: dict[str, dict[str, Any]]
    accounts: list[DemoAccount]
    settings: dict[str, Any] = field(default_factory=dict)


def load_plan(text: str | None = None) -> DemoPlan:
    """Read demo.toml (or `text`), expanding the healthy roster into accounts."""
    if text is None:
        text = resources.files("console.lab").joinpath("demo.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    accounts = [DemoAccount(a) for a in data.get("account", [])]
    roster = data.get("roster", {})
    names = roster.get("first_names", [])
    for client in roster.get("clients", []):
        for i in range(int(client["count"])):
            first = names[i % len(names)]
            email = f"{first}@{client['domain']}"
            accounts.append(
                DemoAccount(
                    {
                        "email": email,
                        "name": f"{first.capitalize()} ({client['tag'].capitalize()})",
                        "tags": [client["tag"]],
                        "provider": client["provider"],
                        "imap": client["imap"],
                        "smtp": client["smtp"],
                        "password": f"{client['tag']}-{first}-pw",
                    }
                )
            )
    return DemoPlan(dict(data.get("server", {})), accounts, dict(data.get("settings", {})))


def _scenario(
    name: str, table: Mapping[str, Any], users: dict[str, str], mailstore: Mailstore | None = None
) -> Any:
    fields = {k: v for k, v in table.items() if k != "protocol"}
    if fields.pop("mailstore", False):  # the reply canary's servers share the demo's mailstore
        fields["mailstore"] = mailstore
    for key in ("capabilities", "extensions", "capabilities_plain", "extensions_plain", "quota"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if "hostile" in fields:
        fields["hostile"] = Hostile(**fields["hostile"])
    cls = ImapScenario if table["protocol"] == "imap" else SmtpScenario
    return cls(name=name, users=users, **fields)


def _server_table(
    account: DemoAccount, protocol: Protocol, port: int, security: Security, ca_file: Path
) -> dict[str, Any]:
    table: dict[str, Any] = {
        "host": SERVER_HOSTS[protocol],
        "port": port,
        "security": str(account.table.get(f"{protocol.value}_security", security.value)),
        "tls_ca_file": str(ca_file),
    }
    if protocol is Protocol.IMAP:
        table["mailbox"] = str(account.table.get("imap_mailbox", "INBOX"))
        if account.table.get("reply_address"):
            table["username"] = account.username(protocol)
    return table


class DemoLab:
    """Start the lab in a background thread, write the account file; stop both on exit."""

    def __init__(self, plan: DemoPlan | None = None) -> None:
        self.plan = plan or load_plan()
        self.secrets = MemorySecrets()
        self.mailstore = Mailstore()
        self.import_rows = demo_rows()
        self._import_name = str(load_spec()["file"])
        self._dir: Path | None = None  # made by start(), so an interrupted start removes it
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-lab", daemon=True)
        self._lab: Lab | None = None

    def __enter__(self) -> DemoLab:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ca_file(self) -> Path:
        """The lab CA's certificate: what every demo server table has as tls_ca_file."""
        assert self._lab is not None, "the demo is not started"
        return self._lab.ca.ca_file

    @property
    def config_path(self) -> Path:
        """The demo's account file (in its temp folder, made by start())."""
        assert self._dir is not None, "the demo is not started"
        return self._dir / "accounts.toml"

    @property
    def import_path(self) -> Path:
        """The demo's 500-row import file (demo_import.toml), written once the lab runs."""
        assert self._dir is not None, "the demo is not started"
        return self._dir / self._import_name

    def start(self) -> None:
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="mailconsole-demo-"))
            self._thread.start()
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.mailstore.close)
            if self._lab is not None:
                asyncio.run_coroutine_threadsafe(self._lab.stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    async def _start(self) -> None:
        users: dict[str, dict[str, str]] = {name: {} for name in self.plan.servers}
        for account in self.plan.accounts:
            for protocol in Protocol:
                server = account.server(protocol)
                if server is not None:
                    users[server][account.username(protocol)] = account.password
        for row in self.import_rows:
            for server in (row.imap, row.smtp):
                users[server].setdefault(row.email, row.accepted(server))
        for account in self.plan.accounts:
            delivery = account.table.get("canary_delivery")
            if delivery is not None:
                self.mailstore.add_user(account.username(Protocol.IMAP), Delivery(**delivery))
        scenarios = {
            name: _scenario(name, table, users[name], self.mailstore)
            for name, table in self.plan.servers.items()
        }
        self._lab = Lab(record=False)
        started = await self._lab.start_all(scenarios.values())
        ports = {name: srv.port for name, srv in zip(scenarios, started, strict=True)}
        ca_file = self._lab.ca.ca_file
        raw_accounts = []
        for account in self.plan.accounts:
            table = {k: account.table[k] for k in _ACCOUNT_KEYS if k in account.table}
            for protocol in Protocol:
                server = account.server(protocol)
                if server is None:
                    continue
                security = scenarios[server].security
                table[protocol.value] = _server_table(
                    account, protocol, ports[server], security, ca_file
                )
                key = f"{account.username(protocol)}@{SERVER_HOSTS[protocol]}"
                self.secrets.set(key, account.secret(protocol))
            raw_accounts.append(table)
        new_config_file(self.config_path, {"settings": self.plan.settings, "account": raw_accounts})
        write_csv(
            self.import_path,
            self.import_rows,
            {
                name: SERVER_HOSTS[Protocol.IMAP if isinstance(s, ImapScenario) else Protocol.SMTP]
                for name, s in scenarios.items()
            },
            ports,
            {name: scenario.security for name, scenario in scenarios.items()},
        )
