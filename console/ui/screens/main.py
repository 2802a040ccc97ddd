"""The one screen: summary bar, live accounts table, detail pane, filter line and footer.

The screen owns every widget's state. Checks run as workers through `CheckScheduler`; account
file changes run in thread workers (`AccountFileJobs`); both report back through messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Container
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input
from textual.worker import Worker, WorkerState

from console.core.canary import CanaryProgress
from console.core.config import LoadedConfig
from console.core.fleet.groups import count_groups, group_failures
from console.core.model import Account, CheckResult, Protocol, Settings
from console.core.oauth.store import SignIns
from console.core.runner import AccountFinished, auto_recheck_allowed
from console.core.secrets import SecretProvider
from console.ui import detail
from console.ui.board import Board, Entry
from console.ui.canary_run import CanaryRunner, CanaryUpdate
from console.ui.canary_view import CanaryView, targets_question
from console.ui.cells import Palette, column_widths, leading_failure
from console.ui.checks import FORM_GROUP, GROUP, CheckScheduler, RunnerFactory
from console.ui.filtering import FilterError, Query, parse_query
from console.ui.group_fixes import GroupFixer
from console.ui.history import ConsoleHistory
from console.ui.keys import MAIN_BINDINGS
from console.ui.knowledge import cause_title
from console.ui.messages import RunnerEventsPending
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.editing import FIND_GROUP, EditFlow, StoreSecret
from console.ui.screens.groups import GroupsScreen
from console.ui.screens.sign_in import EnterCode, SignInScreen
from console.ui.sorting import SORT_KEYS, SortOrder
from console.ui.widgets.account_editor import AccountEditor
from console.ui.widgets.accounts_table import AccountsTable
from console.ui.widgets.detail_pane import DetailPane
from console.ui.widgets.filter_bar import FilterBar
from console.ui.widgets.summary_bar import SummaryBar

START_DEMO = "start-demo"
"""What the app returns when the first-run screen asks for the demo (the CLI starts it)."""

Clock = Callable[[], datetime]
TICK_SECONDS = 5.0
DETAIL_SETTLE = 0.12
"""Highlight changes closer together than this (a held arrow key) update the pane once."""
FLUSH_SECONDS = 0.2
"""Rows changed by the runner are repainted at most this often (a repaint costs the same
whether one row changed or forty)."""


class MainScreen(Screen[None]):
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [  # type: ignore[misc]
        (0, "-narrow"),
        (140, "-wide"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = list(MAIN_BINDINGS)

    def __init__(
        self,
        *,
        path: Path,
        loaded: LoadedConfig | None,
        load_error: str | None,
        secrets: SecretProvider,
        store_secret: StoreSecret,
        runner_factory: RunnerFactory,
        clock: Clock,
        check_on_start: bool,
        allowed_hosts: frozenset[str] | None = None,
        results: Path | None = None,
        sign_ins: SignIns | None = None,
        enter_code: EnterCode | None = None,
    ) -> None:
        """`results`: the results store file (None: nothing remembered or recorded).
        `sign_ins`: where `L` keeps sign-ins (None: the process's store, with the keyring);
        `enter_code`: the demo's stand-in for the user entering a device code."""
        super().__init__()
        self.sign_ins = sign_ins
        self.enter_code = enter_code
        self.path = path
        self.loaded = loaded
        self.load_error = load_error
        self.board = Board(loaded.accounts if loaded else ())
        self.clock = clock
        self.query_text = ""
        self._committed = ""
        self.filter: Query = Query()
        self.table_order = SortOrder()
        self._check_on_start = check_on_start
        self._palette: Palette | None = None
        self._dirty: set[str] = set()
        self._flush_timer: Timer | None = None
        self._last_flush = 0.0
        self._detail_timer: Timer | None = None
        self._last_detail = 0.0
        self._had_row = False
        self._title = ""
        self.scheduler = CheckScheduler(
            self,
            settings=loaded.settings if loaded else Settings(),
            secrets=secrets,
            runner_factory=runner_factory,
        )
        self.edits = EditFlow(
            self, secrets=secrets, store_secret=store_secret, allowed_hosts=allowed_hosts
        )
        self.group_fixer = GroupFixer(self, store_secret, allowed_hosts, secrets)
        self.history = ConsoleHistory(
            results,
            settings=loaded.settings if loaded else Settings(),
            report=self._store_failed,
            clock=clock,
        )
        self.canary = CanaryRunner(
            self,
            settings=loaded.settings if loaded else Settings(),
            secrets=secrets,
            allowed_hosts=allowed_hosts,
            results=results,
        )
        self._canary_timer: Timer | None = None

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SummaryBar(self.path, id="summary")
        with Container(id="body"):
            yield AccountsTable(id="accounts")
            yield DetailPane(id="detail")
        yield FilterBar(id="filter")
        yield Footer()

    @property
    def table(self) -> AccountsTable:
        return self.query_one(AccountsTable)

    @property
    def pane(self) -> DetailPane:
        return self.query_one(DetailPane)

    def on_mount(self) -> None:
        self._palette = self.app.state_palette()  # type: ignore[attr-defined]
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.history.load(self.board)  # last known states, shown at once with their age
        self.rebuild()
        self.resume_canaries()
        self.table.focus()
        self.set_interval(TICK_SECONDS, self.tick)
        minutes = self.scheduler.settings.recheck_minutes
        if minutes > 0:
            self.set_interval(minutes * 60, self.auto_recheck)
        if self.loaded is not None:
            for issue in self.loaded.issues:
                if issue.account is None:
                    self.notify(
                        str(issue),
                        title="Account file",
                        severity="warning",
                        markup=False,
                        timeout=10,
                    )
            if self._check_on_start and len(self.board):
                self.start_checks(entry.account for entry in self.board)

    # -- rendering ----------------------------------------------------------------------------

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = self.app.state_palette()  # type: ignore[attr-defined]
        return self._palette

    def title_for(self, entry: Entry) -> str:
        failure = leading_failure(entry)
        return cause_title(failure) if failure else ""

    def visible_entries(self) -> list[Entry]:
        entries = [e for e in self.board if self.filter.matches(e, self.title_for)]
        if self.table_order.column is not None:
            key = SORT_KEYS[self.table_order.column]
            entries.sort(key=key, reverse=self.table_order.reverse)
        return entries

    def rebuild(self) -> None:
        """All rows again (filter, theme, reload); the cursor stays on the same account."""
        keep = self.table.cursor_email
        with self.app.batch_update():
            self.table.set_widths(column_widths(self.board.emails, *self.table.room))
            self.table.show(
                self.visible_entries(),
                self.board,
                keep=keep,
                palette=self.palette,
                title_of=cause_title,
                now=self.clock(),
            )
            self.table.label_sorted(self.table_order)
        self.refresh_summary()
        self.refresh_detail()

    def update_rows(self, emails: Iterable[str], columns: Iterable[str] | None = None) -> None:
        entries = [self.board[e] for e in emails if e in self.board]
        with self.app.batch_update():
            self.table.update_rows(
                entries,
                self.board,
                palette=self.palette,
                title_of=cause_title,
                now=self.clock(),
                columns=set(columns) if columns is not None else None,
            )

    def refresh_summary(self) -> None:
        summary = self.query_one(SummaryBar)
        summary.update_counts(self.board.counts(), self.board.in_flight())
        title = f"Accounts {self.table.row_count}"
        if self.table.row_count != len(self.board):
            title += f" of {len(self.board)}"
        if self.query_text:
            title += f" · filter: {self.query_text}"
        if self.table_order.column:
            arrow = "▼" if self.table_order.reverse else "▲"
            title += f" · sort: {self.table_order.column} {arrow}"
        if self.board.selected:
            title += f" · {len(self.board.selected)} selected"
        if problems := self.problem_groups():
            title += f" · {problems} problem group{'s' if problems != 1 else ''} (g)"
        if title != self._title:  # a new title means a repaint; most flushes keep it
            self._title = title
            self.table.border_title = Content(title)

    def refresh_detail(self) -> None:
        pane = self.pane
        if pane.editor is not None:
            return
        if self.loaded is None:
            error = Content(self.load_error or "")
            pane.show(None, lambda _width: error)
            return
        email = self.table.cursor_email
        entry = self.board.get(email) if email else None
        if entry is None:
            message = (
                "No accounts yet. Press a to add one."
                if not len(self.board)
                else ("No account matches the filter. Press esc to clear it.")
            )
            pane.show(None, lambda _width: Content(message))
            return
        now = self.clock()
        section = self.history.section(entry, now)
        pane.show(email, lambda width: detail.detail_content(entry, now, width, section))

    def _store_failed(self, message: str) -> None:
        """The results store cannot be used: said once; checks go on without it."""
        self.notify(message, title="Results store", severity="error", markup=False, timeout=20)

    def on_unmount(self) -> None:
        self.history.close()
        self.canary.close()

    def _theme_changed(self, _theme: object) -> None:
        self._palette = self.app.state_palette()  # type: ignore[attr-defined]
        self.rebuild()

    def tick(self) -> None:
        """Keep "last checked" honest without repainting anything else."""
        self.update_rows(self.table.shown, columns=("checked",))
        self.refresh_detail()

    # -- checks -------------------------------------------------------------------------------

    def start_checks(self, accounts: Iterable[Account]) -> None:
        chosen = list(accounts)
        for account in chosen:
            self.board.mark_checking(account.email)
        self.scheduler.start(chosen)
        self.update_rows(a.email for a in chosen)
        self.refresh_summary()
        self.refresh_detail()

    def auto_recheck(self) -> None:
        """Every `recheck_minutes`, except accounts whose last failure was credential or policy."""
        due = [e.account for e in self.board if not e.checking and auto_recheck_allowed(e.result)]
        if due:
            self.start_checks(due)

    @on(RunnerEventsPending)
    def _drain_events(self) -> None:
        """Fold the runner's events into the board; the table follows at most every 0.2 s."""
        events = self.scheduler.drain()
        for event in events:
            email = self.board.apply(event)
            if email is not None:
                self._dirty.add(email)
        finished = [e.result for e in events if isinstance(e, AccountFinished)]
        if finished:
            self.history.record(finished, self.board)
        if not self._dirty:
            return
        wait = self._last_flush + FLUSH_SECONDS - time.monotonic()
        if wait <= 0 or self.board.in_flight() == 0:  # the last result shows at once
            if self._flush_timer is not None:
                self._flush_timer.stop()
            self._flush()
        elif self._flush_timer is None:
            self._flush_timer = self.set_timer(wait, self._flush)

    def _flush(self) -> None:
        """Repaint the rows that changed since the last flush, in one batch."""
        self._flush_timer = None
        self._last_flush = time.monotonic()
        changed, self._dirty = self._dirty, set()
        if not changed:
            return
        self.update_rows(changed)
        self.refresh_summary()
        if self.table.cursor_email in changed:
            self.refresh_detail()
        if self.board.in_flight() == 0 and (not self.filter.empty or self.table_order.column):
            self.rebuild()  # the run is over: filter and sort see the new states

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == GROUP:
            email = self.scheduler.ended(worker)
            entry = self.board.get(email) if email else None
            if email and entry is not None and entry.checking:
                self.board.mark_stopped(email)  # cancelled or failed: no result came
                self.update_rows([email])
                self.refresh_summary()
                if worker.state is WorkerState.ERROR:
                    self.notify(
                        f"The check of {email} stopped: {worker.error}",
                        severity="error",
                        markup=False,
                    )
        elif worker.group in (FORM_GROUP, FIND_GROUP) or worker.group.startswith("file"):
            self.edits.worker_changed(worker)

    # -- selection and view -------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#accounts")
    def _highlighted(self) -> None:
        """The pane follows the cursor; while a key is held down it catches up when it rests."""
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        now = time.monotonic()
        if now - self._last_detail >= DETAIL_SETTLE:
            self._show_highlighted()
        else:
            self._detail_timer = self.set_timer(DETAIL_SETTLE, self._show_highlighted)
        self._last_detail = now

    def _show_highlighted(self) -> None:
        self._detail_timer = None
        self.refresh_detail()
        has_row = self.table.cursor_email is not None
        if has_row != self._had_row:  # the footer only changes when rows come or go
            self._had_row = has_row
            self.refresh_bindings()

    @on(AccountsTable.Resized)
    def _table_resized(self) -> None:
        """The right edge moved: new widths so it falls between columns (none is cut)."""
        if column_widths(self.board.emails, *self.table.room) != self.table.widths:
            self.rebuild()

    @on(DetailPane.Left)
    def _left_detail(self) -> None:
        self.table.focus()

    @on(DataTable.RowSelected, "#accounts")
    def _selected(self) -> None:
        self.action_focus_detail()

    @on(DataTable.HeaderSelected, "#accounts")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.apply_sort(self.table_order.clicked(str(event.column_key.value)))

    def apply_sort(self, order: SortOrder) -> None:
        self.table_order = order
        if self.table.filling:  # rows still to come would arrive in the old order
            self.rebuild()
            return
        with self.app.batch_update():
            self.table.sort_rows(order, self.board, self.board.emails)
            self.table.label_sorted(order)
        self.refresh_summary()

    def action_cycle_sort(self) -> None:
        self.apply_sort(self.table_order.next_column())

    def action_focus_detail(self) -> None:
        self.remove_class("-no-detail")
        self.pane.focus()

    def action_toggle_detail(self) -> None:
        self.toggle_class("-no-detail")
        if self.has_class("-no-detail"):
            self.table.focus()

    def action_toggle_select(self) -> None:
        email = self.table.cursor_email
        if email is None:
            return
        self.board.toggle_selected(email)
        self.update_rows([email], columns=("mark", "account"))
        self.table.action_cursor_down()
        self.refresh_summary()

    def action_retest(self) -> None:
        emails = [e for e in self.board.emails if e in self.board.selected]
        if not emails and self.table.cursor_email:
            emails = [self.table.cursor_email]
        self.start_checks(self.board[e].account for e in emails)

    def action_retest_all(self) -> None:
        self.start_checks(e.account for e in self.board)

    # -- filter -------------------------------------------------------------------------------

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        self._committed = self.query_text
        bar.input.value = self.query_text
        bar.open()

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        """Live preview while typing; an unusable term shows the committed filter again."""
        if not self.set_filter(event.text):
            self.set_filter(self._committed, quiet=True)

    @on(FilterBar.Done)
    def _filter_done(self, event: FilterBar.Done) -> None:
        if self.set_filter(event.text):
            self._committed = self.query_text
            self.query_one(FilterBar).close()
            self.table.focus()
        else:
            self.set_filter(self._committed, quiet=True)

    @on(FilterBar.Cleared)
    def _filter_cleared(self) -> None:
        self.action_clear_filter()

    def set_filter(self, text: str, *, quiet: bool = False) -> bool:
        """Apply a filter; a term that cannot mean anything is explained and nothing changes.

        `quiet` leaves the filter line's message alone (used when falling back).
        """
        bar = self.query_one(FilterBar)
        try:
            query = parse_query(text)
        except FilterError as exc:
            bar.set_error(str(exc))
            return False
        if not quiet:
            bar.set_error("")
        if text.strip() != self.query_text or query != self.filter:
            self.query_text = text.strip()
            self.filter = query
            self.rebuild()
            self.refresh_bindings()
        return True

    def action_clear_filter(self) -> None:
        self._committed = ""
        bar = self.query_one(FilterBar)
        bar.close()
        bar.set_error("")
        self.query_text = ""
        self.filter = Query()
        self.rebuild()
        self.table.focus()
        self.refresh_bindings()

    # -- editing (the flows live in EditFlow) --------------------------------------------------

    async def action_edit(self) -> None:
        await self.edits.open(self.table.cursor_email)

    @on(AccountEditor.Submitted)
    def _form_submitted(self, event: AccountEditor.Submitted) -> None:
        self.edits.submitted(event.save)

    @on(AccountEditor.Cancelled)
    async def _form_cancelled(self) -> None:
        await self.edits.close()

    async def action_find_settings(self) -> None:
        await self.edits.find(self.table.cursor_email)

    async def action_cancel_edit(self) -> None:
        await self.edits.close()

    def action_test_form(self) -> None:
        self.edits.test()

    def action_save_form(self) -> None:
        self.edits.save()

    async def action_add(self) -> None:
        await self.edits.add()

    def action_delete(self) -> None:
        self.edits.delete(self.table.cursor_email)

    def action_reload(self) -> None:
        self.edits.reload()

    def action_copy_example(self) -> None:
        self.edits.copy_example()

    # -- fleet: failing accounts grouped by cause (console/ui/screens/groups.py) --------------

    def _group_input(self) -> Iterable[tuple[Account, CheckResult | None, CheckResult | None]]:
        for entry in self.board:
            yield entry.account, entry.check_for(Protocol.SMTP), entry.check_for(Protocol.IMAP)

    def problem_groups(self) -> int:
        """Counted when no check is in flight (the count changes only when results land)."""
        if not self.board.in_flight() or not hasattr(self, "_problem_groups"):
            self._problem_groups = count_groups(self._group_input())
        return self._problem_groups

    def action_group_view(self) -> None:
        def chosen(text: str | None) -> None:
            if text and self.set_filter(text):
                self._committed = text

        groups = group_failures(self._group_input())
        self.app.push_screen(GroupsScreen(groups, self.group_fixer), chosen)

    def action_import(self) -> None:
        self.group_fixer.open_import()

    def action_audit_report(self) -> None:
        """Write the audit report (what `mailconsole report` writes) to the working folder."""
        if self.loaded is None:
            return
        try:
            path = self.history.write_report(self.loaded.accounts, Path.cwd())
        except OSError as exc:
            self.notify(f"The report could not be written: {exc}", severity="error", markup=False)
            return
        self.notify(f"Audit report written to {path}; open it in a browser.", markup=False)

    def action_start_demo(self) -> None:
        self.app.exit(result=START_DEMO)

    # -- reply canary -------------------------------------------------------------------------

    def canary_targets(self) -> list[Account]:
        """The selection, else every account the filter shows, else the current account."""
        if self.board.selected:
            emails = [e for e in self.board.emails if e in self.board.selected]
        elif not self.filter.empty:
            emails = [e.email for e in self.board if self.filter.matches(e, self.title_for)]
        else:
            emails = [self.table.cursor_email] if self.table.cursor_email else []
        return [self.board[e].account for e in emails if e in self.board]

    def action_canary(self) -> None:
        """Ask first (it sends real mail), naming how many messages go out."""
        accounts = self.canary_targets()
        if not accounts:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_canary(accounts)

        self.app.push_screen(ConfirmScreen(targets_question(accounts), yes="Send"), answered)

    # -- sign-in ------------------------------------------------------------------------------

    def action_sign_in(self) -> None:
        """Sign the chosen accounts in (those with a built-in sign-in), then re-test them."""
        accounts = self.canary_targets()
        targets = [(a.email, s) for a in accounts if (s := a.sign_in) is not None]
        if not targets:
            if accounts:
                self.notify(
                    f'{accounts[0].email} does not use a built-in sign-in: set auth = "oauth2" '
                    "in its SMTP and IMAP tables (e to edit), for a Microsoft 365 or Outlook.com "
                    "mailbox.",
                    severity="warning",
                    markup=False,
                )
            return
        if self.sign_ins is None:
            from console.core.oauth.session import SIGN_INS

            self.sign_ins = SIGN_INS

        def signed(emails: list[str] | None) -> None:
            if emails:
                self.start_checks(self.board[e].account for e in emails if e in self.board)

        screen = SignInScreen(targets, sign_ins=self.sign_ins, enter_code=self.enter_code)
        self.app.push_screen(screen, signed)

    def start_canary(self, accounts: list[Account]) -> None:
        for account in accounts:
            entry = self.board.get(account.email)
            if entry is not None:
                entry.canary = CanaryView()
        self.canary.start(accounts)

    def resume_canaries(self) -> None:
        """Holds left by a previous session are finished (nothing new is sent)."""
        pending = self.canary.pending(e.account for e in self.board)
        if pending:
            self.start_canary(pending)

    @on(CanaryUpdate)
    def _canary_update(self, message: CanaryUpdate) -> None:
        event = message.event
        if isinstance(event, CanaryProgress):
            email, view = event.email, CanaryView(event.progress, event.hold_until)
        else:
            email, view = event.result.email, CanaryView(result=event.result)
        entry = self.board.get(email)
        if entry is None:
            return
        if entry.canary is not None and view.hold_until is None:
            view.hold_until = entry.canary.hold_until
        entry.canary = view
        self.update_rows([email])
        self.refresh_summary()
        if self.table.cursor_email == email:
            self.refresh_detail()
        if self._canary_timer is None:
            self._canary_timer = self.set_interval(1.0, self._canary_tick)

    def _canary_tick(self) -> None:
        """The hold countdown ("holding 12:40 left") moves once a second."""
        holding = [e.email for e in self.board if e.canary is not None and e.canary.running]
        if not holding and self._canary_timer is not None:
            self._canary_timer.stop()
            self._canary_timer = None
        if holding:
            self.update_rows(holding, columns=("cause",))
            if self.table.cursor_email in holding:
                self.refresh_detail()

    @property
    def checks_on_start(self) -> bool:
        """Accounts are checked when they appear (start-up, reload, the first-run copy)."""
        return self._check_on_start

    @property
    def first_run(self) -> bool:
        """No account file at all (not a broken one): the screen offers ways to start."""
        return self.loaded is None and not self.path.exists()

    # -- what applies now ---------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        editing = self.pane.editor is not None if self.is_mounted else False
        has_row = self.is_mounted and self.table.cursor_email is not None
        if action in ("test_form", "save_form", "cancel_edit"):
            return editing
        if action in ("copy_example", "start_demo"):
            return self.first_run
        if action == "clear_filter":
            return bool(self.query_text) and not editing
        if action in ("filter", "edit", "add", "find_settings") and isinstance(self.focused, Input):
            return False  # priority keys: typed into a form field they are just characters
        if action in ("edit", "delete", "find_settings"):
            return has_row and not editing and self.loaded is not None
        if action in ("retest", "toggle_select"):
            return has_row
        if action == "canary":
            return has_row and not editing and self.loaded is not None
        if action == "filter":
            return len(self.board) > 0
        if action in ("retest_all", "cycle_sort"):
            return len(self.board) > 0
        return True
