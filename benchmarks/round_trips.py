"""Round trips per ladder: one check's wall time over a modelled link, divided by its RTT.

The lab runs behind the latency proxy (latency_proxy.py): every chunk pays half a round trip in
each direction and the connection 1.5 before the server sees it, as on a real link; nothing else
is slowed (the host is 127.0.0.1, so DNS is free). So `wall / RTT - 1` (the TCP handshake) counts
the turns on the check's critical path, TLS handshake included, plus the client's own time.
Commands written together cost one turn; LOGOUT/QUIT written and not waited for cost none.

    python benchmarks/round_trips.py           # RTT 100 ms, 5 runs per ladder
    python benchmarks/round_trips.py --quick   # 3 runs
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import ROOT, LabProcess, machine, make_accounts, median, table
from baselines import Job, jobs_of, raw_imap, raw_smtp

from console.core.model import Account, Security, Settings
from console.core.probe import probe_imap, probe_smtp
from console.core.probe.tls import client_context
from console.core.runner import Runner
from console.core.secrets import MemorySecrets
from console.lab import derived_password

# (ladder, engine's server turns with what they are, protocol minimum with what it needs)
LADDERS: dict[str, tuple[list[str], list[str]]] = {
    "IMAP, implicit TLS": (
        [
            "TLS",
            "greeting (its [CAPABILITY])",
            "AUTHENTICATE PLAIN (SASL-IR)",
            "EXAMINE + GETQUOTAROOT (one write)",
        ],
        ["TLS", "greeting (carries [CAPABILITY])", "AUTHENTICATE PLAIN (SASL-IR)", "EXAMINE"],
    ),
    "IMAP, STARTTLS": (
        [
            "greeting",
            "STARTTLS",
            "TLS",
            "CAPABILITY",
            "AUTHENTICATE PLAIN (SASL-IR)",
            "EXAMINE + GETQUOTAROOT (one write)",
        ],
        [
            "greeting (carries [CAPABILITY])",
            "STARTTLS",
            "TLS",
            "CAPABILITY (RFC 3501: SHOULD)",
            "AUTHENTICATE PLAIN (SASL-IR)",
            "EXAMINE",
        ],
    ),
    "SMTP, implicit TLS": (
        ["TLS", "banner", "EHLO", "AUTH PLAIN <initial response> -> 235"],
        ["TLS", "banner", "EHLO", "AUTH PLAIN <initial response> -> 235"],
    ),
    "SMTP, STARTTLS": (
        ["banner", "EHLO", "STARTTLS", "TLS", "EHLO", "AUTH PLAIN <initial response> -> 235"],
        ["banner", "EHLO", "STARTTLS", "TLS", "EHLO", "AUTH PLAIN <initial response> -> 235"],
    ),
}
"""(engine turns, protocol minimum) per ladder; LOGOUT and QUIT are written, never waited for."""


def _plain(job: Job) -> str:
    raw = f"\0{job.settings.username}\0{job.password}".encode()
    return base64.b64encode(raw).decode("ascii")


async def minimal_imap(job: Job, context: ssl.SSLContext) -> bool:
    """The fewest turns that still prove login and INBOX: no CAPABILITY, no GETQUOTAROOT, LOGOUT
    not waited for."""
    s = job.settings
    reader, writer = await asyncio.open_connection(
        s.host, s.port, ssl=context, server_hostname=s.host
    )
    try:
        greeting = await reader.readline()
        if b"SASL-IR" not in greeting or b"AUTH=PLAIN" not in greeting:
            return False
        steps = (("a1", f"AUTHENTICATE PLAIN {_plain(job)}"), ("a2", 'EXAMINE "INBOX"'))
        for tag, command in steps:
            writer.write(f"{tag} {command}\r\n".encode())
            while not (line := await reader.readline()).startswith(tag.encode()):
                if not line:
                    return False
            if b" OK " not in line:
                return False
        writer.write(b"a3 LOGOUT\r\n")  # not waited for
        return True
    finally:
        writer.transport.abort()  # like the engine: no waiting for the server's close_notify


async def minimal_smtp(job: Job, context: ssl.SSLContext) -> bool:
    """AUTH PLAIN with its initial response (RFC 4954), QUIT not waited for."""
    s = job.settings
    reader, writer = await asyncio.open_connection(
        s.host, s.port, ssl=context, server_hostname=s.host
    )

    async def reply() -> int:
        while (line := await reader.readline())[3:4] == b"-":
            pass
        return int(line[:3]) if len(line) >= 3 else 0

    try:
        if await reply() != 220:
            return False
        for command, expect in ((f"EHLO [{s.host}]", 250), (f"AUTH PLAIN {_plain(job)}", 235)):
            writer.write(f"{command}\r\n".encode())
            if await reply() != expect:
                return False
        writer.write(b"QUIT\r\n")  # not waited for
        return True
    finally:
        writer.transport.abort()  # like the engine: no waiting for the server's close_notify


async def timed(run: Callable[[], Awaitable[bool]]) -> float:
    started = time.perf_counter()
    ok = await run()
    wall = time.perf_counter() - started
    if not ok:
        raise RuntimeError("a check failed: the numbers would mean nothing")
    return wall


def measure(lab: LabProcess, runs: int) -> list[list[str]]:
    rtt = lab.rtt_ms / 1000
    context = client_context(lab.ca_file)
    tls_accounts, secrets = make_accounts(runs + 1, lab)
    starttls_accounts, starttls_secrets = make_accounts(runs + 1, lab, security=Security.STARTTLS)
    rows: list[list[str]] = []

    async def series(make: Callable[[int], Callable[[], Awaitable[bool]]]) -> float:
        await timed(make(runs))  # warm-up (the last account)
        return median([await timed(make(i)) for i in range(runs)])

    def engine(accounts: list[Account], secrets: MemorySecrets, imap: bool):
        def make(i: int) -> Callable[[], Awaitable[bool]]:
            settings = accounts[i].imap if imap else accounts[i].smtp
            assert settings is not None
            probe = probe_imap if imap else probe_smtp

            async def run() -> bool:
                result = await probe(settings, await secrets(settings), timeout=15)
                return result.ok

            return run

        return make

    def baseline(accounts: list[Account], check, protocol_index: int):
        jobs = jobs_of(accounts, derived_password)

        def make(i: int) -> Callable[[], Awaitable[bool]]:
            return lambda: check(jobs[i][protocol_index], context)

        return make

    async def all_series() -> None:
        for name, accounts, sec, imap in (
            ("IMAP, implicit TLS", tls_accounts, secrets, True),
            ("IMAP, STARTTLS", starttls_accounts, starttls_secrets, True),
            ("SMTP, implicit TLS", tls_accounts, secrets, False),
            ("SMTP, STARTTLS", starttls_accounts, starttls_secrets, False),
        ):
            turns, minimum = LADDERS[name]
            wall = await series(engine(accounts, sec, imap))
            raw = minimal = None
            if name.endswith("implicit TLS"):
                index = 0 if imap else 1
                raw = await series(baseline(accounts, raw_imap if imap else raw_smtp, index))
                minimal = await series(
                    baseline(accounts, minimal_imap if imap else minimal_smtp, index)
                )
            rows.append(
                [
                    name,
                    f"{wall * 1000:.0f}",
                    f"{wall / rtt - 1:.2f}",
                    str(len(turns)),
                    f"{raw / rtt - 1:.2f}" if raw else "-",
                    str(len(minimum)),
                    f"{minimal / rtt - 1:.2f}" if minimal else "-",
                ]
            )

        async def account_check(i: int) -> bool:
            runner = Runner(Settings(), secrets=secrets)
            result = await runner.check_account(tls_accounts[i])
            return result.smtp.ok and result.imap.ok

        wall = await series(lambda i: lambda: account_check(i))
        rows.append(
            [
                "account (IMAP and SMTP in parallel, implicit TLS), Runner",
                f"{wall * 1000:.0f}",
                f"{wall / rtt - 1:.2f}",
                "4 (both ladders)",
                "-",
                "4",
                "-",
            ]
        )

    asyncio.run(all_series())
    return rows


def cli_startup(lab: LabProcess, runs: int) -> list[list[str]]:
    """`mailconsole check` of one account end to end, and the interpreter/import part of it."""
    rtt = lab.rtt_ms / 1000
    accounts, _ = make_accounts(1, lab)
    account = accounts[0]
    with tempfile.TemporaryDirectory(prefix="mailconsole-bench-") as tmp:
        config = Path(tmp) / "accounts.toml"
        lines = [f'[[account]]\nemail = "{account.email}"\n']
        for settings in (account.smtp, account.imap):
            assert settings is not None
            lines.append(
                f"[account.{settings.protocol.value}]\n"
                f'host = "{settings.host}"\nport = {settings.port}\nsecurity = "tls"\n'
                f'tls_ca_file = "{settings.tls_ca_file}"\n'
                f'password_command = "echo {derived_password(settings.username)}"\n'
            )
        config.write_text("\n".join(lines))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import console.cli'": [sys.executable, "-c", "import console.cli"],
            "mailconsole check (1 account)": [
                sys.executable,
                "-m",
                "console",
                "check",
                "--config",
                str(config),
                "--format",
                "json",
            ],
        }
        rows = []
        for label, command in commands.items():
            walls = []
            for _ in range(runs):
                started = time.perf_counter()
                done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True)
                walls.append(time.perf_counter() - started)
                if done.returncode not in (0,):
                    raise RuntimeError(f"{label} exited {done.returncode}: {done.stderr[-400:]!r}")
            wall = median(walls)
            note = ""
            if "check" in label:
                note = f"= {wall / rtt:.2f} x RTT; a ladder needs 5 (TCP + 4 turns)"
            rows.append([label, f"{wall * 1000:.0f}", note])
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=100.0)
    parser.add_argument("--runs", type=int, default=None, help="median of this many (default 5)")
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    print(f"# round trips, {machine()}; RTT {args.rtt_ms:g} ms, median of {runs}")
    with LabProcess(rtt_ms=args.rtt_ms) as lab:
        rows = measure(lab, runs)
        cli = cli_startup(lab, runs)
    print(
        table(
            [
                "ladder",
                "engine wall ms",
                "engine turns (wall/RTT - 1)",
                "engine turns counted",
                "raw client, a user's steps",
                "protocol minimum",
                "minimal client measured",
            ],
            rows,
        )
    )
    print()
    for name, (turns, minimum) in LADDERS.items():
        print(f"{name}: engine {' > '.join(turns)}")
        print(f"{' ' * len(name)}  minimum {' > '.join(minimum)}")
    print()
    print(table(["command", "wall ms", "note"], cli))


if __name__ == "__main__":
    main()
