"""Shared by the benchmark scripts: the lab process, generated accounts, timing and CPU meters."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from console.core.model import Account, Protocol, Security, ServerSettings
from console.core.secrets import MemorySecrets
from console.lab import derived_password

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


class LabProcess:
    """`with LabProcess(delay_ms) as lab:` the lab servers in a child process (see lab_process).

    `rtt_ms` puts a latency proxy (latency_proxy.py, a process of its own) in front of every
    server: `ports` are then the proxy's, and the link costs what a real one does (half a round
    trip per direction, the connection 1.5). `delay_ms` is the lab's own sleep before each reply,
    kept for the benchmarks that only need checks that take time (UI responsiveness, import).
    """

    def __init__(self, delay_ms: float = 0.0, *, rtt_ms: float = 0.0, lifetime: float = 1200.0):
        self.delay_ms = delay_ms
        self.rtt_ms = rtt_ms
        self._proxy: subprocess.Popen[str] | None = None
        self._proc = self._child(
            "lab_process.py", "--delay-ms", str(delay_ms), "--lifetime", str(lifetime)
        )
        hello = self._hello(self._proc, "the lab process")
        self.pid: int = hello["pid"]
        self.ca_file: str = hello["ca_file"]
        self.lab_ports: dict[str, int] = hello["ports"]
        self.ports: dict[str, int] = dict(self.lab_ports)
        if rtt_ms > 0:
            targets = [f"--target={name}={port}" for name, port in self.lab_ports.items()]
            self._proxy = self._child(
                "latency_proxy.py", "--rtt-ms", str(rtt_ms), "--lifetime", str(lifetime), *targets
            )
            proxy = self._hello(self._proxy, "the latency proxy")
            self.proxy_pid: int = proxy["pid"]
            self.ports = proxy["ports"]

    def _child(self, script: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(HERE / script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def _hello(self, proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"{what} did not start")
        hello: dict[str, Any] = json.loads(line)
        return hello

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, dict[str, int]]:
        """The servers' counters since the last call (connections, logins, max concurrent)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("stats\n")
        self._proc.stdin.flush()
        result: dict[str, dict[str, int]] = json.loads(self._proc.stdout.readline())
        return result

    def cpu_seconds(self) -> float:
        """User + system CPU time the lab process has used so far (the proxy not counted)."""
        return process_cpu_seconds(self.pid)

    def close(self) -> None:
        for proc in (self._proxy, self._proc):
            if proc is None:
                continue
            if proc.poll() is None:
                try:
                    assert proc.stdin is not None
                    proc.stdin.write("stop\n")
                    proc.stdin.close()
                    proc.wait(timeout=15)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def email(i: int) -> str:
    return f"user{i:05d}@bench.test"


def make_accounts(
    n: int, lab: LabProcess, *, security: Security = Security.TLS
) -> tuple[list[Account], MemorySecrets]:
    """`n` accounts on the lab's servers, each with its own login, and their passwords."""
    suffix = "" if security is Security.TLS else "_starttls"
    secrets = MemorySecrets()
    accounts = []

    def server(protocol: Protocol, address: str) -> ServerSettings:
        return ServerSettings(
            protocol=protocol,
            host=HOST,
            port=lab.ports[f"{protocol.value}{suffix}"],
            security=security,
            username=address,
            tls_ca_file=lab.ca_file,
        )

    for i in range(n):
        address = email(i)
        accounts.append(
            Account(
                email=address,
                provider="generic",
                smtp=server(Protocol.SMTP, address),
                imap=server(Protocol.IMAP, address),
            )
        )
        secrets.set(f"{address}@{HOST}", derived_password(address))
    return accounts, secrets


@dataclass
class Timed:
    """One measured run: wall time, CPU of this process and of the lab, accounts done."""

    name: str
    accounts: int
    wall: float
    cpu: float
    lab_cpu: float
    ok: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.accounts / self.wall if self.wall else float("nan")


class Meter:
    """`with Meter(lab) as m:` wall, own CPU and the lab's CPU over a block."""

    def __init__(self, lab: LabProcess | None = None) -> None:
        self.lab = lab

    def __enter__(self) -> Meter:
        self._lab0 = self.lab.cpu_seconds() if self.lab else 0.0
        self._cpu0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = time.process_time() - self._cpu0
        self.lab_cpu = (self.lab.cpu_seconds() if self.lab else 0.0) - self._lab0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def machine() -> str:
    """Date, Python, CPUs, and the load average: other work on the machine skews the numbers."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{date.today().isoformat()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load {load}"
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (also readable on a terminal)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]

    def line(items: list[str]) -> str:
        return "| " + " | ".join(s.ljust(w) for s, w in zip(items, widths, strict=True)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def write_account_file(
    path: Path,
    n: int,
    *,
    imap_port: int,
    smtp_port: int,
    ca_file: str,
    concurrency: int = 32,
    per_host: int = 32,
) -> None:
    """An account file with `n` accounts on the lab (as a user would write it, names and tags
    included). The lab is one host, so `per_host` defaults to `concurrency`."""
    out = [
        "[settings]",
        f"concurrency = {concurrency}",
        f"per_host = {per_host}",
        "timeout = 15",
        "",
    ]
    tags = ("acme", "globex", "initech", "umbrella", "hooli")
    for i in range(n):
        address = email(i)
        out += [
            "[[account]]",
            f'email = "{address}"',
            f'name = "User {i} ({tags[i % len(tags)].capitalize()})"',
            f'tags = ["{tags[i % len(tags)]}"]',
            'provider = "generic"',
            "",
            "[account.smtp]",
            f'host = "{HOST}"',
            f"port = {smtp_port}",
            'security = "tls"',
            f'tls_ca_file = "{ca_file}"',
            "",
            "[account.imap]",
            f'host = "{HOST}"',
            f"port = {imap_port}",
            'security = "tls"',
            f'tls_ca_file = "{ca_file}"',
            "",
        ]
    path.write_text("\n".join(out), encoding="utf-8")


def lab_secrets(n: int) -> MemorySecrets:
    """The passwords of `write_account_file`'s accounts (username@host keys)."""
    secrets = MemorySecrets()
    for i in range(n):
        secrets.set(f"{email(i)}@{HOST}", derived_password(email(i)))
    return secrets


def paint_for_real() -> None:
    """Make headless Textual encode every frame as terminal output (then drop it).

    The headless driver skips that step; a terminal pays for it on every frame, so it is part of
    what is measured here.
    """
    from textual.app import App
    from textual.screen import Screen

    original = App._display

    def display(self: App[Any], screen: Screen[Any], renderable: Any) -> None:
        original(self, screen, renderable)
        if renderable is not None and not self._batch_count and self.is_headless:
            render = getattr(renderable, "render_segments", None)
            if render is not None:
                render(self.console)
            for hook in list(_display_hooks):
                hook(self)

    App._display = display  # type: ignore[method-assign]


_display_hooks: list[Any] = []


def on_display(hook: Any) -> None:
    """Call `hook(app)` after every frame (see `paint_for_real`)."""
    _display_hooks.append(hook)
