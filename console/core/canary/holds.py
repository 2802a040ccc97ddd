"""Pending holds: a canary that arrived and must be looked at again later survives a restart.

The engine talks to a `HoldStore`; the results store keeps them in its `canary_holds` table
(`StoredHolds`, console/core/store/holds.py), tests and `--no-record` runs use `MemoryHolds`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class PendingHold:
    """Everything needed to finish a canary after the hold: where it is and what it showed."""

    token: str
    email: str
    mailbox: str  # the tracked mailbox (display name)
    sent_at: datetime
    hold_until: datetime
    latency_ms: int | None = None
    uid: int | None = None
    auth_results: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    evidence: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sent_at"] = self.sent_at.isoformat()
        data["hold_until"] = self.hold_until.isoformat()
        data["warnings"] = list(self.warnings)
        data["evidence"] = list(self.evidence)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingHold:
        return cls(
            token=str(data["token"]),
            email=str(data["email"]),
            mailbox=str(data["mailbox"]),
            sent_at=datetime.fromisoformat(str(data["sent_at"])),
            hold_until=datetime.fromisoformat(str(data["hold_until"])),
            latency_ms=data.get("latency_ms"),
            uid=data.get("uid"),
            auth_results=data.get("auth_results"),
            warnings=tuple(data.get("warnings") or ()),
            evidence=tuple(data.get("evidence") or ()),
        )


class HoldStore(Protocol):
    def save(self, hold: PendingHold) -> None: ...
    def remove(self, token: str) -> None: ...
    def pending(self) -> list[PendingHold]: ...


class MemoryHolds:
    """Holds kept for this process only."""

    def __init__(self) -> None:
        self.holds: dict[str, PendingHold] = {}

    def save(self, hold: PendingHold) -> None:
        self.holds[hold.token] = hold

    def remove(self, token: str) -> None:
        self.holds.pop(token, None)

    def pending(self) -> list[PendingHold]:
        return list(self.holds.values())
