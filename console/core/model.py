"""The domain model shared by the engine, the TUI and the headless CLI.

Every name here is a contract word (DESIGN sections 3-6): an account's `state`, a protocol's
`status`, a step's `stage`, a failure's `cause` are spelled the same in TOML, JSON, table and tests.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path


class Protocol(StrEnum):
    SMTP = "smtp"
    IMAP = "imap"


class Security(StrEnum):
    """How the connection is protected: implicit TLS, a STARTTLS upgrade, or nothing."""

    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


class AuthMethod(StrEnum):
    PASSWORD = "password"
    OAUTH2 = "oauth2"


class Status(StrEnum):
    """Outcome of one protocol's check."""

    OK = "ok"
    FAILED = "failed"
    MISSING = "missing"
    NA = "n/a"


class State(StrEnum):
    """Outcome for a whole account; `unchecked` and `checking` exist only in the UI."""

    CONNECTED = "connected"
    CONDITIONAL = "conditional"
    DISCONNECTED = "disconnected"
    UNCHECKED = "unchecked"
    CHECKING = "checking"


class Stage(StrEnum):
    """One rung of the check ladder (DESIGN section 4)."""

    CONFIG = "config"
    SECRET = "secret"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    GREETING = "greeting"
    CAPABILITY = "capability"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    MAILBOX = "mailbox"
    LOGOUT = "logout"
    QUIT = "quit"


IMAP_LADDER: tuple[Stage, ...] = (
    Stage.CONFIG,
    Stage.SECRET,
    Stage.DNS,
    Stage.CONNECT,
    Stage.TLS,
    Stage.GREETING,
    Stage.CAPABILITY,
    Stage.STARTTLS,
    Stage.AUTH,
    Stage.MAILBOX,
    Stage.LOGOUT,
)
SMTP_LADDER: tuple[Stage, ...] = (
    Stage.CONFIG,
    Stage.SECRET,
    Stage.DNS,
    Stage.CONNECT,
    Stage.TLS,
    Stage.GREETING,
    Stage.EHLO,
    Stage.STARTTLS,
    Stage.AUTH,
    Stage.QUIT,
)
LADDERS: Mapping[Protocol, tuple[Stage, ...]] = {
    Protocol.IMAP: IMAP_LADDER,
    Protocol.SMTP: SMTP_LADDER,
}


class Cause(StrEnum):
    """Why a check failed (DESIGN section 5, contract): nothing outside this list."""

    SETTINGS_MISSING = "settings_missing"
    SETTINGS_INVALID = "settings_invalid"
    SECRET_UNAVAILABLE = "secret_unavailable"
    DNS_FAILED = "dns_failed"
    CONNECTION_REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    TLS_MISMATCH = "tls_mismatch"
    WRONG_SERVICE = "wrong_service"
    CERTIFICATE_INVALID = "certificate_invalid"
    TLS_FAILED = "tls_failed"
    STARTTLS_UNAVAILABLE = "starttls_unavailable"
    PLAINTEXT_DISABLED = "plaintext_disabled"
    AUTH_FAILED = "auth_failed"
    APP_PASSWORD_REQUIRED = "app_password_required"
    BASIC_AUTH_DISABLED = "basic_auth_disabled"
    PROTOCOL_DISABLED = "protocol_disabled"
    WEB_LOGIN_REQUIRED = "web_login_required"
    RATE_LIMITED = "rate_limited"
    ACCOUNT_UNAVAILABLE = "account_unavailable"
    MAILBOX_UNAVAILABLE = "mailbox_unavailable"
    SERVER_UNAVAILABLE = "server_unavailable"
    PROTOCOL_ERROR = "protocol_error"
    UNKNOWN = "unknown"
    # the reply canary (DESIGN section 10): found only by sending a real message
    RECIPIENT_REFUSED = "recipient_refused"
    REPLY_NOT_RECEIVED = "reply_not_received"
    REPLY_IN_SPAM = "reply_in_spam"
    REPLY_MOVED = "reply_moved"
    REPLY_REMOVED_LATER = "reply_removed_later"


def _transient_causes() -> frozenset[Cause]:
    """`transient = true` causes of diagnosis/causes.toml, the one home of that flag.

    Read by path, not through the diagnosis package (which imports this module).
    """
    path = Path(__file__).parent / "diagnosis" / "causes.toml"
    with path.open("rb") as handle:
        table = tomllib.load(handle).get("cause", {})
    return frozenset(
        Cause(name)
        for name, entry in table.items()
        if isinstance(entry, dict) and entry.get("transient") is True
    )


TRANSIENT_CAUSES: frozenset[Cause] = _transient_causes()
"""Retrying later may help; the settings are probably not at fault (from causes.toml)."""

NO_AUTO_RETRY_CAUSES: frozenset[Cause] = frozenset(
    {
        Cause.AUTH_FAILED,
        Cause.APP_PASSWORD_REQUIRED,
        Cause.BASIC_AUTH_DISABLED,
        Cause.PROTOCOL_DISABLED,
        Cause.WEB_LOGIN_REQUIRED,
        Cause.ACCOUNT_UNAVAILABLE,
        Cause.PLAINTEXT_DISABLED,
    }
)
"""Credential or policy failures: re-trying them automatically gets accounts and IPs locked."""

CANARY_CAUSES: frozenset[Cause] = frozenset(
    {
        Cause.RECIPIENT_REFUSED,
        Cause.REPLY_NOT_RECEIVED,
        Cause.REPLY_IN_SPAM,
        Cause.REPLY_MOVED,
        Cause.REPLY_REMOVED_LATER,
    }
)
"""Causes only the reply canary finds; a login check never reports them."""


DEFAULT_PORTS: Mapping[Protocol, Mapping[Security, int]] = {
    Protocol.IMAP: {Security.TLS: 993, Security.STARTTLS: 143, Security.NONE: 143},
    Protocol.SMTP: {Security.TLS: 465, Security.STARTTLS: 587, Security.NONE: 587},
}


MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
"""Microsoft's identity platform (national clouds and tests set `oauth2_authority`)."""
GOOGLE_AUTHORITY = "https://accounts.google.com"
"""Google's (its OpenID configuration names the token endpoint)."""
AUTHORITIES = {"microsoft": MICROSOFT_AUTHORITY, "google": GOOGLE_AUTHORITY}


@dataclass(frozen=True)
class SignIn:
    """A built-in OAuth2 sign-in (docs/oauth2.md): who signs in, with which registered app, where.

    Used when `auth = "oauth2"` has no `oauth2_token_command`. The refresh token lives in the
    keyring under `oauth2:<platform>:<email>`; nothing here is secret.
    """

    platform: str  # "microsoft" or "google" (providers.toml `sign_in`)
    email: str  # the account's email: the keyring key, and the user the sign-in is for
    client_id: str | None  # the app registration's application (client) id
    tenant: str = "common"  # Microsoft: work, school and personal accounts; a tenant id narrows it
    authority: str = MICROSOFT_AUTHORITY
    ca_file: str | None = None  # extra CA for the sign-in service (TLS-inspecting proxies, tests)
    client_secret: str | None = field(default=None, repr=False)
    """Google's installed-app client secret, which Google documents as not confidential."""

    @property
    def authority_url(self) -> str:
        """Microsoft's authority: the instance and the tenant."""
        return f"{self.authority.rstrip('/')}/{self.tenant}"


@dataclass(frozen=True)
class ServerSettings:
    """One server login (SMTP or IMAP) as configured; secrets are never held here."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    username: str
    auth: AuthMethod = AuthMethod.PASSWORD
    password_command: str | None = None
    oauth2_token_command: str | None = None
    tls_ca_file: str | None = None
    mailbox: str = "INBOX"
    sign_in: SignIn | None = None  # auth = "oauth2" without a token command: the stored sign-in

    @property
    def keyring_key(self) -> str:
        """The keyring user name for this login: `<username>@<host>` (DESIGN section 3)."""
        return f"{self.username}@{self.host}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in the account file, named by account and field."""

    message: str
    account: str | None = None  # the account's email, or "account #N" when it has none
    field: str | None = None  # dotted, e.g. "imap.port"
    cause: Cause = Cause.SETTINGS_INVALID
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.account, self.field) if p)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class Account:
    email: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    provider: str | None = None
    reply_address: str | None = None
    send_only: bool = False
    smtp: ServerSettings | None = None
    imap: ServerSettings | None = None
    issues: tuple[ConfigIssue, ...] = ()
    """Problems with this account's settings; its checks fail at the `config` stage."""
    canary_hold_minutes: float | None = None
    """How long the reply canary must stay in the mailbox; None: `[settings]`' value."""

    def settings_for(self, protocol: Protocol) -> ServerSettings | None:
        return self.smtp if protocol is Protocol.SMTP else self.imap

    @property
    def sign_in(self) -> SignIn | None:
        """The built-in sign-in its servers use (one per account), if any."""
        for server in (self.smtp, self.imap):
            if server is not None and server.sign_in is not None:
                return server.sign_in
        return None

    def issues_for(self, protocol: Protocol) -> tuple[ConfigIssue, ...]:
        prefix = f"{protocol.value}."
        return tuple(i for i in self.issues if i.field and i.field.startswith(prefix))


@dataclass(frozen=True)
class Settings:
    concurrency: int = 32
    per_host: int = 8
    timeout: float = 15.0
    recheck_minutes: int = 0
    canary_hold_minutes: float = 20.0
    """How long a reply canary must stay in the reply mailbox (platforms poll every 15-20 min)."""
    history_days: int = 90
    """Recorded checks older than this are compacted into daily counts (changes are kept)."""
    flap_changes: int = 4
    flap_window_hours: int = 24
    """An account whose state changed `flap_changes` times in this many hours is flapping."""
    check_deadline: float | None = None
    """Seconds one whole check (one connection) may take; None: 4 x `timeout`."""


@dataclass(frozen=True)
class Step:
    """One rung of the ladder as it happened: server text in `detail`, credentials redacted."""

    stage: Stage
    ok: bool
    elapsed_ms: int
    detail: str = ""


FactValue = str | int | float | bool | tuple[str, ...]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one protocol's check for one account."""

    protocol: Protocol
    status: Status
    cause: Cause | None = None
    stage: Stage | None = None  # the failing stage
    message: str | None = None  # the server's text (or the error) verbatim
    elapsed_ms: int = 0
    steps: tuple[Step, ...] = ()
    facts: Mapping[str, FactValue] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    transcript: tuple[str, ...] = ()  # "C: ..." / "S: ..." lines, credentials redacted
    provider: str | None = None  # the provider of this server, decided once (by the runner)
    provider_rule: str | None = None  # the rule that decided it; None: not decided (old results)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def account_state(smtp: Status, imap: Status) -> State:
    """Combine protocol statuses into the account state (DESIGN section 5)."""
    if smtp is not Status.OK:
        return State.DISCONNECTED
    if imap in (Status.OK, Status.NA):
        return State.CONNECTED
    return State.CONDITIONAL


@dataclass(frozen=True)
class AccountResult:
    """Both checks of one account, taken together."""

    email: str
    smtp: CheckResult
    imap: CheckResult
    checked_at: datetime

    @property
    def state(self) -> State:
        return account_state(self.smtp.status, self.imap.status)

    @property
    def warmup_ready(self) -> bool:
        """Warm-up needs working IMAP, except for send-only relays that have none."""
        return self.smtp.ok and self.imap.status in (Status.OK, Status.NA)

    def result_for(self, protocol: Protocol) -> CheckResult:
        return self.smtp if protocol is Protocol.SMTP else self.imap
