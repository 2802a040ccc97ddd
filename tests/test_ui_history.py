"""The console and the results store: last known states at start, a cron `check` seen after a
reload, "since when", the glyph line of the last checks, flapping and the "changed" order."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from test_check_cli import Servers, servers, write_config
from ui_support import highlight, main_screen, row, settle

from console.core.model import AccountResult, Cause, CheckResult, Protocol, Stage, Status
from console.core.store import ResultsStore, results_path
from console.ui.app import MailConsoleApp
from console.ui.cells import COLUMN_KEYS
from console.ui.sorting import SortOrder

__all__ = ["servers"]  # the lab fixture, shared with test_check_cli


def _accounts(tmp_path: Path, s: Servers, *, cond_ok: bool = False) -> Path:
    return write_config(
        tmp_path / "accounts.toml",
        s,
        [
            ("ok@acme.example", s.smtp_ok, s.imap_ok),
            ("cond@acme.example", s.smtp_ok, s.imap_ok if cond_ok else s.imap_bad),
            ("disc@acme.example", s.smtp_bad, s.imap_ok),
        ],
    )


def _state_cell(app: MailConsoleApp, email: str) -> Text:
    cells = main_screen(app).table.get_row(email)
    return cells[COLUMN_KEYS.index("state")]


async def test_a_restarted_console_shows_the_last_states_at_once_with_their_age(
    servers: Servers, tmp_path: Path
) -> None:
    config = _accounts(tmp_path, servers)
    first = MailConsoleApp(config)
    async with first.run_test(size=(160, 50)) as pilot:
        await settle(first, pilot)
        assert row(first, "cond@acme.example")["state"] == "◐ conditional"
    later = datetime.now(UTC) + timedelta(hours=2)
    again = MailConsoleApp(config, check_on_start=False, clock=lambda: later)
    async with again.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert row(again, "ok@acme.example")["state"] == "● connected"
        assert row(again, "cond@acme.example")["state"] == "◐ conditional"
        assert row(again, "disc@acme.example")["state"] == "✕ disconnected"
        assert row(again, "cond@acme.example")["checked"] == "2h ago"
        assert row(again, "cond@acme.example")["cause"].startswith("IMAP: ")
        style = _state_cell(again, "cond@acme.example").style
        assert getattr(style, "dim", False)  # remembered, not re-checked: dimmed
        await highlight(again, pilot, "cond@acme.example")
        text = " ".join(main_screen(again).pane.text.split())
        assert "conditional since" in text and "(2 h)" in text
        assert "remembered, not re-checked yet" in text
        assert "last checks ◐ (oldest first, 1)" in text

        await pilot.press("r")  # re-check: the mark goes, the glyph line grows
        await settle(again, pilot)
        assert not getattr(_state_cell(again, "cond@acme.example").style, "dim", False)
        await highlight(again, pilot, "ok@acme.example")
        await highlight(again, pilot, "cond@acme.example")
        text = " ".join(main_screen(again).pane.text.split())
        assert "remembered" not in text and "last checks ◐◐ (oldest first, 2)" in text


async def test_a_cron_check_while_the_console_is_open_shows_after_a_reload(
    servers: Servers, tmp_path: Path
) -> None:
    config = _accounts(tmp_path, servers)
    app = MailConsoleApp(config, check_on_start=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert row(app, "cond@acme.example")["state"] == "○ unchecked"
        env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "console",
            "check",
            "--changed",
            "--config",
            str(config),
            "--format",
            "json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2 and err.decode() == ""
        main_screen(app).action_reload()
        await pilot.pause()
        assert row(app, "ok@acme.example")["state"] == "● connected"
        assert row(app, "cond@acme.example")["state"] == "◐ conditional"
        assert row(app, "disc@acme.example")["state"] == "✕ disconnected"


def _result(email: str, at: datetime, imap_ok: bool) -> AccountResult:
    imap = (
        CheckResult(Protocol.IMAP, Status.OK)
        if imap_ok
        else CheckResult(Protocol.IMAP, Status.FAILED, Cause.TIMEOUT, Stage.CONNECT)
    )
    return AccountResult(email, CheckResult(Protocol.SMTP, Status.OK), imap, at)


async def test_flapping_is_marked_and_the_changed_order_puts_real_news_first(
    servers: Servers, tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _accounts(tmp_path, servers)
    now = datetime.now(UTC).replace(microsecond=0)
    with ResultsStore.open(results_path()) as store:
        for i in range(6):  # ok, broken, ok, broken, ...: five changes in an hour
            store.record(
                _result("ok@acme.example", now - timedelta(minutes=60 - 10 * i), i % 2 == 0)
            )
        store.record(_result("cond@acme.example", now - timedelta(days=3), True))
        store.record(_result("cond@acme.example", now - timedelta(minutes=30), False))
        store.record(_result("disc@acme.example", now - timedelta(days=5), True))
    app = MailConsoleApp(config, check_on_start=False, clock=lambda: now)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert row(app, "ok@acme.example")["cause"].startswith("↯ flapping · IMAP: ")
        assert "flapping" not in row(app, "cond@acme.example")["cause"]
        screen = main_screen(app)
        screen.apply_sort(SortOrder("changed"))
        await pilot.pause()
        order = [screen.table.get_row_at(i)[COLUMN_KEYS.index("account")].plain for i in range(3)]
        assert order == ["cond@acme.example", "disc@acme.example", "ok@acme.example"]
        await highlight(app, pilot, "ok@acme.example")
        text = " ".join(screen.pane.text.split())
        assert "↯ flapping: 5 state changes in 24 h" in text
        assert "last checks ●◐●◐●◐" in text
        assert "State changes" in text and "(IMAP: timeout)" in text

        monkeypatch.chdir(tmp_path)
        await pilot.press("A")  # the audit report, written where the console was started
        await pilot.pause()
        written = list(tmp_path.glob("mailconsole-report-*.html"))
        assert len(written) == 1
        html = written[0].read_text(encoding="utf-8")
        assert "Client: cond" in html and "Needs attention, by cause" in html


async def test_a_damaged_store_is_said_once_and_the_console_still_checks(
    servers: Servers, tmp_path: Path, state_dir: Path
) -> None:
    config = _accounts(tmp_path, servers)
    state_dir.mkdir(parents=True)
    store = state_dir / "results.sqlite3"
    store.write_bytes(b"garbage, not a database\n" * 40)
    app = MailConsoleApp(config)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.press("R")
        await settle(app, pilot)
        assert row(app, "cond@acme.example")["state"] == "◐ conditional"
        # Textual keeps shown notifications in App._notifications (no public list to read).
        said = [n.message for n in app._notifications if "results.sqlite3" in n.message]
        assert len(said) == 1 and "not an SQLite database" in said[0]
    assert store.read_bytes() == b"garbage, not a database\n" * 40
