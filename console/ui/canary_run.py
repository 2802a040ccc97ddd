"""Reply canaries from the console: one worker runs the engine; its events come back as messages.

The worker never touches widgets (it posts `CanaryUpdate`); the screen folds the events into the
board. Holds are kept in the results store's file, so a hold interrupted by quitting is finished
when the console starts again (that only reads the mailbox and deletes the canary: nothing new is
sent without the confirmation).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker

from console.core.canary import (
    CanaryEngine,
    CanaryEvent,
    CanaryResult,
    CanaryStatus,
    MemoryHolds,
)
from console.core.canary.holds import HoldStore
from console.core.model import Account, Settings
from console.core.secrets import SecretProvider
from console.core.store import Recorder, StoreError
from console.core.store.holds import StoredHolds

GROUP = "canary"
DEMO_ARRIVAL_TIMEOUT = 6.0


class CanaryUpdate(Message):
    """A canary's progress or result (posted from the worker)."""

    def __init__(self, event: CanaryEvent) -> None:
        super().__init__()
        self.event = event


class CanaryRunner:
    def __init__(
        self,
        node: DOMNode,
        *,
        settings: Settings,
        secrets: SecretProvider,
        allowed_hosts: frozenset[str] | None,
        results: Path | None,
    ) -> None:
        self._node = node
        self.settings = settings
        self._secrets = secrets
        self._allowed = allowed_hosts
        self._results = results
        self.holds: HoldStore = MemoryHolds()
        if results is not None:
            try:
                stored = StoredHolds(results)
                stored.pending()
                self.holds = stored
            except (StoreError, OSError):
                pass  # the history's own message already says the store cannot be used
        self.workers: list[Worker[list[CanaryResult]]] = []

    def pending(self, accounts: Iterable[Account]) -> list[Account]:
        """Accounts with a hold that a previous session left unfinished."""
        held = {h.email.lower() for h in self.holds.pending()}
        return [a for a in accounts if a.email.lower() in held]

    def start(self, accounts: list[Account]) -> Worker[list[CanaryResult]]:
        def on_event(event: CanaryEvent) -> None:
            self._node.post_message(CanaryUpdate(event))

        engine = CanaryEngine(
            self.settings,
            secrets=self._secrets,
            holds=self.holds,
            on_event=on_event,
            arrival_timeout=DEMO_ARRIVAL_TIMEOUT if self._allowed is not None else 300.0,
            allowed_hosts=self._allowed,
        )

        async def run() -> list[CanaryResult]:
            results = await engine.run(accounts)
            self._record(results)  # a few rows: quick, and on the loop like the history's own
            return results

        worker: Worker[list[CanaryResult]] = self._node.run_worker(
            run,
            group=GROUP,
            exit_on_error=False,
            description=f"reply canary for {len(accounts)} account(s)",
        )
        self.workers.append(worker)
        return worker

    def _record(self, results: list[CanaryResult]) -> None:
        """Each finished canary becomes a check row in the results store (as the CLI does)."""
        if self._results is None:
            return
        recorder = Recorder(self._results, report=lambda _message: None)
        try:
            for result in results:
                if result.status in (CanaryStatus.OK, CanaryStatus.FAILED):
                    recorder.record_canary(result.email, result.to_dict(), datetime.now(UTC))
        finally:
            recorder.close()

    def close(self) -> None:
        if isinstance(self.holds, StoredHolds):
            self.holds.close()
