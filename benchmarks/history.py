"""Results store: insert rate, size after a simulated 90 days, compaction.

Not a test: numbers for benchmarks/README.md. Everything goes into a temporary folder.

- insert rate: 10,000 results in one transaction (a `check` run or a console batch), and one
  result per transaction (the slowest way the console could record);
- 90 days: accounts checked every 15 minutes for 90 simulated days through the real API
  (`record_many` per 15-minute round), ~3 % of accounts failing and a small chance of a state
  change per check; the file size then, and after compaction with a shorter retention;
- first paint at 10,000 accounts with a populated store: `python benchmarks/scale.py --history`.

    python benchmarks/history.py            # 1,000 accounts x 90 days, 10,000 accounts x 2 days
    python benchmarks/history.py --quick    # 1,000 accounts x 7 days
    python benchmarks/history.py --accounts 10000 --days 90   # the full thing (about an hour)
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.core.model import AccountResult, Cause, CheckResult, Protocol, Stage, Status
from console.core.store import ResultsStore

T0 = datetime(2026, 9, 1, tzinfo=UTC)
ROUND = timedelta(minutes=15)
FAILING = 0.03
FLIP = 0.0005


def _results(n: int, at: datetime, rng: random.Random, broken: set[int]) -> list[AccountResult]:
    out = []
    for i in range(n):
        if rng.random() < FLIP:
            broken ^= {i}
        smtp = CheckResult(Protocol.SMTP, Status.OK, elapsed_ms=rng.randint(80, 900))
        if i in broken:
            imap = CheckResult(
                Protocol.IMAP, Status.FAILED, Cause.AUTH_FAILED, Stage.AUTH, elapsed_ms=300
            )
        else:
            imap = CheckResult(Protocol.IMAP, Status.OK, elapsed_ms=rng.randint(80, 900))
        out.append(AccountResult(f"user{i:05d}@bench.test", smtp, imap, at))
    return out


def size_mb(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def insert_rate(folder: Path) -> None:
    rng = random.Random(1)
    batch = _results(10_000, T0, rng, set(range(0, 10_000, 33)))
    with ResultsStore.open(folder / "rate.sqlite3") as store:
        store.record_many(_results(10_000, T0 - ROUND, rng, set()))  # accounts exist, as usual
        started = time.perf_counter()
        store.record_many(batch)
        one_tx = time.perf_counter() - started
        later = [AccountResult(r.email, r.smtp, r.imap, r.checked_at + ROUND) for r in batch[:2000]]
        started = time.perf_counter()
        for result in later:
            store.record(result)
        each = (time.perf_counter() - started) / len(later)
        started = time.perf_counter()
        known = store.last_known()
        read = time.perf_counter() - started
    print(
        f"insert: 10,000 results in one transaction {one_tx:.2f} s ({10_000 / one_tx:,.0f}/s); "
        f"one per transaction {each * 1000:.2f} ms each ({1 / each:,.0f}/s); "
        f"last_known() of {len(known):,} accounts {read * 1000:.0f} ms"
    )


def first_paint_cost(folder: Path, n: int = 10_000) -> None:
    """What reading the store adds to the console's start: `ConsoleHistory.load` on a board of
    `n` accounts, each with 10 recorded checks (the rest of the first paint: scale.py)."""
    import tracemalloc

    from console.core.model import Account, Settings
    from console.ui.board import Board
    from console.ui.history import ConsoleHistory

    path = folder / "paint.sqlite3"
    rng = random.Random(3)
    broken = {i for i in range(n) if i % 33 == 0}
    with ResultsStore.open(path) as store:
        for k in range(10):
            store.record_many(_results(n, T0 + k * ROUND, rng, broken))
    accounts = [Account(f"user{i:05d}@bench.test") for i in range(n)]

    def load() -> int:
        history = ConsoleHistory(
            path, settings=Settings(), report=print, clock=lambda: T0 + timedelta(hours=3)
        )
        try:
            return history.load(Board(accounts))
        finally:
            history.close()

    started = time.perf_counter()
    shown = load()
    took = time.perf_counter() - started
    tracemalloc.start()
    load()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"first paint: ConsoleHistory.load of {shown:,} accounts (open, read, paint onto the "
        f"board) {took * 1000:.0f} ms; {peak / 1e6:.1f} MB allocated at the peak"
    )


def simulate(folder: Path, accounts: int, days: int) -> None:
    path = folder / f"sim-{accounts}-{days}.sqlite3"
    rng = random.Random(2)
    broken = {i for i in range(accounts) if rng.random() < FAILING}
    rounds = int(timedelta(days=days) / ROUND)
    started = time.perf_counter()
    with ResultsStore.open(path) as store:
        for r in range(rounds):
            store.record_many(_results(accounts, T0 + r * ROUND, rng, broken))
        took = time.perf_counter() - started
        rows = accounts * rounds
        changes = len(store.history(changes_only=True))
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        mb = size_mb(path)
        print(
            f"{accounts:,} accounts x {days} days every 15 min: {rows:,} checks "
            f"({changes:,} state changes) in {took:.0f} s ({rows / took:,.0f}/s); "
            f"file {mb:,.0f} MB = {mb * 1e6 / rows:.1f} bytes per check"
        )
        end = T0 + rounds * ROUND
        for keep in (30, 7):
            if keep >= days:
                continue
            started = time.perf_counter()
            done = store.compact(end, keep)
            took = time.perf_counter() - started
            pages = store._db.execute("PRAGMA page_count").fetchone()[0]
            free = store._db.execute("PRAGMA freelist_count").fetchone()[0]
            size = store._db.execute("PRAGMA page_size").fetchone()[0]
            print(
                f"  compact to {keep} days: {done.checks_removed:,} checks -> daily counts in "
                f"{took:.0f} s; in use {(pages - free) * size / 1e6:,.0f} MB of the file's "
                f"{pages * size / 1e6:,.0f} MB (freed pages are reused, not returned)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--accounts", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--paint-only", action="store_true", help="insert rate and first paint")
    args = parser.parse_args()
    print(f"# results store, {datetime.now(UTC):%Y-%m-%d}, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="mailconsole-history-") as tmp:
        folder = Path(tmp)
        insert_rate(folder)
        first_paint_cost(folder)
        if args.paint_only:
            return
        if args.accounts or args.days:
            simulate(folder, args.accounts or 1000, args.days or 90)
        elif args.quick:
            simulate(folder, 1000, 7)
        else:
            simulate(folder, 1000, 90)
            simulate(folder, 10_000, 2)


if __name__ == "__main__":
    main()
