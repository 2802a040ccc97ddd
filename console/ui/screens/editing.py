"""Edit, test-before-save, save, add, delete and reload: everything that changes the account file.

Writes and keyring calls block, so they run in thread workers; their outcome comes back as the
worker's state change and is applied on the UI side. Passwords travel only inside closures,
never as worker arguments (worker descriptions are built from arguments).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.coordinate import Coordinate
from textual.worker import Worker, WorkerState

from console.core.config import ConfigError, LoadedConfig, load_config
from console.core.config_write import (
    ConfigChangedError,
    add_account,
    change_config,
    copy_example,
    new_config_file,
    remove_account,
    update_account,
)
from console.core.model import Account, CheckResult, Protocol, ServerSettings
from console.core.providers.discovery import (
    Discovery,
    discover_account,
    fix_summary,
    suggest_fix,
)
from console.core.safe_text import visible
from console.core.secrets import SecretError, SecretProvider
from console.ui import detail
from console.ui.board import Entry
from console.ui.edits import (
    Changes,
    ImapForm,
    SmtpForm,
    account_from_form,
    changes_from_form,
    form_from_account,
    mismatch_note,
    password_source_note,
    settings_from_form,
    smtp_changes,
    smtp_form_from_account,
    smtp_settings_from_form,
)
from console.ui.presets import imap_presets
from console.ui.screens.add_account import AddAccountScreen, NewAccount
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.account_editor import AccountEditor

if TYPE_CHECKING:
    from console.ui.screens.main import MainScreen

StoreSecret = Callable[[ServerSettings, str], None]
"""Puts a password where `secrets` will find it (the keyring; MemorySecrets.set in the demo)."""

FORM_READY_TIMEOUT = 2.0
"""Seconds typed-ahead keys are held at most while the form is put on screen."""
FILE_GROUP = "file"
FIND_GROUP = "find-settings"
FIND_TIMEOUT = 5.0
"""Seconds per stage for "find settings": short, a person is waiting (the search may try ~10)."""


@dataclass(frozen=True)
class _Job:
    kind: str  # "save", "add", "delete"
    email: str
    note: str
    then: str | None = None
    """Where the cursor goes afterwards (a deleted row's neighbour), when not on `email`."""


class EditFlow:
    def __init__(
        self,
        screen: MainScreen,
        *,
        secrets: SecretProvider,
        store_secret: StoreSecret,
        allowed_hosts: frozenset[str] | None = None,
    ) -> None:
        self.screen = screen
        self._secrets = secrets
        self._store_secret = store_secret
        self._allowed_hosts = allowed_hosts
        self._jobs: dict[Worker[object], _Job] = {}
        self._testing: Worker[dict[Protocol, CheckResult]] | None = None
        self._finding: Worker[Discovery] | None = None

    @property
    def editor(self) -> AccountEditor | None:
        return self.screen.pane.editor

    async def open(self, email: str | None) -> None:
        entry = self.screen.board.get(email) if email else None
        if entry is None or self.screen.loaded is None:
            return
        account = entry.account
        editor = AccountEditor(
            account.email,
            None if account.send_only and account.imap is None else form_from_account(account),
            smtp_form_from_account(account),
            presets=imap_presets(account),
            mismatch=mismatch_note,
            password_note=password_source_note(account, Protocol.IMAP),
            smtp_password_note=password_source_note(account, Protocol.SMTP),
        )
        self.screen.remove_class("-no-detail")
        self.screen.add_class("-editing")
        await self.screen.pane.open_editor(editor, editor_title(account))
        self.screen.table.move_to(account.email)  # the edited row stays in view above the form
        self.screen.refresh_bindings()
        # Keys typed right after `e` (over SSH, a burst) wait in the app's queue while this
        # action runs: hold them until the form can take them, so each lands in its field.
        with suppress(TimeoutError):
            await asyncio.wait_for(editor.ready.wait(), FORM_READY_TIMEOUT)

    async def close(self) -> None:
        for worker in (self._testing, self._finding):
            if worker is not None:
                worker.cancel()
        self._testing = self._finding = None
        await self.screen.pane.close_editor()
        self.screen.remove_class("-editing")
        self.screen.table.focus()
        self.screen.refresh_detail()
        self.screen.refresh_bindings()

    def _form(
        self, *, saving: bool = False
    ) -> tuple[AccountEditor, Account, ImapForm, SmtpForm | None] | None:
        editor = self.editor
        if editor is None:
            return None
        entry = self.screen.board.get(editor.email)
        found = editor.validated(saving=saving)
        if entry is None or found is None:
            return None
        return editor, entry.account, *found

    def submitted(self, save: bool) -> None:
        """A form button or Enter in a field (the same as ctrl+s / ctrl+t)."""
        if save:
            self.save()
        else:
            self.test()

    def test(self) -> None:
        """ctrl+t: the full ladder of every server in the form, on its values, saved or not."""
        found = self._form()
        if found is None:
            return
        editor, account, form, smtp = found
        candidate = _candidate(editor, account, form, smtp)
        typed = {
            settings: password
            for settings, password in (
                (candidate.imap, form.password),
                (candidate.smtp, smtp.password if smtp else ""),
            )
            if settings is not None and password
        }
        base = self._secrets

        async def secrets(asked: ServerSettings) -> str:
            if asked in typed:
                return typed[asked]
            return await base(asked)

        protocols = editor.protocols
        self._testing = self.screen.scheduler.test_servers(candidate, protocols, secrets)
        names = " and ".join(p.value.upper() for p in protocols)
        testing = Content.styled(
            f"⟳ testing the {names} values in the form (not saved)…", "$state-checking"
        )
        self.screen.pane.show_form_result(lambda _width: testing)

    async def find(self, email: str | None) -> None:
        """f: look for the IMAP port/security pair that answers, without sending a password,
        and put it in the form (unsaved: ctrl+t tests it, ctrl+s saves it)."""
        entry = self.screen.board.get(email) if email else None
        if entry is None or self.screen.loaded is None:
            return
        editor = self.editor
        if editor is None or editor.email != entry.account.email:
            await self.open(entry.account.email)
        account, allowed = entry.account, self._allowed_hosts

        async def job() -> Discovery:
            return await discover_account(
                account, Protocol.IMAP, timeout=FIND_TIMEOUT, allowed_hosts=allowed
            )

        self._finding = self.screen.run_worker(
            job,
            group=FIND_GROUP,
            exclusive=True,
            exit_on_error=False,
            description=f"find IMAP settings for {account.email}",
        )
        where = account.imap.host if account.imap else "the provider's servers"
        looking = Content.styled(
            f"⟳ looking for the IMAP port and security that answer at {where} "
            "(no password is sent)…",
            "$state-checking",
        )
        self.screen.pane.show_form_result(lambda _width: looking)

    def _show_found(self, worker: Worker[object]) -> None:
        editor = self.editor
        if worker is not self._finding or editor is None:
            return
        self._finding = None
        if worker.state is WorkerState.CANCELLED:
            return
        entry = self.screen.board.get(editor.email)
        found = worker.result
        if worker.state is WorkerState.ERROR or not isinstance(found, Discovery):
            failed = Content(f"The search could not run: {worker.error}")
            self.screen.pane.show_form_result(lambda _width: failed)
            return
        if entry is None:
            return
        account = entry.account
        summary = fix_summary(Protocol.IMAP, found, account.imap)
        changes = suggest_fix(account, Protocol.IMAP, found)
        if changes:
            editor.apply_fix(changes)
            summary += "\nThe form now holds these values: ctrl+t tests them, ctrl+s saves them."
        text = Content(summary)
        self.screen.pane.show_form_result(lambda _width: text)

    def _show_test(self, worker: Worker[object]) -> None:  # the form-test worker
        editor = self.editor
        if worker is not self._testing or editor is None:
            return
        self._testing = None
        if worker.state is WorkerState.ERROR:
            failed = Content(f"The test could not run: {worker.error}")
            self.screen.pane.show_form_result(lambda _width: failed)
            return
        results = worker.result
        entry = self.screen.board.get(editor.email)
        if not isinstance(results, dict) or entry is None:
            return
        candidate = _candidate(editor, entry.account, editor.values(), editor.smtp_values())
        shown = Entry(candidate, result=entry.result, fresh=dict(results))
        protocols = tuple(results)
        self.screen.pane.show_form_result(
            lambda width: detail.form_test_content(shown, width, protocols)
        )

    def save(self) -> None:
        """ctrl+s: passwords to the keyring, changed keys to the file, then a re-test."""
        found = self._form(saving=True)
        loaded = self.screen.loaded
        if found is None or loaded is None:
            return
        editor, account, form, smtp = found
        has_imap = Protocol.IMAP in editor.protocols
        changes = changes_from_form(account, form) if has_imap else Changes({}, {})
        if smtp is not None:
            changes = Changes(changes.imap, changes.account, smtp_changes(account, smtp))
        passwords = []
        if has_imap and form.password:
            passwords.append((settings_from_form(form, account.imap), form.password))
        if smtp is not None and smtp.password:
            passwords.append((smtp_settings_from_form(smtp, account.smtp), smtp.password))
        if changes.empty and not passwords:
            self.screen.notify("Nothing changed.", markup=False)
            return
        store = self._store_secret
        email = account.email

        def job() -> LoadedConfig:
            for settings, password in passwords:
                store(settings, password)
            return _write_changes(loaded, email, changes)

        saved = [f"imap.{k}" for k in changes.imap] + [f"smtp.{k}" for k in changes.smtp]
        saved += list(changes.account)
        if passwords:
            which = " and ".join(s.protocol.value.upper() for s, _ in passwords)
            saved.append(f"the {which} password (keyring)")
        what = ", ".join(saved)
        self._run(job, _Job("save", email, f"Saved {what} for {email}; re-testing."))
        editor.clear_password()

    # -- add / delete / reload --------------------------------------------------------------

    async def add(self) -> None:
        """Open the dialog and wait until it can take keys (typed-ahead ones included)."""
        dialog = AddAccountScreen(self.screen.board.emails)
        await self.screen.app.push_screen(dialog, self._add_chosen)

    def _add_chosen(self, new: NewAccount | None) -> None:
        if new is None:
            return
        loaded, path, store = self.screen.loaded, self.screen.path, self._store_secret

        def job() -> LoadedConfig:
            for settings, password in new.passwords:
                store(settings, password)
            if loaded is None:
                return new_config_file(path, {"account": [new.table]})
            return change_config(loaded, lambda raw: add_account(raw, new.table))

        self._run(job, _Job("add", new.email, f"Added {new.email}; checking it."))

    def delete(self, email: str | None) -> None:
        if email is None or self.screen.loaded is None:
            return
        question = Content.assemble(
            "Delete ",
            (email, "bold"),
            f" from {self.screen.path.name}?\n\n",
            (
                "Its passwords stay in the keyring. The file keeps one .bak of the previous "
                "version.",
                "$text-muted",
            ),
        )

        def answered(yes: bool | None) -> None:
            loaded = self.screen.loaded
            if not yes or loaded is None:
                return

            def job() -> LoadedConfig:
                return change_config(loaded, lambda raw: remove_account(raw, email))

            self._run(job, _Job("delete", email, f"Deleted {email}.", self._neighbour(email)))

        self.screen.app.push_screen(ConfirmScreen(question, yes="Delete"), answered)

    def reload(self) -> None:
        """Read the file again (after an outside change); the form, if open, keeps its values."""
        try:
            loaded = load_config(self.screen.path)
        except ConfigError as exc:
            self.screen.notify(str(exc), title="Reload failed", severity="error", markup=False)
            return
        self._apply(loaded)
        self._check_unchecked()
        self.screen.notify(f"Reloaded {self.screen.path}", markup=False)

    def copy_example(self) -> None:
        """First run: put accounts.example.toml where the file is expected and open it."""
        try:
            self._apply(copy_example(self.screen.path))
        except ConfigError as exc:
            self.screen.notify(str(exc), title="Copy failed", severity="error", markup=False)
            return
        self._check_unchecked()
        self.screen.notify(
            f"Copied the example to {self.screen.path}: edit it, then ctrl+r reloads it",
            markup=False,
        )

    # -- workers -------------------------------------------------------------------------------

    def _run(self, job: Callable[[], LoadedConfig], what: _Job) -> None:
        worker: Worker[object] = self.screen.run_worker(
            job,
            thread=True,
            group=FILE_GROUP,
            description=f"{what.kind} {what.email}",
            exit_on_error=False,
        )
        self._jobs[worker] = what

    def worker_changed(self, worker: Worker[object]) -> None:
        if worker.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if worker.group == FIND_GROUP:
            self._show_found(worker)
            return
        if worker.group != FILE_GROUP:
            self._show_test(worker)
            return
        what = self._jobs.pop(worker, None)
        if what is None or worker.state is WorkerState.CANCELLED:
            return
        if worker.state is WorkerState.ERROR:
            self._failed(what, worker.error)
            return
        loaded = worker.result
        if isinstance(loaded, LoadedConfig):
            self.screen.call_next(self._done, what, loaded)

    async def _done(self, what: _Job, loaded: LoadedConfig) -> None:
        self._apply(loaded)
        if (
            what.kind in ("save", "delete")
            and self.editor is not None
            and (what.kind == "save" or self.editor.email == what.email)
        ):
            await self.close()
        if what.kind == "delete":
            self.screen.scheduler.cancel(what.email)
            if what.then is not None:  # not back to the first row, one `d` from another account
                self.screen.table.move_to(what.then)
        entry = self.screen.board.get(what.email)
        if entry is not None and what.kind in ("save", "add"):
            self.screen.start_checks([entry.account])
            self.screen.table.move_to(what.email)
        self.screen.notify(what.note, markup=False)

    def _failed(self, what: _Job, error: BaseException | None) -> None:
        if isinstance(error, ConfigChangedError):
            question = Content.assemble(
                ("The account file changed on disk", "bold"),
                " since it was read, so nothing was written.\n\n",
                "Reload it now? Your values stay in the form: save again after the reload.",
            )
            self.screen.app.push_screen(
                ConfirmScreen(question, yes="Reload", no="Not now"),
                lambda yes: self.reload() if yes else None,
            )
            return
        if isinstance(error, SecretError | ConfigError):
            message = str(error)
        else:
            message = f"{type(error).__name__}: {error}"
        self.screen.notify(
            message,
            title=f"Could not {what.kind} {what.email}",
            severity="error",
            markup=False,
            timeout=12,
        )

    def _neighbour(self, email: str) -> str | None:
        """The row below `email`'s, else the one above: where the cursor goes after a delete."""
        table = self.screen.table
        row = table.cursor_row
        for candidate in (row + 1, row - 1):
            if 0 <= candidate < table.row_count:
                key = table.coordinate_to_cell_key(Coordinate(candidate, 0)).row_key.value
                if key is not None and key != email:
                    return str(key)
        return None

    def _check_unchecked(self) -> None:
        """After a reload or the first-run copy: check what start-up would have checked (new
        accounts, and those whose settings changed on disk)."""
        if not self.screen.checks_on_start:
            return
        due = [e.account for e in self.screen.board if e.result is None and not e.checking]
        if due:
            self.screen.start_checks(due)

    def _apply(self, loaded: LoadedConfig) -> None:
        screen = self.screen
        screen.loaded = loaded
        screen.load_error = None
        screen.board.replace_accounts(loaded.accounts)
        screen.scheduler.use_settings(loaded.settings)
        screen.history.use_settings(loaded.settings)
        screen.history.load(screen.board)  # results recorded meanwhile (a cron `check`)
        screen.rebuild()
        screen.refresh_bindings()


def _write_changes(loaded: LoadedConfig, email: str, changes: Changes) -> LoadedConfig:
    if changes.empty:
        return loaded

    def change(raw: dict[str, Any]) -> dict[str, Any]:
        if changes.imap:
            raw = update_account(raw, email, Protocol.IMAP, changes.imap)
        if changes.smtp:
            raw = update_account(raw, email, Protocol.SMTP, changes.smtp)
        if changes.account:
            raw = update_account(raw, email, None, changes.account)
        return raw

    return change_config(loaded, change)


def _candidate(
    editor: AccountEditor, account: Account, form: ImapForm, smtp: SmtpForm | None
) -> Account:
    """The account as the form describes it (what a test checks)."""
    if Protocol.IMAP in editor.protocols:
        return account_from_form(account, form, smtp)
    if smtp is None:
        return account
    return replace(account, smtp=smtp_settings_from_form(smtp, account.smtp))


def editor_title(account: Account) -> Content:
    """The line that stays above the form: which account (the footer shows the keys)."""
    name = f"{account.email} · {account.name}" if account.name else account.email
    return Content.assemble("Editing ", (visible(name, keep_newlines=False), "bold"))
