"""Find working settings: probe the standard port/security pairs of a host without credentials.

The engine behind the TUI's one-key fix and `mailconsole discover`. Each candidate runs the check
ladder with `secret=None`, so it stops after CAPABILITY/EHLO and STARTTLS: no credential is sent,
and nothing but the candidates is contacted. Ranking: working and encrypted first, a login offered,
implicit TLS before STARTTLS, then candidate order (the configured host and port first).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from console.core.diagnosis import port_security_mismatch
from console.core.model import (
    Account,
    Cause,
    CheckResult,
    Protocol,
    Security,
    ServerSettings,
    Stage,
)
from console.core.probe import probe_imap, probe_smtp
from console.core.providers.catalog import get_provider
from console.core.providers.detection import detect_offline, resolve_provider
from console.core.providers.names import email_domain, normalize_name
from console.core.providers.presets import STANDARD_PAIRS, preset_candidates
from console.core.providers.records import Provider

PortPairs = Mapping[Protocol, Sequence[tuple[int, Security]]]
"""(port, security) pairs per protocol, tried in this order."""

GUESSED_HOSTS: Mapping[Protocol, tuple[str, ...]] = {
    Protocol.IMAP: ("imap.{domain}", "mail.{domain}", "{domain}"),
    Protocol.SMTP: ("smtp.{domain}", "mail.{domain}"),
}
"""Host names tried for a domain no provider entry knows (Thunderbird's guesses, minus POP)."""

BUDGET_FACTOR = 2.0
"""One candidate may take this many stage timeouts in all (a dripping server cannot hold us)."""

_PASSWORD_SASL = frozenset({"PLAIN", "LOGIN", "CRAM-MD5"})
_OAUTH2_SASL = frozenset({"XOAUTH2", "OAUTHBEARER"})
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


class Login(StrEnum):
    """What login a working candidate offers, read from CAPABILITY / EHLO (after TLS)."""

    PASSWORD = "password"  # AUTH=PLAIN or LOGIN (IMAP), AUTH PLAIN/LOGIN/CRAM-MD5 (SMTP)
    OAUTH2_ONLY = "oauth2_only"  # only XOAUTH2/OAUTHBEARER: the account needs OAuth2
    NONE = "none"  # no login offered on this port (LOGINDISABLED and no SASL, or no SMTP AUTH)


class Source(StrEnum):
    """Why a candidate was tried."""

    ACCOUNT = "account"  # the account's own port (or a given host's extra port)
    PRESET = "preset"  # the provider's published server
    STANDARD = "standard"  # a standard pair on a candidate host


@dataclass(frozen=True)
class Target:
    """One server to try."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    source: Source = Source.STANDARD


@dataclass(frozen=True)
class Candidate:
    """One tried server and what it answered; `ok` means the ladder ran up to (not into) auth."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    source: Source
    ok: bool
    cause: Cause | None = None
    stage: Stage | None = None
    message: str | None = None  # the failure, server text verbatim
    greeting: str | None = None  # the greeting/banner's first line
    tls_version: str | None = None
    auth_mechanisms: tuple[str, ...] = ()
    login_disabled: bool = False
    login: Login | None = None  # None unless ok
    elapsed_ms: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """Worth recommending: it works, and it is encrypted (plain is never recommended)."""
        return self.ok and self.security is not Security.NONE

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def matches(self, settings: ServerSettings) -> bool:
        """Same host, port and security as `settings`."""
        return (
            normalize_name(settings.host) == normalize_name(self.host)
            and settings.port == self.port
            and settings.security is self.security
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, every field; enums as their contract words."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "protocol"}
        return {
            k: v.value if isinstance(v, StrEnum) else list(v) if isinstance(v, tuple) else v
            for k, v in out.items()
        }


def _rank(indexed: tuple[int, Candidate]) -> tuple[int, int, int, int]:
    index, c = indexed
    login = 1 if c.login is Login.NONE else 0
    security = {Security.TLS: 0, Security.STARTTLS: 1, Security.NONE: 2}[c.security]
    return (0 if c.usable else 1, login, security, index)


@dataclass(frozen=True)
class Discovery:
    """Every candidate tried, in the order tried; `ranked`/`best` say which to use."""

    email: str
    protocols: tuple[Protocol, ...]
    candidates: tuple[Candidate, ...]
    providers: Mapping[Protocol, str | None] = field(default_factory=dict)
    not_contacted: tuple[str, ...] = ()  # hosts left out by `allowed_hosts`
    elapsed_ms: int = 0

    def for_protocol(self, protocol: Protocol) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.protocol is protocol)

    def ranked(self, protocol: Protocol) -> tuple[Candidate, ...]:
        """Best first: usable, a login offered, implicit TLS over STARTTLS, then as tried."""
        return tuple(c for _, c in sorted(enumerate(self.for_protocol(protocol)), key=_rank))

    def best(self, protocol: Protocol) -> Candidate | None:
        """The recommended candidate, or None when no encrypted one works."""
        ranked = self.ranked(protocol)
        return ranked[0] if ranked and ranked[0].usable else None

    @classmethod
    def combine(cls, parts: Sequence[Discovery]) -> Discovery:
        """One discovery from per-protocol runs (an account's IMAP and SMTP sides)."""
        return cls(
            email=parts[0].email if parts else "",
            protocols=tuple(dict.fromkeys(p for part in parts for p in part.protocols)),
            candidates=tuple(c for part in parts for c in part.candidates),
            providers={k: v for part in parts for k, v in part.providers.items()},
            not_contacted=tuple(dict.fromkeys(h for part in parts for h in part.not_contacted)),
            elapsed_ms=max((part.elapsed_ms for part in parts), default=0),
        )

    def to_dict(self, account: Account | None = None) -> dict[str, Any]:
        """JSON-ready: per protocol the recommendation, the fix for `account`, all candidates."""
        out: dict[str, Any] = {"email": self.email, "elapsed_ms": self.elapsed_ms}
        for protocol in self.protocols:
            best = self.best(protocol)
            current = account.settings_for(protocol) if account else None
            out[protocol.value] = {
                "provider": self.providers.get(protocol),
                "recommended": _pair(best) if best else None,
                "account": _settings_pair(current) if current else None,
                "fix": suggest_fix(account, protocol, self) if account else None,
                "advice": fix_summary(protocol, self, current),
                "candidates": [c.to_dict() for c in self.ranked(protocol)],
            }
        if self.not_contacted:
            out["not_contacted"] = list(self.not_contacted)
        return out


def _pair(c: Candidate) -> dict[str, Any]:
    return {
        "host": c.host,
        "port": c.port,
        "security": c.security.value,
        "login": c.login.value if c.login else None,
    }


def _settings_pair(s: ServerSettings) -> dict[str, Any]:
    return {"host": s.host, "port": s.port, "security": s.security.value}


# -- what to try -------------------------------------------------------------------------------


def check_host(host: str) -> str:
    """The host as it will be contacted; ValueError for what cannot be a host name or address."""
    name = host.strip().rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(name.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    if not _HOST.fullmatch(name):
        raise ValueError(f"{host!r} is not a host name (no scheme, port, spaces or slashes)")
    return name


def _provider(provider: Provider | str | None, email: str, host: str | None) -> Provider | None:
    if isinstance(provider, Provider):
        return provider
    if provider is not None:
        try:
            return get_provider(provider)
        except KeyError:
            raise ValueError(f"unknown provider {provider!r}") from None
    found = detect_offline(email, imap_host=host, smtp_host=host)
    return found.provider if found else None


def _published(provider: Provider | None, email: str, protocol: Protocol) -> tuple[Target, ...]:
    if provider is None:
        return ()
    try:
        found = preset_candidates(provider, email, protocol)
    except ValueError:  # a template that needs a region or domain we do not have
        return ()
    return tuple(Target(protocol, p.host.lower(), p.port, p.security, Source.PRESET) for p in found)


def plan(
    email: str,
    protocol: Protocol,
    *,
    host: str | None = None,
    provider: Provider | None = None,
    ports: PortPairs | None = None,
    extra_ports: PortPairs | None = None,
) -> tuple[Target, ...]:
    """The servers to try for one protocol, in order, without repeats (pure: no network).

    With `host`: `extra_ports` on it, the provider's published pairs for that host, then the
    standard pairs. Without: the provider's published servers plus the standard pairs on its
    first host, or for an unknown domain the standard pairs on the guessed hosts. `ports`
    replaces the standard pairs (and, with `host`, the published ones).
    """
    pairs = tuple(STANDARD_PAIRS[protocol] if ports is None else ports.get(protocol, ()))
    published = _published(provider, email, protocol)
    targets: list[Target] = []
    if host is not None:
        name = check_host(host)
        extra = extra_ports.get(protocol, ()) if extra_ports else ()
        targets += [Target(protocol, name, p, s, Source.ACCOUNT) for p, s in extra]
        if ports is None:
            targets += [t for t in published if t.host == name]
        hosts: tuple[str, ...] = (name,)
    elif published:
        targets += published
        hosts = (published[0].host,)
    else:
        domain = email_domain(email)
        if domain is None:
            raise ValueError(f"{email!r} is not an email address")
        hosts = tuple(dict.fromkeys(h.format(domain=domain) for h in GUESSED_HOSTS[protocol]))
    targets += [Target(protocol, h, p, s) for h in hosts for p, s in pairs]
    seen: set[tuple[str, int, Security]] = set()
    unique: list[Target] = []
    for t in targets:
        if (key := (t.host, t.port, t.security)) not in seen:
            seen.add(key)
            unique.append(t)
    return tuple(unique)


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
    chosen = _provider(provider, email, check_host(host) if host is not None else None)
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
        own = settings.host if settings and _valid_host(settings.host) else None
        target = host if host is not None else own
        extra: PortPairs | None = None
        if settings is not None and target is not None and _same_host(target, settings.host):
            others = [s for s in (Security.TLS, Security.STARTTLS) if s is not settings.security]
            extra = {p: [(settings.port, settings.security)] + [(settings.port, s) for s in others]}
        ca_file = settings.tls_ca_file if settings else None
        found = await discover(
            address, p, host=target, provider=provider, ca_file=ca_file, extra_ports=extra, **common
        )
        if host is not None or target is None or found.best(p) is not None or provider is None:
            return found
        published = {t.host for t in _published(get_provider(provider), address, p)}
        if not published or normalize_name(target) in published:
            return found  # the provider's servers were tried already, or it has none
        fallback = await discover(address, p, provider=provider, **common)
        both = Discovery.combine([found, fallback])
        return replace(both, elapsed_ms=found.elapsed_ms + fallback.elapsed_ms)

    parts = await asyncio.gather(*(side(p) for p in protocols))
    return replace(Discovery.combine(parts), email=account.email)


def _valid_host(host: str) -> bool:
    try:
        check_host(host)
    except ValueError:
        return False
    return True


def _same_host(a: str, b: str) -> bool:
    return normalize_name(a) == normalize_name(b)


# -- what to change ----------------------------------------------------------------------------


def suggest_fix(
    account: Account, protocol: Protocol, discovery: Discovery
) -> dict[str, object] | None:
    """The server keys to change (`host`/`port`/`security`, account-file values) for the
    one-key fix; None when nothing works or the account's own settings already answer."""
    best = discovery.best(protocol)
    if best is None:
        return None
    current = account.settings_for(protocol)
    wanted: dict[str, object] = {
        "host": best.host,
        "port": best.port,
        "security": best.security.value,
    }
    if current is None:
        return wanted
    if any(c.usable and c.matches(current) for c in discovery.for_protocol(protocol)):
        return None
    changes = {k: v for k, v in wanted.items() if not _same(k, v, current)}
    return changes or None


def _same(key: str, value: object, settings: ServerSettings) -> bool:
    if key == "host":
        return _same_host(str(value), settings.host)
    if key == "port":
        return value == settings.port
    return value == settings.security.value


def fix_summary(protocol: Protocol, discovery: Discovery, current: ServerSettings | None) -> str:
    """One plain sentence: what to use, and how it differs from the account's settings."""
    name = protocol.value.upper()
    best = discovery.best(protocol)
    tried = discovery.for_protocol(protocol)
    if best is None:
        if not tried:
            return f"{name}: no server to try"
        causes = sorted({c.cause.value for c in tried if c.cause})
        found = f" ({', '.join(causes)})" if causes else ""
        return f"{name}: none of the {len(tried)} candidates works{found}"
    use = f"{name}: use {best.address} with security {best.security}"
    if best.login is Login.OAUTH2_ONLY:
        use += "; it offers only OAuth2 sign-in (XOAUTH2), a password will not work"
    elif best.login is Login.NONE:
        use += "; it offers no login on this port"
    if current is None:
        return use
    if any(c.usable and c.matches(current) for c in tried):
        return (
            f"{name}: your account's settings ({current.address}, {current.security}) answer "
            "properly; if the check still fails, the cause is not the server settings"
        )
    said = str(current.security)
    if not _same_host(current.host, best.host):
        said = f"{current.address} with {said}"
    elif current.port != best.port:
        said = f"port {current.port} with {said}"
    note = f"your account says {said}"
    own = next((c for c in tried if c.matches(current) and c.cause), None)
    if port_security_mismatch(protocol, current.port, current.security) or (
        own is not None and own.cause is Cause.TLS_MISMATCH
    ):
        note += ": that is a port/security mismatch"
    elif own is not None:
        note += f": that fails with {own.cause}"
    return f"{use} ({note})"
