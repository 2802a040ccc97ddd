"""The import plan: every row with its action (add, update, skip, error), its problems, and after
the pre-flight its would-be state and cause. Nothing is saved here (commit.py does that).

Duplicates are decided explicitly: the same email twice in the file with the same settings is
skipped after the first; with different settings every such row is an error (which one is right
is the user's call). An email already in the account file is updated or skipped as the user
chose with `on_duplicate`; without a choice it is an error that says to choose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from console.core.config_validate import validate
from console.core.diagnosis import advise
from console.core.model import (
    Account,
    AccountResult,
    Cause,
    Protocol,
    ServerSettings,
    Settings,
    State,
    Status,
)
from console.core.providers import resolve_provider
from console.core.runner import Runner, RunnerEvent
from console.core.secrets import SecretProvider, fetch_secret

from .mapping import ColumnMap, detect, named
from .reader import Malformed, Table, read_table
from .rows import Candidate, Problem, build


class Action(StrEnum):
    ADD = "add"
    UPDATE = "update"
    SKIP = "skip"
    ERROR = "error"


class OnDuplicate(StrEnum):
    UPDATE = "update"
    SKIP = "skip"
    ADD = "add"


@dataclass
class PlanRow:
    """One data row of the file and what the import would do with it."""

    candidate: Candidate
    action: Action
    account: Account | None = None
    result: AccountResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.candidate.line

    @property
    def email(self) -> str | None:
        return self.candidate.email

    @property
    def problems(self) -> list[Problem]:
        return self.candidate.problems

    @property
    def state(self) -> State | None:
        return self.result.state if self.result else None

    def failure(self) -> tuple[Protocol, Cause] | None:
        """The protocol and cause that keep this account from `connected`, SMTP first."""
        if self.result is None:
            return None
        for check in (self.result.smtp, self.result.imap):
            if check.status in (Status.FAILED, Status.MISSING) and check.cause is not None:
                return check.protocol, check.cause
        return None

    @property
    def cause(self) -> Cause | None:
        failure = self.failure()
        return failure[1] if failure else None

    @property
    def failed(self) -> bool:
        """An error row, or one whose test did not come out connected."""
        if self.action is Action.ERROR:
            return True
        return self.result is not None and self.result.state is not State.CONNECTED


@dataclass
class ImportPlan:
    """What `mailconsole import` shows before it saves anything."""

    source: Path | None
    table: Table
    columns: ColumnMap
    rows: list[PlanRow]
    notes: list[str]
    tested: bool = False

    def counts(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for row in self.rows:
            counts[row.action.value] += 1
        return counts

    def to_commit(self) -> list[PlanRow]:
        return [r for r in self.rows if r.action in (Action.ADD, Action.UPDATE)]

    def passwords(self) -> list[str]:
        """Every password read from the file (for tests that prove none leaks)."""
        return [p for r in self.rows for p in r.candidate.passwords.values()]


def file_tag(path: Path | None) -> str | None:
    """A tag from the file name: "Acme Clients.csv" -> "acme-clients"."""
    if path is None:
        return None
    tag = re.sub(r"[^0-9a-z]+", "-", path.stem.casefold()).strip("-")
    return tag or None


def plan_import(
    data: bytes,
    *,
    existing: Sequence[Account] = (),
    source: Path | None = None,
    on_duplicate: OnDuplicate | str | None = None,
    tags: Sequence[str] = (),
    mapping: str | ColumnMap | None = None,
    password_command: str | None = None,
    separator: str | None = None,
    server_defaults: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> ImportPlan:
    """Read, map, validate and de-duplicate; raises reader.ReadError or MappingError only."""
    table = read_table(data, separator=separator)
    if isinstance(mapping, ColumnMap):
        columns = mapping
    elif mapping:
        columns = named(mapping, table.header)
    else:
        columns = detect(table.header)
    if password_command:
        columns = replace(columns, password_command=password_command)
    notes = list(columns.notes)
    if columns.index("email") is None:
        notes.append(
            "no column is mapped to email: name the header (email, From email, SMTP email, ...) "
            "or choose a mapping"
        )
    if columns.ignored:
        # Header names are shown only when the header is one (an email column was found): a
        # file without a header row has data, maybe a password, where the names would be.
        has_header = columns.index("email") is not None
        listed = ", ".join(
            f"{i + 1}" + (f" ({_header_text(h)})" if has_header and _header_text(h) else "")
            for i, h in columns.ignored
        )
        notes.append(f"column(s) not used: {listed}")
    tag_column = columns.index("tags") is not None
    extra_tags = list(tags)
    if not extra_tags and not tag_column and (name_tag := file_tag(source)):
        extra_tags = [name_tag]
    width = len(table.header)
    rows: list[PlanRow] = []
    for item in table.rows:
        if isinstance(item, Malformed):
            cand = Candidate(item.line, ())
            cand.problems.append(Problem(f"column {item.column}", item.message))
            rows.append(PlanRow(cand, Action.ERROR))
            continue
        cand = build(item, columns, width, extra_tags=extra_tags, server_defaults=server_defaults)
        notes.extend(cand.notes)
        rows.append(PlanRow(cand, Action.ADD if cand.ok else Action.ERROR))
    _dedupe_in_file(rows)
    _accounts(rows, columns, base_dir)
    _shared_logins(rows)
    _against_existing(rows, existing, OnDuplicate(on_duplicate) if on_duplicate else None)
    return ImportPlan(source, table, columns, rows, notes)


def _header_text(header: str) -> str:
    """A header is shown in notes unless it looks like data (an address: no header row)."""
    text = header.strip()
    if not text or "@" in text or len(text) > 40:
        return ""
    return text


def _accounts(rows: list[PlanRow], columns: ColumnMap, base_dir: Path | None) -> None:
    """The model Account of each good row, through the account file's own validation (one call
    for the whole file; emails are unique among these rows by now)."""
    todo = [r for r in rows if r.action is Action.ADD]
    _settings, accounts, _issues = validate(
        {"account": [r.candidate.table for r in todo]}, base_dir=base_dir
    )
    by_email = {a.email.casefold(): a for a in accounts}
    for row in todo:
        account = by_email.get((row.email or "").casefold())
        if account is None or account.issues:
            for issue in account.issues if account else ():
                where = columns.header_of(issue.field or "") or issue.field
                row.problems.append(Problem(where, "is not valid in the account file"))
            if not row.problems:
                row.problems.append(Problem(None, "is not valid in the account file"))
            row.action = Action.ERROR
            continue
        row.account = account


def _settings_key(table: Mapping[str, Any]) -> tuple[Any, ...]:
    """Settings compared without regard to case (emails, hosts and usernames are case-blind)."""
    return tuple(sorted((k, repr(v).casefold()) for k, v in table.items()))


def _dedupe_in_file(rows: list[PlanRow]) -> None:
    by_email: dict[str, list[PlanRow]] = {}
    for row in rows:
        if row.email is not None and row.action is not Action.ERROR:
            by_email.setdefault(row.email.casefold(), []).append(row)
    for group in by_email.values():
        if len(group) == 1:
            continue
        first = group[0]
        same = all(
            _settings_key(r.candidate.table) == _settings_key(first.candidate.table)
            and r.candidate.passwords.values() == first.candidate.passwords.values()
            for r in group
        )
        if same:
            for row in group[1:]:
                row.action = Action.SKIP
                row.notes.append(f"same account and settings as line {first.line}")
            continue
        lines = [r.line for r in group]
        for row in group:
            others = ", ".join(str(n) for n in lines if n != row.line)
            row.problems.append(
                Problem(
                    None,
                    f"the same email is on line(s) {others} with different settings: keep one",
                )
            )
            row.action = Action.ERROR


def _shared_logins(rows: list[PlanRow]) -> None:
    """Two accounts that log in as the same user on the same host share one keyring entry; with
    different passwords in the file, the second would overwrite the first."""
    seen: dict[str, tuple[int, str]] = {}
    for row in rows:
        if row.action is not Action.ADD or row.account is None:
            continue
        for protocol in Protocol:
            server = row.account.settings_for(protocol)
            password = row.candidate.passwords.get(protocol)
            if server is None or password is None:
                continue
            first = seen.setdefault(server.keyring_key.casefold(), (row.line, password))
            if first[0] != row.line and first[1] != password:
                row.problems.append(
                    Problem(
                        None,
                        f"{protocol.name} logs in as the same user on the same server as line "
                        f"{first[0]}, with another password: one keyring entry cannot hold both",
                    )
                )
                row.action = Action.ERROR
                break


def _against_existing(
    rows: list[PlanRow], existing: Sequence[Account], on_duplicate: OnDuplicate | None
) -> None:
    known = {a.email.casefold() for a in existing}
    for row in rows:
        if row.action is not Action.ADD or row.email is None or row.email.casefold() not in known:
            continue
        if on_duplicate is OnDuplicate.UPDATE:
            row.action = Action.UPDATE
        elif on_duplicate is OnDuplicate.SKIP:
            row.action = Action.SKIP
            row.notes.append("already in the account file; skipped")
        else:
            hint = (
                "emails are unique: choose update or skip"
                if on_duplicate is OnDuplicate.ADD
                else "choose whether to update or skip it (--on-duplicate update|skip)"
            )
            row.problems.append(Problem(None, f"already in the account file; {hint}"))
            row.action = Action.ERROR


# ---------------------------------------------------------------------------------------------
# Pre-flight


def held_secrets(plan: ImportPlan, fallback: SecretProvider = fetch_secret) -> SecretProvider:
    """The file's passwords by keyring key (memory only); anything else from `fallback`."""
    held: dict[str, str] = {}
    for row in plan.to_commit():
        if row.account is None:
            continue
        for protocol in Protocol:
            server = row.account.settings_for(protocol)
            password = row.candidate.passwords.get(protocol)
            if server is not None and password is not None:
                held[server.keyring_key] = password

    async def secrets(settings: ServerSettings) -> str:
        password = held.get(settings.keyring_key)
        if password is not None and not settings.password_command:
            return password
        return await fallback(settings)

    return secrets


async def preflight(
    plan: ImportPlan,
    settings: Settings,
    *,
    fallback: SecretProvider = fetch_secret,
    allowed_hosts: frozenset[str] | None = None,
    on_event: Callable[[RunnerEvent], None] | None = None,
    runner: Runner | None = None,
) -> ImportPlan:
    """Test every row that would be added or updated, with the runner's limits; saves nothing."""
    rows = [r for r in plan.to_commit() if r.account is not None]
    runner = runner or Runner(
        settings,
        secrets=held_secrets(plan, fallback),
        on_event=on_event,
        allowed_hosts=allowed_hosts,
    )
    results = await runner.check_accounts([r.account for r in rows if r.account is not None])
    for row, result in zip(rows, results, strict=True):
        row.result = result
    plan.tested = True
    return plan


def fix_text(row: PlanRow) -> tuple[str, str]:
    """(cause title, fix steps) for a failed row, for the failed-rows file and the table."""
    if row.action is Action.ERROR:
        causes = "; ".join(
            f"{p.column}: {p.message}" if p.column else p.message for p in row.problems
        )
        return causes or "invalid row", "correct the cells named, then import the row again"
    failure = row.failure()
    if failure is None or row.account is None:
        return "", ""
    protocol, cause = failure
    provider = row.account.provider or resolve_provider(row.account)
    advice = advise(cause, protocol, provider)
    return f"{protocol.name}: {advice.title}", " | ".join(advice.fix)
