"""Find working settings: probe the standard port/security pairs of a host without credentials.

The engine behind the TUI's one-key fix and `mailconsole discover`. Each candidate runs the check
ladder with `secret=None`, so it stops after CAPABILITY/EHLO and STARTTLS: no credential is sent,
and nothing but the candidates is contacted. Ranking: working and encrypted first, a login offered,
implicit TLS before STARTTLS, then candidate order (the configured host and port first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from console.core.model import (
    Account,
    Cause,
    CheckResult,
    Protocol,
    Security,
    ServerSettings,
)
from console.core.probe import probe_imap, probe_smtp
from console.core.providers.catalog import get_provider
from console.core.providers.detection import resolve_provider
from console.core.providers.discovery.plan import (
    PortPairs,
    check_host,
    plan,
    provider_for,
    published_targets,
    valid_host,
)
from console.core.providers.discovery.results import (
    Candidate,
    Discovery,
    Login,
    Source,
    Target,
    fix_summary,
    same_host,
    suggest_fix,
)
from console.core.providers.names import email_domain, normalize_name
from console.core.providers.records import Provider

BUDGET_FACTOR = 2.0
"""One candidate may take this many stage timeouts in all (a dripping server cannot hold us)."""

_PASSWORD_SASL = frozenset({"PLAIN", "LOGIN", "CRAM-MD5"})
_OAUTH2_SASL = frozenset({"XOAUTH2", "OAUTHBEARER"})


# -- trying them -------------------------------------------------------------------------------


def _login(protocol: Protocol, result: CheckResult) -> tuple[Login, tuple[str, ...], bool]:
    """Login offered, SASL mechanisms, LOGINDISABLED: the same reading the probe's auth uses."""
    if protocol is Protocol.IMAP:
        raw = result.facts.get("capabilities", ())
        caps = {c.upper() for c in raw} if isinstance(raw, tuple) else set()
        mechanisms = tuple(sorted(c[5:] for c in caps if c.startswith("AUTH=")))
        disabled = "LOGINDISABLED" in caps
        password = "PLAIN" in mechanisms or not disabled  # AUTHENTICATE PLAIN or LOGIN
    else:
        raw = result.facts.get("auth_mechanisms", ())
        mechanisms = tuple(m.upper() for m in raw) if isinstance(raw, tuple) else ()
        disabled = False
        password = bool(_PASSWORD_SASL & set(mechanisms))
    if password:
        return Login.PASSWORD, mechanisms, disabled
    if _OAUTH2_SASL & set(mechanisms):
        return Login.OAUTH2_ONLY, mechanisms, disabled
    return Login.NONE, mechanisms, disabled


def _candidate(target: Target, result: CheckResult) -> Candidate:
    facts = result.facts
    greeting = facts.get("greeting", facts.get("banner"))
    tls_version = facts.get("tls_version")
    login, mechanisms, disabled = _login(target.protocol, result)
    return Candidate(
        target.protocol,
        target.host,
        target.port,
        target.security,
        target.source,
        ok=result.ok,
        cause=result.cause,
        stage=result.stage,
        message=result.message,
        greeting=greeting.split("\n", 1)[0] if isinstance(greeting, str) else None,
        tls_version=tls_version if isinstance(tls_version, str) and tls_version else None,
        auth_mechanisms=mechanisms,
        login_disabled=disabled,
        login=login if result.ok else None,
        elapsed_ms=result.elapsed_ms,
        warnings=result.warnings,
    )


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def _failed(target: Target, cause: Cause, message: str, since: float) -> Candidate:
    t = target
    return Candidate(
        t.protocol, t.host, t.port, t.security, t.source, ok=False, cause=cause,
        message=message, elapsed_ms=_ms(since),
    )  # fmt: skip


def _excludes(target: Target, winner: Candidate) -> bool:
    """A port that answered with TLS first cannot greet in plain text, and the reverse."""
    same_port = (target.protocol, target.host, target.port) == (
        (winner.protocol, winner.host, winner.port)
    )
    return same_port and (target.security is Security.TLS) != (winner.security is Security.TLS)


def _superseded(target: Target, winner: Candidate, since: float) -> Candidate:
    if winner.security is Security.TLS:
        why = f"port {target.port} speaks implicit TLS (the tls candidate worked)"
    else:
        why = f"port {target.port} greets in plain text (the {winner.security} candidate worked)"
    return _failed(target, Cause.TLS_MISMATCH, f"{why}, so {target.security} cannot work", since)


@dataclass
class _Run:
    """Probes the targets concurrently (bounded), and stops a probe its sibling settled."""

    timeout: float
    ca_file: str | None
    local_addr: str | None
    providers: Mapping[Protocol, str | None]
    concurrency: int

    async def probe(self, target: Target, started: dict[Target, float]) -> Candidate:
        settings = ServerSettings(
            target.protocol, target.host, target.port, target.security, username="",
            tls_ca_file=self.ca_file,
        )  # fmt: skip
        probe = probe_imap if target.protocol is Protocol.IMAP else probe_smtp
        started[target] = since = time.monotonic()
        budget = self.timeout * BUDGET_FACTOR
        try:
            async with asyncio.timeout(budget):
                result = await probe(
                    settings,
                    None,  # no secret: the ladder stops before auth
                    timeout=self.timeout,
                    provider=self.providers.get(target.protocol),
                    local_addr=self.local_addr,
                )
        except TimeoutError:
            return _failed(target, Cause.TIMEOUT, f"no complete answer within {budget:g} s", since)
        return _candidate(target, result)

    async def run(self, targets: Sequence[Target]) -> list[Candidate]:
        slots = asyncio.Semaphore(max(1, self.concurrency))
        started: dict[Target, float] = {}

        async def one(target: Target) -> Candidate:
            async with slots:
                return await self.probe(target, started)

        tasks = [asyncio.create_task(one(t)) for t in targets]
        owner = dict(zip(tasks, targets, strict=True))
        settled: dict[Target, Candidate] = {}
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.cancelled() or not (winner := task.result()).ok:
                        continue
                    for other in pending:
                        target = owner[other]
                        if target not in settled and _excludes(target, winner):
                            now = time.monotonic()
                            settled[target] = _superseded(target, winner, started.get(target, now))
                            other.cancel()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return [settled[t] if t in settled else task.result() for task, t in owner.items()]


async def discover(
    email: str,
    protocol: Protocol | None = None,
    *,
    host: str | None = None,
    provider: Provider | str | None = None,
    timeout: float = 5.0,
    ca_file: str | None = None,
    local_addr: str | None = None,
    ports: PortPairs | None = None,
    extra_ports: PortPairs | None = None,
    concurrency: int = 16,
    allowed_hosts: Iterable[str] | None = None,
) -> Discovery:
    """Try the candidate servers for `email` (one protocol or both) without credentials.

    `timeout` bounds each stage and twice it each candidate; the candidates run at once, up to
    `concurrency`. `allowed_hosts`, when given, is the only set of hosts contacted (the demo).
    Raises ValueError for a bad address, host or provider id before contacting anything.
    """
    if timeout <= 0:
        raise ValueError("timeout must be more than 0")
    if email_domain(email) is None:
        raise ValueError(f"{email!r} is not an email address")
    protocols = (protocol,) if protocol is not None else (Protocol.IMAP, Protocol.SMTP)
    chosen = provider_for(provider, email, check_host(host) if host is not None else None)
    targets = [
        t
        for p in protocols
        for t in plan(email, p, host=host, provider=chosen, ports=ports, extra_ports=extra_ports)
    ]
    skipped: list[str] = []
    if allowed_hosts is not None:
        allowed = {normalize_name(h) for h in allowed_hosts}
        skipped = list(dict.fromkeys(t.host for t in targets if t.host not in allowed))
        targets = [t for t in targets if t.host in allowed]
    providers = {p: chosen.id if chosen else None for p in protocols}
    started = time.monotonic()
    run = _Run(timeout, ca_file, local_addr, providers, concurrency)
    candidates = await run.run(targets)
    return Discovery(email, protocols, tuple(candidates), providers, tuple(skipped), _ms(started))


async def discover_account(
    account: Account,
    protocol: Protocol | None = None,
    *,
    host: str | None = None,
    timeout: float = 5.0,
    local_addr: str | None = None,
    ports: PortPairs | None = None,
    concurrency: int = 16,
    allowed_hosts: Iterable[str] | None = None,
) -> Discovery:
    """`discover` for a configured account: its hosts (or `host`), its own port in both modes
    first, its CA file, its provider; IMAP for the reply mailbox. Sides run in parallel.

    When nothing on the account's own host works (a typo, a dead server), the provider's
    published servers are tried next, so they rank after the configured host.
    """
    protocols = (protocol,) if protocol is not None else (Protocol.IMAP, Protocol.SMTP)
    allowed = tuple(allowed_hosts) if allowed_hosts is not None else None
    if host is not None:
        check_host(host)
    common: dict[str, Any] = {
        "timeout": timeout,
        "local_addr": local_addr,
        "ports": ports,
        "concurrency": concurrency,
        "allowed_hosts": allowed,
    }

    async def side(p: Protocol) -> Discovery:
        settings = account.settings_for(p)
        address = (account.reply_address or account.email) if p is Protocol.IMAP else account.email
        provider = resolve_provider(account, p)
        own = settings.host if settings and valid_host(settings.host) else None
        target = host if host is not None else own
        extra: PortPairs | None = None
        if settings is not None and target is not None and same_host(target, settings.host):
            others = [s for s in (Security.TLS, Security.STARTTLS) if s is not settings.security]
            extra = {p: [(settings.port, settings.security)] + [(settings.port, s) for s in others]}
        ca_file = settings.tls_ca_file if settings else None
        found = await discover(
            address, p, host=target, provider=provider, ca_file=ca_file, extra_ports=extra, **common
        )
        if host is not None or target is None or found.best(p) is not None or provider is None:
            return found
        published = {t.host for t in published_targets(get_provider(provider), address, p)}
        if not published or normalize_name(target) in published:
            return found  # the provider's servers were tried already, or it has none
        fallback = await discover(address, p, provider=provider, **common)
        both = Discovery.combine([found, fallback])
        return replace(both, elapsed_ms=found.elapsed_ms + fallback.elapsed_ms)

    parts = await asyncio.gather(*(side(p) for p in protocols))
    return replace(Discovery.combine(parts), email=account.email)


__all__ = [
    "Candidate",
    "Discovery",
    "Login",
    "PortPairs",
    "Source",
    "Target",
    "check_host",
    "discover",
    "discover_account",
    "fix_summary",
    "plan",
    "suggest_fix",
]
