"""Checks as Textual workers: one worker per account, all sharing one Runner (and its limits).

Workers never touch widgets. The runner's events go into an inbox that the screen drains when a
`RunnerEventsPending` message arrives, so a burst of thousands of events costs one repaint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol as TypingProtocol

from textual.dom import DOMNode
from textual.worker import Worker, WorkerState

from console.core.model import Account, AccountResult, CheckResult, Protocol, Settings
from console.core.runner import Runner, RunnerEvent
from console.core.secrets import SecretProvider
from console.ui.messages import RunnerEventsPending

GROUP = "checks"
FORM_GROUP = "form-test"


class RunnerFactory(TypingProtocol):
    def __call__(
        self,
        settings: Settings,
        *,
        secrets: SecretProvider,
        on_event: Callable[[RunnerEvent], None] | None = None,
    ) -> Runner: ...


class CheckScheduler:
    """Starts, replaces and cancels account checks on behalf of one screen."""

    def __init__(
        self,
        node: DOMNode,
        *,
        settings: Settings,
        secrets: SecretProvider,
        runner_factory: RunnerFactory = Runner,
    ) -> None:
        self._node = node
        self._secrets = secrets
        self._factory = runner_factory
        self.inbox: list[RunnerEvent] = []
        self._flagged = False
        self._workers: dict[str, Worker[AccountResult]] = {}
        self._runner = runner_factory(settings, secrets=secrets, on_event=self._on_event)

    def use_settings(self, settings: Settings) -> None:
        """New limits and timeout (the file was reloaded); checks in flight finish on the old."""
        if settings != self._runner.settings:
            self._runner = self._factory(settings, secrets=self._secrets, on_event=self._on_event)

    @property
    def settings(self) -> Settings:
        return self._runner.settings

    # -- events from the runner (called inside worker tasks: no widgets here) -----------------

    def _on_event(self, event: RunnerEvent) -> None:
        self.inbox.append(event)
        if not self._flagged:
            self._flagged = True
            self._node.post_message(RunnerEventsPending())

    def drain(self) -> list[RunnerEvent]:
        events, self.inbox = self.inbox, []
        self._flagged = False
        return events

    # -- workers ------------------------------------------------------------------------------

    def start(self, accounts: Iterable[Account]) -> list[str]:
        """Check these accounts now; a check already in flight for one of them is replaced."""
        started: list[str] = []
        runner = self._runner
        for account in accounts:
            email = account.email
            self.cancel(email)

            async def job(account: Account = account) -> AccountResult:
                return await runner.check_account(account)

            worker: Worker[AccountResult] = self._node.run_worker(
                job,
                name=email,
                group=GROUP,
                description=f"check {email}",
                exit_on_error=False,
            )
            self._workers[email] = worker
            started.append(email)
        return started

    def cancel(self, email: str) -> bool:
        worker = self._workers.pop(email, None)
        if worker is None:
            return False
        worker.cancel()
        return True

    def cancel_all(self) -> int:
        workers = list(self._workers.values())
        self._workers.clear()
        for worker in workers:
            worker.cancel()
        return len(workers)

    def ended(self, worker: Worker[object]) -> str | None:
        """A worker reached a final state: the email it was checking, if it is still current.

        None means the worker was replaced or cancelled on purpose, so its end means nothing.
        """
        if worker.group != GROUP or worker.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            return None
        email = worker.name
        if self._workers.get(email) is worker:
            del self._workers[email]
            return email
        return None

    @property
    def running(self) -> int:
        return len(self._workers)

    def workers(self) -> list[Worker[AccountResult]]:
        """The check workers in flight (tests await them instead of sleeping)."""
        return list(self._workers.values())

    def is_running(self, email: str) -> bool:
        return email in self._workers

    # -- test before save ---------------------------------------------------------------------

    def test_servers(
        self, account: Account, protocols: tuple[Protocol, ...], secrets: SecretProvider
    ) -> Worker[dict[Protocol, CheckResult]]:
        """Several protocols of an account that is not saved yet, side by side, in one worker."""
        runner = self._factory(self._runner.settings, secrets=secrets, on_event=None)

        async def job() -> dict[Protocol, CheckResult]:
            checks = [runner.check_protocol(account, p) for p in protocols]
            return dict(zip(protocols, await asyncio.gather(*checks), strict=True))

        names = " and ".join(p.value for p in protocols)
        return self._node.run_worker(
            job,
            name=account.email,
            group=FORM_GROUP,
            description=f"test unsaved {names} settings of {account.email}",
            exclusive=True,
            exit_on_error=False,
        )
