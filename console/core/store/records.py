"""What the store hands back: plain records, and the rules for what may be kept at all.

Only our own words are kept: states, statuses, causes, stages, latencies, the warnings our probes
write, a few numeric facts (certificate expiry, quota) and the canary's outcome without its
message. Server text, transcripts and step details are never stored (they may hold secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from console.core.model import (
    AccountResult,
    Cause,
    CheckResult,
    Protocol,
    Stage,
    State,
    Status,
)

KEPT_FACTS = (
    "cert_not_after",
    "cert_days_left",
    "quota_percent",
    "quota_used_kb",
    "quota_limit_kb",
    "oauth2_problem",
)
"""Facts worth remembering per protocol: numbers, dates and reason ids our probes derive, nothing
verbatim (`oauth2_problem` keeps a refused token's reason id, so a remembered result keeps its
title; core/oauth/explain.py)."""

CANARY_KEYS = ("status", "cause", "phase", "folder", "latency_ms", "cleaned", "auth_results")
"""The canary object's keys that are kept (DESIGN section 10); `message` is server text."""


_NO_FACTS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Outcome:
    """One protocol's result as remembered: status, and cause/stage when it failed."""

    status: Status
    cause: Cause | None = None
    stage: Stage | None = None
    elapsed_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "cause": self.cause.value if self.cause else None,
            "stage": self.stage.value if self.stage else None,
            "elapsed_ms": self.elapsed_ms,
        }

    @classmethod
    def of(cls, result: CheckResult) -> Outcome:
        return cls(result.status, result.cause, result.stage, result.elapsed_ms)


@dataclass(frozen=True)
class StoredCheck:
    """One recorded check of one account."""

    email: str
    checked_at: datetime
    state: State
    changed: bool
    smtp: Outcome | None
    imap: Outcome | None
    warnings: tuple[str, ...] = ()
    canary: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `history` JSON entry (DESIGN section 10, contract)."""
        return {
            "email": self.email,
            "checked_at": iso(self.checked_at),
            "state": self.state.value,
            "changed": self.changed,
            "smtp": self.smtp.to_dict() if self.smtp else None,
            "imap": self.imap.to_dict() if self.imap else None,
            "warnings": list(self.warnings),
            "canary": dict(self.canary) if self.canary is not None else None,
        }


@dataclass(frozen=True)
class LastKnown:
    """The newest recorded check of one account, with the time its state began."""

    check: StoredCheck
    since: datetime
    facts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per protocol ("smtp"/"imap"): the KEPT_FACTS of the last check."""

    @property
    def email(self) -> str:
        return self.check.email

    @property
    def state(self) -> State:
        return self.check.state

    def as_result(self, email: str | None = None) -> AccountResult:
        """An AccountResult the console can paint before anything is re-checked (no server text)."""
        check = self.check
        smtp, imap = check.smtp, check.imap
        return AccountResult(
            email=email or check.email,
            smtp=remembered_result(
                Protocol.SMTP, smtp, smtp.elapsed_ms if smtp else None, self.facts
            ),
            imap=remembered_result(
                Protocol.IMAP, imap, imap.elapsed_ms if imap else None, self.facts
            ),
            checked_at=check.checked_at,
        )


def remembered_result(
    protocol: Protocol,
    outcome: Outcome | None,
    elapsed_ms: int | None,
    facts: Mapping[str, Mapping[str, Any]] | None,
) -> CheckResult:
    """A recorded outcome as a CheckResult the console can paint: no steps, no server text."""
    if outcome is None:
        return CheckResult(protocol, Status.MISSING)
    kept = facts.get(protocol.value) if facts else None
    return CheckResult(
        protocol,
        outcome.status,
        outcome.cause,
        outcome.stage,
        elapsed_ms=elapsed_ms or 0,
        facts={k: v for k, v in kept.items() if isinstance(v, int)} if kept else _NO_FACTS,
    )


@dataclass(frozen=True)
class Recorded:
    """What recording one check found: the state before it, and whether it changed."""

    email: str
    state: State
    previous: State | None
    changed: bool
    since: datetime | None = None
    """When the account's current state began (None: this check is older than the newest)."""


def key(email: str) -> str:
    """Accounts are keyed by their email, lower-cased (DESIGN section 10)."""
    return email.strip().lower()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kept_facts(result: CheckResult) -> dict[str, Any]:
    return {
        k: v
        for k in KEPT_FACTS
        if isinstance(v := result.facts.get(k), int | float | str) and not isinstance(v, bool)
    }


def kept_canary(canary: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The canary object without its server text; JSON-able values only."""
    if canary is None:
        return None
    out: dict[str, Any] = {}
    for k in CANARY_KEYS:
        if k not in canary:
            continue
        value = canary[k]
        if k == "auth_results" and isinstance(value, Mapping):
            value = {
                str(a): b for a, b in value.items() if isinstance(b, str | int | bool) or b is None
            }
        elif not (isinstance(value, str | int | float | bool) or value is None):
            continue
        out[k] = value
    return out


def canary_failed(canary: Mapping[str, Any] | None) -> bool:
    return canary is not None and canary.get("status") == "failed"


def state_with_canary(state: State, canary: Mapping[str, Any] | None) -> State:
    """A connected account whose last canary failed is conditional (DESIGN section 10)."""
    if state is State.CONNECTED and canary_failed(canary):
        return State.CONDITIONAL
    return state
