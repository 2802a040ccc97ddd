"""Fixing a whole group from the group view: preview every file change, save once, re-test the
group, undo once. The changes themselves are console.core.fleet.group_fix; this drives them.

Nothing here re-tries by itself: a re-test follows a fix the user confirmed (credential causes
stay un-retried until something changes, as everywhere in the console).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.core.config import ConfigError, LoadedConfig
from console.core.fleet.group_fix import (
    FileChange,
    FixError,
    GroupFix,
    discovery_fix,
    field_fix,
    preset_fix,
)
from console.core.fleet.groups import Group
from console.core.model import Account, ServerSettings
from console.core.safe_text import visible
from console.core.secrets import SecretError, SecretProvider

if TYPE_CHECKING:
    from console.ui.screens.main import MainScreen

StoreSecret = Callable[[ServerSettings, str], None]
PREVIEW_LIMIT = 500


class FixPreviewScreen(ModalScreen[bool]):
    """Every file change of a group fix; y saves them all at once, n or esc does nothing."""

    DEFAULT_CSS = """
    FixPreviewScreen { align: center middle; }
    FixPreviewScreen > Vertical {
        width: 90%; height: 80%; border: thick $warning; background: $surface; padding: 0 1;
    }
    FixPreviewScreen VerticalScroll { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Save all", id="group-fix.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="group-fix.no"),
    ]

    def __init__(self, title: str, changes: Sequence[FileChange]) -> None:
        super().__init__()
        self._title = title
        self._changes = changes

    def compose(self) -> ComposeResult:
        shown = [visible(str(c), keep_newlines=False) for c in self._changes[:PREVIEW_LIMIT]]
        if len(self._changes) > PREVIEW_LIMIT:
            shown.append(f"… and {len(self._changes) - PREVIEW_LIMIT} more")
        with Vertical():
            yield Static(
                Content(
                    f"{visible(self._title, keep_newlines=False)}: {len(self._changes)} change(s) "
                    "to the account file. y saves them all (u in the group view undoes), n cancels."
                ),
                id="preview-title",
            )
            with VerticalScroll():
                yield Static(Content("\n".join(shown)), id="preview-changes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class FieldPromptScreen(ModalScreen[str | None]):
    """Asks for `field value`: `security starttls`, `port 143`, `username {email}`, ..."""

    DEFAULT_CSS = """
    FieldPromptScreen { align: center middle; }
    FieldPromptScreen > Vertical {
        width: 80; max-width: 95%; height: auto; border: thick $primary; background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="group-field.cancel"),
    ]

    def __init__(self, protocol_name: str) -> None:
        super().__init__()
        self._protocol_name = protocol_name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Content(
                    f"Change one {self._protocol_name} field for every account of the group "
                    "(a preview follows): host, port, security, username ({email}, {local}, "
                    "{domain} are filled per account), mailbox."
                )
            )
            yield Input(placeholder="security starttls", id="group-field")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PasswordQueueScreen(ModalScreen[int]):
    """Walks the group one login at a time with the password field focused; enter stores the
    password in the keyring and goes on, ctrl+n skips, esc stops. Returns how many were stored."""

    DEFAULT_CSS = """
    PasswordQueueScreen { align: center middle; }
    PasswordQueueScreen > Vertical {
        width: 80; max-width: 95%; height: auto; border: thick $primary; background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", id="password-queue.stop"),
        Binding("ctrl+n", "skip", "Skip", id="password-queue.skip"),
    ]

    def __init__(self, logins: Sequence[tuple[str, ServerSettings]], store: StoreSecret) -> None:
        super().__init__()
        self.logins = list(logins)
        self._store = store
        self.position = 0
        self.stored = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(""), id="queue-title")
            yield Input(password=True, id="queue-password")
            yield Static(Content(""), id="queue-message")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.position >= len(self.logins):
            self.dismiss(self.stored)
            return
        email, server = self.logins[self.position]
        title = (
            f"{self.position + 1} of {len(self.logins)}: {email}\n"
            f"{server.protocol.name} login {server.keyring_key}: type the password (enter saves "
            "it to the keyring, ctrl+n skips, esc stops)"
        )
        self.query_one("#queue-title", Static).update(Content(visible(title)))
        field = self.query_one(Input)
        field.value = ""
        field.focus()

    @on(Input.Submitted)
    async def _submitted(self, event: Input.Submitted) -> None:
        password = event.value
        if not password:
            return
        _email, server = self.logins[self.position]
        try:
            await asyncio.to_thread(self._store, server, password)
        except SecretError as exc:
            self.query_one("#queue-message", Static).update(Content(visible(str(exc))))
            return
        self.stored += 1
        self.position += 1
        self.query_one("#queue-message", Static).update(Content(""))
        self._show()

    def action_skip(self) -> None:
        self.position += 1
        self._show()

    def action_stop(self) -> None:
        self.dismiss(self.stored)


class GroupFixer:
    """The main screen's group fixes: apply with a preview, keep one undo, re-test the group."""

    def __init__(
        self,
        screen: MainScreen,
        store_secret: StoreSecret,
        allowed_hosts: frozenset[str] | None = None,
        secrets: SecretProvider | None = None,
    ) -> None:
        self.screen = screen
        self.secrets = secrets
        self.store_secret = store_secret
        self.allowed_hosts = allowed_hosts
        self.undo_fix: GroupFix | None = None

    def accounts(self, group: Group) -> list[Account]:
        board = self.screen.board
        return [board[e].account for e in group.emails if e in board]

    def propose(self, fix: GroupFix | None, emails: Sequence[str]) -> None:
        """Show the preview; on yes save, keep the undo, re-test the accounts."""
        loaded = self.screen.loaded
        if fix is None or loaded is None:
            self.screen.notify("Nothing to change for this group.", markup=False)
            return
        changes = fix.preview(loaded)
        if not changes:
            self.screen.notify("The account file already holds these values.", markup=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.screen.run_worker(
                    self._save(fix, loaded, emails), group="fleet-fix", exit_on_error=False
                )

        self.screen.app.push_screen(FixPreviewScreen(fix.description, changes), answered)

    def field(self, group: Group) -> None:
        accounts = self.accounts(group)

        def typed(text: str | None) -> None:
            if not text:
                return
            key, _, value = text.partition(" ")
            try:
                fix = field_fix(accounts, group.key.protocol, key.strip().casefold(), value)
            except FixError as exc:
                self.screen.notify(str(exc), severity="error", markup=False)
                return
            self.propose(fix, group.emails)

        self.screen.app.push_screen(FieldPromptScreen(group.key.protocol.name), typed)

    def preset(self, group: Group) -> None:
        self.propose(preset_fix(self.accounts(group), group.key.protocol), group.emails)

    def discover(self, group: Group) -> None:
        """Find the port/security that answers on the group's host (no password is sent)."""
        accounts = self.accounts(group)

        async def job() -> None:
            fix = await discovery_fix(
                accounts, group.key.protocol, allowed_hosts=self.allowed_hosts
            )
            self.propose(fix, group.emails)

        self.screen.notify(
            f"Looking for the {group.key.protocol.name} port and security that answer on "
            f"{group.key.host or 'the host'} (no password is sent)…",
            markup=False,
        )
        self.screen.run_worker(job(), group="fleet-fix", exit_on_error=False)

    def open_import(self) -> None:
        """i: the import dialog (console/ui/screens/import_dialog.py)."""
        from console.ui.screens.import_dialog import ImportScreen

        if self.secrets is None:
            return
        self.screen.app.push_screen(
            ImportScreen(
                self.screen,
                secrets=self.secrets,
                store_secret=self.store_secret,
                allowed_hosts=self.allowed_hosts,
            )
        )

    def undo(self) -> None:
        fix, self.undo_fix = self.undo_fix, None
        if fix is None:
            self.screen.notify("No group fix to undo.", markup=False)
            return
        self.propose(fix, list(fix.changes))

    def passwords(self, group: Group) -> None:
        logins = [
            (a.email, server)
            for a in self.accounts(group)
            if (server := a.settings_for(group.key.protocol)) is not None
        ]

        def done(stored: int | None) -> None:
            if stored:
                self.screen.notify(f"{stored} password(s) stored; re-testing.", markup=False)
                self.retest(group.emails)

        self.screen.app.push_screen(PasswordQueueScreen(logins, self.store_secret), done)

    def retest(self, emails: Sequence[str]) -> None:
        board = self.screen.board
        self.screen.start_checks([board[e].account for e in emails if e in board])

    async def _save(self, fix: GroupFix, loaded: LoadedConfig, emails: Sequence[str]) -> None:
        undo = fix.inverse(loaded)
        try:
            saved = await asyncio.to_thread(fix.apply, loaded)
        except ConfigError as exc:
            self.screen.notify(str(exc), title="Nothing saved", severity="error", markup=False)
            return
        self.undo_fix = None if fix.description.startswith("undo: ") else undo
        self.apply_loaded(saved)
        self.screen.notify(
            f"{fix.description}: saved for {len(fix.changes)} account(s); re-testing.",
            markup=False,
        )
        self.retest(emails)

    def apply_loaded(self, loaded: LoadedConfig) -> None:
        screen = self.screen
        screen.loaded = loaded
        screen.load_error = None
        screen.board.replace_accounts(loaded.accounts)
        screen.scheduler.use_settings(loaded.settings)
        screen.rebuild()
        screen.refresh_bindings()
