"""`mailconsole canary`: send a reply canary from each chosen account and report where it landed.

It sends real mail, so it runs only with `--yes` (the demo excepted). Results are recorded in the
results store (the demo's own in `--demo`), and a hold that is interrupted (Ctrl+C) is kept there
and finished by the next run for that account instead of sending a new message.
Exit status as `check`: 0 every canary ok, 1 any failed (the account is conditional), 2 any send
failed (SMTP: disconnected), 3 the canary could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.core import report
from console.core.canary import (
    CanaryEngine,
    CanaryEvent,
    CanaryFinished,
    CanaryProgress,
    CanaryResult,
    CanaryStatus,
    MemoryHolds,
)
from console.core.canary.holds import HoldStore
from console.core.diagnosis import advise
from console.core.model import Account, Protocol, State, Status
from console.core.providers import resolve_provider
from console.core.safe_text import csv_cell, one_line, visible
from console.core.store import Recorder, StoreError, results_path
from console.core.store.holds import StoredHolds

if TYPE_CHECKING:
    from console.cli import Session

DEMO_ARRIVAL_TIMEOUT = 6.0
"""The demo's lab delivers at once; its "never arrives" account should not take 5 minutes."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*$", re.I)


def hold_minutes(text: str) -> float:
    """`--hold`: minutes, fractions allowed (`0.1` = 6 s), or a unit (`45s`, `20m`, `1h`)."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (like 20, 0.5, 45s, 20m)")
    value, unit = float(match.group(1)), match.group(2).lower()
    return value / 60 if unit == "s" else value * 60 if unit == "h" else value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_parser(sub: Any, add_common: Callable[..., None]) -> None:
    canary = sub.add_parser(
        "canary",
        help="send a reply canary from each account and see where the reply lands",
        description="Sends one small message From each account to its reply mailbox and checks "
        "that it arrives in the tracked mailbox and stays there for the hold time, then deletes "
        "it. It sends real mail: headless runs need --yes (not with --demo). Exit status: 0 "
        "every canary ok, 1 any failed (conditional), 2 any send failed (disconnected), 3 the "
        "canary could not run.",
    )
    add_common(canary, default=argparse.SUPPRESS)
    canary.add_argument(
        "--account", action="append", default=[], metavar="EMAIL", help="only this account"
    )
    canary.add_argument("--tag", action="append", default=[], help="only accounts with this tag")
    canary.add_argument(
        "--hold",
        type=hold_minutes,
        metavar="MIN",
        help="minutes the canary must stay (fractions or units: 0.5, 45s, 20m; default from "
        "the account file, else 20)",
    )
    canary.add_argument(
        "--arrival-timeout",
        type=_seconds,
        metavar="S",
        help="seconds to wait for the canary to arrive (default 300)",
    )
    canary.add_argument("--format", choices=("json", "csv", "table"), default=None)
    canary.add_argument("--yes", action="store_true", help="send without asking (headless)")


def cmd_canary(args: argparse.Namespace, session: Session) -> int:
    from console.cli import UsageError, _load, select_accounts

    loaded = _load(session.config_path)
    accounts = select_accounts(loaded.accounts, args.tag, args.account)
    if not args.yes and not args.demo:
        raise UsageError(
            f"the canary sends a real message from each of the {len(accounts)} chosen "
            "account(s) to its reply mailbox (and deletes it afterwards); add --yes to send"
        )
    path = results_path(demo=session.demo or bool(args.demo), folder=session.state_dir)

    def say(message: str) -> None:
        sys.stderr.write(f"mailconsole: {visible(message)}\n")

    recorder = Recorder(path, report=say)
    holds: HoldStore
    try:
        stored = StoredHolds(path)
        stored.pending()
        holds = stored
    except (StoreError, OSError) as exc:
        sys.stderr.write(f"mailconsole: holds are kept for this run only ({exc})\n")
        holds = MemoryHolds()
    arrival = args.arrival_timeout or (DEMO_ARRIVAL_TIMEOUT if args.demo else 300.0)
    progress = sys.stderr.isatty()

    def on_event(event: CanaryEvent) -> None:
        if not progress:
            return
        if isinstance(event, CanaryProgress):
            sys.stderr.write(f"{event.email}: {event.progress.value}\n")
        elif isinstance(event, CanaryFinished):
            sys.stderr.write(f"{event.result.email}: {event.result.status.value}\n")

    engine = CanaryEngine(
        loaded.settings,
        secrets=session.secrets,
        holds=holds,
        on_event=on_event,
        arrival_timeout=arrival,
        hold=args.hold * 60 if args.hold is not None else None,
        allowed_hosts=session.allowed_hosts,
    )
    started = datetime.now(UTC)
    try:
        results = asyncio.run(engine.run(accounts))
    finally:
        if isinstance(holds, StoredHolds):
            holds.close()
    for result in results:
        if result.status is not CanaryStatus.SKIPPED:
            recorder.record_canary(result.email, result.to_dict(), datetime.now(UTC))
    recorder.close()
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt == "json":
        sys.stdout.write(to_json(accounts, results, started) + "\n")
    elif fmt == "csv":
        sys.stdout.write(to_csv(accounts, results))
    else:
        sys.stdout.write(to_table(accounts, results))
    return exit_code(results)


def recorded_canaries(session: Session, accounts: Sequence[Account]) -> dict[str, dict[str, Any]]:
    """The last recorded canary of each account (by lower-cased email), for `check`'s JSON.

    Only an existing store is read (a check never creates one just to look)."""
    path = results_path(demo=session.demo, folder=session.state_dir)
    if not path.exists():
        return {}
    recorder = Recorder(path, report=lambda _message: None)
    found: dict[str, dict[str, Any]] = {}
    try:
        for account in accounts:
            for check in recorder.recent(account.email, limit=50):  # newest first
                if check.canary is not None:
                    canary = dict(check.canary)
                    canary["recorded_at"] = check.checked_at.isoformat().replace("+00:00", "Z")
                    found[account.email.lower()] = canary
                    break
    finally:
        recorder.close()
    return found


def state_of(result: CanaryResult) -> State | None:
    """The account state a canary proves: a failed send disconnected, a failed canary
    conditional (DESIGN section 10); skipped proves nothing."""
    if result.status is CanaryStatus.SKIPPED:
        return None
    if result.send is not None and result.send.status is not Status.OK:
        return State.DISCONNECTED
    if result.status is CanaryStatus.OK:
        return State.CONNECTED
    return State.CONDITIONAL


def exit_code(results: Sequence[CanaryResult]) -> int:
    states = {state_of(r) for r in results}
    if State.DISCONNECTED in states:
        return 2
    if State.CONDITIONAL in states:
        return 1
    return 0


def canary_dict(result: CanaryResult, provider: str | None) -> dict[str, Any]:
    out = result.to_dict()
    if result.cause is not None and result.status is CanaryStatus.FAILED:
        protocol = Protocol.SMTP if state_of(result) is State.DISCONNECTED else Protocol.IMAP
        advice = advise(result.cause, protocol, provider)
        out["title"] = advice.title
        out["explanation"] = advice.explanation
        out["fix"] = list(advice.fix)
    return out


def to_json(accounts: Sequence[Account], results: Sequence[CanaryResult], started: datetime) -> str:
    rows = []
    for account, result in zip(accounts, results, strict=True):
        provider = account.provider or resolve_provider(account)
        state = state_of(result)
        rows.append(
            {
                "email": account.email,
                "name": account.name,
                "tags": list(account.tags),
                "provider": provider,
                "state": state.value if state else None,
                "smtp": report.protocol_dict(result.send, provider) if result.send else None,
                "canary": canary_dict(result, provider),
            }
        )
    counts = {s.value: 0 for s in (State.CONNECTED, State.CONDITIONAL, State.DISCONNECTED)}
    for result in results:
        state = state_of(result)
        if state is not None:
            counts[state.value] += 1
    return report.json_document(started, rows, counts)


CSV_FIELDS = (
    "email",
    "status",
    "cause",
    "phase",
    "folder",
    "latency_ms",
    "cleaned",
    "spf",
    "dkim",
    "dkim_domain",
    "dkim_selector",
    "dmarc",
    "message",
)


def to_csv(accounts: Sequence[Account], results: Sequence[CanaryResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(f) for f in CSV_FIELDS])
    for result in results:
        auth = result.auth_results
        row = [
            result.email,
            result.status.value,
            result.cause.value if result.cause else "",
            result.phase.value if result.phase else "",
            result.folder or "",
            "" if result.latency_ms is None else result.latency_ms,
            str(result.cleaned).lower(),
            *(
                (getattr(auth, k) or "") if auth else ""
                for k in ("spf", "dkim", "dkim_domain", "dkim_selector", "dmarc")
            ),
            result.message or "",
        ]
        writer.writerow([csv_cell(one_line(str(v))) for v in row])
    return buf.getvalue()


def to_table(accounts: Sequence[Account], results: Sequence[CanaryResult]) -> str:
    rows = [("ACCOUNT", "CANARY", "WHERE", "LATENCY", "WHY")]
    for account, result in zip(accounts, results, strict=True):
        provider = account.provider or resolve_provider(account)
        why = result.message or ""
        if result.cause is not None and result.status is CanaryStatus.FAILED:
            why = f"{canary_dict(result, provider).get('title', '')}: {why}"
        latency = f"{result.latency_ms} ms" if result.latency_ms is not None else "-"
        status = result.status.value + (f" ({result.cause.value})" if result.cause else "")
        rows.append((account.email, status, result.folder or "-", latency, why))
    widths = [max(len(visible(r[i], keep_newlines=False)) for r in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [
            visible(c, keep_newlines=False).ljust(w) for c, w in zip(row[:4], widths, strict=True)
        ]
        lines.append("  ".join([*cells, visible(row[4], keep_newlines=False)]).rstrip())
        if row is not rows[0]:
            result = results[rows.index(row) - 1]
            for warning in result.warnings:
                lines.append("    warning: " + visible(warning, keep_newlines=False))
    return "\n".join(lines) + "\n"
