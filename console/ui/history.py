"""The results store in the console: last known states at start, recording, and the history
section of the detail pane. Kept apart from the screen so the screen only makes a few calls.

Reads and writes are synchronous SQLite calls on the UI thread: one indexed query per account
shown in the pane, and one transaction per batch of finished checks (milliseconds, measured in
benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from console.core.audit import build_audit, to_html
from console.core.model import Account, AccountResult, Settings, State
from console.core.safe_text import visible
from console.core.store import FlapPolicy, Recorder, StoredCheck, key

if TYPE_CHECKING:
    from console.ui.board import Board, Entry

RECENT_CHECKS = 24
"""Checks in the pane's glyph line (one glyph each, oldest first)."""
CHANGES_SHOWN = 5

CHECK_GLYPHS = {State.CONNECTED: "●", State.CONDITIONAL: "◐", State.DISCONNECTED: "✕"}
"""The table's state glyphs: the line reads without colour."""
FLAPPING_GLYPH = "↯"


@dataclass
class HistoryMark:
    """What the store says about one account's current state."""

    since: datetime | None = None
    """When the current state began (None: never recorded)."""
    remembered: bool = False
    """The result shown came from the store (an earlier session or a cron run), not this run."""
    changes: int = 0
    """State changes within the flapping window."""
    flapping: bool = False


class PageLike(Protocol):
    def line(self, *parts: Any) -> None: ...
    def item(self, marker: Any, *body: Any) -> None: ...
    def blank(self) -> None: ...


def duration(delta: timedelta) -> str:
    """Coarse and readable: "25 min", "3 h", "2 days"."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def moment(when: datetime) -> str:
    """`3 Dec 09:14` in the local time zone."""
    local = when.astimezone()
    return f"{local.day} {local:%b %H:%M}"


def glyph_line(checks: Sequence[StoredCheck]) -> str:
    return "".join(CHECK_GLYPHS.get(c.state, "?") for c in checks)


def since_text(state: State, since: datetime, now: datetime) -> str:
    return f"{state.value} since {moment(since)} ({duration(now - since)})"


def _change_line(check: StoredCheck) -> str:
    why = [
        f"{name.upper()}: {o.cause.value}"
        for name, o in (("smtp", check.smtp), ("imap", check.imap))
        if o is not None and o.cause is not None
    ]
    canary = (check.canary or {}).get("cause")
    if canary:
        why.append(f"canary: {canary}")
    text = f"{moment(check.checked_at)}  {CHECK_GLYPHS.get(check.state, '?')} {check.state.value}"
    return text + (f" ({', '.join(why)})" if why else "")


class ConsoleHistory:
    """One screen's view of the results store."""

    def __init__(
        self,
        path: Path | None,
        *,
        settings: Settings,
        report: Callable[[str], None],
        clock: Callable[[], datetime],
    ) -> None:
        self.path = path
        self._clock = clock
        self.policy = FlapPolicy.of(settings)
        self._recorder = (
            Recorder(
                path, report=report, keep_days=settings.history_days, clock=clock, incremental=True
            )
            if path is not None
            else None
        )
        self._cache: dict[str, tuple[list[StoredCheck], list[StoredCheck]]] = {}

    def use_settings(self, settings: Settings) -> None:
        self.policy = FlapPolicy.of(settings)

    # -- start-up -------------------------------------------------------------------------------

    def load(self, board: Board) -> int:
        """Paint what the store knows where it is newer than what the console shows (at start:
        everything; after a reload: what a cron `check` recorded meanwhile); returns how many."""
        if self._recorder is None:
            return 0
        known = self._recorder.last_results()
        if not known:
            return 0
        self._cache.clear()
        counts = self._recorder.change_counts(self._clock() - self.policy.window)
        shown = 0
        for entry in board:
            found = known.get(key(entry.email))
            if found is None or entry.checking:
                continue
            result, since = found
            if entry.result is not None and result.checked_at <= entry.result.checked_at:
                continue
            if result.email != entry.email:  # the file's spelling of the address
                result = replace(result, email=entry.email)
            entry.result = result
            changes = counts.get(key(entry.email), 0)
            entry.history = HistoryMark(
                since=since,
                remembered=True,
                changes=changes,
                flapping=self.policy.flapping(changes),
            )
            shown += 1
        return shown

    # -- recording ------------------------------------------------------------------------------

    def record(self, results: Iterable[AccountResult], board: Board) -> None:
        """Record finished checks and update each account's mark."""
        batch = list(results)
        if not batch or self._recorder is None:
            for result in batch:
                self._mark_unrecorded(board, result)
            return
        recorded = self._recorder.record(batch)
        if recorded is None:
            for result in batch:
                self._mark_unrecorded(board, result)
            return
        for result, note in zip(batch, recorded, strict=True):
            entry = board.get(result.email)
            self._cache.pop(key(result.email), None)
            if entry is None:
                continue
            mark = entry.history or HistoryMark()
            if note.since is not None:
                mark.since = note.since
            elif mark.since is None:
                mark.since = result.checked_at
            if note.changed and note.previous is not None:
                mark.changes += 1
            mark.remembered = False
            mark.flapping = self.policy.flapping(mark.changes)
            entry.history = mark

    def _mark_unrecorded(self, board: Board, result: AccountResult) -> None:
        entry = board.get(result.email)
        if entry is None:
            return
        mark = entry.history or HistoryMark()
        if mark.since is None or (entry.result is not None and result.state is not entry.state):
            mark.since = result.checked_at
        mark.remembered = False
        entry.history = mark

    # -- the detail pane ------------------------------------------------------------------------

    def _lookup(self, email: str) -> tuple[list[StoredCheck], list[StoredCheck]]:
        found = self._cache.get(key(email))
        if found is None and self._recorder is not None:
            found = (
                self._recorder.recent(email, RECENT_CHECKS),
                self._recorder.changes(email, CHANGES_SHOWN),
            )
            self._cache[key(email)] = found
        return found or ([], [])

    def section(self, entry: Entry, now: datetime) -> Callable[[PageLike], None]:
        """Draws "conditional since ...", the glyph line and the last changes into the pane."""
        recent, changes = self._lookup(entry.email)
        mark = entry.history

        def draw(page: PageLike) -> None:
            if entry.result is None or mark is None:
                return
            state = entry.result.state
            line: list[object] = []
            if mark.since is not None:
                line.append(since_text(state, mark.since, now))
            if mark.remembered:
                line.append(("  · remembered, not re-checked yet", "$text-muted"))
            if line:
                page.item("", *line)
            if mark.flapping:
                page.item(
                    f"{FLAPPING_GLYPH} ",
                    (
                        f"flapping: {mark.changes} state changes in {self.policy.window_hours} h "
                        f"(flap_changes = {self.policy.changes})",
                        "bold $warning",
                    ),
                )
            if recent:
                page.item(
                    ("last checks ", "$text-muted"),
                    glyph_line(recent),
                    (f"  (oldest first, {len(recent)})", "$text-muted"),
                )
            if len(changes) > 1:
                page.line(("State changes", "$text-muted"))
                for check in reversed(changes):
                    page.item("  ", visible(_change_line(check), keep_newlines=False))

        return draw

    def write_report(self, accounts: Sequence[Account], folder: Path) -> Path:
        """The audit report as HTML in `folder`, from the store's last known checks."""
        now = self._clock()
        known = self._recorder.last_known() if self._recorder is not None else {}
        path = folder / f"mailconsole-report-{now:%Y%m%d-%H%M%S}.html"
        path.write_text(to_html(build_audit(accounts, known, now=now)), encoding="utf-8")
        return path

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.close()
