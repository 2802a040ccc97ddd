"""Concurrent checks of many accounts: global and per-host limits, cancellation, a stream of events.

The TUI and the headless CLI both drive this one scheduler. A "check" is one protocol of one
account, i.e. one connection: `concurrency` bounds connections in flight, `per_host` bounds them per
server host (providers throttle or ban clients that open too many at once). `concurrency` also
bounds secret look-ups in flight: each password_command is a process, and starting one per check
for a whole fleet at once delayed the first connection by seconds (benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from console.core.model import (
    NO_AUTO_RETRY_CAUSES,
    Account,
    AccountResult,
    Cause,
    CheckResult,
    Protocol,
    ServerSettings,
    Settings,
    Stage,
    Status,
    Step,
)
from console.core.probe import probe_imap, probe_smtp
from console.core.providers import resolve_provider
from console.core.secrets import SecretError, SecretProvider, fetch_secret


@dataclass(frozen=True)
class CheckStarted:
    email: str
    protocol: Protocol


@dataclass(frozen=True)
class StageReached:
    email: str
    protocol: Protocol
    stage: Stage


@dataclass(frozen=True)
class CheckFinished:
    email: str
    protocol: Protocol
    result: CheckResult


@dataclass(frozen=True)
class AccountFinished:
    result: AccountResult


RunnerEvent = CheckStarted | StageReached | CheckFinished | AccountFinished
EventSink = Callable[[RunnerEvent], None]


def auto_recheck_allowed(previous: AccountResult | None) -> bool:
    """A credential or policy failure is re-tried only on request or after the settings change.

    Repeated bad logins get mailboxes locked and client IPs banned (error-catalog NET-18).
    """
    if previous is None:
        return True
    return not any(
        r.cause in NO_AUTO_RETRY_CAUSES for r in (previous.smtp, previous.imap) if r.cause
    )


def _failed_early(
    protocol: Protocol, stage: Stage, cause: Cause, message: str, steps: tuple[Step, ...]
) -> CheckResult:
    return CheckResult(
        protocol=protocol,
        status=Status.MISSING if cause is Cause.SETTINGS_MISSING else Status.FAILED,
        cause=cause,
        stage=stage,
        message=message,
        elapsed_ms=sum(s.elapsed_ms for s in steps),
        steps=steps,
    )


class Runner:
    """Schedules checks; one instance may serve many runs (its limits are shared by all of them)."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretProvider = fetch_secret,
        on_event: EventSink | None = None,
        local_addr: str | None = None,
        allowed_hosts: frozenset[str] | None = None,
    ) -> None:
        """`allowed_hosts`, when given, is the only set of hosts contacted (the demo: loopback)."""
        self.settings = settings
        self._allowed_hosts = allowed_hosts
        self._secrets = secrets
        self._on_event = on_event
        self._local_addr = local_addr
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._secret_slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    def _emit(self, event: RunnerEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        key = host.strip().lower()
        slot = self._host_slots.get(key)
        if slot is None:
            slot = self._host_slots[key] = asyncio.Semaphore(max(1, self.settings.per_host))
        return slot

    async def check_accounts(self, accounts: Iterable[Account]) -> list[AccountResult]:
        """Check every account concurrently; results in the order given."""
        tasks = [asyncio.ensure_future(self.check_account(a)) for a in accounts]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def check_account(self, account: Account) -> AccountResult:
        """SMTP and IMAP of one account run in parallel."""
        smtp, imap = await asyncio.gather(
            self.check_protocol(account, Protocol.SMTP),
            self.check_protocol(account, Protocol.IMAP),
        )
        result = AccountResult(
            email=account.email, smtp=smtp, imap=imap, checked_at=datetime.now(UTC)
        )
        self._emit(AccountFinished(result))
        return result

    async def check_protocol(self, account: Account, protocol: Protocol) -> CheckResult:
        self._emit(CheckStarted(account.email, protocol))
        result = await self._check(account, protocol)
        self._emit(CheckFinished(account.email, protocol, result))
        return result

    async def _check(self, account: Account, protocol: Protocol) -> CheckResult:
        email = account.email

        def on_stage(stage: Stage) -> None:
            self._emit(StageReached(email, protocol, stage))

        on_stage(Stage.CONFIG)
        settings = account.settings_for(protocol)
        issues = account.issues_for(protocol)
        if issues:
            issue = issues[0]
            message = "; ".join(str(i) for i in issues)
            step = Step(Stage.CONFIG, False, 0, message)
            return _failed_early(protocol, Stage.CONFIG, issue.cause, message, (step,))
        if settings is None:
            if protocol is Protocol.IMAP and account.send_only:
                detail = "send-only account: no IMAP server to check"
                return CheckResult(
                    protocol, Status.NA, steps=(Step(Stage.CONFIG, True, 0, detail),)
                )
            message = f"no [account.{protocol.value}] settings in the account file"
            step = Step(Stage.CONFIG, False, 0, message)
            return _failed_early(protocol, Stage.CONFIG, Cause.SETTINGS_MISSING, message, (step,))
        if self._allowed_hosts is not None and settings.host.lower() not in self._allowed_hosts:
            allowed = ", ".join(sorted(self._allowed_hosts))
            message = f"{settings.host} was not contacted: this session may only reach {allowed}"
            step = Step(Stage.CONFIG, False, 0, message)
            return _failed_early(protocol, Stage.CONFIG, Cause.SETTINGS_INVALID, message, (step,))
        config_step = Step(Stage.CONFIG, True, 0, f"{settings.address} {settings.security.value}")

        on_stage(Stage.SECRET)
        async with self._secret_slots:
            started = time.monotonic()
            try:
                secret = await asyncio.wait_for(self._secrets(settings), self.settings.timeout)
            except (SecretError, TimeoutError) as exc:
                message = str(exc) or "the secret source did not answer in time"
                step = Step(Stage.SECRET, False, _ms_since(started), message)
                return _failed_early(
                    protocol, Stage.SECRET, Cause.SECRET_UNAVAILABLE, message, (config_step, step)
                )
        secret_step = Step(Stage.SECRET, True, _ms_since(started), _secret_source(settings))

        provider = account.provider or resolve_provider(account)
        async with self._host_slot(settings.host), self._slots:
            probe = probe_smtp if protocol is Protocol.SMTP else probe_imap
            result = await probe(
                settings,
                secret,
                timeout=self.settings.timeout,
                provider=provider,
                on_stage=on_stage,
                local_addr=self._local_addr,
            )
        steps = (config_step, secret_step, *result.steps)
        return CheckResult(
            protocol=result.protocol,
            status=result.status,
            cause=result.cause,
            stage=result.stage,
            message=result.message,
            elapsed_ms=result.elapsed_ms + secret_step.elapsed_ms,
            steps=steps,
            facts=result.facts,
            warnings=result.warnings,
            transcript=result.transcript,
        )


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _secret_source(settings: ServerSettings) -> str:
    if settings.oauth2_token_command:
        return "token from oauth2_token_command"
    if settings.password_command:
        return "password from password_command"
    return f"password from the keyring ({settings.keyring_key})"
