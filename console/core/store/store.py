"""The results store: one SQLite file, safe for several processes writing at once.

WAL lets readers and one writer work side by side; every write is one `BEGIN IMMEDIATE`
transaction, and a busy writer waits (busy timeout) instead of failing. Times are whole seconds
since the epoch, UTC.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.core.model import (
    AccountResult,
    Cause,
    Protocol,
    Stage,
    State,
    Status,
    account_state,
)
from console.core.store.records import (
    LastKnown,
    Outcome,
    Recorded,
    StoredCheck,
    kept_canary,
    kept_facts,
    key,
    remembered_result,
    state_with_canary,
)
from console.core.store.schema import StoreError, migrate

BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another process's transaction before giving up."""

SQLITE_HEADER = b"SQLite format 3\x00"
COMPACT_CHUNK = 200
"""Accounts compacted per transaction (about 20-50 ms with 90 days of 15-minute checks)."""

_STATE_CODE = {State.CONNECTED: 1, State.CONDITIONAL: 2, State.DISCONNECTED: 3}
_CODE_STATE = {v: k for k, v in _STATE_CODE.items()}


@dataclass(frozen=True)
class Compacted:
    """What one compaction did."""

    checks_removed: int
    accounts_removed: int = 0


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


@functools.lru_cache(maxsize=4096)
def _moment(seconds: int) -> datetime:
    """Cached: a fleet checked in rounds shares a handful of check times."""
    return datetime.fromtimestamp(seconds, tz=UTC)


class ResultsStore:
    """An open results store. Not shared between threads; each process opens its own."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._outcome_ids: dict[tuple[str, str, str], int] = {}
        self._outcomes: dict[int, Outcome] = {}
        self._account_ids: dict[str, int] = {}

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> ResultsStore:
        """Open (and create or migrate) the store at `path`; StoreError names the file if not.

        A file that is not ours is never written to: not even the WAL switch touches it.
        """
        path = Path(path)
        if not create and not path.exists():
            raise StoreError(f"{path} does not exist yet: nothing has been recorded")
        try:
            with path.open("rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            head = b""
        except OSError as exc:
            raise StoreError(
                f"{path} cannot be read ({exc.strerror}): results are not recorded"
            ) from exc
        if head and head != SQLITE_HEADER:
            raise StoreError(
                f"{path} is not an SQLite database (damaged, or another program's file). It is "
                "left as it is and results are not recorded: move it elsewhere (for example "
                f"mv '{path}' '{path}.bak') and mailconsole starts a new one."
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{path} cannot be opened ({exc}): results are not recorded") from exc
        try:
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db, path)  # checks the file is ours before anything is written
            _use_wal(db)
            db.execute("PRAGMA synchronous = NORMAL")
        except StoreError:
            db.close()
            raise
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(
                f"{path} cannot be used ({exc}). It is left as it is and results are not "
                f"recorded: move it elsewhere (for example mv '{path}' '{path}.bak') and "
                "mailconsole starts a new one."
            ) from exc
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- small lookups ------------------------------------------------------------------------

    def _account_id(self, email: str, now: int) -> int:
        found = self._account_ids.get(email)
        if found is not None:
            return found
        row = self._db.execute("SELECT id FROM accounts WHERE email = ?", (email,)).fetchone()
        if row is None:
            cursor = self._db.execute(
                "INSERT INTO accounts (email, first_seen) VALUES (?, ?)", (email, now)
            )
            assert cursor.lastrowid is not None
            account = int(cursor.lastrowid)
        else:
            account = int(row[0])
        self._account_ids[email] = account
        return account

    def _outcome_id(self, outcome: Outcome | None) -> int | None:
        if outcome is None:
            return None
        words = (
            outcome.status.value,
            outcome.cause.value if outcome.cause else "",
            outcome.stage.value if outcome.stage else "",
        )
        found = self._outcome_ids.get(words)
        if found is None:
            self._db.execute(
                "INSERT OR IGNORE INTO outcomes (status, cause, stage) VALUES (?, ?, ?)", words
            )
            row = self._db.execute(
                "SELECT id FROM outcomes WHERE status = ? AND cause = ? AND stage = ?", words
            ).fetchone()
            found = self._outcome_ids[words] = int(row[0])
        return found

    def _outcome(self, outcome_id: int | None, elapsed_ms: int | None) -> Outcome | None:
        if outcome_id is None:
            return None
        known = self._outcomes.get(outcome_id)
        if known is None:
            self._load_outcomes()
            known = self._outcomes.get(outcome_id)
            if known is None:
                return None
        return Outcome(known.status, known.cause, known.stage, elapsed_ms)

    def _load_outcomes(self) -> None:
        for oid, status, cause, stage in self._db.execute(
            "SELECT id, status, cause, stage FROM outcomes"
        ):
            try:
                self._outcomes[oid] = Outcome(
                    Status(status), Cause(cause) if cause else None, Stage(stage) if stage else None
                )
            except ValueError:  # a word a newer version wrote: shown as unknown
                self._outcomes[oid] = Outcome(Status.FAILED, Cause.UNKNOWN, None)

    # -- recording ----------------------------------------------------------------------------

    def record(self, result: AccountResult, *, canary: Mapping[str, Any] | None = None) -> Recorded:
        """Record one finished check (and its canary, if one ran with it)."""
        return self.record_many([result], canaries={result.email: canary} if canary else None)[0]

    def record_many(
        self,
        results: Sequence[AccountResult],
        *,
        canaries: Mapping[str, Mapping[str, Any] | None] | None = None,
    ) -> list[Recorded]:
        """Record finished checks in one transaction; `canaries` by the result's email."""
        rows = []
        for result in results:
            canary = kept_canary((canaries or {}).get(result.email))
            rows.append(
                _Row(
                    email=key(result.email),
                    at=_seconds(result.checked_at),
                    state=state_with_canary(result.state, canary),
                    smtp=Outcome.of(result.smtp),
                    imap=Outcome.of(result.imap),
                    warnings=(*result.smtp.warnings, *result.imap.warnings),
                    canary=canary,
                    facts={
                        p: f
                        for p, f in (
                            ("smtp", kept_facts(result.smtp)),
                            ("imap", kept_facts(result.imap)),
                        )
                        if f
                    },
                )
            )
        return self._write(rows)

    def record_canary(
        self, email: str, canary: Mapping[str, Any], *, checked_at: datetime
    ) -> Recorded:
        """A canary run on its own: a new check row with the last known SMTP/IMAP outcomes."""
        email = key(email)
        last = self.last_known([email]).get(email)
        kept = kept_canary(canary)
        base = last.check.state if last is not None else State.CONNECTED
        if (
            last is not None
            and last.check.canary is not None
            and last.check.state is (State.CONDITIONAL)
        ):
            # the last row was conditional only because of its canary: judge this one afresh
            base = _base_state(last.check)
        row = _Row(
            email=email,
            at=_seconds(checked_at),
            state=state_with_canary(base, kept),
            smtp=last.check.smtp if last else None,
            imap=last.check.imap if last else None,
            warnings=last.check.warnings if last else (),
            canary=kept,
            facts=dict(last.facts) if last else {},
        )
        return self._write([row])[0]

    def _write(self, rows: Sequence[_Row]) -> list[Recorded]:
        db = self._db
        out: list[Recorded] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                out.append(self._insert(row))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return out

    def _insert(self, row: _Row) -> Recorded:
        db = self._db
        account = self._account_id(row.email, row.at)
        last = db.execute(
            "SELECT state, since, checked_at FROM latest WHERE account = ?", (account,)
        ).fetchone()
        previous = _CODE_STATE.get(last[0]) if last else None
        changed = previous is not row.state
        smtp, imap = self._outcome_id(row.smtp), self._outcome_id(row.imap)
        warnings = json.dumps(list(row.warnings)) if row.warnings else None
        canary = json.dumps(row.canary) if row.canary is not None else None
        at = row.at
        for _ in range(60):  # two checks in the same second: the later one moves on a second
            try:
                db.execute(
                    "INSERT INTO checks (account, checked_at, state, changed, smtp, imap, "
                    "smtp_ms, imap_ms, warnings, canary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        account,
                        at,
                        _STATE_CODE[row.state],
                        int(changed),
                        smtp,
                        imap,
                        row.smtp.elapsed_ms if row.smtp else None,
                        row.imap.elapsed_ms if row.imap else None,
                        warnings,
                        canary,
                    ),
                )
                break
            except sqlite3.IntegrityError:
                at += 1
        since: int | None = None
        if last is None or at >= last[2]:
            since = at if changed or last is None else last[1]
            db.execute(
                "INSERT OR REPLACE INTO latest (account, checked_at, state, since, smtp, imap, "
                "smtp_ms, imap_ms, warnings, facts, canary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account,
                    at,
                    _STATE_CODE[row.state],
                    since,
                    smtp,
                    imap,
                    row.smtp.elapsed_ms if row.smtp else None,
                    row.imap.elapsed_ms if row.imap else None,
                    warnings,
                    json.dumps(row.facts) if row.facts else None,
                    canary,
                ),
            )
        return Recorded(
            row.email, row.state, previous, changed, _moment(since) if since is not None else None
        )

    # -- reading ------------------------------------------------------------------------------

    def _ids(self, emails: Iterable[str] | None) -> dict[int, str]:
        """Account id -> email, for all accounts or the given emails."""
        rows = self._db.execute("SELECT id, email FROM accounts").fetchall()
        if emails is None:
            return {i: e for i, e in rows}
        wanted = {key(e) for e in emails}
        return {i: e for i, e in rows if e in wanted}

    def last_known(self, emails: Iterable[str] | None = None) -> dict[str, LastKnown]:
        """The newest check per account (all accounts, or these emails), by lower-cased email."""
        ids = self._ids(emails)
        self._load_outcomes()
        out: dict[str, LastKnown] = {}
        for row in self._db.execute(
            "SELECT account, checked_at, state, since, smtp, imap, smtp_ms, imap_ms, warnings, "
            "facts, canary FROM latest"
        ):
            email = ids.get(row[0])
            if email is None:
                continue
            check = StoredCheck(
                email=email,
                checked_at=_moment(row[1]),
                state=_CODE_STATE[row[2]],
                changed=row[1] == row[3],
                smtp=self._outcome(row[4], row[6]),
                imap=self._outcome(row[5], row[7]),
                warnings=tuple(json.loads(row[8])) if row[8] else (),
                canary=json.loads(row[10]) if row[10] else None,
            )
            facts = json.loads(row[9]) if row[9] else {}
            out[email] = LastKnown(check, _moment(row[3]), facts)
        return out

    def last_results(self) -> dict[str, tuple[AccountResult, datetime]]:
        """The console's first paint: per account (lower-cased email) its last check as an
        AccountResult without server text, and since when its state holds. The same data as
        `last_known()`, built with a third of the objects (10,000 accounts at start-up)."""
        ids = self._ids(None)
        self._load_outcomes()
        outcomes = self._outcomes
        out: dict[str, tuple[AccountResult, datetime]] = {}
        for account, at, since, smtp, imap, smtp_ms, imap_ms, facts in self._db.execute(
            "SELECT account, checked_at, since, smtp, imap, smtp_ms, imap_ms, facts FROM latest"
        ):
            email = ids.get(account)
            if email is None:
                continue
            parsed = json.loads(facts) if facts else None
            result = AccountResult(
                email,
                remembered_result(Protocol.SMTP, outcomes.get(smtp), smtp_ms, parsed),
                remembered_result(Protocol.IMAP, outcomes.get(imap), imap_ms, parsed),
                _moment(at),
            )
            out[email] = (result, _moment(since))
        return out

    def history(
        self,
        emails: Iterable[str] | None = None,
        *,
        since: datetime | None = None,
        changes_only: bool = False,
    ) -> list[StoredCheck]:
        """Recorded checks, oldest first (compacted ones are gone; state changes never are)."""
        ids = self._ids(emails)
        self._load_outcomes()
        where = ["checked_at >= ?"]
        params: list[Any] = [_seconds(since) if since else 0]
        if changes_only:
            where.append("changed = 1")
        if emails is not None:
            if not ids:
                return []
            where.append(f"account IN ({','.join('?' * len(ids))})")
            params += list(ids)
        sql = (
            "SELECT account, checked_at, state, changed, smtp, imap, smtp_ms, imap_ms, warnings, "
            f"canary FROM checks WHERE {' AND '.join(where)} ORDER BY checked_at, account"
        )
        return [self._check(ids, row) for row in self._db.execute(sql, params) if row[0] in ids]

    def recent(self, email: str, limit: int = 30) -> list[StoredCheck]:
        """The last `limit` checks of one account, oldest first."""
        ids = self._ids([email])
        if not ids:
            return []
        self._load_outcomes()
        rows = self._db.execute(
            "SELECT account, checked_at, state, changed, smtp, imap, smtp_ms, imap_ms, warnings, "
            "canary FROM checks WHERE account = ? ORDER BY checked_at DESC LIMIT ?",
            (next(iter(ids)), limit),
        ).fetchall()
        return [self._check(ids, row) for row in reversed(rows)]

    def changes(self, email: str, limit: int = 10) -> list[StoredCheck]:
        """The last `limit` state changes of one account, oldest first."""
        ids = self._ids([email])
        if not ids:
            return []
        self._load_outcomes()
        rows = self._db.execute(
            "SELECT account, checked_at, state, changed, smtp, imap, smtp_ms, imap_ms, warnings, "
            "canary FROM checks WHERE account = ? AND changed = 1 "
            "ORDER BY checked_at DESC LIMIT ?",
            (next(iter(ids)), limit),
        ).fetchall()
        return [self._check(ids, row) for row in reversed(rows)]

    def change_counts(self, since: datetime) -> dict[str, int]:
        """State changes per account since a moment (flapping), by lower-cased email."""
        ids = self._ids(None)
        rows = self._db.execute(  # an account's first check is a start, not a change
            "SELECT c.account, count(*) FROM checks c JOIN accounts a ON a.id = c.account "
            "WHERE c.changed = 1 AND c.checked_at >= ? AND c.checked_at != a.first_seen "
            "GROUP BY c.account",
            (_seconds(since),),
        )
        return {ids[a]: n for a, n in rows if a in ids}

    def _check(self, ids: Mapping[int, str], row: Sequence[Any]) -> StoredCheck:
        return StoredCheck(
            email=ids[row[0]],
            checked_at=_moment(row[1]),
            state=_CODE_STATE[row[2]],
            changed=bool(row[3]),
            smtp=self._outcome(row[4], row[6]),
            imap=self._outcome(row[5], row[7]),
            warnings=tuple(json.loads(row[8])) if row[8] else (),
            canary=json.loads(row[9]) if row[9] else None,
        )

    # -- retention ----------------------------------------------------------------------------

    def compact(self, now: datetime, keep_days: int) -> Compacted:
        """Checks older than `keep_days` become daily counts; state changes are kept forever."""
        removed = 0
        while True:
            step, done = self.compact_step(now, keep_days)
            removed += step
            if done:
                return Compacted(removed)

    def compact_step(
        self, now: datetime, keep_days: int, accounts: int = COMPACT_CHUNK
    ) -> tuple[int, bool]:
        """Compact the next `accounts` accounts in one short transaction: (checks removed,
        whether the round is complete). A round resumes where the last step stopped (also in
        another process), so a writer never waits long for it."""
        cutoff = _seconds(now - timedelta(days=keep_days))
        removed = 0
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'compact_cursor'").fetchone()
            cursor = int(row[0]) if row else 0
            ids = [
                a
                for (a,) in db.execute(
                    "SELECT id FROM accounts WHERE id > ? ORDER BY id LIMIT ?", (cursor, accounts)
                )
            ]
            for account in ids:
                db.execute(
                    "INSERT INTO daily (account, day, state, checks, max_ms) "
                    "SELECT account, checked_at / 86400, state, count(*), "
                    "max(max(coalesce(smtp_ms, 0), coalesce(imap_ms, 0))) FROM checks "
                    "WHERE account = ? AND checked_at < ? AND changed = 0 "
                    "GROUP BY checked_at / 86400, state "
                    "ON CONFLICT (account, day, state) DO UPDATE SET "
                    "checks = checks + excluded.checks, max_ms = max(max_ms, excluded.max_ms)",
                    (account, cutoff),
                )
                removed += db.execute(
                    "DELETE FROM checks WHERE account = ? AND checked_at < ? AND changed = 0",
                    (account, cutoff),
                ).rowcount
            done = len(ids) < accounts
            if done:
                db.execute("DELETE FROM meta WHERE key = 'compact_cursor'")
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_at', ?)",
                    (str(_seconds(now)),),
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('compact_cursor', ?)",
                    (str(ids[-1]),),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return removed, done

    def compacting(self) -> bool:
        """A compaction round has begun and is not finished."""
        row = self._db.execute("SELECT 1 FROM meta WHERE key = 'compact_cursor'").fetchone()
        return row is not None

    def compacted_at(self) -> datetime | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'compacted_at'").fetchone()
        return _moment(int(row[0])) if row else None

    def prune(self, keep: Iterable[str]) -> Compacted:
        """Forget every account not in `keep` (deleted or renamed in the account file)."""
        wanted = {key(e) for e in keep}
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            gone = [i for i, e in db.execute("SELECT id, email FROM accounts") if e not in wanted]
            removed = 0
            for account in gone:
                removed += db.execute("DELETE FROM checks WHERE account = ?", (account,)).rowcount
                db.execute("DELETE FROM daily WHERE account = ?", (account,))
                db.execute("DELETE FROM latest WHERE account = ?", (account,))
                db.execute("DELETE FROM accounts WHERE id = ?", (account,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._account_ids = {e: i for e, i in self._account_ids.items() if e in wanted}
        return Compacted(removed, len(gone))

    def daily(self, email: str) -> list[tuple[datetime, State, int]]:
        """Compacted days of one account: (day, state, number of checks), oldest first."""
        ids = self._ids([email])
        if not ids:
            return []
        rows = self._db.execute(
            "SELECT day, state, checks FROM daily WHERE account = ? ORDER BY day, state",
            (next(iter(ids)),),
        )
        return [(_moment(d * 86400), _CODE_STATE[s], n) for d, s, n in rows]


@dataclass(frozen=True)
class _Row:
    email: str
    at: int
    state: State
    smtp: Outcome | None
    imap: Outcome | None
    warnings: tuple[str, ...]
    canary: Mapping[str, Any] | None
    facts: Mapping[str, Mapping[str, Any]]


def _base_state(check: StoredCheck) -> State:
    """The state from SMTP and IMAP alone, before any canary."""
    if check.smtp is None:
        return State.DISCONNECTED
    imap = check.imap.status if check.imap else Status.MISSING
    return account_state(check.smtp.status, imap)


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL (once: the mode is kept in the file). The switch needs the file to
    itself and SQLite answers "database is locked" at once, without its busy handler, while
    another process has it open in the old mode (two processes opening a new store together):
    retried for up to BUSY_TIMEOUT_S."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
