"""Scale: start-up to the first painted table, and peak memory, with 10, 1,000 and 10,000 accounts.

Each size runs in a fresh process (`python benchmarks/scale.py --child ...`) so that start-up is
the real thing: interpreter, imports, reading the account file, building the table, the first
frame with rows in it (encoded as terminal output; the headless driver would skip that). Peak
memory is the child's `ru_maxrss` at that moment, and again once every row is in the table (rows
after the first screenful arrive in chunks). For the largest size the child then times one
full refresh of every row, the three ways the console does it. The account files are generated
into a temporary folder; checks do not start (`check_on_start=False`) unless `--check-on-start`,
which points the accounts at a lab process and lets the console start them at mount as it does
by default.

`--try` re-runs the smallest and largest size with changes the console does not have (yet),
applied from outside, to measure what the goals need (see EXPERIMENTS).

    python benchmarks/scale.py           # 10, 1,000, 10,000 accounts; median of 3 runs each
    python benchmarks/scale.py --quick   # one run each
    python benchmarks/scale.py --history # each size with a results store: 10 checks per account

`--history` fills a results store per size before the runs (10 recorded checks per account, one
state change for 3 % of them), so the first frame includes reading the last known state of every
account and painting it (what a restarted console does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    HERE,
    ROOT,
    LabProcess,
    lab_secrets,
    machine,
    on_display,
    paint_for_real,
    table,
    write_account_file,
)

GOAL_TIME, GOAL_MEMORY = 4.0, 2.0
REBUILD = "rebuild (filter, sort, theme)"
EXPERIMENTS = {
    "fixed-widths": "AccountsTable skips DataTable's per-cell width measurement (every column "
    "has a fixed width, so the measured widths are never used)",
    "no-raw": "the parsed TOML is not kept after validation (re-read it when saving)",
    "first-screen": "the first frame holds only the first 100 rows (the rest would follow in "
    "chunks); the whole file is still read and validated before it",
}


def apply_experiments(names: set[str]) -> None:
    """Patch the console from outside; only for measuring what a change would buy."""
    if "fixed-widths" in names:
        from console.ui.widgets.accounts_table import AccountsTable

        original = AccountsTable._update_dimensions

        def update_dimensions(self: Any, new_rows: Any) -> None:
            if not self._labelled_row_exists and not any(
                c.auto_width for c in self.columns.values()
            ):
                new_rows = ()  # fixed widths and heights: nothing to measure
            original(self, new_rows)

        AccountsTable._update_dimensions = update_dimensions  # type: ignore[method-assign]


def load_for(config: Path, names: set[str]) -> Any:
    """The LoadedConfig the app gets (None: it reads the file itself, as shipped)."""
    if not names & {"no-raw", "first-screen"}:
        return None
    import dataclasses

    from console.core.config import load_config

    loaded = load_config(config)
    if "no-raw" in names:
        loaded = dataclasses.replace(loaded, raw={})
    if "first-screen" in names:
        loaded = dataclasses.replace(loaded, accounts=loaded.accounts[:100])
    return loaded


# -- the child: one start-up -------------------------------------------------------------------


def child(
    config: Path,
    n: int,
    t0: float,
    refresh: bool,
    check_on_start: bool,
    tried: set[str],
    state_dir: Path | None = None,
) -> dict[str, Any]:
    marks: dict[str, float] = {"python started": 0.0}
    marks["imports done"] = time.time() - t0  # (the modules below are imported at the top)
    from console.ui.app import MailConsoleApp
    from console.ui.screens.main import MainScreen

    marks["imports done"] = time.time() - t0
    apply_experiments(tried)
    paint_for_real()
    out: dict[str, Any] = {"marks": marks}
    first = asyncio.Event()

    def frame(app: Any) -> None:
        screen = app.screen
        if not first.is_set() and isinstance(screen, MainScreen) and screen.table.row_count:
            marks["first table frame"] = time.time() - t0
            out["rows"] = screen.table.row_count
            out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            first.set()

    on_display(frame)

    async def main() -> None:
        with (
            contextlib.nullcontext(str(state_dir)) if state_dir else tempfile.TemporaryDirectory()
        ) as state:
            app = MailConsoleApp(
                config,
                loaded=load_for(config, tried),
                secrets=lab_secrets(n) if check_on_start else None,
                store_secret=lambda _settings, _password: None,
                check_on_start=check_on_start,
                state_dir=Path(state),
            )
            marks["app built (file read)"] = time.time() - t0
            async with asyncio.timeout(300), app.run_test(size=(120, 40)) as pilot:
                marks["app running"] = time.time() - t0
                await first.wait()
                table = app.screen.table  # type: ignore[attr-defined]
                while table.row_count < n:  # the rest arrive in chunks after the first frame
                    await asyncio.sleep(0.02)
                await pilot.pause()
                marks["all rows in"] = time.time() - t0
                out["maxrss_all_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                if refresh:
                    out["refresh"] = await full_refreshes(app, pilot)
                if check_on_start:
                    app.screen.scheduler.cancel_all()  # type: ignore[attr-defined]

    asyncio.run(main())
    out["maxrss_end_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


async def full_refreshes(app: Any, pilot: Any) -> dict[str, dict[str, float]]:
    """Time each way every row is redrawn: the call itself, then until its frame is painted."""
    screen = app.screen
    frames = asyncio.Event()
    on_display(lambda _app: frames.set())
    emails = list(screen.board.emails)

    def all_checking() -> None:  # what `R` does to the table (without starting workers)
        for email in emails:
            screen.board.mark_checking(email)
        screen.update_rows(emails)

    def all_stopped() -> None:
        for email in emails:
            screen.board.mark_stopped(email)
        screen.update_rows(emails)

    ways = {
        REBUILD: screen.rebuild,
        "every row changes (R)": all_checking,
        "every row changes back": all_stopped,
        "clock tick (checked column)": screen.tick,
    }
    results = {}
    for name, call in ways.items():
        await pilot.pause()
        frames.clear()
        started = time.perf_counter()
        call()
        called = time.perf_counter()
        async with asyncio.timeout(60):
            await frames.wait()
        painted = time.perf_counter()
        results[name] = {
            "call_ms": (called - started) * 1000,
            "total_ms": (painted - started) * 1000,
        }
    return results


# -- the parent: sizes, repeats, the tables ----------------------------------------------------


def fill_store(folder: Path, n: int, checks: int = 10) -> Path:
    """A results store as a console that has run for a while leaves it (see --history)."""
    from datetime import UTC, datetime, timedelta

    from _common import email

    from console.core.model import AccountResult, Cause, CheckResult, Protocol, Stage, Status
    from console.core.store import ResultsStore, results_path

    now = datetime.now(UTC)
    smtp = CheckResult(Protocol.SMTP, Status.OK, elapsed_ms=120)
    ok = CheckResult(Protocol.IMAP, Status.OK, elapsed_ms=150)
    bad = CheckResult(Protocol.IMAP, Status.FAILED, Cause.AUTH_FAILED, Stage.AUTH, elapsed_ms=90)
    with ResultsStore.open(results_path(folder=folder)) as store:
        for k in range(checks):
            at = now - timedelta(minutes=15 * (checks - k))
            store.record_many(
                [
                    AccountResult(email(i), smtp, bad if i % 33 == 0 and k >= 5 else ok, at)
                    for i in range(n)
                ]
            )
    return folder


def run_child(
    config: Path,
    n: int,
    *,
    refresh: bool,
    check_on_start: bool,
    tried: set[str],
    state_dir: Path | None = None,
) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "scale.py"), "--child", str(config), "--n", str(n)]
    if state_dir:
        command += ["--state", str(state_dir)]
    if refresh:
        command.append("--refresh")
    if check_on_start:
        command.append("--check-on-start")
    if tried:
        command += ["--try", ",".join(sorted(tried))]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command += ["--t0", repr(time.time())]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"child for {n} accounts failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Size:
    n: int
    file_kb: float
    marks: dict[str, float]
    first: float
    memory: float
    memory_all: float
    refresh: dict[str, dict[str, float]] | None


def measure(
    config: Path,
    n: int,
    runs: int,
    *,
    refresh: bool,
    check_on_start: bool,
    tried: set[str],
    state_dir: Path | None = None,
) -> Size:
    results = [
        run_child(
            config,
            n,
            refresh=refresh and i == 0,
            check_on_start=check_on_start,
            tried=tried,
            state_dir=state_dir,
        )
        for i in range(runs)
    ]
    marks = {k: statistics.median(r["marks"][k] for r in results) for k in results[0]["marks"]}
    return Size(
        n=n,
        file_kb=config.stat().st_size / 1024,
        marks=marks,
        first=marks["first table frame"],
        memory=statistics.median(r["maxrss_mb"] for r in results),
        memory_all=statistics.median(r["maxrss_all_mb"] for r in results),
        refresh=next((r["refresh"] for r in results if "refresh" in r), None),
    )


def verdict(small: Size, big: Size) -> str:
    t, m = big.first / small.first, big.memory / small.memory
    every = big.memory_all / small.memory_all
    met = {True: "met", False: "NOT met"}
    return (
        f"time {t:.1f}x ({met[t <= GOAL_TIME]}, goal <= {GOAL_TIME:g}x), "
        f"memory at the first frame {m:.2f}x ({met[m <= GOAL_MEMORY]}, goal <= {GOAL_MEMORY:g}x), "
        f"with every row in the table {every:.2f}x ({met[every <= GOAL_MEMORY]})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--runs", type=int, default=None, help="median of this many (3)")
    parser.add_argument("--quick", action="store_true", help="one run per size")
    parser.add_argument(
        "--check-on-start", action="store_true", help="checks start at mount (lab at 100 ms)"
    )
    parser.add_argument(
        "--try",
        dest="tries",
        action="append",
        help="a comma list of EXPERIMENTS (repeatable); default: cumulative sets of all",
    )
    parser.add_argument("--no-try", action="store_true", help="skip the experiments")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--refresh", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--history", action="store_true", help="each size with a populated results store"
    )
    args = parser.parse_args()
    if args.child:
        tried = set(args.tries[0].split(",")) if args.tries else set()
        result = child(
            args.child, args.n, args.t0, args.refresh, args.check_on_start, tried, args.state
        )
        print(json.dumps(result))
        return
    sizes = args.sizes or [10, 1000, 10000]
    runs = args.runs or (1 if args.quick else 3)
    if args.no_try:
        tries: list[set[str]] = []
    elif args.tries:
        tries = [set(t.split(",")) for t in args.tries]
    else:
        names = list(EXPERIMENTS)
        tries = [set(names[: i + 1]) for i in range(len(names))]
    print(f"# scale, {machine()}; median of {runs} fresh processes per size")
    if args.history:
        print("# with a results store: 10 recorded checks per account")
    with tempfile.TemporaryDirectory(prefix="mailconsole-scale-") as tmp:
        lab = LabProcess(100.0) if args.check_on_start else None
        try:
            configs = {}
            for n in sizes:
                configs[n] = Path(tmp) / f"accounts-{n}.toml"
                write_account_file(
                    configs[n],
                    n,
                    imap_port=lab.ports["imap"] if lab else 1,
                    smtp_port=lab.ports["smtp"] if lab else 1,
                    ca_file=lab.ca_file if lab else str(Path(tmp) / "no-ca.pem"),
                )
            states = {n: fill_store(Path(tmp) / f"state-{n}", n) for n in sizes if args.history}
            shipped = []
            for n in sizes:
                shipped.append(
                    measure(
                        configs[n],
                        n,
                        runs,
                        refresh=n == max(sizes),
                        check_on_start=args.check_on_start,
                        tried=set(),
                        state_dir=states.get(n),
                    )
                )
                print(f"  {n} accounts: {shipped[-1].first:.2f} s, {shipped[-1].memory:.0f} MB")
            tried_rows = []
            for tried in tries:
                small, big = (
                    measure(
                        configs[n],
                        n,
                        runs,
                        refresh=n == max(sizes) and "first-screen" not in tried,
                        check_on_start=False,
                        tried=tried,
                    )
                    for n in (min(sizes), max(sizes))
                )
                tried_rows.append((tried, small, big))
        finally:
            if lab:
                lab.close()
    small = shipped[0]
    headers = [
        "accounts",
        "file KB",
        "imports s",
        "file read s",
        "first table frame s",
        "vs smallest",
        "peak RSS MB",
        "vs smallest",
        "all rows in s",
        "peak RSS, all rows MB",
        "vs smallest",
    ]
    rows = [
        [
            f"{r.n:,}",
            f"{r.file_kb:,.0f}",
            f"{r.marks['imports done']:.2f}",
            f"{r.marks['app built (file read)']:.2f}",
            f"{r.first:.2f}",
            f"{r.first / small.first:.1f}x",
            f"{r.memory:.0f}",
            f"{r.memory / small.memory:.2f}x",
            f"{r.marks['all rows in']:.2f}",
            f"{r.memory_all:.0f}",
            f"{r.memory_all / small.memory_all:.2f}x",
        ]
        for r in shipped
    ]
    print("\nThe console as it is (times from the command's start):")
    print(table(headers, rows))
    print(f"goal, {shipped[-1].n:,} vs {small.n} accounts: {verdict(small, shipped[-1])}")
    refresh = shipped[-1].refresh
    if refresh:
        print(f"\nOne full refresh of {shipped[-1].n:,} rows:")
        print(
            table(
                ["what", "call ms", "until painted ms"],
                [[k, f"{v['call_ms']:.0f}", f"{v['total_ms']:.0f}"] for k, v in refresh.items()],
            )
        )
    if tried_rows:
        print("\nWhat the goals need (changes applied from outside, not in the console):")
        print(
            table(
                [
                    "changes",
                    f"{min(sizes)}: first frame s / MB",
                    f"{max(sizes):,}: first frame s / MB",
                    "verdict",
                    f"rebuild of {max(sizes):,} rows, until painted",
                ],
                [
                    [
                        " + ".join(sorted(t)),
                        f"{s.first:.2f} / {s.memory:.0f}",
                        f"{b.first:.2f} / {b.memory:.0f}",
                        verdict(s, b),
                        f"{b.refresh[REBUILD]['total_ms']:.0f} ms" if b.refresh else "-",
                    ]
                    for t, s, b in tried_rows
                ],
            )
        )
        for name, what in EXPERIMENTS.items():
            print(f"  {name}: {what}")


if __name__ == "__main__":
    main()
