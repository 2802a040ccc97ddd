"""The IMAP edit form's rules, without widgets: validation, the settings it describes, and which
keys of the account file actually change (only those are written)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from console.core import diagnosis
from console.core.model import DEFAULT_PORTS, Account, Protocol, Security, ServerSettings

FIELDS = ("host", "port", "security", "username", "password", "mailbox", "reply_address")


@dataclass(frozen=True)
class ImapForm:
    """What the user typed, as typed. The password never leaves the UI except to the keyring."""

    host: str = ""
    port: str = ""
    security: str = ""
    username: str = ""
    password: str = ""
    mailbox: str = "INBOX"
    reply_address: str = ""

    def __repr__(self) -> str:  # keep the password out of any log or traceback
        return (
            f"ImapForm(host={self.host!r}, port={self.port!r}, security={self.security!r}, "
            f"username={self.username!r}, password={'***' if self.password else ''!r}, "
            f"mailbox={self.mailbox!r}, reply_address={self.reply_address!r})"
        )


def form_from_account(account: Account) -> ImapForm:
    imap = account.imap
    if imap is None:
        return ImapForm(
            username=account.reply_address or account.email,
            reply_address=account.reply_address or "",
        )
    return ImapForm(
        host=imap.host,
        port=str(imap.port),
        security=imap.security.value,
        username=imap.username,
        mailbox=imap.mailbox,
        reply_address=account.reply_address or "",
    )


_PORT_HINT = {
    Protocol.IMAP: "993 for TLS, 143 for STARTTLS",
    Protocol.SMTP: "465 for TLS, 587 for STARTTLS",
}
_HOST_HINT = {Protocol.IMAP: "imap.gmail.com", Protocol.SMTP: "smtp.gmail.com"}


def validate_server(
    protocol: Protocol, host: str, port: str, security: str, username: str
) -> dict[str, str]:
    """Field -> what is wrong with it, in words meant to sit next to the field."""
    errors: dict[str, str] = {}
    name = protocol.value.upper()
    host = host.strip()
    if not host:
        errors["host"] = f"the {name} server's host name is needed, e.g. {_HOST_HINT[protocol]}"
    elif "://" in host:
        errors["host"] = f"a host name only, without {protocol.value}:// or https://"
    elif any(c.isspace() for c in host) or "/" in host:
        errors["host"] = "a host name has no spaces or slashes"
    elif ":" in host and not host.startswith("["):
        errors["host"] = "put the port in the port field, not after the host"
    port = port.strip()
    if not port:
        errors["port"] = f"needed: {_PORT_HINT[protocol]}"
    elif not port.isdigit() or not 1 <= int(port) <= 65535:
        errors["port"] = "a whole number from 1 to 65535"
    if security not in {s.value for s in Security}:
        errors["security"] = "choose tls, starttls or none"
    if not username.strip():
        errors["username"] = "needed: usually the full email address"
    return errors


def validate(form: ImapForm) -> dict[str, str]:
    """The IMAP form's problems, by field."""
    errors = validate_server(Protocol.IMAP, form.host, form.port, form.security, form.username)
    if not form.mailbox.strip():
        errors["mailbox"] = "needed: replies are read from this folder, normally INBOX"
    reply = form.reply_address.strip()
    if reply and ("@" not in reply or any(c.isspace() for c in reply)):
        errors["reply_address"] = "an email address, or empty when replies come to the From address"
    return errors


def settings_from_form(form: ImapForm, base: ServerSettings | None) -> ServerSettings:
    """The IMAP settings the form describes (call only when `validate` found nothing)."""
    values: dict[str, Any] = {
        "host": form.host.strip(),
        "port": int(form.port.strip()),
        "security": Security(form.security),
        "username": form.username.strip(),
        "mailbox": form.mailbox.strip(),
    }
    if base is None:
        return ServerSettings(protocol=Protocol.IMAP, **values)
    return replace(base, **values)


def account_from_form(account: Account, form: ImapForm) -> Account:
    """The account as it would be after saving: what "test before save" checks."""
    reply = form.reply_address.strip() or None
    return replace(
        account,
        imap=settings_from_form(form, account.imap),
        reply_address=reply,
        issues=tuple(i for i in account.issues if not (i.field or "").startswith("imap")),
    )


@dataclass(frozen=True)
class Changes:
    """Only what differs from the account as loaded; None removes a key."""

    imap: dict[str, Any]
    account: dict[str, Any]

    @property
    def empty(self) -> bool:
        return not self.imap and not self.account


def changes_from_form(account: Account, form: ImapForm) -> Changes:
    new = settings_from_form(form, account.imap)
    old = account.imap
    imap: dict[str, Any] = {}
    for key in ("host", "port", "username", "mailbox"):
        value = getattr(new, key)
        if old is None or getattr(old, key) != value:
            imap[key] = value
    if old is None or old.security is not new.security:
        imap["security"] = new.security.value
    reply = form.reply_address.strip() or None
    top: dict[str, Any] = {}
    if reply != account.reply_address:
        top["reply_address"] = reply
        # the file may leave username to its default, which follows reply_address: pin it
        imap["username"] = new.username
    return Changes(imap, top)


def uses_stored_password(account: Account) -> bool:
    """True when the IMAP secret comes from the keyring (no command configured)."""
    imap = account.imap
    return imap is None or not (imap.password_command or imap.oauth2_token_command)


def mismatch_note(port: int, security: Security) -> str | None:
    """Said while typing: a port that belongs to SMTP, or a port/security pair that cannot work."""
    tls_port = DEFAULT_PORTS[Protocol.IMAP][Security.TLS]
    starttls_port = DEFAULT_PORTS[Protocol.IMAP][Security.STARTTLS]
    if diagnosis.port_protocol_mismatch(Protocol.IMAP, port):
        return (
            f"port {port} is an SMTP port: IMAP listens on {tls_port} (tls) "
            f"or {starttls_port} (starttls)"
        )
    if not diagnosis.port_security_mismatch(Protocol.IMAP, port, security):
        return None
    expected = diagnosis.expected_security(Protocol.IMAP, port)
    if Security.TLS in expected:
        return (
            f"port {port} expects implicit TLS: choose security tls, "
            f"or port {starttls_port} for starttls"
        )
    return (
        f"port {port} expects a plain start: choose security starttls, or port {tls_port} for tls"
    )
