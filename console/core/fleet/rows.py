"""One CSV record -> one would-be account table, with every problem named by line and column.

Messages never quote a cell: a shifted row can put a password in any column. Passwords are held
in a `HeldPasswords` (memory only, masked repr) and never enter the account table.

Filling what the file leaves out (one rule each, in this order):
- a host cell "host:port" gives the port;
- the provider's preset (providers.toml) gives host, port, security and username for a protocol
  without a host, and the port for its own host;
- a port implies the security (465/993 implicit TLS, 587/143 STARTTLS: providers.STANDARD_PAIRS);
  other SMTP ports default to STARTTLS, other IMAP ports to TLS, with a note;
- a security without a port gives the port (model.DEFAULT_PORTS).
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core.model import DEFAULT_PORTS, Protocol, Security
from console.core.providers import (
    STANDARD_PAIRS,
    ProviderDataError,
    all_providers,
    get_provider,
    presets,
    provider_for_email,
)
from console.core.providers.records import UsernameForm

from .mapping import ColumnMap
from .reader import Record


@dataclass(frozen=True)
class Problem:
    """What is wrong with one cell (or the row): `column` is the header's text or "column N"."""

    column: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"column": self.column, "message": self.message}


class HeldPasswords:
    """Passwords from the file, by protocol: in memory only; repr and str never show them."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[Protocol, str] = {}

    def set(self, protocol: Protocol, value: str) -> None:
        self._values[protocol] = value

    def get(self, protocol: Protocol) -> str | None:
        return self._values.get(protocol)

    def values(self) -> tuple[str, ...]:
        return tuple(self._values.values())

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"<HeldPasswords {sorted(p.value for p in self._values)}>"

    __str__ = __repr__


@dataclass
class Candidate:
    """One data row turned into an [[account]] table, or the problems that stop it."""

    line: int
    cells: tuple[str, ...] = field(repr=False)  # as in the file: may hold passwords
    email: str | None = None
    table: dict[str, Any] = field(default_factory=dict)
    passwords: HeldPasswords = field(default_factory=HeldPasswords, repr=False)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def is_address(value: str | None) -> bool:
    if not value or any(c.isspace() for c in value) or any(c in value for c in ',;<>"()[]'):
        return False
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and "." not in (domain[0], domain[-1]))


_SECURITY_WORDS: Mapping[str, Security | None] = {
    "tls": None,  # ambiguous in exports ("TLS" often means STARTTLS on 587): decided by the port
    "ssl": Security.TLS,
    "ssltls": Security.TLS,
    "implicit": Security.TLS,
    "implicittls": Security.TLS,
    "true": Security.TLS,
    "yes": Security.TLS,
    "1": Security.TLS,
    "starttls": Security.STARTTLS,
    "explicit": Security.STARTTLS,
    "none": Security.NONE,
    "plain": Security.NONE,
    "plaintext": Security.NONE,
    "unencrypted": Security.NONE,
    "false": None,
    "no": None,
    "0": None,
    "auto": None,
}


def parse_port(text: str) -> int | None:
    """993, "993", "993.0" (a spreadsheet's number), " 993 "; None when it is not a port."""
    value = text.strip()
    m = re.fullmatch(r"(\d{1,5})(?:\.0+)?", value)
    if m is None:
        return None
    port = int(m.group(1))
    return port if 1 <= port <= 65535 else None


def implied_security(protocol: Protocol, port: int) -> Security | None:
    for standard_port, security in STANDARD_PAIRS[protocol]:
        if standard_port == port:
            return security
    return None


_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?")
_IPV6 = re.compile(r"\[?[0-9A-Fa-f:]+\]?")


def host_problem(host: str) -> str | None:
    """Why a host cell is not a server name (never quoting it), or None."""
    if "://" in host:
        return "must be a server name only: remove the scheme (such as imaps://)"
    if any(c.isspace() for c in host):
        return "must not contain spaces"
    if len(host) > 253 or not (_HOST.fullmatch(host) or _IPV6.fullmatch(host)):
        return "is not a server name (letters, digits, dots and hyphens, e.g. imap.example.com)"
    return None


def fill_command(template: str, values: Mapping[str, str]) -> str:
    """`pass show mail/{email}` with each placeholder replaced by its shell-quoted value."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", shlex.quote(value))
    return out


def _known_providers() -> frozenset[str]:
    try:
        return frozenset(p.id for p in all_providers())
    except (ProviderDataError, OSError):
        return frozenset()


class _Row:
    """Reads one record through a ColumnMap; each getter returns a stripped cell or None."""

    def __init__(self, record: Record, columns: ColumnMap, width: int) -> None:
        self.record = record
        self.columns = columns
        self.width = width

    def get(self, name: str) -> str | None:
        index = self.columns.index(name)
        if index is None or index >= len(self.record.cells):
            return None
        value = self.record.cells[index].strip()
        return value or None

    def has(self, name: str) -> bool:
        return self.columns.index(name) is not None

    def where(self, name: str) -> str:
        header = self.columns.header_of(name)
        index = self.columns.index(name)
        if header:
            return header
        return f"column {index + 1}" if index is not None else name


def build(
    record: Record,
    columns: ColumnMap,
    width: int,
    *,
    extra_tags: Sequence[str] = (),
    server_defaults: Mapping[str, str] | None = None,
) -> Candidate:
    """The candidate for one record; problems collected, never raised."""
    row = _Row(record, columns, width)
    cand = Candidate(record.line, record.cells)
    problem = cand.problems.append

    extra = [c for c in record.cells[width:] if c.strip()]
    if extra:
        problem(
            Problem(
                f"column {width + 1}",
                f"this row has {len(record.cells)} cells but the header has {width}: a cell "
                "holding the separator (often a password) must be in double quotes",
            )
        )
        return cand

    email = row.get("email")
    if email is None:
        problem(Problem(row.where("email"), "empty: every account needs its From address"))
        return cand
    if not is_address(email):
        problem(Problem(row.where("email"), "is not an email address (name@domain)"))
        return cand
    cand.email = email
    table: dict[str, Any] = {"email": email}
    if (name := row.get("name")) is not None:
        table["name"] = name
    tags = [t.strip() for t in re.split(r"[,;|]", row.get("tags") or "") if t.strip()]
    tags += [t for t in extra_tags if t not in tags]
    if tags:
        table["tags"] = tags
    provider = row.get("provider")
    if provider is not None:
        provider = provider.strip().lower()
        if provider not in _known_providers():
            problem(Problem(row.where("provider"), "is not a known provider id; leave it empty"))
            provider = None
        else:
            table["provider"] = provider
    if (reply := row.get("reply_address")) is not None:
        if is_address(reply):
            table["reply_address"] = reply
        else:
            problem(Problem(row.where("reply_address"), "is not an email address"))
    detected = get_provider(provider) if provider else provider_for_email(email)
    imap_preset, smtp_preset = (None, None)
    send_only = False
    if detected is not None:
        send_only = detected.send_only
        with contextlib.suppress(KeyError, ValueError):
            imap_preset, smtp_preset = presets(detected, email)
    preset_for = {Protocol.IMAP: imap_preset, Protocol.SMTP: smtp_preset}

    shared_password = row.get("password")
    shared_command = row.get("password_command")
    for protocol in (Protocol.SMTP, Protocol.IMAP):
        server = _server(row, cand, protocol, preset_for[protocol], email, send_only)
        if server is None:
            continue
        p = protocol.value
        password = row.get(f"{p}.password") if row.has(f"{p}.password") else None
        password = password or shared_password
        command = row.get(f"{p}.password_command") or shared_command
        if command is None and columns.password_command and not password:
            command = fill_command(
                columns.password_command,
                {
                    "email": email,
                    "username": str(server.get("username", email)),
                    "host": str(server["host"]),
                    "protocol": p,
                },
            )
        if password:
            cand.passwords.set(protocol, password)
        elif command:
            server["password_command"] = command
        else:
            column = (
                row.where(f"{p}.password") if row.has(f"{p}.password") else row.where("password")
            )
            problem(
                Problem(
                    column,
                    f"empty: no password for {protocol.name} (or map a password_command "
                    "template such as `pass show mail/{email}`)",
                )
            )
        for key, value in (server_defaults or {}).items():
            server.setdefault(key, value)
        table[p] = server
    if send_only and "imap" not in table:
        table["send_only"] = True
    cand.table = table
    return cand


def _server(
    row: _Row,
    cand: Candidate,
    protocol: Protocol,
    preset: Any,
    email: str,
    send_only: bool,
) -> dict[str, Any] | None:
    """The [account.<protocol>] table, or None when the file has none and no preset fills it."""
    p = protocol.value
    problem = cand.problems.append
    host = row.get(f"{p}.host")
    port: int | None = None
    if host is not None and "://" not in host and host.count(":") == 1:
        name, _, after_colon = host.partition(":")
        parsed = parse_port(after_colon)
        if parsed is None:
            problem(Problem(row.where(f"{p}.host"), "has a port after ':' that is not a number"))
            return None
        host, port = name.strip(), parsed
    port_text = row.get(f"{p}.port")
    if port_text is not None:
        parsed = parse_port(port_text)
        if parsed is None:
            problem(Problem(row.where(f"{p}.port"), "must be a whole number from 1 to 65535"))
            return None
        port = parsed
    security: Security | None = None
    security_text = row.get(f"{p}.security")
    if security_text is not None:
        word = re.sub(r"[^0-9a-z]", "", security_text.casefold())
        if word not in _SECURITY_WORDS:
            problem(
                Problem(row.where(f"{p}.security"), 'must be "tls" (or SSL), "starttls" or "none"')
            )
            return None
        security = _SECURITY_WORDS[word]
    username = row.get(f"{p}.username")
    mailbox = row.get("imap.mailbox") if protocol is Protocol.IMAP else None

    if host is None:
        if preset is None:
            if protocol is Protocol.IMAP and send_only:
                return None
            if row.has(f"{p}.host") or protocol is Protocol.SMTP:
                problem(
                    Problem(
                        row.where(f"{p}.host"),
                        f"empty, and no {protocol.name} preset is known for this domain",
                    )
                )
            else:
                cand.notes.append(f"line {cand.line}: no IMAP server; replies would not be read")
            return None
        host = preset.host
        port = port or preset.port
        security = security or (preset.security if port == preset.port else None)
        if username is None and preset.username_form is UsernameForm.LOCAL_PART:
            username = email.partition("@")[0]
    elif (problem_text := host_problem(host)) is not None:
        problem(Problem(row.where(f"{p}.host"), problem_text))
        return None
    if port is None and preset is not None and preset.host.casefold() == host.casefold():
        port = preset.port
        security = security or preset.security
    if port is None:
        security = security or Security.TLS
        port = DEFAULT_PORTS[protocol][security]
    if security is None:
        security = implied_security(protocol, port)
    if security is None:
        security = Security.STARTTLS if protocol is Protocol.SMTP else Security.TLS
        cand.notes.append(
            f"line {cand.line}: {protocol.name} port {port} is not a standard one; "
            f"assumed {security.value}"
        )
    server: dict[str, Any] = {"host": host, "port": port, "security": security.value}
    server["username"] = username or email
    if mailbox:
        server["mailbox"] = mailbox
    return server
