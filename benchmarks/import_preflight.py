"""Import pre-flight cost: N rows read, mapped, validated and tested against the lab, against the
same N accounts checked the way `mailconsole check` checks them.

    python benchmarks/import_preflight.py               # N = 10,000, two rounds, delay 0 ms
    python benchmarks/import_preflight.py --n 2000 --rounds 1 --delay-ms 20

"check" is what `mailconsole check` runs: the account file loaded and validated (load_config),
then console.cli.run_checks with the accounts' passwords in memory. "import" is what
`mailconsole import --dry-run` runs: the CSV read, its layout detected, every row validated and
de-duplicated (plan_import), then the pre-flight (preflight) with the file's passwords in memory.
Both use the same settings (concurrency 32, per_host 32: the lab is one host) against the lab in
its own process; the rounds alternate check/import so drift on a shared machine hits both.
The goal (issue 15): the import adds no more than 10% on top of the check.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import HOST, LabProcess, email, lab_secrets, machine, table, write_account_file

from console.cli import Session, run_checks
from console.core.config import load_config
from console.core.fleet import plan_import, preflight
from console.core.model import Settings, State
from console.lab import derived_password

SETTINGS = Settings(concurrency=32, per_host=32, timeout=15)


def csv_bytes(n: int, lab: LabProcess) -> bytes:
    """N rows in the snake_case layout, passwords in the file (as agencies receive them)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(
        [
            "from_email",
            "from_name",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_username",
            "smtp_password",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "imap_password",
        ]
    )
    for i in range(n):
        address = email(i)
        password = derived_password(address)
        writer.writerow(
            [
                address,
                f"User {i}",
                HOST,
                lab.ports["smtp"],
                "SSL",
                address,
                password,
                HOST,
                lab.ports["imap"],
                "SSL",
                address,
                password,
            ]
        )
    return buf.getvalue().encode("utf-8")


def run_check(path: Path, n: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of `mailconsole check`'s work, and how many came out connected."""
    secrets = lab_secrets(n)
    cpu, started = time.process_time(), time.perf_counter()
    loaded = load_config(path)
    session = Session(path, secrets)
    results = asyncio.run(run_checks(loaded.accounts, loaded.settings, session, progress=False))
    wall = time.perf_counter() - started
    return wall, time.process_time() - cpu, sum(1 for r in results if r.state is State.CONNECTED)


def run_import(data: bytes, ca_file: str) -> tuple[float, float, float, int]:
    """Wall and CPU seconds of `mailconsole import --dry-run`'s work, the plan's own wall time,
    and how many rows came out connected."""
    cpu, started = time.process_time(), time.perf_counter()
    plan = plan_import(data, server_defaults={"tls_ca_file": ca_file})
    planned = time.perf_counter() - started
    asyncio.run(preflight(plan, SETTINGS))
    wall = time.perf_counter() - started
    connected = sum(1 for r in plan.rows if r.state is State.CONNECTED)
    return wall, time.process_time() - cpu, planned, connected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    print(f"# import pre-flight vs check: {machine()}", file=sys.stderr)
    with LabProcess(args.delay_ms) as lab, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "accounts.toml"
        write_account_file(
            path,
            args.n,
            imap_port=lab.ports["imap"],
            smtp_port=lab.ports["smtp"],
            ca_file=lab.ca_file,
        )
        data = csv_bytes(args.n, lab)
        checks: list[float] = []
        imports: list[float] = []
        plans: list[float] = []
        check_cpu: list[float] = []
        import_cpu: list[float] = []
        for round_number in range(args.rounds):
            # odd rounds check first, even rounds import first: neither always pays the
            # other's leftover garbage or warms the lab for the other
            for what in ("check", "import") if round_number % 2 == 0 else ("import", "check"):
                gc.collect()
                if what == "check":
                    wall, cpu, ok = run_check(path, args.n)
                    checks.append(wall)
                    check_cpu.append(cpu)
                    note = f"check {wall:.1f} s, CPU {cpu:.1f} s ({ok} connected)"
                else:
                    wall, cpu, planned, ok = run_import(data, lab.ca_file)
                    imports.append(wall)
                    import_cpu.append(cpu)
                    plans.append(planned)
                    note = (
                        f"import {wall:.1f} s, CPU {cpu:.1f} s (plan {planned:.1f} s, "
                        f"{ok} connected)"
                    )
                print(f"round {round_number + 1}: {note}", file=sys.stderr)
    # Paired per round (the two runs of a round share the machine's load of the moment), then
    # the median over rounds: on a shared machine one round's load can swing a run by 50 %.
    wall_ratios = [i / c for i, c in zip(imports, checks, strict=True)]
    cpu_ratios = [i / c for i, c in zip(import_cpu, check_cpu, strict=True)]
    rows = [
        [
            n + 1,
            f"{c:.1f}",
            f"{i:.1f}",
            f"{p:.1f}",
            f"{i / c:.3f}",
            f"{cc:.1f}",
            f"{ic:.1f}",
            f"{ic / cc:.3f}",
        ]
        for n, (c, i, p, cc, ic) in enumerate(
            zip(checks, imports, plans, check_cpu, import_cpu, strict=True)
        )
    ]
    rows.append(
        [
            "median",
            "",
            "",
            f"{statistics.median(plans):.1f}",
            f"{statistics.median(wall_ratios):.3f}",
            "",
            "",
            f"{statistics.median(cpu_ratios):.3f}",
        ]
    )
    print(f"N = {args.n}, lab delay {args.delay_ms:g} ms")
    print(
        table(
            [
                "round",
                "check s",
                "import s",
                "of which plan s",
                "import / check",
                "CPU check s",
                "CPU import s",
                "CPU import / check",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
