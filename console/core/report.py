"""Headless reports of a check run: JSON (DESIGN section 6, contract), CSV and a plain table.

Server text goes into every format verbatim except for control characters, which are escaped so no
terminal escape sequence from a server can reach the user's terminal.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from console.core.diagnosis import advise
from console.core.model import Account, AccountResult, CheckResult, State, Status
from console.core.providers import ProviderDecision, decide_provider, resolve_provider
from console.core.safe_text import csv_cell, json_dumps_safe, one_line, visible


def exit_code(results: Sequence[AccountResult]) -> int:
    """Monitoring-plugin style: 0 all connected, 1 any conditional, 2 any disconnected."""
    states = {r.state for r in results}
    if State.DISCONNECTED in states:
        return 2
    if State.CONDITIONAL in states:
        return 1
    return 0


def summary(results: Sequence[AccountResult]) -> dict[str, int]:
    counts = Counter(r.state for r in results)
    return {
        s.value: counts.get(s, 0) for s in (State.CONNECTED, State.CONDITIONAL, State.DISCONNECTED)
    }


def server_provider(account: Account, result: CheckResult) -> ProviderDecision:
    """The provider of the server behind `result`: as decided in the check, else decided now by
    the same rule (results recorded before results carried it)."""
    if result.provider_rule is not None:
        return ProviderDecision(result.provider, result.provider_rule)
    return decide_provider(account, result.protocol)


def protocol_dict(
    result: CheckResult, provider: str | None, decision: ProviderDecision | None = None
) -> dict[str, Any]:
    """One protocol's result; `decision` (the server's provider) wins over `provider`."""
    if decision is not None:
        provider = decision.provider
    out: dict[str, Any] = {
        "status": result.status.value,
        "cause": result.cause.value if result.cause else None,
        "stage": result.stage.value if result.stage else None,
        "message": result.message,
        "elapsed_ms": result.elapsed_ms,
        "steps": [
            {"stage": s.stage.value, "ok": s.ok, "elapsed_ms": s.elapsed_ms, "detail": s.detail}
            for s in result.steps
        ],
        "warnings": list(result.warnings),
        "facts": {k: list(v) if isinstance(v, tuple) else v for k, v in result.facts.items()},
    }
    if decision is not None:  # additive keys (DESIGN section 6)
        out["provider"] = decision.provider
        out["provider_rule"] = decision.rule
    if result.cause is not None and result.status in (Status.FAILED, Status.MISSING):
        advice = advise(result.cause, result.protocol, provider)
        out["title"] = advice.title
        out["explanation"] = advice.explanation
        out["fix"] = list(advice.fix)
    return out


def account_dict(
    account: Account, result: AccountResult, canary: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    provider = account.provider or resolve_provider(account)
    out = {
        "email": account.email,
        "name": account.name,
        "tags": list(account.tags),
        "provider": provider,
        "state": result.state.value,
        "warmup_ready": result.warmup_ready,
        "smtp": protocol_dict(result.smtp, provider, server_provider(account, result.smtp)),
        "imap": protocol_dict(result.imap, provider, server_provider(account, result.imap)),
    }
    if canary is not None:  # the last recorded reply canary (DESIGN section 10)
        out["canary"] = dict(canary)
        if out["state"] == State.CONNECTED.value and canary.get("status") == "failed":
            out["state"] = State.CONDITIONAL.value  # replies are not proven to be seen
    return out


def to_json(
    accounts: Sequence[Account],
    results: Sequence[AccountResult],
    checked_at: datetime,
    canaries: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """`canaries`: the last recorded canary per email (lower-cased), added where there is one."""
    canaries = canaries or {}
    rows = [
        account_dict(a, r, canaries.get(a.email.lower()))
        for a, r in zip(accounts, results, strict=True)
    ]
    counts = summary(results)
    if canaries:  # a failed canary moved some accounts from connected to conditional
        counts = {state: sum(1 for row in rows if row["state"] == state) for state in counts}
    return json_document(checked_at, rows, counts)


def json_document(
    checked_at: datetime, rows: Sequence[Mapping[str, Any]], counts: Mapping[str, int]
) -> str:
    """The JSON of a run (DESIGN section 6's shape): time, one object per account, the counts."""
    doc = {
        "checked_at": checked_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accounts": rows,
        "summary": counts,
    }
    return json_dumps_safe(doc, indent=2)


CSV_FIELDS = (
    "email",
    "name",
    "tags",
    "provider",
    "state",
    "warmup_ready",
    "smtp_status",
    "smtp_cause",
    "smtp_stage",
    "smtp_message",
    "smtp_elapsed_ms",
    "imap_status",
    "imap_cause",
    "imap_stage",
    "imap_message",
    "imap_elapsed_ms",
)


def to_csv(accounts: Sequence[Account], results: Sequence[AccountResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(f) for f in CSV_FIELDS])
    for account, result in zip(accounts, results, strict=True):
        row: list[Any] = [
            account.email,
            account.name or "",
            ";".join(account.tags),
            account.provider or resolve_provider(account) or "",
            result.state.value,
            str(result.warmup_ready).lower(),
        ]
        for r in (result.smtp, result.imap):
            row += [
                r.status.value,
                r.cause.value if r.cause else "",
                r.stage.value if r.stage else "",
                one_line(r.message or ""),
                r.elapsed_ms,
            ]
        writer.writerow([csv_cell(c) for c in row])
    return buf.getvalue()


def _cell(result: CheckResult) -> str:
    if result.status is Status.OK:
        return f"ok {result.elapsed_ms}ms"
    if result.cause is None:
        return result.status.value
    return f"{result.status.value}: {result.cause.value}"


def to_table(accounts: Sequence[Account], results: Sequence[AccountResult]) -> str:
    """A fixed-width text table for terminals: one line per account, the cause's title last."""
    rows = [("STATE", "ACCOUNT", "SMTP", "IMAP", "WHY")]
    for account, result in zip(accounts, results, strict=True):
        failing = next(
            (r for r in (result.smtp, result.imap) if r.cause and r.status is not Status.OK), None
        )
        why = ""
        if failing is not None and failing.cause is not None:
            provider = server_provider(account, failing).provider
            title = advise(failing.cause, failing.protocol, provider).title
            why = f"{failing.protocol.value.upper()}: {title}"
        rows.append(
            (result.state.value, account.email, _cell(result.smtp), _cell(result.imap), why)
        )
    widths = [max(len(visible(r[i], keep_newlines=False)) for r in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [
            visible(c, keep_newlines=False).ljust(w) for c, w in zip(row[:4], widths, strict=True)
        ]
        lines.append("  ".join([*cells, visible(row[4], keep_newlines=False)]).rstrip())
    counts = summary(results)
    lines.append("")
    lines.append(", ".join(f"{n} {state}" for state, n in counts.items()))
    return "\n".join(lines) + "\n"
