"""What a lab server answers at each stage: plain data, written by tests, the demo and benchmarks.

Scripted replies are written as the server would send them, one line per `\\n`. For IMAP the
last line of a command reply gets the command's tag put in front, unless it starts with `*` or `+`
(`"NO [ALERT] ..."` becomes `"a1 NO [ALERT] ..."`). A scripted reply that reports success
(`OK ...`, `2xx`) keeps the command's effect (logged in, TLS started, mailbox selected); `* BYE`
and `421` replies close the connection, as real servers do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from console.core.model import Security
from console.lab.ca import CertKind

LAB_USER = "alice@lab.test"
LAB_PASSWORD = "lab-password"
LAB_TOKEN = "lab-oauth2-token"
GMAIL_XOAUTH2_CHALLENGE = '{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}'


def derived_password(user: str) -> str:
    """The password rule benchmarks use: any user logs in with `"pw-" + user`."""
    return "pw-" + user


class Action(StrEnum):
    """A hostile behaviour (see `Hostile`)."""

    SILENT = "silent"  # never answer again; keep the connection open (until idle timeout/stop)
    CLOSE = "close"  # close the connection instead of answering
    RESET = "reset"  # abort the connection with a TCP RST
    DRIP = "drip"  # from here on, send one byte every `drip_ms`
    GARBAGE = "garbage"  # send `garbage` instead of the answer, then go silent (or close)
    LONG_LINE = "long_line"  # send an endless line without CRLF, then go silent


@dataclass(frozen=True, kw_only=True)
class Hostile:
    """Misbehave at one point of the conversation, the first time it is reached.

    `at` is a stage name (`connect`, `tls`, `greeting`, then IMAP `capability`, `starttls`,
    `auth`, `mailbox`, `logout`; SMTP `ehlo`, `starttls`, `auth`, `quit`) or a command name
    (`NOOP`, `GETQUOTAROOT`, `RSET`, ...). `connect` acts before any TLS; `tls` instead of the
    TLS handshake (implicit TLS or after STARTTLS's OK); a drip at `tls` starts after it.
    """

    action: Action | str
    at: str = "greeting"
    drip_ms: float = 200.0
    garbage: bytes | None = None  # None: a fixed mix of binary noise, escapes and markup
    close_after: bool = False  # GARBAGE: close after sending instead of going silent
    long_line_bytes: int = 8 * 1024 * 1024  # LONG_LINE: stop (and go silent) after this much

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", Action(self.action))

    def matches(self, stage: str, command: str | None = None) -> bool:
        at = self.at
        return at.lower() == stage or (command is not None and at.upper() == command)


@dataclass(frozen=True)
class TokenIntrospection:
    """Where a lab server checks OAuth2 tokens (RFC 7662), as a resource server does: the
    endpoint, this server's client credentials there, and the CA of the endpoint's certificate.
    A token is good when the answer is active and names the user who logs in."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_file: str


@dataclass(frozen=True, kw_only=True)
class _Scenario:
    name: str = ""
    security: Security = Security.TLS  # tls: implicit; starttls: plain + STARTTLS; none: plain
    cert: CertKind = CertKind.GOOD
    users: Mapping[str, str] = field(default_factory=lambda: {LAB_USER: LAB_PASSWORD})
    password_of: Callable[[str], str | None] | None = None  # fallback rule for users not listed
    tokens: Mapping[str, str] = field(default_factory=lambda: {LAB_USER: LAB_TOKEN})  # XOAUTH2
    token_introspection: TokenIntrospection | None = None
    """XOAUTH2 tokens are checked here instead of against `tokens` (console.lab.oauth_server)."""
    auth_reply: str | None = None  # scripted answer to the credentials (after reading them)
    auth_reply_user: str | None = None  # ... only for this username (else for everyone)
    # command name -> scripted reply, instead of the normal answer (not for LOGIN/AUTHENTICATE/
    # AUTH: those read the credentials first and then answer with `auth_reply`)
    replies: Mapping[str, str] = field(default_factory=dict)
    hostile: Hostile | None = None
    delay_ms: float = 0.0  # before every response (greeting, replies, continuations)
    # mailboxes shared by an IMAP and an SMTP scenario: the SMTP server delivers into them and
    # the IMAP server serves them (console.lab.mailstore; the reply canary's scenarios)
    mailstore: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", Security(self.security))
        object.__setattr__(self, "cert", CertKind(self.cert))
        object.__setattr__(self, "replies", {k.upper(): v for k, v in self.replies.items()})

    def expected_password(self, user: str) -> str | None:
        password = self.users.get(user)
        if password is None and self.password_of is not None:
            password = self.password_of(user)
        return password

    def scripted_auth(self, user: str) -> str | None:
        if self.auth_reply is None:
            return None
        if self.auth_reply_user is not None and self.auth_reply_user != user:
            return None
        return self.auth_reply


IMAP_CAPABILITIES: tuple[str, ...] = (
    "IMAP4rev1",
    "SASL-IR",
    "LITERAL+",
    "ID",
    "IDLE",
    "QUOTA",
    "AUTH=PLAIN",
)
PRIVACY_REQUIRED = (
    "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it"
    " anyway. If anyone was listening, the password was exposed.\n"
    "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
)


@dataclass(frozen=True, kw_only=True)
class ImapScenario(_Scenario):
    """One scripted IMAP server; `{capabilities}` in the greeting becomes the current list."""

    greeting: str = "* OK [CAPABILITY {capabilities}] mailconsole lab IMAP ready."
    capabilities: tuple[str, ...] = IMAP_CAPABILITIES  # on a TLS connection
    capabilities_plain: tuple[str, ...] | None = None  # before TLS; None: derived (see below)
    strict_8bit: bool = False  # True: 8-bit bytes in atoms/quoted strings are BAD (RFC 3501)
    login_ok_reply: str = "OK Logged in"  # `{capabilities}` becomes the list, as in the greeting
    auth_failed_reply: str = "NO [AUTHENTICATIONFAILED] Authentication failed."
    logindisabled_reply: str = PRIVACY_REQUIRED
    xoauth2_challenge: str = GMAIL_XOAUTH2_CHALLENGE
    xoauth2_failed_reply: str = "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"
    examine_reply: str | None = None  # scripted answer to SELECT/EXAMINE
    mailboxes: tuple[str, ...] = ("INBOX",)
    messages: int = 0  # EXISTS
    recent: int = 0
    uidvalidity: int = 1
    quota: tuple[int, int] | None = (1024, 10240)  # (usage, limit) in KiB; None: no quota root

    def plain_capabilities(self) -> tuple[str, ...]:
        """Before TLS. Derived: `starttls` adds STARTTLS + LOGINDISABLED and hides AUTH=
        (as Dovecot does); `none` offers the TLS list as is."""
        if self.capabilities_plain is not None:
            return self.capabilities_plain
        if self.security is Security.STARTTLS:
            kept = tuple(c for c in self.capabilities if not c.upper().startswith("AUTH="))
            return (*kept, "STARTTLS", "LOGINDISABLED")
        return self.capabilities


SMTP_EXTENSIONS: tuple[str, ...] = (
    "PIPELINING",
    "SIZE 35882577",
    "8BITMIME",
    "AUTH PLAIN LOGIN",
    "ENHANCEDSTATUSCODES",
    "SMTPUTF8",
)
GMAIL_BAD_CREDENTIALS = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials lab.test - gsmtp"
)


@dataclass(frozen=True, kw_only=True)
class SmtpScenario(_Scenario):
    """One scripted SMTP submission server (no mail is ever accepted)."""

    hostname: str = "lab.test"
    banner: str = "220 lab.test ESMTP mailconsole lab"
    extensions: tuple[str, ...] = SMTP_EXTENSIONS  # EHLO keywords on a TLS connection
    extensions_plain: tuple[str, ...] | None = None  # before TLS; None: derived (see below)
    auth_ok_reply: str = "235 2.7.0 Authentication successful"
    auth_failed_reply: str = "535 5.7.8 Authentication credentials invalid"
    starttls_required_reply: str = "530 5.7.0 Must issue a STARTTLS command first."
    xoauth2_challenge: str = GMAIL_XOAUTH2_CHALLENGE
    xoauth2_failed_reply: str = GMAIL_BAD_CREDENTIALS

    def plain_extensions(self) -> tuple[str, ...]:
        """Before TLS. Derived: `starttls` adds STARTTLS and hides AUTH (as Gmail and Microsoft
        do); `none` offers the TLS list as is."""
        if self.extensions_plain is not None:
            return self.extensions_plain
        if self.security is Security.STARTTLS:
            kept = tuple(e for e in self.extensions if e.split()[0].upper() != "AUTH")
            return (*kept, "STARTTLS")
        return self.extensions
