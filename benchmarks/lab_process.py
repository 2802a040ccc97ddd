"""The lab's IMAP and SMTP servers in a process of their own, for the benchmarks.

A separate process gives the servers their own interpreter, event loop and GIL, so client and
server do not compete for one loop. It prints one JSON line (ports, CA file, pid), then serves
until its stdin closes (the parent exits or says `stop`) or `--lifetime` seconds pass: it always
stops by itself. A `stats` line on stdin is answered with the servers' counters (and resets them).

    python benchmarks/lab_process.py --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from console.core.model import Security
from console.lab import ImapScenario, Lab, LabServer, SmtpScenario, derived_password

SERVERS = ("imap", "imap_starttls", "smtp", "smtp_starttls")
"""What every lab process serves: implicit TLS and STARTTLS, for both protocols."""


def _scenarios(delay_ms: float) -> dict[str, ImapScenario | SmtpScenario]:
    common: dict[str, Any] = {"users": {}, "password_of": derived_password, "delay_ms": delay_ms}
    # like Dovecot: the login answer lists the capabilities (so the probe need not ask again)
    imap: dict[str, Any] = {**common, "login_ok_reply": "OK [CAPABILITY {capabilities}] Logged in"}
    return {
        "imap": ImapScenario(name="imap", security=Security.TLS, **imap),
        "imap_starttls": ImapScenario(name="imap_starttls", security=Security.STARTTLS, **imap),
        "smtp": SmtpScenario(name="smtp", security=Security.TLS, **common),
        "smtp_starttls": SmtpScenario(name="smtp_starttls", security=Security.STARTTLS, **common),
    }


def _stats(servers: dict[str, LabServer[Any]]) -> dict[str, dict[str, int]]:
    out = {}
    for name, srv in servers.items():
        out[name] = {
            "connections": srv.connections_total,
            "max_concurrent": srv.max_concurrent,
            "logins_accepted": srv.logins_accepted,
            "logins_rejected": srv.logins_rejected,
            "errors": len(srv.errors),
        }
        srv.reset_stats()
    return out


async def serve(delay_ms: float, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with Lab(record=False, idle_timeout=60.0) as lab:
        scenarios = _scenarios(delay_ms)
        started = await lab.start_all(scenarios.values())
        servers = dict(zip(SERVERS, started, strict=True))
        ports = {name: srv.port for name, srv in servers.items()}
        hello = {"pid": os.getpid(), "ca_file": str(lab.ca.ca_file), "ports": ports}
        print(json.dumps(hello), flush=True)
        try:
            async with asyncio.timeout(lifetime):
                while line := await reader.readline():
                    command = line.decode().strip()
                    if command == "stop":
                        break
                    if command == "stats":
                        print(json.dumps(_stats(servers)), flush=True)
        except TimeoutError:
            print(f"lab_process: lifetime of {lifetime:g} s reached, stopping", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=0.0, help="before every server response")
    parser.add_argument("--lifetime", type=float, default=1200.0, help="stop after this long")
    args = parser.parse_args()
    asyncio.run(serve(args.delay_ms, args.lifetime))


if __name__ == "__main__":
    main()
