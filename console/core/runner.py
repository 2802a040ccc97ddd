"""Concurrent checks of many accounts: global and per-host limits, cancellation, a stream of events.

The TUI and the headless CLI both drive this one scheduler. A "check" is one protocol of one
account, i.e. one connection: `concurrency` bounds connections in flight, `per_host` bounds them per
server host (providers throttle or ban clients that open too many at once). `concurrency` also
bounds secret look-ups in flight: each password_command is a process, and starting one per check
for a whole fleet at once delayed the first connection by seconds (benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from console.core.fdlimit import capped_pools
from console.core.host_limits import HostLimits
from console.core.model import (
    NO_AUTO_RETRY_CAUSES,
    Account,
    AccountResult,
    AuthMethod,
    Cause,
    CheckResult,
    Protocol,
    ServerSettings,
    Settings,
    Stage,
    Status,
    Step,
)
from console.core.oauth.explain import explain_result
from console.core.probe import probe_imap, probe_smtp
from console.core.providers import ProviderDecision, decide_provider
from console.core.redact import redact
from console.core.resolver import Resolver
from console.core.secrets import (
    LocalResourceError,
    SecretError,
    SecretProvider,
    fetch_secret,
)

log = logging.getLogger(__name__)

DEADLINE_STAGES = 4
"""Without `check_deadline`, one whole check may take this many per-stage timeouts."""
CRASH_MESSAGE_LIMIT = 300


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

SESSION_HOSTS_ONLY = "session_hosts_only"
"""Fact of a check refused because this session (the demo) may only reach its own hosts."""


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
        resolver: Resolver | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`allowed_hosts`, when given, is the only set of hosts contacted (the demo: loopback).
        `clock` is the time a refused token's expiry is compared with (tests pin it)."""
        self.settings = settings
        self._clock = clock
        self._allowed_hosts = allowed_hosts
        self._secrets = secrets
        self._on_event = on_event
        self._local_addr = local_addr
        # connections and secret commands stay below this process's file descriptor limit
        connections, commands = capped_pools(max(1, settings.concurrency))
        self._slots = asyncio.Semaphore(connections)
        self._secret_slots = asyncio.Semaphore(commands)
        # per_host counts servers (resolved addresses, provider groups), not names
        # one lookup per host name, shared by every check of a run (console/core/resolver.py)
        self._resolver = resolver or Resolver()
        self._host_limits = HostLimits(
            settings.per_host, resolve_timeout=settings.timeout, resolve=self._resolver
        )
        self._open_by_host: dict[str, int] = {}  # connections in flight, by machine (_machine)

    def _emit(self, event: RunnerEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

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
        """Never raises (except cancellation): an unexpected error becomes this check's result."""
        self._emit(CheckStarted(account.email, protocol))
        attempt = _Attempt()
        try:
            attempt.provider = decide_provider(account, protocol)
            result = await self._check(account, protocol, attempt)
        except Exception as exc:  # one account's surprise must not sink the run (issue 11)
            result = _crashed(account, protocol, exc, attempt)
        hint = result.facts.get("provider_hint")
        if (
            attempt.provider is not None
            and attempt.provider.provider is None
            and isinstance(hint, str)
        ):
            # nothing in the account file named it; the diagnosis recognised it from the server's
            # own words (rules.toml [[hint]] / providers.toml greetings) and used it
            attempt.provider = ProviderDecision(hint, "banner")
        if attempt.provider is not None:  # one provider per server, carried in the result
            result = dataclasses.replace(
                result, provider=attempt.provider.provider, provider_rule=attempt.provider.rule
            )
        self._emit(CheckFinished(account.email, protocol, result))
        return result

    @property
    def check_deadline(self) -> float:
        """Seconds one check (one connection) may take in all: `check_deadline` in [settings]."""
        configured = self.settings.check_deadline
        if configured is not None:
            return configured
        return DEADLINE_STAGES * self.settings.timeout

    async def _check(self, account: Account, protocol: Protocol, attempt: _Attempt) -> CheckResult:
        email = account.email

        def on_stage(stage: Stage) -> None:
            attempt.stage = stage
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
            refused = _failed_early(
                protocol, Stage.CONFIG, Cause.SETTINGS_INVALID, message, (step,)
            )
            # the settings were never tried: the console says so instead of "settings invalid"
            return dataclasses.replace(refused, facts={SESSION_HOSTS_ONLY: allowed})
        config_step = Step(Stage.CONFIG, True, 0, f"{settings.address} {settings.security.value}")

        on_stage(Stage.SECRET)
        async with self._secret_slots:
            started = time.monotonic()
            try:
                secret = await asyncio.wait_for(self._secrets(settings), self.settings.timeout)
            except LocalResourceError as exc:  # this computer's problem, not the account's
                step = Step(Stage.SECRET, False, _ms_since(started), str(exc))
                return _failed_early(
                    protocol, Stage.SECRET, Cause.UNKNOWN, str(exc), (config_step, step)
                )
            except (SecretError, TimeoutError) as exc:
                message = str(exc) or "the secret source did not answer in time"
                step = Step(Stage.SECRET, False, _ms_since(started), message)
                return _failed_early(
                    protocol, Stage.SECRET, Cause.SECRET_UNAVAILABLE, message, (config_step, step)
                )
        attempt.secret = secret
        secret_step = Step(Stage.SECRET, True, _ms_since(started), _secret_source(settings))

        provider = attempt.provider.provider if attempt.provider else None
        host_key = await self._host_limits.key(settings)
        async with self._host_limits.slot(host_key), self._slots:
            probe = probe_smtp if protocol is Protocol.SMTP else probe_imap
            deadline = self.check_deadline
            started = time.monotonic()
            machine = _machine(host_key)
            others_at_start = self._open_by_host.get(machine, 0)
            self._open_by_host[machine] = others_at_start + 1
            try:
                async with asyncio.timeout(deadline):
                    result = await probe(
                        settings,
                        secret,
                        timeout=self.settings.timeout,
                        provider=provider,
                        on_stage=on_stage,
                        local_addr=self._local_addr,
                        resolve=self._resolver,
                    )
            except TimeoutError:
                stage = attempt.stage or Stage.CONNECT
                message = (
                    f"the check did not finish within its overall deadline of {deadline:g} s "
                    f"(check_deadline in [settings]); it was at the {stage.value} stage: the "
                    "server answers, but too slowly"
                )
                step = Step(stage, False, _ms_since(started), message)
                result_steps = (config_step, secret_step, step)
                return _failed_early(protocol, stage, Cause.TIMEOUT, message, result_steps)
            finally:
                others = max(others_at_start, self._open_by_host[machine] - 1)
                self._open_by_host[machine] -= 1
                if not self._open_by_host[machine]:
                    del self._open_by_host[machine]
        if others and _closed_before_greeting(result):
            result = _per_ip_limit(result, settings.host, others, self.settings.per_host)
        if settings.auth is AuthMethod.OAUTH2:
            result = explain_result(result, secret, account.email, now=self._clock())
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


def _machine(host_key: str) -> str:
    """The machine behind a per-host limit key (console/core/host_limits.py), all ports and
    protocols together: a per-IP connection limit counts every connection from us to it."""
    kind, _, rest = host_key.partition(":")
    if kind in ("address", "provider"):
        return f"{kind}:{rest.rpartition(':')[0]}"
    return host_key


_CLOSED = re.compile(r"reset|closed|EOF|connection lost|broken pipe", re.IGNORECASE)
_CLOSED_CAUSES = frozenset(
    {Cause.TLS_FAILED, Cause.PROTOCOL_ERROR, Cause.SERVER_UNAVAILABLE, Cause.UNKNOWN}
)


def _closed_before_greeting(result: CheckResult) -> bool:
    """The server closed or reset the connection before any greeting (none was recorded)."""
    return (
        result.status is Status.FAILED
        and result.cause in _CLOSED_CAUSES
        and result.stage in (Stage.TLS, Stage.GREETING)
        and "banner" not in result.facts
        and "greeting" not in result.facts
        and bool(_CLOSED.search(result.message or ""))
    )


def _per_ip_limit(result: CheckResult, host: str, others: int, per_host: int) -> CheckResult:
    """Closed before the greeting while we held other connections to the host: a per-IP limit.

    The runner knows what the probe cannot: how many connections of this run were open to the
    same host at that moment. Servers and firewalls that cap connections per client address
    often just close (or reset) the extra one before greeting it.
    """
    message = (
        f"{result.message} - the server closed the connection before greeting it while "
        f"mailconsole had {others} other connection{'s' if others != 1 else ''} open to {host}: "
        "most likely a per-IP connection limit. Lower per_host in [settings] "
        f"(now {per_host}) and check again."
    )
    return dataclasses.replace(result, cause=Cause.RATE_LIMITED, message=message)


@dataclass
class _Attempt:
    """What one check got to, for a result when it ends unexpectedly."""

    stage: Stage | None = None
    secret: str | None = None
    provider: ProviderDecision | None = None


def _crashed(
    account: Account, protocol: Protocol, exc: Exception, attempt: _Attempt
) -> CheckResult:
    """An unexpected exception as this protocol's `unknown` result; logged without the secret."""
    text = redact(str(exc), attempt.secret)
    text = text.replace("\r", " ").replace("\n", " ")[:CRASH_MESSAGE_LIMIT]
    name = type(exc).__name__
    message = (
        f"unexpected error in mailconsole ({name}: {text})"
        if text
        else (f"unexpected error in mailconsole ({name})")
    )
    frames = "".join(traceback.format_tb(exc.__traceback__))  # code lines only, no values
    log.error("%s check of %s: %s\n%s", protocol.value, account.email, message, frames)
    stage = attempt.stage or Stage.CONFIG
    step = Step(stage, False, 0, message)
    return CheckResult(
        protocol=protocol,
        status=Status.FAILED,
        cause=Cause.UNKNOWN,
        stage=stage,
        message=message,
        steps=(step,),
    )


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _secret_source(settings: ServerSettings) -> str:
    if settings.oauth2_token_command:
        return "token from oauth2_token_command"
    if settings.sign_in is not None:
        return f"token from the stored sign-in ({settings.sign_in.platform})"
    if settings.password_command:
        return "password from password_command"
    return f"password from the keyring ({settings.keyring_key})"
