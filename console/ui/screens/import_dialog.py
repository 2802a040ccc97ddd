"""The import dialog (i): a CSV's path, its detected column mapping (correctable, and savable as
a named mapping), the pre-flight table of every row with its would-be state and cause, and the
commit. The work is console.core.fleet; this screen only drives it.

Keys: enter in the path reads the file; ctrl+r reads it again with the mapping as edited;
ctrl+t tests the rows (nothing is saved); ctrl+s saves the tested rows (asks first); esc closes.
Passwords from the file stay in memory until the save puts them in the keyring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Select, Static, TextArea

from console.core.config import ConfigError, LoadedConfig
from console.core.config_write import new_config_file
from console.core.fleet import (
    CommitError,
    ImportPlan,
    MappingError,
    ReadError,
    commit,
    fix_text,
    plan_import,
    preflight,
    save,
)
from console.core.fleet.mapping import custom, parse_lines
from console.core.model import ServerSettings, Settings
from console.core.runner import Runner
from console.core.safe_text import visible
from console.core.secrets import SecretError, SecretProvider, delete_password, store_password
from console.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from console.ui.group_fixes import StoreSecret
    from console.ui.screens.main import MainScreen

DEMO_FILE = "import-demo.csv"  # console/lab/demo_import.toml writes it beside the demo's file
ROW_LIMIT = 5000
"""Rows drawn in the dialog's table; the counts always cover the whole file."""


class ImportScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ImportScreen { align: center middle; }
    ImportScreen > Vertical {
        width: 98%; height: 95%; border: thick $primary; background: $surface; padding: 0 1;
    }
    ImportScreen #import-top { height: 3; }
    ImportScreen #import-path { width: 1fr; }
    ImportScreen #import-duplicate { width: 28; }
    ImportScreen #import-middle { height: 12; }
    ImportScreen #import-columns { width: 1fr; height: 12; }
    ImportScreen #import-notes { width: 1fr; height: 12; padding: 0 1; overflow-y: auto; }
    ImportScreen #import-rows { height: 1fr; }
    ImportScreen #import-status { height: 2; }
    ImportScreen #import-save-name { width: 40; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "read", "Read again", id="import.read"),
        Binding("ctrl+t", "test", "Test rows", id="import.test"),
        Binding("ctrl+s", "commit", "Save", id="import.commit"),
        Binding("escape", "close", "Close", id="import.close"),
    ]

    def __init__(
        self,
        screen: MainScreen,
        *,
        secrets: SecretProvider,
        store_secret: StoreSecret,
        allowed_hosts: frozenset[str] | None,
    ) -> None:
        super().__init__()
        self.main = screen
        self.secrets = secrets
        self.store_secret = store_secret
        self.allowed_hosts = allowed_hosts
        self.plan: ImportPlan | None = None
        self._data: bytes | None = None
        self._source: Path | None = None

    def compose(self) -> ComposeResult:
        demo = self.main.path.parent / DEMO_FILE
        with Vertical():
            with Horizontal(id="import-top"):
                yield Input(
                    str(demo) if demo.exists() else "",
                    placeholder="path of the CSV or TSV file, then enter",
                    id="import-path",
                )
                yield Select(
                    [
                        ("existing: ask (error)", ""),
                        ("existing: update", "update"),
                        ("existing: skip", "skip"),
                    ],
                    value="",
                    allow_blank=False,
                    id="import-duplicate",
                )
            with Horizontal(id="import-middle"):
                yield TextArea("", id="import-columns")
                yield Static(
                    Content("Header = field, one per line; ctrl+r reads again."), id="import-notes"
                )
            yield Input(
                placeholder="save this mapping as (a name), then enter", id="import-save-name"
            )
            yield DataTable(id="import-rows", cursor_type="row", zebra_stripes=True)
            yield Static(
                Content("enter: read · ctrl+t: test · ctrl+s: save · esc: close"),
                id="import-status",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("line", "action", "email", "state", "why")
        self.query_one("#import-path", Input).focus()

    # -- reading -----------------------------------------------------------------------------

    def _status(self, text: str) -> None:
        self.query_one("#import-status", Static).update(Content(visible(text)))

    @on(Input.Submitted, "#import-path")
    def _path_entered(self) -> None:
        self.action_read(fresh=True)

    def action_read(self, fresh: bool = False) -> None:
        text = self.query_one("#import-path", Input).value.strip()
        if not text:
            self._status("Type the path of a CSV or TSV file.")
            return
        path = Path(text).expanduser()
        try:
            if fresh or self._data is None or self._source != path:
                self._data = path.read_bytes()
                self._source = path
        except OSError as exc:
            self._status(f"{path}: cannot read ({exc.strerror or exc})")
            return
        mapping = None
        if not fresh and self.plan is not None:
            try:
                columns = parse_lines(self.query_one(TextArea).text)
                mapping = custom(self.plan.table.header, columns)
            except MappingError as exc:
                self._status(str(exc))
                return
        self._plan(self._data, path, mapping)

    def _defaults(self) -> dict[str, str]:
        """In the demo (a session limited to the lab), imported rows trust the lab's CA as the
        demo's own accounts do."""
        loaded = self.main.loaded
        if self.allowed_hosts is None or loaded is None:
            return {}
        files = {
            s.tls_ca_file
            for a in loaded.accounts
            for s in (a.smtp, a.imap)
            if s is not None and s.tls_ca_file
        }
        return {"tls_ca_file": files.pop()} if len(files) == 1 else {}

    def _plan(self, data: bytes, path: Path, mapping: object) -> None:
        loaded = self.main.loaded
        duplicate = self.query_one(Select).value
        try:
            plan = plan_import(
                data,
                existing=loaded.accounts if loaded else (),
                source=path,
                on_duplicate=str(duplicate) if duplicate else None,
                mapping=mapping,  # type: ignore[arg-type]
                server_defaults=self._defaults(),
                base_dir=self.main.path.parent,
            )
        except (ReadError, MappingError) as exc:
            self._status(f"{path}: {exc}")
            return
        self.plan = plan
        lines = [f"{header} = {name}" for header, name in plan.columns.as_dict().items()]
        self.query_one(TextArea).text = "\n".join(visible(x, keep_newlines=False) for x in lines)
        notes = [f"mapping: {plan.columns.title}", *plan.notes[:20]]
        self.query_one("#import-notes", Static).update(Content(visible("\n".join(notes))))
        self._fill()

    def _fill(self) -> None:
        plan = self.plan
        if plan is None:
            return
        table = self.query_one(DataTable)
        table.clear()
        for row in plan.rows[:ROW_LIMIT]:
            why = fix_text(row)[0] if row.failed else "; ".join(row.notes)
            table.add_row(
                Text(str(row.line)),
                Text(row.action.value),
                Text(visible(row.email or "-", keep_newlines=False)),
                Text(row.state.value if row.state else "-"),
                Text(visible(why, keep_newlines=False)),
            )
        counts = ", ".join(f"{n} {a}" for a, n in plan.counts().items())
        tested = ""
        if plan.tested:
            states: dict[str, int] = {}
            for row in plan.rows:
                if row.state is not None:
                    states[row.state.value] = states.get(row.state.value, 0) + 1
            tested = " · tested: " + ", ".join(f"{n} {s}" for s, n in states.items())
        nxt = "ctrl+s saves" if plan.tested else "ctrl+t tests the rows (nothing is saved yet)"
        self._status(f"{len(plan.rows)} rows: {counts}{tested} · {nxt}")

    @on(Input.Submitted, "#import-save-name")
    def _save_mapping(self, event: Input.Submitted) -> None:
        if self.plan is None or not event.value.strip():
            return
        try:
            columns = parse_lines(self.query_one(TextArea).text)
            path = save(event.value.strip(), columns)
        except (MappingError, OSError) as exc:
            self._status(str(exc))
            return
        self._status(f"mapping saved: {path} (import --mapping {event.value.strip()})")

    # -- testing and saving --------------------------------------------------------------------

    def action_test(self) -> None:
        if self.plan is None:
            self._status("Read a file first (enter in the path).")
            return
        self._status(f"testing {len(self.plan.to_commit())} rows against their servers…")
        self._test(self.plan)

    @work(group="import-test", exclusive=True, exit_on_error=False)
    async def _test(self, plan: ImportPlan) -> None:
        settings = self.main.loaded.settings if self.main.loaded else Settings()
        runner = Runner(
            settings,
            secrets=_held(plan, self.secrets),
            allowed_hosts=self.allowed_hosts,
        )
        await preflight(plan, settings, runner=runner)
        if plan is self.plan:
            self._fill()

    def action_commit(self) -> None:
        plan, loaded = self.plan, self.main.loaded
        if plan is None or not plan.tested:
            self._status("Test the rows first (ctrl+t): nothing is saved untested.")
            return
        if loaded is None and self.main.path.exists():
            self._status("The account file could not be read; fix it first.")
            return
        count = len(plan.to_commit())
        if not count:
            self._status("No row to add or update.")
            return
        question = (
            f"Save {count} account(s) to {self.main.path} and their passwords to the keyring?"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._commit(plan, loaded)

        self.app.push_screen(ConfirmScreen(visible(question), yes="Save"), answered)

    @work(group="import-commit", exclusive=True, exit_on_error=False)
    async def _commit(self, plan: ImportPlan, loaded: LoadedConfig | None) -> None:
        forget = _forget(self.store_secret)
        try:
            if loaded is None:  # the first accounts: the file is created (mode 0600)
                loaded = await asyncio.to_thread(new_config_file, self.main.path, {})
            result = await asyncio.to_thread(commit, plan, loaded, self.store_secret, forget)
        except (CommitError, ConfigError, SecretError) as exc:
            self._status(str(exc))
            return
        self.main.group_fixer.apply_loaded(result.config)
        for row in plan.to_commit():
            if row.result is not None:
                self.main.board.set_result(row.result)
        self.main.rebuild()
        self.main.notify(
            f"Imported: {result.added} added, {result.updated} updated; "
            f"{result.passwords_stored} password(s) in the keyring. g groups the failures.",
            markup=False,
        )
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


def _held(plan: ImportPlan, fallback: SecretProvider) -> SecretProvider:
    from console.core.fleet.plan import held_secrets

    return held_secrets(plan, fallback)


def _forget(store: object) -> Callable[[ServerSettings], None] | None:
    """How to take back a stored password: the keyring's delete, or the session's own."""
    if store is store_password:
        return delete_password
    owner = getattr(store, "__self__", None)
    delete = getattr(owner, "delete", None)
    return delete if callable(delete) else None
