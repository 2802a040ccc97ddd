"""`q` quits at once with hundreds of checks in flight, and leaves nothing running behind."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from ui_support import Acct, accounts_toml, main_screen, row

from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, Hostile, ImapScenario, Lab, SmtpScenario
from console.ui.app import MailConsoleApp

ACCOUNTS = 200
QUIT_BOUND = 5.0
"""Seconds; generous on purpose (a quit that waits on sockets takes the whole 60 s timeout)."""


async def test_quit_with_200_checks_in_flight_is_prompt_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILCONSOLE_STATE_DIR", str(tmp_path / "state"))
    threads_before = threading.active_count()
    async with Lab() as lab:
        silent = Hostile(action="silent", at="greeting")
        smtp = await lab.start(SmtpScenario(hostile=silent))
        imap = await lab.start(ImapScenario(hostile=silent))
        accounts = [
            Acct(f"user{i:03d}@silent.example", smtp, imap, imap_host="127.0.0.1")
            for i in range(ACCOUNTS)
        ]
        path = tmp_path / "accounts.toml"
        path.write_text(
            accounts_toml(accounts, lab.ca.ca_file, settings={"timeout": 60, "per_host": 8})
        )
        secrets = MemorySecrets(
            {f"{LAB_USER}@localhost": LAB_PASSWORD, f"{LAB_USER}@127.0.0.1": LAB_PASSWORD}
        )
        app = MailConsoleApp(path, secrets=secrets)
        async with app.run_test(size=(120, 40)) as pilot:
            # per_host = 8: eight connections to each host, held open by the silent servers
            await imap.wait_until(lambda s: s.connections_current >= 8)
            await smtp.wait_until(lambda s: s.connections_current >= 8)
            await pilot.pause()
            screen = main_screen(app)
            assert screen.scheduler.running == ACCOUNTS
            assert row(app, "user000@silent.example")["state"] == "⟳ checking"
            assert row(app, "user199@silent.example")["imap"].startswith("⟳ ")  # queued or a stage
            started = time.monotonic()
            await pilot.press("q")
        elapsed = time.monotonic() - started
        assert elapsed < QUIT_BOUND, f"quitting took {elapsed:.1f} s"
        await imap.wait_until(lambda s: s.connections_current == 0)
        await smtp.wait_until(lambda s: s.connections_current == 0)
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current]
    if left:
        _done, pending = await asyncio.wait(left, timeout=2.0)
        assert not pending, f"tasks left running: {pending}"
    # the loop's own executor (getaddrinfo) must be idle: shutting it down returns at once
    await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 2.0)
    assert threading.active_count() <= threads_before, threading.enumerate()
