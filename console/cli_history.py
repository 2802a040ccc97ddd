"""The results store on the command line: `history`, recording for `check` (--changed,
--no-record) and `report`. Registered by console/cli.py; kept here so cli.py stays small.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.cli import Session, UsageError, _add_common_options, _load, select_accounts
from console.core.audit import Audit, audit_states, build_audit, to_csv, to_html, to_markdown
from console.core.config import ConfigError, LoadedConfig, default_config_path, load_config
from console.core.model import Account, AccountResult, Settings, State
from console.core.safe_text import csv_cell, json_dumps_safe, visible
from console.core.store import (
    FlapPolicy,
    LastKnown,
    Recorder,
    ResultsStore,
    StoredCheck,
    StoreError,
    key,
    results_path,
)

_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_check_options(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "--changed",
        action="store_true",
        help="print only accounts whose state changed since their last recorded check",
    )
    check.add_argument(
        "--no-record", action="store_true", help="do not record the results in the history"
    )


def add_history_parser(sub: argparse._SubParsersAction[Any]) -> None:
    history = sub.add_parser(
        "history",
        help="recorded checks from the results store",
        description="Recorded checks, oldest first. Exit status as check's, from the last "
        "recorded state of the accounts shown: 0 all connected, 1 any conditional, 2 any "
        "disconnected, 3 the store could not be read.",
    )
    _add_common_options(history, default=argparse.SUPPRESS)
    history.add_argument("--account", action="append", default=[], metavar="EMAIL")
    history.add_argument("--tag", action="append", default=[], help="accounts with this tag")
    history.add_argument("--since", metavar="AGE", help="e.g. 30m, 12h, 7d, 2w, or 2026-12-01")
    history.add_argument("--format", choices=("json", "csv", "table"), default=None)
    history.add_argument(
        "--prune",
        action="store_true",
        help="forget accounts no longer in the account file and compact old checks",
    )


def store_path(args: argparse.Namespace, session: Session) -> Path:
    return results_path(demo=session.demo, folder=session.state_dir)


def _warn(message: str) -> None:
    sys.stderr.write(f"mailconsole: {visible(message, keep_newlines=False)}\n")


# -- check --changed / --no-record -------------------------------------------------------------


def record_check(
    args: argparse.Namespace,
    session: Session,
    settings: Settings,
    accounts: Sequence[Account],
    results: Sequence[AccountResult],
    now: datetime,
) -> tuple[list[Account], list[AccountResult]]:
    """Record the results (unless --no-record); with --changed keep only the news.

    A change is news when the account's state differs from its last recorded one, unless the
    account is flapping (then only the change that starts it is news). When the store cannot be
    read, every account is news: a cron job should over-report rather than stay silent.
    """
    if args.no_record and not args.changed:
        return list(accounts), list(results)
    recorder = Recorder(store_path(args, session), report=_warn, keep_days=settings.history_days)
    try:
        before = recorder.last_known([a.email for a in accounts]) if args.changed else {}
        if not args.no_record:
            recorder.record(results)
        if not args.changed:
            return list(accounts), list(results)
        if recorder.failed:
            return list(accounts), list(results)
        policy = FlapPolicy.of(settings)
        counts = recorder.change_counts(now - policy.window)
        shown = []
        for account, result in zip(accounts, results, strict=True):
            previous = before.get(key(account.email))
            if previous is not None and previous.state is result.state:
                continue
            count = counts.get(key(account.email), 0) + (1 if args.no_record else 0)
            if previous is None or policy.news(count):
                shown.append((account, result))
        return [a for a, _ in shown], [r for _, r in shown]
    finally:
        recorder.close()


# -- history -----------------------------------------------------------------------------------


def parse_since(text: str, now: datetime) -> datetime:
    match = _SINCE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give an age (30m, 12h, 7d, 2w) or a date (2026-12-01)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _config(session: Session, *, required: bool) -> LoadedConfig | None:
    if required:
        return _load(session.config_path)
    try:
        return load_config(session.config_path or default_config_path())
    except ConfigError:
        return None


def exit_code(states: Sequence[State]) -> int:
    if State.DISCONNECTED in states:
        return 2
    if State.CONDITIONAL in states:
        return 1
    return 0


def cmd_history(args: argparse.Namespace, session: Session) -> int:
    now = datetime.now(UTC)
    since = parse_since(args.since, now) if args.since else None
    loaded = _config(session, required=bool(args.tag or args.prune))
    emails: list[str] | None = None
    if args.tag:
        assert loaded is not None
        emails = [a.email for a in select_accounts(loaded.accounts, args.tag, [])]
        if args.account:
            wanted = {key(e) for e in args.account}
            emails = [e for e in emails if key(e) in wanted]
    elif args.account:
        emails = list(args.account)
    path = store_path(args, session)
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if not path.exists() and not args.prune:
        checks: list[StoredCheck] = []
        last: dict[str, LastKnown] = {}
    else:
        try:
            with ResultsStore.open(path) as store:
                if args.prune:
                    assert loaded is not None
                    _prune(store, loaded, now)
                checks = store.history(emails, since=since)
                last = store.last_known(emails)
        except StoreError as exc:
            raise UsageError(str(exc)) from exc
    if fmt == "json":
        doc = {"checks": [c.to_dict() for c in checks]}
        sys.stdout.write(json_text(doc) + "\n")
    elif fmt == "csv":
        sys.stdout.write(history_csv(checks))
    else:
        sys.stdout.write(history_table(checks))
    return exit_code([k.state for k in last.values()])


def _prune(store: ResultsStore, loaded: LoadedConfig, now: datetime) -> None:
    pruned = store.prune(a.email for a in loaded.accounts)
    days = loaded.settings.history_days
    compacted = store.compact(now, days)
    sys.stderr.write(
        f"pruned: {pruned.accounts_removed} account(s) no longer in the account file "
        f"({pruned.checks_removed} checks); {compacted.checks_removed} checks older than "
        f"{days} days compacted into daily counts\n"
    )


HISTORY_CSV_FIELDS = (
    "email",
    "checked_at",
    "state",
    "changed",
    "smtp_status",
    "smtp_cause",
    "smtp_stage",
    "smtp_elapsed_ms",
    "imap_status",
    "imap_cause",
    "imap_stage",
    "imap_elapsed_ms",
    "warnings",
    "canary_status",
    "canary_cause",
)


def history_csv(checks: Sequence[StoredCheck]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(f) for f in HISTORY_CSV_FIELDS])
    for c in checks:
        d = c.to_dict()
        row: list[object] = [d["email"], d["checked_at"], d["state"], str(c.changed).lower()]
        for protocol in ("smtp", "imap"):
            p = d[protocol] or {}
            row += [p.get("status"), p.get("cause"), p.get("stage"), p.get("elapsed_ms")]
        canary = d["canary"] or {}
        row += [" | ".join(c.warnings), canary.get("status"), canary.get("cause")]
        writer.writerow([csv_cell("" if v is None else str(v)) for v in row])
    return buf.getvalue()


def _outcome(check: StoredCheck, protocol: str) -> str:
    outcome = check.smtp if protocol == "smtp" else check.imap
    if outcome is None:
        return "-"
    if outcome.cause is None:
        return outcome.status.value
    return f"{outcome.status.value}: {outcome.cause.value}"


def history_table(checks: Sequence[StoredCheck]) -> str:
    """One line per check; `*` marks a state change."""
    if not checks:
        return "no recorded checks match\n"
    rows = [("CHECKED (UTC)", "", "ACCOUNT", "STATE", "SMTP", "IMAP", "CANARY")]
    for c in checks:
        canary = c.canary or {}
        rows.append(
            (
                c.checked_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                "*" if c.changed else "",
                c.email,
                c.state.value,
                _outcome(c, "smtp"),
                _outcome(c, "imap"),
                str(canary.get("cause") or canary.get("status") or ""),
            )
        )
    cells = [[visible(str(v), keep_newlines=False) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


def json_text(doc: object) -> str:
    """JSON with C1 controls escaped too (json escapes only C0), as `check` writes it."""
    return json_dumps_safe(doc, indent=2)


# -- report ------------------------------------------------------------------------------------


def add_report_parser(sub: argparse._SubParsersAction[Any]) -> None:
    rep = sub.add_parser(
        "report",
        help="an audit report per client (tag) from the recorded checks",
        description="Per client (tag): how many accounts are connected, conditional or "
        "disconnected and since when, the accounts grouped by cause with the fix once per "
        "group, certificate and quota warnings, check times. Nothing secret. Exit status as "
        "check's, from the last recorded states.",
    )
    _add_common_options(rep, default=argparse.SUPPRESS)
    rep.add_argument("--tag", action="append", default=[], help="only this client (repeatable)")
    rep.add_argument("--format", choices=("html", "md", "csv"), default=None)
    rep.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here, not stdout")


def report_format(fmt: str | None, output: Path | None) -> str:
    if fmt:
        return fmt
    suffix = output.suffix.lower() if output else ""
    return {".md": "md", ".markdown": "md", ".csv": "csv"}.get(suffix, "html")


def render_report(audit: Audit, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(audit)
    if fmt == "csv":
        return to_csv(audit)
    return to_html(audit)


def cmd_report(args: argparse.Namespace, session: Session) -> int:
    loaded = _load(session.config_path)
    known_tags = {t for a in loaded.accounts for t in a.tags}
    unknown = [t for t in args.tag if t not in known_tags]
    if unknown:
        raise UsageError(f"no account has the tag(s): {', '.join(unknown)}")
    path = store_path(args, session)
    known: dict[str, LastKnown] = {}
    if path.exists():
        try:
            with ResultsStore.open(path) as store:
                known = store.last_known()
        except StoreError as exc:
            raise UsageError(str(exc)) from exc
    if not known:
        _warn(f"nothing recorded yet in {path}: every account shows as unchecked")
    audit = build_audit(loaded.accounts, known, tags=args.tag, now=datetime.now(UTC))
    text = render_report(audit, report_format(args.format, args.output))
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{args.output}: {exc.strerror}") from exc
    else:
        sys.stdout.write(text)
    return exit_code(audit_states(audit))
