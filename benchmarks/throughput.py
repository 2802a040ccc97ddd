"""Fleet-check throughput: the engine against what a user would write, over a modelled link.

For each round-trip time the lab runs in its own process (own interpreter, loop and GIL) behind
a latency proxy in another (latency_proxy.py: half a round trip per direction for every chunk,
1.5 for the connection), so pipelined commands and TLS handshakes cost what a link charges. N
accounts are checked, each IMAP and SMTP over implicit TLS, by: the engine (`Runner`), a raw
asyncio client (no mail library), a user's stdlib imaplib/smtplib script in a ThreadPoolExecutor,
and (small N only) that script run sequentially; the baselines do the steps in baselines.py.
Engine and raw keep `--concurrency` connections in flight (a "check" is one connection: the
runner's unit); the thread pool has `--threads` workers. The lab is one host, so the engine runs
with per_host = concurrency (a real fleet spreads over many hosts; `--per-host 8`, the default
setting, shows a fleet on a single provider's host).

    python benchmarks/throughput.py            # N = 200 and 1,000; RTT 0, 20, 50, 100 ms
    python benchmarks/throughput.py --quick    # N = 100; RTT 0 and 50 ms
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import pstats
import resource
import shlex
import time
from collections.abc import Callable, Sequence

import keyring
import keyring.backend
from _common import LabProcess, Meter, Timed, machine, make_accounts, table
from baselines import jobs_of, run_raw, run_sequential, run_threads

from console.core.model import Account, Settings, State
from console.core.probe.tls import client_context
from console.core.runner import AccountFinished, Runner, RunnerEvent
from console.core.secrets import KEYRING_SERVICE, SecretProvider, fetch_secret
from console.lab import derived_password

Lab = LabProcess
VARIANT_RTTS = (0.0, 50.0)
"""Where the engine is also run with its real secret sources (password_command, keyring)."""


class _MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend in a dict: the keyring code path without a desktop keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


_KEYRING = _MemoryKeyring()
keyring.set_keyring(_KEYRING)  # never the user's keyring


FIRST_RESULT: list[float] = []
"""Seconds from the start of each engine run to its first finished account."""


async def engine_check(
    accounts: Sequence[Account],
    secrets: SecretProvider,
    concurrency: int,
    per_host: int,
    *,
    unbounded_secrets: bool = False,
) -> int:
    """The runner as the CLI drives it (an event sink that sees every event)."""
    started = time.perf_counter()
    first: list[float] = []

    def on_event(event: RunnerEvent) -> None:
        if not first and isinstance(event, AccountFinished):
            first.append(time.perf_counter() - started)

    settings = Settings(concurrency=concurrency, per_host=per_host, timeout=15.0)
    runner = Runner(settings, secrets=secrets, on_event=on_event)
    if unbounded_secrets:  # the runner before 6dc5b92: every secret fetched at once
        runner._secret_slots = asyncio.Semaphore(1 << 30)
    results = await runner.check_accounts(accounts)
    FIRST_RESULT.extend(first)
    return sum(r.state is State.CONNECTED for r in results)


def with_password_command(accounts: Sequence[Account]) -> list[Account]:
    """The same accounts, their secrets from `password_command = "echo ..."` (one shell each)."""

    def command(settings: object) -> object:
        secret = derived_password(settings.username)  # type: ignore[attr-defined]
        return dataclasses.replace(settings, password_command=f"echo {shlex.quote(secret)}")  # type: ignore[type-var]

    return [dataclasses.replace(a, smtp=command(a.smtp), imap=command(a.imap)) for a in accounts]  # type: ignore[arg-type]


def fill_keyring(accounts: Sequence[Account]) -> None:
    for account in accounts:
        for settings in (account.smtp, account.imap):
            assert settings is not None
            _KEYRING.set_password(
                KEYRING_SERVICE, settings.keyring_key, derived_password(settings.username)
            )


def measure(name: str, lab: Lab, n: int, run: Callable[[], int]) -> Timed:
    lab.stats()  # reset the counters
    FIRST_RESULT.clear()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Meter(lab) as m:
        ok = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    stats = lab.stats()
    logins = stats["imap"]["logins_accepted"] + stats["smtp"]["logins_accepted"]
    note = f"first account done after {FIRST_RESULT[0]:.2f} s; " if FIRST_RESULT else ""
    if ok != n or logins != 2 * n:
        note = f"FAILED ok={ok}/{n} logins={logins}/{2 * n}; "
    if child_cpu > 0.01:
        note += f"+{child_cpu * 1000 / n:.1f} ms/acct CPU in secret commands; "
    peaks = f"{stats['imap']['max_concurrent']}/{stats['smtp']['max_concurrent']}"
    note += f"lab peak IMAP/SMTP conns {peaks}"
    return Timed(name, n, m.wall, m.cpu, m.lab_cpu, ok, note)


def clients(
    lab: Lab, n: int, delay: float, args: argparse.Namespace
) -> list[tuple[str, str, Callable[[], int]]]:
    """(kind, label, run) for every client measured at this size and delay, in run order."""
    context = client_context(lab.ca_file)  # the engine's own cached context, shared by all
    accounts, secrets = make_accounts(n, lab)
    jobs = jobs_of(accounts, derived_password)
    out: list[tuple[str, str, Callable[[], int]]] = []
    for c in args.concurrency:
        out.append(
            (
                "engine",
                f"engine c={c}",
                lambda c=c: asyncio.run(engine_check(accounts, secrets, c, args.per_host or c)),
            )
        )
        if delay in VARIANT_RTTS and "variants" in args.only:
            commanded = with_password_command(accounts)
            out.append(
                (
                    "variant",
                    f"engine c={c}, password_command",
                    lambda c=c, a=commanded: asyncio.run(engine_check(a, fetch_secret, c, c)),
                )
            )
            out.append(
                (
                    "variant",
                    f"engine c={c}, password_command, unbounded (before 6dc5b92)",
                    lambda c=c, a=commanded: asyncio.run(
                        engine_check(a, fetch_secret, c, c, unbounded_secrets=True)
                    ),
                )
            )
            fill_keyring(accounts)
            out.append(
                (
                    "variant",
                    f"engine c={c}, keyring",
                    lambda c=c: asyncio.run(engine_check(accounts, fetch_secret, c, c)),
                )
            )
        if "raw" in args.only:
            out.append(
                ("raw", f"raw asyncio c={c}", lambda c=c: asyncio.run(run_raw(jobs, context, c)))
            )
    if "threads" in args.only:
        for t in args.threads:
            out.append(("threads", f"threads({t})", lambda t=t: run_threads(jobs, context, t)))
    return out


def run_delay(delay: float, sizes: list[int], args: argparse.Namespace) -> list[list[str]]:
    rows: list[list[str]] = []
    with LabProcess(rtt_ms=delay) as lab:
        # warm-up: the cached SSL context, imports, the lab's certificates
        accounts, secrets = make_accounts(4, lab)
        asyncio.run(engine_check(accounts, secrets, 4, 4))
        for n in sizes:
            done: list[tuple[str, Timed]] = []
            for kind, label, run in clients(lab, n, delay, args):
                r = measure(label, lab, n, run)
                done.append((kind, r))
                print(f"  RTT {delay:g} ms, N={n}: {label}: {r.rate:.1f} accounts/s", flush=True)
            raw = {t.name.split("c=")[1]: t for k, t in done if k == "raw"}
            threads = next((t for k, t in done if k == "threads"), None)
            for kind, r in done:
                ratios = []
                if kind in ("engine", "variant"):
                    c = r.name.split("c=")[1].split(",")[0]
                    if c in raw:
                        ratios.append(f"{r.rate / raw[c].rate:.2f}x raw")
                    if threads is not None:
                        ratios.append(f"{r.rate / threads.rate:.2f}x {threads.name}")
                rows.append(row(delay, r, ", ".join(ratios)))
        if "seq" in args.only and args.seq_n:
            n = args.seq_n
            accounts, _ = make_accounts(n, lab)
            jobs = jobs_of(accounts, derived_password)
            context = client_context(lab.ca_file)
            r = measure("sequential stdlib", lab, n, lambda: run_sequential(jobs, context))
            big = max(sizes)
            r.note = f"{big} accounts: ~{big / r.rate:.0f} s (extrapolated); {r.note}"
            rows.append(row(delay, r, ""))
    return rows


def row(delay: float, r: Timed, ratios: str) -> list[str]:
    return [
        f"{delay:g}",
        str(r.accounts),
        r.name,
        f"{r.rate:.1f}",
        f"{r.wall:.2f}",
        f"{r.cpu * 1000 / r.accounts:.1f}",
        f"{r.lab_cpu * 1000 / r.accounts:.1f}",
        ratios,
        r.note,
    ]


def profile_engine(delay: float, n: int, concurrency: int, top: int) -> None:
    """cProfile one engine run, CPU time (the lab's own CPU is in the other process)."""
    with LabProcess(rtt_ms=delay) as lab:
        accounts, secrets = make_accounts(4, lab)
        asyncio.run(engine_check(accounts, secrets, concurrency, concurrency))
        accounts, secrets = make_accounts(n, lab)
        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting in epoll
        started = time.perf_counter()
        profiler.enable()
        ok = asyncio.run(engine_check(accounts, secrets, concurrency, concurrency))
        profiler.disable()
        print(f"{ok}/{n} ok in {time.perf_counter() - started:.2f} s (under cProfile)")
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(out.getvalue())


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 100, RTT 0 and 50 ms")
    parser.add_argument("--sizes", type=_ints, help="numbers of accounts (default 200,1000)")
    parser.add_argument("--rtts", type=lambda s: [float(x) for x in s.split(",")], help="ms")
    parser.add_argument("--concurrency", type=_ints, default=[32], help="engine and raw")
    parser.add_argument("--threads", type=_ints, default=[32], help="thread pool workers")
    parser.add_argument("--per-host", type=int, help="the engine's per_host (= concurrency)")
    parser.add_argument("--seq-n", type=int, default=None, help="accounts for the sequential run")
    parser.add_argument(
        "--only",
        default="raw,threads,seq,variants",
        help="besides the engine: raw, threads, seq, variants (secrets from password_command "
        "and keyring, at 0 and 50 ms)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the engine instead")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    sizes = args.sizes or ([100] if args.quick else [200, 1000])
    delays = args.rtts or ([0.0, 50.0] if args.quick else [0.0, 20.0, 50.0, 100.0])
    if args.seq_n is None:
        args.seq_n = 10 if args.quick else 20
    if args.profile:
        profile_engine(delays[0], sizes[0], args.concurrency[0], args.top)
        return
    print(f"# throughput, {machine()}; lab and latency proxy in processes of their own")
    headers = [
        "RTT ms",
        "N",
        "client",
        "accounts/s",
        "wall s",
        "client CPU ms/acct",
        "lab CPU ms/acct",
        "engine vs",
        "notes",
    ]
    rows = []
    started = time.perf_counter()
    for delay in delays:
        rows += run_delay(delay, sizes, args)
    print()
    print(table(headers, rows))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
