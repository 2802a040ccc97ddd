"""The audit report's content: per client (tag), what is connected and since when, accounts
grouped by cause with the fix once per group, certificate and quota warnings, check times.

Built from the results store's last known check per account and the account file; nothing is
checked here. Every string that did not come from our own code passes `visible()`; no server text
is in the store, and no secret is anywhere near this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.core.diagnosis import advise
from console.core.diagnosis.advice import provider_name
from console.core.model import Account, Cause, Protocol, State, Status
from console.core.probe.imap import QUOTA_WARNING_PERCENT
from console.core.probe.tls import CERT_WARNING_DAYS
from console.core.providers import resolve_provider
from console.core.safe_text import visible
from console.core.store import LastKnown, Outcome, key

UNTAGGED = "(no tag)"
STATE_ORDER = (State.CONNECTED, State.CONDITIONAL, State.DISCONNECTED, State.UNCHECKED)
WORST_FIRST = (State.DISCONNECTED, State.CONDITIONAL, State.UNCHECKED, State.CONNECTED)
STATE_GLYPHS = {
    State.CONNECTED: "●",
    State.CONDITIONAL: "◐",
    State.DISCONNECTED: "✕",
    State.UNCHECKED: "○",
}
"""The console's glyphs: the report reads right printed in black and white."""


def _clean(text: str | None) -> str:
    return visible(text or "", keep_newlines=False)


@dataclass(frozen=True)
class Line:
    """One account in the report."""

    email: str
    name: str
    tags: tuple[str, ...]
    provider: str | None
    state: State
    since: datetime | None
    checked_at: datetime | None
    smtp: Outcome | None
    imap: Outcome | None
    canary_status: str | None
    canary_cause: str | None
    warnings: tuple[str, ...]

    @property
    def glyph(self) -> str:
        return STATE_GLYPHS.get(self.state, "?")

    def outcome_text(self, protocol: str) -> str:
        outcome = self.smtp if protocol == "smtp" else self.imap
        if outcome is None:
            return "-"
        if outcome.cause is None:
            return outcome.status.value
        return f"{outcome.status.value}: {outcome.cause.value}"


@dataclass(frozen=True)
class Group:
    """Accounts failing for the same reason: the fix is given once."""

    protocol: str  # "smtp", "imap" or "canary"
    cause: str
    title: str
    provider: str | None
    explanation: str
    fix: tuple[str, ...]
    links: tuple[str, ...]
    accounts: tuple[Line, ...]


@dataclass(frozen=True)
class Notice:
    email: str
    what: str  # "certificate" or "quota"
    protocol: str
    text: str


@dataclass(frozen=True)
class Client:
    tag: str
    counts: Mapping[State, int]
    broken_since: datetime | None
    """The oldest start of a current failure (conditional or disconnected) in this client."""
    first_check: datetime | None
    last_check: datetime | None
    groups: tuple[Group, ...]
    notices: tuple[Notice, ...]
    accounts: tuple[Line, ...]

    @property
    def total(self) -> int:
        return len(self.accounts)


@dataclass(frozen=True)
class Audit:
    generated_at: datetime
    clients: tuple[Client, ...]
    counts: Mapping[State, int] = field(default_factory=dict)

    @property
    def states(self) -> list[State]:
        return [s for s in STATE_ORDER if s is not State.UNCHECKED]


def _line(account: Account, last: LastKnown | None) -> Line:
    check = last.check if last else None
    canary = (check.canary or {}) if check else {}
    return Line(
        email=_clean(account.email),
        name=_clean(account.name),
        tags=tuple(_clean(t) for t in account.tags),
        provider=account.provider or resolve_provider(account),
        state=check.state if check else State.UNCHECKED,
        since=last.since if last else None,
        checked_at=check.checked_at if check else None,
        smtp=check.smtp if check else None,
        imap=check.imap if check else None,
        canary_status=_clean(str(canary["status"])) if canary.get("status") else None,
        canary_cause=_clean(str(canary["cause"])) if canary.get("cause") else None,
        warnings=tuple(_clean(w) for w in (check.warnings if check else ())),
    )


def _failure(line: Line) -> tuple[str, str] | None:
    """The failure that decides the state: SMTP first, then IMAP, then the canary."""
    for protocol, outcome in (("smtp", line.smtp), ("imap", line.imap)):
        if outcome is not None and outcome.status in (Status.FAILED, Status.MISSING):
            return protocol, (outcome.cause.value if outcome.cause else Cause.UNKNOWN.value)
    if line.canary_status == "failed":
        return "canary", line.canary_cause or Cause.UNKNOWN.value
    return None


def _group(protocol: str, cause: str, provider: str | None, lines: list[Line]) -> Group:
    try:
        advice = advise(cause, Protocol.IMAP if protocol == "canary" else protocol, provider)
    except (ValueError, KeyError):  # a cause this version has no knowledge of
        return Group(protocol, cause, cause, provider, "", (), (), tuple(lines))
    return Group(
        protocol=protocol,
        cause=cause,
        title=advice.title,
        provider=provider_name(advice.provider) if advice.provider else None,
        explanation=advice.explanation,
        fix=advice.fix,
        links=advice.links,
        accounts=tuple(sorted(lines, key=lambda x: x.email)),
    )


def _notices(line: Line, last: LastKnown | None) -> list[Notice]:
    out: list[Notice] = []
    for protocol, facts in (last.facts if last else {}).items():
        days = facts.get("cert_days_left")
        if isinstance(days, int) and days <= CERT_WARNING_DAYS:
            until = _clean(str(facts.get("cert_not_after", "")))
            text = f"expired ({until})" if days < 0 else f"expires in {days} day(s) ({until})"
            out.append(Notice(line.email, "certificate", protocol, text))
        percent = facts.get("quota_percent")
        if isinstance(percent, int | float) and percent >= QUOTA_WARNING_PERCENT:
            out.append(Notice(line.email, "quota", protocol, f"mailbox {percent:g}% full"))
    return out


def _client(tag: str, members: Sequence[tuple[Line, LastKnown | None]]) -> Client:
    lines = [line for line, _ in members]
    buckets: dict[tuple[str, str, str | None], list[Line]] = {}
    for line in lines:
        failure = _failure(line)
        if failure is not None:
            buckets.setdefault((*failure, line.provider), []).append(line)
    groups = [_group(p, c, prov, found) for (p, c, prov), found in buckets.items()]
    groups.sort(key=lambda g: (-len(g.accounts), g.protocol, g.title))
    broken = [
        line.since
        for line in lines
        if line.state in (State.CONDITIONAL, State.DISCONNECTED) and line.since
    ]
    checked = [line.checked_at for line in lines if line.checked_at]
    return Client(
        tag=tag,
        counts=Counter(line.state for line in lines),
        broken_since=min(broken) if broken else None,
        first_check=min(checked) if checked else None,
        last_check=max(checked) if checked else None,
        groups=tuple(groups),
        notices=tuple(n for line, last in members for n in _notices(line, last)),
        accounts=tuple(sorted(lines, key=lambda x: (WORST_FIRST.index(x.state), x.email))),
    )


def build_audit(
    accounts: Sequence[Account],
    known: Mapping[str, LastKnown],
    *,
    tags: Sequence[str] = (),
    now: datetime,
) -> Audit:
    """One section per tag (all tags, or the ones asked for), each with its accounts."""
    by_tag: dict[str, list[tuple[Line, LastKnown | None]]] = {}
    every: list[Line] = []
    for account in accounts:
        last = known.get(key(account.email))
        line = _line(account, last)
        every.append(line)
        for tag in account.tags or (UNTAGGED,):
            if not tags or tag in tags:
                by_tag.setdefault(tag, []).append((line, last))
    order = list(tags) if tags else sorted(by_tag, key=lambda t: (t == UNTAGGED, t.casefold()))
    clients = tuple(_client(_clean(t), by_tag[t]) for t in order if t in by_tag)
    counts = Counter(
        line.state for client in clients for line in client.accounts
    )  # an account with two tags counts in both clients, and in the totals once per client
    return Audit(generated_at=now, clients=clients, counts=counts)


def audit_states(audit: Audit) -> list[State]:
    """Every account's state once (for the exit status)."""
    seen: dict[str, State] = {}
    for client in audit.clients:
        for line in client.accounts:
            seen[line.email] = line.state
    return list(seen.values())


def as_rows(audit: Audit) -> list[dict[str, Any]]:
    """One row per account and client (the CSV format)."""
    rows: list[dict[str, Any]] = []
    for client in audit.clients:
        fixes = {line.email: group for group in client.groups for line in group.accounts}
        for line in client.accounts:
            group = fixes.get(line.email)
            rows.append(
                {
                    "client": client.tag,
                    "email": line.email,
                    "name": line.name,
                    "state": line.state.value,
                    "since": _iso(line.since),
                    "checked_at": _iso(line.checked_at),
                    "smtp": line.outcome_text("smtp"),
                    "imap": line.outcome_text("imap"),
                    "canary": line.canary_cause or line.canary_status or "",
                    "cause": f"{group.protocol.upper()}: {group.title}" if group else "",
                    "fix": " | ".join(group.fix) if group else "",
                    "warnings": " | ".join(line.warnings),
                }
            )
    return rows


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""
