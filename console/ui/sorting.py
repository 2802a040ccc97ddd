"""Sort keys per column, computed from the board (not from the rendered cells)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from console.core.model import Protocol, State, Status
from console.ui.board import Entry
from console.ui.cells import leading_failure

SORTABLE: tuple[str, ...] = (
    "state",
    "account",
    "smtp",
    "imap",
    "cause",
    "who",
    "checked",
    "latency",
    "changed",
)
"""The order `s` walks through; after the last one the table returns to file order."""

_STATE_ORDER: Mapping[State, int] = {
    State.DISCONNECTED: 0,
    State.CONDITIONAL: 1,
    State.CHECKING: 2,
    State.UNCHECKED: 3,
    State.CONNECTED: 4,
}
"""Worst first: the accounts that need attention come to the top."""

_STATUS_ORDER: Mapping[Status | None, int] = {
    Status.FAILED: 0,
    Status.MISSING: 1,
    None: 2,
    Status.NA: 3,
    Status.OK: 4,
}

SortKey = Callable[[Entry], tuple[object, ...]]
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _protocol_key(protocol: Protocol) -> SortKey:
    def key(entry: Entry) -> tuple[object, ...]:
        result = entry.check_for(protocol)
        settings = entry.account.settings_for(protocol)
        status = result.status if result is not None else None
        host = settings.host.casefold() if settings is not None else ""
        return (_STATUS_ORDER[status], host, entry.email.casefold())

    return key


def _cause_key(entry: Entry) -> tuple[object, ...]:
    failure = leading_failure(entry)
    cause = failure.cause.value if failure is not None and failure.cause is not None else "~"
    return (cause, entry.email.casefold())


def _latency_key(entry: Entry) -> tuple[object, ...]:
    if entry.result is None:
        return (1, 0, entry.email.casefold())
    ms = max(entry.result.smtp.elapsed_ms, entry.result.imap.elapsed_ms)
    return (0, ms, entry.email.casefold())


def _checked_key(entry: Entry) -> tuple[object, ...]:
    then = entry.result.checked_at if entry.result is not None else _EPOCH
    return (then, entry.email.casefold())


def _changed_key(entry: Entry) -> tuple[object, ...]:
    """Newest state change first; flapping accounts after the real news, never-recorded last."""
    mark = entry.history
    if mark is None or mark.since is None:
        return (2, 0.0, entry.email.casefold())
    return (1 if mark.flapping else 0, -mark.since.timestamp(), entry.email.casefold())


SORT_KEYS: Mapping[str, SortKey] = {
    "state": lambda e: (_STATE_ORDER[e.state], e.email.casefold()),
    "account": lambda e: (e.email.casefold(),),
    "smtp": _protocol_key(Protocol.SMTP),
    "imap": _protocol_key(Protocol.IMAP),
    "cause": _cause_key,
    "who": lambda e: ((e.account.name or "~").casefold(), e.account.tags, e.email.casefold()),
    "checked": _checked_key,
    "latency": _latency_key,
    "changed": _changed_key,
}


@dataclass(frozen=True)
class SortOrder:
    column: str | None = None  # None: the account file's order
    reverse: bool = False

    def next_column(self) -> SortOrder:
        """`s`: the next sortable column, ascending; after the last one, file order."""
        if self.column is None:
            return SortOrder(SORTABLE[0])
        index = SORTABLE.index(self.column) + 1
        return SortOrder(SORTABLE[index]) if index < len(SORTABLE) else SortOrder()

    def clicked(self, column: str) -> SortOrder:
        """A header click: that column, or the other direction when it is already the one."""
        if column not in SORT_KEYS:
            return self
        if column == self.column:
            return SortOrder(column, not self.reverse)
        return SortOrder(column)
