"""The results store: round trips, concurrency with real processes, migration, bad files,
retention, and that nothing secret reaches the file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.core.model import (
    AccountResult,
    Cause,
    CheckResult,
    Protocol,
    Stage,
    State,
    Status,
    Step,
)
from console.core.store import FlapPolicy, Recorder, ResultsStore, StoreError, results_path
from console.core.store.schema import MIGRATIONS, SCHEMA_VERSION, apply_migration

T0 = datetime(2026, 12, 1, 9, 14, tzinfo=UTC)
SECRET = "s3cret-Pa55word!"


def result(
    email: str,
    at: datetime,
    *,
    imap: Status = Status.OK,
    smtp: Status = Status.OK,
    cause: Cause | None = None,
    message: str | None = None,
    warnings: tuple[str, ...] = (),
) -> AccountResult:
    def one(protocol: Protocol, status: Status) -> CheckResult:
        failed = status is Status.FAILED
        return CheckResult(
            protocol,
            status,
            cause if failed else None,
            Stage.AUTH if failed else None,
            message=message,
            elapsed_ms=120,
            steps=(Step(Stage.AUTH, not failed, 3, message or ""),),
            warnings=warnings if protocol is Protocol.IMAP else (),
            transcript=(f"C: LOGIN a {message}",) if message else (),
            facts={"cert_days_left": 12, "cert_subject": message or "x"},
        )

    return AccountResult(email, one(Protocol.SMTP, smtp), one(Protocol.IMAP, imap), at)


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    with ResultsStore.open(tmp_path / "results.sqlite3") as opened:
        yield opened


def test_location_follows_the_state_dir(state_dir: Path, tmp_path: Path) -> None:
    assert results_path() == state_dir / "results.sqlite3"
    assert results_path(demo=True) == state_dir / "demo-results.sqlite3"
    assert results_path(folder=tmp_path) == tmp_path / "results.sqlite3"


def test_last_known_keeps_since_across_unchanged_checks(store: ResultsStore) -> None:
    store.record(result("Alice@Acme.example", T0, imap=Status.FAILED, cause=Cause.AUTH_FAILED))
    later = T0 + timedelta(hours=2)
    recorded = store.record(
        result("alice@acme.example", later, imap=Status.FAILED, cause=Cause.AUTH_FAILED)
    )
    assert (recorded.previous, recorded.changed) == (State.CONDITIONAL, False)
    assert recorded.since == T0  # the state began with the first check
    known = store.last_known()
    assert list(known) == ["alice@acme.example"]  # keyed by the lower-cased email
    last = known["alice@acme.example"]
    assert last.state is State.CONDITIONAL
    assert last.since == T0 and last.check.checked_at == later
    assert last.check.imap is not None and last.check.imap.cause is Cause.AUTH_FAILED
    assert last.facts["imap"]["cert_days_left"] == 12
    painted = last.as_result("Alice@Acme.example")
    assert painted.state is State.CONDITIONAL and painted.imap.stage is Stage.AUTH


def test_changes_and_history_oldest_first(store: ResultsStore) -> None:
    states = [Status.OK, Status.OK, Status.FAILED, Status.OK]
    for i, imap in enumerate(states):
        store.record(result("a@x.example", T0 + timedelta(minutes=15 * i), imap=imap))
    store.record(result("b@x.example", T0 + timedelta(minutes=1)))
    checks = store.history()
    assert [c.checked_at for c in checks] == sorted(c.checked_at for c in checks)
    assert [c.changed for c in checks if c.email == "a@x.example"] == [True, False, True, True]
    changes = store.changes("a@x.example")
    assert [c.state for c in changes] == [State.CONNECTED, State.CONDITIONAL, State.CONNECTED]
    assert store.last_known()["a@x.example"].since == T0 + timedelta(minutes=45)
    since = store.history(["A@x.example"], since=T0 + timedelta(minutes=20))
    assert [c.checked_at for c in since] == [T0 + timedelta(minutes=30), T0 + timedelta(minutes=45)]
    assert store.change_counts(T0 + timedelta(minutes=20)) == {"a@x.example": 2}
    assert len(store.recent("a@x.example", 2)) == 2


def test_two_checks_in_the_same_second_are_both_kept(store: ResultsStore) -> None:
    store.record(result("a@x.example", T0))
    store.record(result("a@x.example", T0, imap=Status.FAILED, cause=Cause.TIMEOUT))
    assert [c.state for c in store.history()] == [State.CONNECTED, State.CONDITIONAL]
    assert store.last_known()["a@x.example"].state is State.CONDITIONAL


def test_a_failed_canary_makes_a_connected_account_conditional(store: ResultsStore) -> None:
    canary = {
        "status": "failed",
        "cause": "reply_in_spam",
        "phase": "arrived",
        "folder": "Junk",
        "latency_ms": 840,
        "message": SECRET,
        "cleaned": True,
        "auth_results": {"spf": "pass", "dkim": "pass", "dmarc": "pass"},
    }
    recorded = store.record(result("a@x.example", T0), canary=canary)
    assert recorded.state is State.CONDITIONAL
    stored = store.history()[0].canary
    assert stored is not None and stored["cause"] == "reply_in_spam" and "message" not in stored
    ok = store.record_canary(
        "a@x.example", {"status": "ok", "phase": "cleaned"}, checked_at=T0 + timedelta(hours=1)
    )
    assert ok.state is State.CONNECTED and ok.changed
    entry = store.history()[-1].to_dict()
    assert entry["smtp"]["status"] == "ok" and entry["canary"]["status"] == "ok"


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from console.core.model import AccountResult, CheckResult, Protocol, Status
    from console.core.store import ResultsStore

    path, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    sys.stdin.readline()  # both writers start together
    with ResultsStore.open(path) as store:
        for i in range(n):
            at = t0 + timedelta(minutes=i)
            smtp = CheckResult(Protocol.SMTP, Status.OK)
            imap = CheckResult(Protocol.IMAP, Status.OK if i % 3 else Status.FAILED)
            store.record(AccountResult(f"{who}-{i % 7}@x.example", smtp, imap, at))
    print("done")
    """
)


def test_two_processes_writing_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    n = 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), who, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("cron", "console")
    ]
    for w in writers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    outcomes = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in outcomes]
    with ResultsStore.open(path) as store:
        checks = store.history()
        assert len(checks) == 2 * n
        assert len(store.last_known()) == 14


def test_migration_from_the_first_schema(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    apply_migration(db, 1)
    db.execute("INSERT INTO accounts (id, email, first_seen) VALUES (1, 'old@x.example', 0)")
    db.execute("INSERT INTO outcomes (id, status) VALUES (1, 'ok')")
    at = int(T0.timestamp())
    db.execute(
        "INSERT INTO checks (account, checked_at, state, changed, smtp, imap, smtp_ms, imap_ms) "
        "VALUES (1, ?, 1, 1, 1, 1, 10, 20)",
        (at,),
    )
    db.execute(
        "INSERT INTO latest (account, checked_at, state, since, smtp, imap, smtp_ms, imap_ms) "
        "VALUES (1, ?, 1, ?, 1, 1, 10, 20)",
        (at, at),
    )
    db.execute("COMMIT")
    db.close()
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 2
    with ResultsStore.open(path) as store:
        last = store.last_known()["old@x.example"]
        assert last.state is State.CONNECTED and last.check.canary is None
        store.record(result("old@x.example", T0 + timedelta(hours=1)), canary={"status": "ok"})
        assert [c.canary for c in store.history()] == [None, {"status": "ok"}]
    version = (
        sqlite3.connect(path)
        .execute("SELECT value FROM meta WHERE key = 'schema_version'")
        .fetchone()
    )
    assert version == (str(SCHEMA_VERSION),)


def _newer(path: Path) -> None:
    with ResultsStore.open(path) as store:
        store.record(result("a@x.example", T0))
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE songs (title TEXT)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_bytes(b"this is not a database\n" * 50), "not an SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000), "cannot be used"),
        (_foreign, "not mailconsole's results store"),
        (_newer, "newer mailconsole"),
    ],
    ids=["garbage", "damaged", "foreign", "newer"],
)
def test_a_bad_file_is_named_and_never_written(tmp_path: Path, make: object, words: str) -> None:
    path = tmp_path / "results.sqlite3"
    make(path)  # type: ignore[operator]
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        ResultsStore.open(path)
    assert str(path) in str(caught.value) and words in str(caught.value)
    messages: list[str] = []
    recorder = Recorder(path, report=messages.append)
    assert recorder.record([result("a@x.example", T0)]) is None
    assert recorder.record([result("a@x.example", T0)]) is None
    assert recorder.last_known() == {}
    assert len(messages) == 1 and str(path) in messages[0]
    assert path.read_bytes() == before


@pytest.mark.parametrize("how", ["read-only", "full"])
def test_a_failing_write_is_reported_once_and_the_check_goes_on(tmp_path: Path, how: str) -> None:
    messages: list[str] = []
    recorder = Recorder(tmp_path / "results.sqlite3", report=messages.append, clock=lambda: T0)
    assert recorder.record([result("a@x.example", T0)]) is not None
    db = recorder._store._db  # type: ignore[union-attr]  # the real connection, made to fail
    if how == "read-only":
        db.execute("PRAGMA query_only = ON")
    else:
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    for i in range(1, 200):
        recorder.record([result(f"n{i}@x.example", T0 + timedelta(seconds=i))])
    assert len(messages) == 1
    assert "could not be recorded" in messages[0] and "results.sqlite3" in messages[0]
    recorder.close()


def test_a_store_in_an_impossible_place_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    messages: list[str] = []
    recorder = Recorder(blocker / "results.sqlite3", report=messages.append)
    assert recorder.record([result("a@x.example", T0)]) is None
    assert len(messages) == 1 and "results.sqlite3" in messages[0]


def test_retention_compacts_old_checks_and_keeps_every_change(store: ResultsStore) -> None:
    now = T0 + timedelta(days=100)
    for day in range(100):
        for quarter in range(4):
            at = T0 + timedelta(days=day, hours=6 * quarter)
            broken = day in (3, 50)  # two broken days: four state changes in all
            store.record(
                result(
                    "a@x.example",
                    at,
                    imap=Status.FAILED if broken else Status.OK,
                    cause=Cause.TIMEOUT if broken else None,
                )
            )
    assert len(store.history()) == 400
    compacted = store.compact(now, keep_days=90)
    kept = store.history()
    assert compacted.checks_removed == 40 - 3  # days 0-9, less their three changes
    assert min(c.checked_at for c in kept if not c.changed) >= now - timedelta(days=90)
    assert [c.checked_at for c in kept if c.changed] == [
        T0,
        T0 + timedelta(days=3),
        T0 + timedelta(days=4),
        T0 + timedelta(days=50),
        T0 + timedelta(days=51),
    ]
    days = store.daily("a@x.example")
    assert sum(n for _, _, n in days) == compacted.checks_removed
    assert store.compact(now, keep_days=90).checks_removed == 0
    assert store.last_known()["a@x.example"].since == T0 + timedelta(days=51)


def test_prune_forgets_accounts_no_longer_in_the_file(store: ResultsStore) -> None:
    store.record(result("kept@x.example", T0))
    store.record(result("gone@x.example", T0))
    pruned = store.prune(["Kept@x.example"])
    assert (pruned.accounts_removed, pruned.checks_removed) == (1, 1)
    assert list(store.last_known()) == ["kept@x.example"]
    assert store.history(["gone@x.example"]) == []


def test_no_secret_or_server_text_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    recorder = Recorder(path, report=pytest.fail)
    message = f"NO [AUTHENTICATIONFAILED] bad password {SECRET}"
    recorder.record(
        [result("a@x.example", T0, imap=Status.FAILED, cause=Cause.AUTH_FAILED, message=message)],
        canaries={"a@x.example": {"status": "failed", "message": SECRET, "folder": "INBOX"}},
    )
    recorder.close()
    for file in tmp_path.iterdir():
        data = file.read_bytes()
        assert SECRET.encode() not in data, file
        assert b"AUTHENTICATIONFAILED" not in data, file


def test_flapping_is_news_once_then_quiet(store: ResultsStore) -> None:
    policy = FlapPolicy(changes=4, window_hours=24)
    assert [policy.news(n) for n in (1, 3, 4, 5, 9)] == [True, True, True, False, False]
    assert [policy.flapping(n) for n in (3, 4)] == [False, True]
    for i in range(5):  # the first check starts the history; four changes follow
        store.record(
            result(
                "a@x.example",
                T0 + timedelta(minutes=i),
                imap=Status("ok" if i % 2 == 0 else "failed"),
                cause=Cause.TIMEOUT,
            )
        )
    assert store.change_counts(T0) == {"a@x.example": 4}


def test_compaction_goes_in_short_steps_that_resume(store: ResultsStore) -> None:
    for email in ("a@x.example", "b@x.example", "c@x.example"):
        for day in range(10):
            store.record(result(email, T0 + timedelta(days=day)))
    now = T0 + timedelta(days=10)
    assert store.compact_step(now, keep_days=5, accounts=2) == (2 * 4, False)
    assert store.compacting() and store.compacted_at() is None
    assert store.compact_step(now, keep_days=5, accounts=2) == (4, True)
    assert not store.compacting() and store.compacted_at() == now
    assert len(store.history()) == 3 * 6  # five kept days and the first check of each

    messages: list[str] = []
    recorder = Recorder(store.path, report=messages.append, clock=lambda: now, incremental=True)
    recorder.record([result("d@x.example", now)])  # compacted a day ago: nothing to do
    assert messages == [] and recorder.last_known()["d@x.example"].since == now
    recorder.close()
