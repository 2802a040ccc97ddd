"""What discovery found: candidates, their ranking, and the change it suggests for an account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from console.core.diagnosis import port_security_mismatch
from console.core.model import (
    Account,
    Cause,
    Protocol,
    Security,
    ServerSettings,
    Stage,
)
from console.core.providers.names import normalize_name


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


def same_host(a: str, b: str) -> bool:
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
        return same_host(str(value), settings.host)
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
    if not same_host(current.host, best.host):
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
