"""What the console knows about every account right now: pure data, no widgets.

The runner's events land here first; the table and the detail pane render from it. Keeping it
free of Textual makes the rules (what "checking" means, what counts as in flight) easy to test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from console.core.model import Account, AccountResult, CheckResult, Protocol, Stage, State
from console.core.runner import (
    AccountFinished,
    CheckFinished,
    CheckStarted,
    RunnerEvent,
    StageReached,
)
from console.ui.canary_view import CanaryView, state_with_canary
from console.ui.history import HistoryMark


@dataclass
class Entry:
    """One account and everything known about it."""

    account: Account
    result: AccountResult | None = None
    checking: bool = False
    stages: dict[Protocol, Stage | None] = field(default_factory=dict)
    """Protocols in flight and the stage each one reached (None: queued, not started)."""
    fresh: dict[Protocol, CheckResult] = field(default_factory=dict)
    """Protocols already finished in the run in flight (the other may still be running)."""
    history: HistoryMark | None = None
    """What the results store says: since when, remembered from before, flapping."""
    canary: CanaryView | None = None
    """The reply canary: its phase while it runs, its verdict after."""

    @property
    def email(self) -> str:
        return self.account.email

    @property
    def state(self) -> State:
        if self.checking:
            return State.CHECKING
        if self.result is None:
            return State.UNCHECKED
        return state_with_canary(self.result.state, self.canary)

    @property
    def settled_state(self) -> State:
        """The last known outcome, ignoring a check in flight (for the counts)."""
        if self.result is None:
            return State.UNCHECKED
        return state_with_canary(self.result.state, self.canary)

    def check_for(self, protocol: Protocol) -> CheckResult | None:
        """The newest result for one protocol: this run's if it finished, else the last run's."""
        if protocol in self.fresh:
            return self.fresh[protocol]
        if self.result is None:
            return None
        return self.result.result_for(protocol)


class Board:
    """Accounts in file order, keyed by email, with their check state."""

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self._entries: dict[str, Entry] = {}
        self.selected: set[str] = set()
        self._checking: set[str] = set()
        """Emails with a check in flight, kept as they change (asked on every batch of events)."""
        self.replace_accounts(accounts)

    # -- accounts ----------------------------------------------------------------------------

    def replace_accounts(self, accounts: Iterable[Account]) -> None:
        """New account list (reload, edit); results survive for accounts that are still there.

        A result is dropped when the account's settings changed: it no longer describes them.
        """
        old = self._entries
        self._entries = {}
        for account in accounts:
            previous = old.get(account.email)
            entry = Entry(account)
            if previous is not None:
                entry.checking = previous.checking
                entry.stages = previous.stages
                entry.fresh = previous.fresh
                if _same_settings(previous.account, account):
                    entry.result = previous.result
                    entry.history = previous.history
            self._entries[account.email] = entry
        self.selected &= set(self._entries)
        self._checking = {e.email for e in self._entries.values() if e.checking}

    def __contains__(self, email: object) -> bool:
        return email in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __getitem__(self, email: str) -> Entry:
        return self._entries[email]

    def get(self, email: str) -> Entry | None:
        return self._entries.get(email)

    @property
    def emails(self) -> list[str]:
        return list(self._entries)

    # -- checks ------------------------------------------------------------------------------

    def mark_checking(self, email: str) -> None:
        entry = self._entries.get(email)
        if entry is None:
            return
        entry.checking = True
        entry.stages = {Protocol.SMTP: None, Protocol.IMAP: None}
        entry.fresh = {}
        self._checking.add(email)

    def mark_stopped(self, email: str) -> None:
        """A check that ended without a result (cancelled, or the worker failed)."""
        entry = self._entries.get(email)
        if entry is None:
            return
        entry.checking = False
        entry.stages = {}
        entry.fresh = {}
        self._checking.discard(email)

    def apply(self, event: RunnerEvent) -> str | None:
        """Fold one runner event in; returns the email whose row changed, if any."""
        entry = self._entries.get(_event_email(event))
        if entry is None:
            return None
        if isinstance(event, CheckStarted):
            entry.checking = True
            entry.stages[event.protocol] = None
            self._checking.add(entry.email)
        elif isinstance(event, StageReached):
            if not entry.checking:
                return None
            entry.stages[event.protocol] = event.stage
        elif isinstance(event, CheckFinished):
            entry.stages.pop(event.protocol, None)
            entry.fresh[event.protocol] = event.result
        elif isinstance(event, AccountFinished):
            entry.result = event.result
            entry.checking = False
            entry.stages = {}
            entry.fresh = {}
            self._checking.discard(entry.email)
        return entry.email

    def set_result(self, result: AccountResult) -> None:
        """Record a result without a run (tests, snapshots, a finished form test that was saved)."""
        entry = self._entries.get(result.email)
        if entry is not None:
            entry.result = result
            entry.checking = False
            entry.stages = {}
            entry.fresh = {}
            self._checking.discard(result.email)

    # -- summaries ---------------------------------------------------------------------------

    def counts(self) -> Counter[State]:
        """Last known outcome per account; checks in flight are counted separately."""
        return Counter(entry.settled_state for entry in self._entries.values())

    def in_flight(self) -> int:
        return len(self._checking)

    def toggle_selected(self, email: str) -> bool:
        if email in self.selected:
            self.selected.discard(email)
            return False
        if email in self._entries:
            self.selected.add(email)
            return True
        return False


def _event_email(event: RunnerEvent) -> str:
    if isinstance(event, AccountFinished):
        return event.result.email
    return event.email


def _same_settings(a: Account, b: Account) -> bool:
    return a.smtp == b.smtp and a.imap == b.imap and a.send_only == b.send_only
