"""One change for every account of a group: preview every file change, save once, undo once.

The fixes: a field change (host, port, security, username pattern such as `{email}`, mailbox),
the provider's preset, and the port/security pair discovery finds on the group's host (found
once, for the first account, then applied to all: they share the host). Saving goes through
config_write.change_config, so the file keeps every other byte and a concurrent change is
refused. The inverse of a fix (the old values) is its undo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.core.config import LoadedConfig
from console.core.config_write import change_config, update_account
from console.core.model import Account, Protocol, Security
from console.core.providers import presets, resolve_provider
from console.core.providers.discovery import discover_account, suggest_fix
from console.core.providers.records import UsernameForm

from .rows import host_problem, parse_port

FIELDS: Mapping[Protocol, tuple[str, ...]] = {
    Protocol.IMAP: ("host", "port", "security", "username", "mailbox"),
    Protocol.SMTP: ("host", "port", "security", "username"),
}


class FixError(ValueError):
    """A change that cannot apply (unknown field, bad value); the message says which."""


@dataclass(frozen=True)
class FileChange:
    email: str
    protocol: Protocol
    key: str
    old: object
    new: object

    def __str__(self) -> str:
        old = "(not set)" if self.old is None else repr(self.old)
        new = "(removed)" if self.new is None else repr(self.new)
        return f"{self.email}: {self.protocol.value}.{self.key} {old} -> {new}"


@dataclass(frozen=True)
class GroupFix:
    """New values of [account.<protocol>] keys, per account email."""

    protocol: Protocol
    changes: Mapping[str, Mapping[str, object]]
    description: str

    def preview(self, loaded: LoadedConfig) -> list[FileChange]:
        """Every value that would change in the file (unchanged ones left out)."""
        current = _server_tables(loaded, self.protocol)
        out: list[FileChange] = []
        for email, changes in self.changes.items():
            table = current.get(email.casefold(), {})
            for key, new in changes.items():
                if table.get(key) != new:
                    out.append(FileChange(email, self.protocol, key, table.get(key), new))
        return out

    def inverse(self, loaded: LoadedConfig) -> GroupFix:
        """The fix that puts back what `loaded` holds now (the undo)."""
        current = _server_tables(loaded, self.protocol)
        old = {
            email: {key: current.get(email.casefold(), {}).get(key) for key in changes}
            for email, changes in self.changes.items()
        }
        return GroupFix(self.protocol, old, f"undo: {self.description}")

    def apply(self, loaded: LoadedConfig) -> LoadedConfig:
        """One save of the file with every account's change."""

        def change(raw: dict[str, Any]) -> dict[str, Any]:
            for email, changes in self.changes.items():
                raw = update_account(raw, email, self.protocol, dict(changes))
            return raw

        return change_config(loaded, change)


def _server_tables(loaded: LoadedConfig, protocol: Protocol) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in loaded.raw.get("account", []):
        if isinstance(entry, dict) and isinstance(entry.get("email"), str):
            table = entry.get(protocol.value)
            out[entry["email"].casefold()] = dict(table) if isinstance(table, dict) else {}
    return out


def _pattern(template: str, account: Account) -> str:
    local, _, domain = account.email.partition("@")
    return (
        template.replace("{email}", account.email)
        .replace("{local}", local)
        .replace("{domain}", domain)
    )


def field_fix(accounts: Sequence[Account], protocol: Protocol, key: str, value: str) -> GroupFix:
    """One field for all: `port 143`, `security starttls`, `username {email}` (`{local}`,
    `{domain}` too), `host imap.example.com`, `mailbox INBOX`."""
    if key not in FIELDS[protocol]:
        raise FixError(
            f"{protocol.name} has no field {key!r}; choose {', '.join(FIELDS[protocol])}"
        )
    text = value.strip()
    new: object
    if key == "port":
        new = parse_port(text)
        if new is None:
            raise FixError("port must be a whole number from 1 to 65535")
    elif key == "security":
        if text.casefold() not in {s.value for s in Security}:
            raise FixError('security must be "tls", "starttls" or "none"')
        new = text.casefold()
    elif key == "host":
        if problem := host_problem(text):
            raise FixError(f"host {problem}")
        new = text
    elif not text:
        raise FixError(f"{key} must not be empty")
    else:
        new = text
    changes = {
        a.email: {key: _pattern(str(new), a) if key == "username" else new} for a in accounts
    }
    return GroupFix(protocol, changes, f"{protocol.value}.{key} = {text}")


def preset_fix(accounts: Iterable[Account], protocol: Protocol) -> GroupFix:
    """Each account's provider preset (host, port, security, username form) for the protocol;
    accounts without a known provider or preset are left out."""
    changes: dict[str, dict[str, object]] = {}
    for account in accounts:
        provider = resolve_provider(account, protocol)
        if provider is None:
            continue
        try:
            imap, smtp = presets(provider, account.email)
        except (KeyError, ValueError):
            continue
        preset = imap if protocol is Protocol.IMAP else smtp
        if preset is None:
            continue
        change: dict[str, object] = {
            "host": preset.host,
            "port": preset.port,
            "security": preset.security.value,
        }
        if preset.username_form is UsernameForm.EMAIL:
            change["username"] = account.email
        elif preset.username_form is UsernameForm.LOCAL_PART:
            change["username"] = account.email.partition("@")[0]
        changes[account.email] = change
    return GroupFix(protocol, changes, f"the provider's {protocol.name} preset")


async def discovery_fix(
    accounts: Sequence[Account],
    protocol: Protocol,
    *,
    timeout: float = 5.0,
    allowed_hosts: Iterable[str] | None = None,
) -> GroupFix | None:
    """The pair discovery finds on the first account's host (no password is sent), for every
    account on that host; None when nothing better answers."""
    if not accounts:
        return None
    first = accounts[0]
    found = await discover_account(first, protocol, timeout=timeout, allowed_hosts=allowed_hosts)
    changes = suggest_fix(first, protocol, found)
    if not changes:
        return None
    host = first.settings_for(protocol)
    same = [
        a
        for a in accounts
        if host is None
        or (
            (s := a.settings_for(protocol)) is not None
            and s.host.casefold() == host.host.casefold()
        )
    ]
    described = ", ".join(f"{k} = {v}" for k, v in changes.items())
    return GroupFix(
        protocol,
        {a.email: dict(changes) for a in same},
        f"what answers on the host: {described}",
    )
