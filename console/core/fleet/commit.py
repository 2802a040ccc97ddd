"""Save an import plan: passwords to the keyring, then the account file in one locked, atomic save.

Order matters for "nothing partial is saved": the passwords go first, and if any cannot be
stored, those already stored by this import are removed again and the file is not touched; if
the file then cannot be saved, the stored passwords are removed too. (A password replaced for an
updated account cannot be restored that way: the keyring does not keep the old one.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.core.config import ConfigError, LoadedConfig
from console.core.config_write import add_account, change_config, update_account
from console.core.model import Protocol, ServerSettings
from console.core.secrets import SecretError

from .plan import Action, ImportPlan

StoreSecret = Callable[[ServerSettings, str], None]
ForgetSecret = Callable[[ServerSettings], None]


class CommitError(Exception):
    """Nothing was saved; the message says why (never a password)."""


@dataclass(frozen=True)
class CommitResult:
    added: int
    updated: int
    passwords_stored: int
    config: LoadedConfig


def apply_rows(raw: dict[str, Any], plan: ImportPlan) -> dict[str, Any]:
    """The raw account data with every add/update row applied (nothing saved)."""
    for row in plan.to_commit():
        table = row.candidate.table
        if row.action is Action.ADD:
            raw = add_account(raw, table)
            continue
        email = str(table["email"])
        existing = _entry(raw, email)
        account_changes: dict[str, Any] = {
            k: v for k, v in table.items() if k not in ("email", "smtp", "imap", "tags")
        }
        if "tags" in table:
            old_tags = existing.get("tags")
            old: list[Any] = old_tags if isinstance(old_tags, list) else []
            account_changes["tags"] = list(dict.fromkeys([*old, *table["tags"]]))
        if account_changes:
            raw = update_account(raw, email, None, account_changes)
        for protocol in Protocol:
            server = table.get(protocol.value)
            if not isinstance(server, dict):
                continue
            changes: dict[str, Any] = dict(server)
            if row.candidate.passwords.get(protocol) is not None:
                changes["password_command"] = None  # the keyring holds it from now on
            raw = update_account(raw, email, protocol, changes)
    return raw


def _entry(raw: dict[str, Any], email: str) -> dict[str, Any]:
    for entry in raw.get("account", []):
        if isinstance(entry, dict) and str(entry.get("email", "")).casefold() == email.casefold():
            return entry
    return {}


def commit(
    plan: ImportPlan,
    loaded: LoadedConfig,
    store_secret: StoreSecret,
    forget_secret: ForgetSecret | None = None,
) -> CommitResult:
    """Store the file's passwords, then save every add/update row in one save of the file."""
    rows = plan.to_commit()
    try:
        apply_rows(loaded.raw, plan)  # an edit that cannot apply stops here, before the keyring
    except ConfigError as exc:
        raise CommitError(f"nothing was saved: {exc.message}") from None
    stored: list[ServerSettings] = []

    def undo() -> None:
        if forget_secret is None:
            return
        for settings in stored:
            with contextlib.suppress(SecretError):
                forget_secret(settings)

    try:
        for row in rows:
            if row.account is None:
                continue
            for protocol in Protocol:
                server = row.account.settings_for(protocol)
                password = row.candidate.passwords.get(protocol)
                if server is None or password is None:
                    continue
                store_secret(server, password)
                stored.append(server)
    except SecretError as exc:
        undo()
        raise CommitError(f"nothing was saved: {exc}") from None
    try:
        saved = loaded if not rows else change_config(loaded, lambda now: apply_rows(now, plan))
    except ConfigError as exc:
        undo()
        raise CommitError(f"nothing was saved: {exc}") from None
    added = sum(1 for r in rows if r.action is Action.ADD)
    return CommitResult(added, len(rows) - added, len(stored), saved)
