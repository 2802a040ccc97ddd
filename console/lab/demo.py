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
from console.core.model import Protocol, Security, SignIn
from console.core.oauth.session import refresh, refused
from console.core.oauth.store import Grant, SignIns
from console.core.secrets import MemorySecrets
from console.lab.demo_import import demo_rows, load_spec, write_csv
from console.lab.lab import Lab
from console.lab.mailstore import Delivery, Mailstore
from console.lab.oauth_server import LabAuthServer
from console.lab.scenario import Hostile, ImapScenario, SmtpScenario
from console.lab.server import HOST

SERVER_HOSTS: Mapping[Protocol, str] = {Protocol.IMAP: HOST, Protocol.SMTP: "localhost"}
"""IMAP as 127.0.0.1, SMTP as localhost: each login gets its own keyring key, as with real hosts."""
DEMO_HOSTS: frozenset[str] = frozenset(SERVER_HOSTS.values())
"""The only hosts a demo session may contact."""

ENTER_CODE_SECONDS = 3.0
"""How long the demo's stand-in for the user takes to enter a device code on another device."""

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
    name: str,
    table: Mapping[str, Any],
    users: dict[str, str],
    mailstore: Mailstore | None = None,
    auth: LabAuthServer | None = None,
) -> Any:
    fields = {k: v for k, v in table.items() if k != "protocol"}
    if fields.pop("oauth2", False) and auth is not None:  # tokens checked at the demo's server
        fields["token_introspection"] = auth.introspection_for(str(table["protocol"]))
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
    if account.table.get("oauth2"):
        table["auth"] = "oauth2"
    if protocol is Protocol.IMAP:
        table["mailbox"] = str(account.table.get("imap_mailbox", "INBOX"))
        if account.table.get("reply_address"):
            table["username"] = account.username(protocol)
    return table


class DemoLab:
    """Start the lab in a background thread, write the account file; stop both on exit."""

    def __init__(self, plan: DemoPlan | None = None) -> None:
        self.plan = plan or load_plan()
        self.sign_ins = SignIns(refresh, permanent=refused, keep=False)
        """The demo's sign-ins: in memory only (the real keyring is never touched)."""
        self.secrets = MemorySecrets(sign_ins=self.sign_ins)
        self.mailstore = Mailstore()
        self.import_rows = demo_rows()
        self._import_name = str(load_spec()["file"])
        self._dir: Path | None = None  # made by start(), so an interrupted start removes it
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-lab", daemon=True)
        self._lab: Lab | None = None
        self._auth: LabAuthServer | None = None

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
            if self._auth is not None:
                asyncio.run_coroutine_threadsafe(self._auth.stop(), self._loop).result(timeout=10)
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
        self._lab = Lab(record=False)
        signing_in = [a for a in self.plan.accounts if a.table.get("oauth2")]
        if signing_in:
            self._auth = LabAuthServer(
                ca=self._lab.ca,
                users={a.username(p) for a in signing_in for p in Protocol},
            )
            await self._auth.start()
        scenarios = {
            name: _scenario(name, table, users[name], self.mailstore, self._auth)
            for name, table in self.plan.servers.items()
        }
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
        settings = dict(self.plan.settings)
        if self._auth is not None:
            settings.update(self._sign_in_settings(self._auth, ca_file))
            for account in signing_in:
                if account.table.get("sign_in") in ("revoked", "expired"):
                    self._earlier_sign_in(self._auth, account, settings)
        new_config_file(self.config_path, {"settings": settings, "account": raw_accounts})
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

    def enter_code(self, email: str, user_code: str) -> None:
        """Play the user who opens the page on another device and enters the code, a few
        seconds from now, signing in as the account's mailbox user."""
        auth = self._auth
        account = next((a for a in self.plan.accounts if a.email == email), None)
        if auth is None or account is None:
            return
        user = account.username(Protocol.IMAP)

        def later() -> None:
            self._loop.call_later(ENTER_CODE_SECONDS, auth.approve, user_code, user)

        self._loop.call_soon_threadsafe(later)

    @staticmethod
    def _sign_in_settings(auth: LabAuthServer, ca_file: Path) -> dict[str, str]:
        """[settings] keys that point the built-in sign-in at the demo's authorization server."""
        return {
            "oauth2_client_id": auth.client_id,
            "oauth2_tenant": auth.tenant,
            "oauth2_authority": auth.base,
            "oauth2_ca_file": str(ca_file),
        }

    def _earlier_sign_in(
        self, auth: LabAuthServer, account: DemoAccount, settings: Mapping[str, str]
    ) -> None:
        """A sign-in from before this session, gone bad:
        - "revoked": its access token is used up and its refresh token was revoked (a password
          reset): the first check tries to refresh and is refused;
        - "expired": this machine's clock is behind, so the access token looks fresh here but
          expired ten minutes ago for the servers, which refuse it; its claims say why."""
        user = account.username(Protocol.IMAP)
        sign_in = SignIn(
            platform="microsoft",
            email=account.email,
            client_id=settings["oauth2_client_id"],
            tenant=settings["oauth2_tenant"],
            authority=settings["oauth2_authority"],
            ca_file=settings["oauth2_ca_file"],
        )
        if account.table.get("sign_in") == "expired":
            token = auth.issue(user, issued_ago=auth.access_lifetime + 600)
            grant = Grant(token.access_token, auth.access_lifetime, token.refresh_token)
        else:
            token = auth.issue(user)
            auth.expire_access_tokens(user)
            auth.revoke_refresh_tokens(user)
            grant = Grant(token.access_token, 0, token.refresh_token)
        self.sign_ins.remember(sign_in, grant)
