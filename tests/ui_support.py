"""Helpers shared by the TUI tests (no tests here): lab-backed account files, awaiting checks."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from console.lab import LAB_USER, LabServer
from console.ui.app import MailConsoleApp
from console.ui.cells import COLUMN_KEYS
from console.ui.screens.main import DETAIL_SETTLE, MainScreen


@dataclass
class Acct:
    """One [[account]] of a test file; servers are lab servers (or None: not configured)."""

    email: str
    smtp: LabServer | None = None  # type: ignore[type-arg]
    imap: LabServer | None = None  # type: ignore[type-arg]
    extra: dict[str, object] = field(default_factory=dict)
    imap_username: str = LAB_USER
    smtp_username: str = LAB_USER
    imap_port: int | None = None  # a port other than the server's (a wrong setting)
    imap_security: str = "tls"
    imap_host: str = "localhost"  # "127.0.0.1": another host for the runner's per-host limit


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def accounts_toml(
    accounts: Sequence[Acct], ca_file: Path, *, settings: dict[str, object] | None = None
) -> str:
    """A hand-written account file (a comment and key order a person would use)."""
    lines = ["# written by the TUI tests", "[settings]"]
    for key, value in (settings or {"timeout": 5}).items():
        lines.append(f"{key} = {_value(value)}")
    for account in accounts:
        lines += ["", "[[account]]", f"email = {_value(account.email)}"]
        lines += [f"{k} = {_value(v)}" for k, v in account.extra.items()]
        imap = (account.imap_username, account.imap_port, account.imap_security)
        servers = (
            ("smtp", account.smtp, account.smtp_username, None, "tls", "localhost"),
            ("imap", account.imap, *imap, account.imap_host),
        )
        for proto, server, username, port, security, host in servers:
            if server is None:
                continue
            lines += [
                f"[account.{proto}]",
                f'host = "{host}"',
                f"port = {port or server.port}",
                f'security = "{security}"',
                f"username = {_value(username)}",
                f"tls_ca_file = {_value(str(ca_file))}",
            ]
    return "\n".join(lines) + "\n"


def main_screen(app: MailConsoleApp) -> MainScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, MainScreen)
    return screen


async def settle(app: MailConsoleApp, pilot: Pilot[None]) -> None:
    """Wait for every check in flight to finish and for the UI to take in the results."""
    screen = main_screen(app)
    while workers := screen.scheduler.workers():
        for worker in workers:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        await pilot.pause()
    await pilot.pause()


def row(app: MailConsoleApp, email: str) -> dict[str, str]:
    """The cells of an account's row as shown, by column key (state, account, cause, imap, ...)."""
    cells = main_screen(app).table.get_row(email)
    return {key: cell.plain for key, cell in zip(COLUMN_KEYS, cells, strict=True)}


def shown_emails(app: MailConsoleApp) -> list[str]:
    table = main_screen(app).table
    column = COLUMN_KEYS.index("account")
    return [str(table.get_row_at(i)[column].plain) for i in range(table.row_count)]


async def highlight(app: MailConsoleApp, pilot: Pilot[None], email: str) -> None:
    """Put the cursor on an account and wait until the detail pane shows it.

    The pane follows the cursor after a short settle time (so a held arrow key stays smooth):
    this waits for that timer, never longer than a second.
    """
    screen = main_screen(app)
    screen.table.move_to(email)
    for _ in range(int(1 / DETAIL_SETTLE) + 1):
        await pilot.pause()
        if screen.pane.showing == email:
            return
        await pilot.pause(DETAIL_SETTLE)
    raise AssertionError(f"the detail pane did not follow the cursor to {email}")
