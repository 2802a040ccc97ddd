"""The edit form's rules, without widgets: validation, the settings it describes, and which keys
of the account file actually change (only those are written). The form has an IMAP part (where
replies are read) and an SMTP part (sending); each has its own password for the keyring."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    password: str = field(default="", repr=False)  # out of every log and traceback
    mailbox: str = "INBOX"
    reply_address: str = ""


@dataclass(frozen=True)
class SmtpForm:
    """The SMTP part of the form, as typed."""

    host: str = ""
    port: str = ""
    security: str = ""
    username: str = ""
    password: str = field(default="", repr=False)  # out of every log and traceback


def smtp_form_from_account(account: Account) -> SmtpForm:
    smtp = account.smtp
    if smtp is None:
        return SmtpForm(username=account.email)
    return SmtpForm(
        host=smtp.host,
        port=str(smtp.port),
        security=smtp.security.value,
        username=smtp.username,
    )


def validate_smtp(form: SmtpForm) -> dict[str, str]:
    """The SMTP part's problems, by field (host, port, security, username)."""
    return validate_server(Protocol.SMTP, form.host, form.port, form.security, form.username)


def smtp_settings_from_form(form: SmtpForm, base: ServerSettings | None) -> ServerSettings:
    """The SMTP settings the form describes (call only when `validate_smtp` found nothing)."""
    values: dict[str, Any] = {
        "host": form.host.strip(),
        "port": int(form.port.strip()),
        "security": Security(form.security),
        "username": form.username.strip(),
    }
    if base is None:
        return ServerSettings(protocol=Protocol.SMTP, **values)
    return replace(base, **values)


def smtp_changes(account: Account, form: SmtpForm) -> dict[str, Any]:
    """The [account.smtp] keys that differ from the account as loaded."""
    new = smtp_settings_from_form(form, account.smtp)
    old = account.smtp
    changed: dict[str, Any] = {}
    for key in ("host", "port", "username"):
        value = getattr(new, key)
        if old is None or getattr(old, key) != value:
            changed[key] = value
    if old is None or old.security is not new.security:
        changed["security"] = new.security.value
    return changed


def username_warnings(*usernames: tuple[str, str]) -> dict[str, str]:
    """(field, username) pairs -> a warning for usernames with spaces (typed-ahead text, such as a
    password, that landed in the wrong field looks like this); saving again keeps them."""
    return {
        key: "has a space: logins rarely do. Check it; saving again keeps it as typed."
        for key, value in usernames
        if any(c.isspace() for c in value.strip())
    }


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


_PORT_HINT = {  # from the one port table, model.DEFAULT_PORTS
    protocol: f"{ports[Security.TLS]} for TLS, {ports[Security.STARTTLS]} for STARTTLS"
    for protocol, ports in DEFAULT_PORTS.items()
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


def account_from_form(account: Account, form: ImapForm, smtp: SmtpForm | None = None) -> Account:
    """The account as it would be after saving: what "test before save" checks."""
    reply = form.reply_address.strip() or None
    edited = ("imap", "smtp") if smtp is not None else ("imap",)
    return replace(
        account,
        imap=settings_from_form(form, account.imap),
        smtp=smtp_settings_from_form(smtp, account.smtp) if smtp is not None else account.smtp,
        reply_address=reply,
        issues=tuple(i for i in account.issues if not (i.field or "").startswith(edited)),
    )


@dataclass(frozen=True)
class Changes:
    """Only what differs from the account as loaded; None removes a key."""

    imap: dict[str, Any]
    account: dict[str, Any]
    smtp: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.imap and not self.account and not self.smtp


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


def uses_stored_password(account: Account, protocol: Protocol = Protocol.IMAP) -> bool:
    """True when that server's secret comes from the keyring (no command configured)."""
    server = account.smtp if protocol is Protocol.SMTP else account.imap
    return server is None or not (server.password_command or server.oauth2_token_command)


def password_source_note(account: Account, protocol: Protocol) -> str | None:
    """Why the password field is closed: the secret comes from a command in the file."""
    server = account.smtp if protocol is Protocol.SMTP else account.imap
    if server is None or uses_stored_password(account, protocol):
        return None
    source = "oauth2_token_command" if server.oauth2_token_command else "password_command"
    return f"the password comes from {source} in the account file"


def mismatch_note(port: int, security: Security, protocol: Protocol = Protocol.IMAP) -> str | None:
    """Said while typing: a port of the other protocol, or a port/security pair that cannot work."""
    tls_port = DEFAULT_PORTS[protocol][Security.TLS]
    starttls_port = DEFAULT_PORTS[protocol][Security.STARTTLS]
    name, other = protocol.value.upper(), "SMTP" if protocol is Protocol.IMAP else "IMAP"
    if diagnosis.port_protocol_mismatch(protocol, port):
        return (
            f"port {port} is an {other} port: {name} listens on {tls_port} (tls) "
            f"or {starttls_port} (starttls)"
        )
    if not diagnosis.port_security_mismatch(protocol, port, security):
        return None
    expected = diagnosis.expected_security(protocol, port)
    if Security.TLS in expected:
        return (
            f"port {port} expects implicit TLS: choose security tls, "
            f"or port {starttls_port} for starttls"
        )
    return (
        f"port {port} expects a plain start: choose security starttls, or port {tls_port} for tls"
    )
