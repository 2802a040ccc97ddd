"""The reply canary's words: its status, phase and result (DESIGN section 10, contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from console.core.model import Cause, CheckResult

CANARY_HEADER = "X-Mailconsole-Canary"
"""The header that carries the token; the cleanup deletes nothing without it."""
DEFAULT_ARRIVAL_TIMEOUT = 300.0
"""Seconds to wait for the canary to arrive anywhere in the reply mailbox."""


class CanaryStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # no canary was sent (send-only, no IMAP settings, ...): `message` says why
    PENDING = "pending"  # still holding (the run was stopped; the hold is kept and resumed)


class CanaryPhase(StrEnum):
    """How far the canary got: the last phase it completed."""

    SENT = "sent"
    ARRIVED = "arrived"
    HELD = "held"
    CLEANED = "cleaned"


class Progress(StrEnum):
    """What a running canary is doing now (table and pane)."""

    SENDING = "sending"
    WAITING = "waiting"
    SEARCHING = "searching"
    HOLDING = "holding"
    CLEANING = "cleaning"


@dataclass(frozen=True)
class AuthResults:
    """What the receiving side concluded (RFC 8601 Authentication-Results, DKIM-Signature)."""

    spf: str | None = None
    dkim: str | None = None
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dmarc: str | None = None
    authserv_id: str | None = None
    delivery_seconds: float | None = None
    """From the oldest to the newest `Received` date: the time the mail spent in transit."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "spf": self.spf,
            "dkim": self.dkim,
            "dkim_domain": self.dkim_domain,
            "dkim_selector": self.dkim_selector,
            "dmarc": self.dmarc,
            "authserv_id": self.authserv_id,
            "delivery_seconds": self.delivery_seconds,
        }


@dataclass(frozen=True)
class CanaryResult:
    """The outcome of one account's canary."""

    email: str
    status: CanaryStatus
    cause: Cause | None = None
    phase: CanaryPhase | None = None
    folder: str | None = None
    latency_ms: int | None = None
    message: str | None = None
    cleaned: bool = False
    auth_results: AuthResults | None = None
    warnings: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    """What was done to reach the verdict: folders searched, for how long, what was deleted."""
    token: str | None = None
    hold_until: datetime | None = None
    send: CheckResult | None = field(default=None, compare=False)
    """The SMTP ladder of the send (its cause is the canary's when sending failed)."""

    @property
    def failed(self) -> bool:
        return self.status is CanaryStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        """The `canary` object of the JSON report (DESIGN section 10), plus evidence."""
        return {
            "status": self.status.value,
            "cause": self.cause.value if self.cause else None,
            "phase": self.phase.value if self.phase else None,
            "folder": self.folder,
            "latency_ms": self.latency_ms,
            "message": self.message,
            "cleaned": self.cleaned,
            "auth_results": self.auth_results.to_dict() if self.auth_results else None,
            "warnings": list(self.warnings),
            "evidence": list(self.evidence),
            "token": self.token,
            "hold_until": _iso(self.hold_until),
        }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
