"""Recording that never fails a check: a store problem is reported once, then kept quiet.

Both drivers (the CLI and the console) record through a `Recorder`. It opens the store on first
use, compacts old checks at most once a day, and turns every store failure (read-only or full disk,
a foreign or damaged file, a newer schema) into one message for the user.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.core.model import AccountResult, Settings
from console.core.store.records import LastKnown, Recorded, StoredCheck
from console.core.store.schema import StoreError
from console.core.store.store import ResultsStore

DEFAULT_KEEP_DAYS = Settings.history_days
COMPACT_EVERY = timedelta(days=1)

Report = Callable[[str], None]
Clock = Callable[[], datetime]


class Recorder:
    """A results store that may be unusable; every call degrades to "nothing recorded"."""

    def __init__(
        self,
        path: Path,
        *,
        report: Report,
        keep_days: int = DEFAULT_KEEP_DAYS,
        clock: Clock | None = None,
        incremental: bool = False,
    ) -> None:
        """`incremental`: compact one short step per recording (the console) instead of a whole
        round at once (a headless run, which nobody waits on)."""
        self.path = path
        self._incremental = incremental
        self._report = report
        self._keep_days = keep_days
        self._clock = clock or (lambda: datetime.now(UTC))
        self._store: ResultsStore | None = None
        self.failed: str | None = None
        """The message given when the store failed (None while it works)."""

    def _fail(self, message: str) -> None:
        if self.failed is None:
            self.failed = message
            self._report(message)

    def _open(self) -> ResultsStore | None:
        if self._store is None and self.failed is None:
            try:
                self._store = ResultsStore.open(self.path)
            except StoreError as exc:
                self._fail(str(exc))
        return self._store

    def _error(self, exc: Exception) -> None:
        self._fail(f"results could not be recorded in {self.path} ({exc}); the checks still ran")

    def record(
        self,
        results: Sequence[AccountResult],
        canaries: Mapping[str, Mapping[str, Any] | None] | None = None,
    ) -> list[Recorded] | None:
        """Record these results; None when they could not be (already reported)."""
        store = self._open()
        if store is None or not results:
            return None
        try:
            recorded = store.record_many(results, canaries=canaries)
            self._maybe_compact(store)
        except (sqlite3.Error, OSError) as exc:
            self._error(exc)
            return None
        return recorded

    def record_canary(
        self, email: str, canary: Mapping[str, Any], checked_at: datetime
    ) -> Recorded | None:
        store = self._open()
        if store is None:
            return None
        try:
            return store.record_canary(email, canary, checked_at=checked_at)
        except (sqlite3.Error, OSError) as exc:
            self._error(exc)
            return None

    def _maybe_compact(self, store: ResultsStore) -> None:
        """Once a day, a compaction round. Each step is its own short transaction, so another
        process writing meanwhile waits for one step at most."""
        now = self._clock()
        last = store.compacted_at()
        if store.compacting() or last is None or now - last >= COMPACT_EVERY:
            if self._incremental:
                store.compact_step(now, self._keep_days)
            else:
                store.compact(now, self._keep_days)

    def read(self, what: Callable[[ResultsStore], Any], default: Any) -> Any:
        """Run a read on the store; `default` if it cannot be (reported once)."""
        store = self._open()
        if store is None:
            return default
        try:
            return what(store)
        except (sqlite3.Error, OSError) as exc:
            self._fail(f"results could not be read from {self.path} ({exc})")
            return default

    def last_known(self, emails: Iterable[str] | None = None) -> dict[str, LastKnown]:
        result: dict[str, LastKnown] = self.read(lambda s: s.last_known(emails), {})
        return result

    def last_results(self) -> dict[str, tuple[AccountResult, datetime]]:
        result: dict[str, tuple[AccountResult, datetime]] = self.read(
            lambda s: s.last_results(), {}
        )
        return result

    def recent(self, email: str, limit: int = 30) -> list[StoredCheck]:
        result: list[StoredCheck] = self.read(lambda s: s.recent(email, limit), [])
        return result

    def changes(self, email: str, limit: int = 10) -> list[StoredCheck]:
        result: list[StoredCheck] = self.read(lambda s: s.changes(email, limit), [])
        return result

    def change_counts(self, since: datetime) -> dict[str, int]:
        result: dict[str, int] = self.read(lambda s: s.change_counts(since), {})
        return result

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
