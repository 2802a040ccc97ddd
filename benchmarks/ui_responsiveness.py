"""UI responsiveness while the console checks a fleet: how long does the event loop stall?

The console runs headless (`App.run_test`, 120x40) with N accounts on a slow lab (its own process,
`--delay-ms` per response). A sampler task sleeps 10 ms in a loop on the app's event loop and
records each overshoot: that is how late a key press or a repaint would be handled at that
moment. Checks start with `R` (re-test all) once the sampler runs, so the burst of starting them
is measured too. Every frame is encoded as terminal output (the headless driver skips that step;
a terminal does not). Garbage collections are timed alongside. The same fleet is then checked by
the engine alone (no UI) for comparison.

    python benchmarks/ui_responsiveness.py           # 1,000 accounts, 100 ms per response
    python benchmarks/ui_responsiveness.py --quick   # 200 accounts
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    LabProcess,
    lab_secrets,
    machine,
    make_accounts,
    paint_for_real,
    percentile,
    table,
    write_account_file,
)
from throughput import engine_check

from console.ui.app import MailConsoleApp
from console.ui.screens.main import MainScreen

SAMPLE_SECONDS = 0.010
IDLE_SECONDS = 0.5
GOAL_P99_MS = 50.0


@dataclass
class Run:
    """What one UI run recorded; times are `perf_counter()` values."""

    lags: list[tuple[float, float]] = field(default_factory=list)  # (sample end, overshoot)
    gc: list[tuple[float, int, float]] = field(default_factory=list)  # (end, generation, length)
    pressed: float = 0.0
    done: float = 0.0
    connected: int = 0
    _gc_start: float = 0.0

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
        else:
            self.gc.append((now, info["generation"], now - self._gc_start))

    def gc_during(self, end: float, lag: float) -> str:
        """The longest collection inside a stall that ended at `end`, if any."""
        start = end - lag - SAMPLE_SECONDS
        hits = [g for g in self.gc if start <= g[0] <= end + 0.001 and g[2] > 0.002]
        if not hits:
            return ""
        longest = max(hits, key=lambda g: g[2])
        return f" (gen{longest[1]} GC {longest[2] * 1000:.0f} ms)"


class StallStacks:
    """A watchdog thread: while the loop is stalled past 30 ms, sample the loop thread's stack.

    Names what the stalls are made of (which of our functions were running), not just how long.
    """

    def __init__(self) -> None:
        self.beat = time.perf_counter()
        self.samples: Counter[str] = Counter()
        self._target = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            if time.perf_counter() - self.beat < 0.030:
                continue
            frame = sys._current_frames().get(self._target)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)
            ours = [f for f in stack if "/console/" in f.filename or "/textual/" in f.filename]
            picked = ours[-3:] if ours else stack[-2:]
            self.samples[" < ".join(f"{Path(f.filename).name}:{f.name}" for f in picked[::-1])] += 1

    def report(self, top: int = 12) -> None:
        total = sum(self.samples.values())
        print(f"where the loop was during stalls > 30 ms ({total} samples, 5 ms apart):")
        for where, count in self.samples.most_common(top):
            print(f"  {count:5d}  {where}")


async def sample_lag(run: Run, stop: asyncio.Event, stacks: StallStacks | None) -> None:
    """Sleep 10 ms at a time; record each overshoot."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(SAMPLE_SECONDS)
        after = time.perf_counter()
        if stacks is not None:
            stacks.beat = after
        run.lags.append((after, after - before - SAMPLE_SECONDS))


async def run_ui(
    config: Path,
    n: int,
    state_dir: Path,
    deadline: float,
    *,
    freeze: bool = False,
    stacks: StallStacks | None = None,
) -> Run:
    app = MailConsoleApp(
        config,
        secrets=lab_secrets(n),
        store_secret=lambda _settings, _password: None,
        check_on_start=False,
        state_dir=state_dir,
    )
    run = Run()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.table.row_count == n, screen.table.row_count
        if freeze:  # what the console could do once it is up: GC never walks these again
            gc.freeze()
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_lag(run, stop, stacks))
        if stacks is not None:
            stacks.start()
        gc.callbacks.append(run.gc_callback)
        try:
            await asyncio.sleep(IDLE_SECONDS)  # the idle console, for reference
            run.pressed = time.perf_counter()
            await pilot.press("R")  # re-test all
            async with asyncio.timeout(deadline):
                while screen.scheduler.running or screen.board.in_flight():
                    await asyncio.sleep(0.05)
            run.done = time.perf_counter()
            await asyncio.sleep(IDLE_SECONDS)
        finally:
            stop.set()
            await sampler
            if stacks is not None:
                stacks.stop()
            gc.callbacks.remove(run.gc_callback)
        run.connected = sum(
            1 for e in screen.board if e.result and e.result.smtp.ok and e.result.imap.ok
        )
    return run


def stats_row(label: str, lags_ms: list[float]) -> list[object]:
    return [
        label,
        len(lags_ms),
        *(f"{percentile(lags_ms, p):.1f}" for p in (50, 90, 99)),
        f"{max(lags_ms):.1f}" if lags_ms else "-",
        sum(1 for m in lags_ms if m > 50),
    ]


def report(run: Run, n: int, engine_wall: float | None) -> None:
    idle = [lag * 1000 for t, lag in run.lags if t <= run.pressed]
    busy = [(t, lag) for t, lag in run.lags if run.pressed < t <= run.done]
    busy_ms = [lag * 1000 for _, lag in busy]
    after = [lag * 1000 for t, lag in run.lags if t > run.done]
    headers = ["phase", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms", "stalls > 50 ms"]
    print(
        table(
            headers,
            [
                stats_row("idle, before R", idle),
                stats_row("checking (R until all done)", busy_ms),
                stats_row("idle, after", after),
            ],
        )
    )
    worst = sorted(busy, key=lambda x: -x[1])[:6]
    print(
        "worst stalls (s after R: ms): "
        + ", ".join(
            f"{t - run.pressed:.2f}: {lag * 1000:.0f}{run.gc_during(t, lag)}" for t, lag in worst
        )
    )
    checking = [g for g in run.gc if run.pressed < g[0] <= run.done]
    for generation in (0, 1, 2):
        times = [g[2] * 1000 for g in checking if g[1] == generation]
        if times:
            print(
                f"gen{generation} collections while checking: {len(times)}, "
                f"total {sum(times):.0f} ms, max {max(times):.0f} ms"
            )
    wall = run.done - run.pressed
    line = f"checked {n} accounts in {wall:.1f} s with the UI ({n / wall:.1f}/s, "
    line += f"{run.connected} connected)"
    if engine_wall:
        line += f"; the engine alone: {engine_wall:.1f} s ({n / engine_wall:.1f}/s)"
    print(line)
    p99 = percentile(busy_ms, 99)
    verdict = "met" if p99 < GOAL_P99_MS else "NOT met"
    print(f"goal p99 < {GOAL_P99_MS:g} ms while checking: {verdict} ({p99:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=None, help="default 1,000 (200 quick)")
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-engine", action="store_true", help="skip the engine-only run")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the UI run here")
    parser.add_argument(
        "--stall-stacks", action="store_true", help="name the code running during stalls"
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() once the table is up (an experiment)"
    )
    args = parser.parse_args()
    n = args.accounts or (200 if args.quick else 1000)
    paint_for_real()
    print(f"# UI responsiveness, {machine()}")
    print(f"{n} accounts, lab delay {args.delay_ms:g} ms, concurrency {args.concurrency}")
    with LabProcess(args.delay_ms) as lab, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "accounts.toml"
        write_account_file(
            config,
            n,
            imap_port=lab.ports["imap"],
            smtp_port=lab.ports["smtp"],
            ca_file=lab.ca_file,
            concurrency=args.concurrency,
            per_host=args.concurrency,
        )
        deadline = 60 + n * 13 * args.delay_ms / 1000 / args.concurrency * 4
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        stacks = StallStacks() if args.stall_stacks else None
        run = asyncio.run(
            run_ui(config, n, Path(tmp), deadline, freeze=args.gc_freeze, stacks=stacks)
        )
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).dump_stats(args.profile)
        engine_wall = None
        if not args.no_engine:
            accounts, secrets = make_accounts(n, lab)
            started = time.perf_counter()
            ok = asyncio.run(engine_check(accounts, secrets, args.concurrency, args.concurrency))
            engine_wall = time.perf_counter() - started
            assert ok == n, ok
    report(run, n, engine_wall)
    if stacks is not None:
        stacks.report()


if __name__ == "__main__":
    main()
