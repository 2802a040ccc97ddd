"""Small things a user meets on the way: a reload checks what it brought, a delete leaves the
cursor next to where it was, texts say "an SMTP", the command line explains itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Footer
from ui_support import Acct, accounts_toml, highlight, main_screen, row, settle

from console.core.diagnosis.advice import advise
from console.core.model import Cause, Protocol
from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, ImapScenario, Lab, SmtpScenario
from console.ui.app import MailConsoleApp


async def lab_file(lab: Lab, tmp_path: Path, emails: list[str]) -> tuple[Path, object, object]:
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario())
    path = tmp_path / "accounts.toml"
    path.write_text(accounts_toml([Acct(e, smtp, imap) for e in emails], lab.ca.ca_file))
    return path, smtp, imap


async def test_a_reload_checks_the_accounts_it_brought(lab: Lab, tmp_path: Path) -> None:
    path, smtp, imap = await lab_file(lab, tmp_path, ["a@acme.example"])
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set, state_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert row(app, "a@acme.example")["state"] == "● connected"
        both = [Acct(e, smtp, imap) for e in ("a@acme.example", "b@acme.example")]  # type: ignore[arg-type]
        path.write_text(accounts_toml(both, lab.ca.ca_file))
        await pilot.press("ctrl+r")
        await pilot.pause()
        await settle(app, pilot)
        assert row(app, "b@acme.example")["state"] == "● connected"


async def test_deleting_the_last_row_leaves_the_cursor_on_the_row_above(
    lab: Lab, tmp_path: Path
) -> None:
    emails = ["a@acme.example", "b@acme.example", "c@acme.example"]
    path, _, _ = await lab_file(lab, tmp_path, emails)
    secrets = MemorySecrets({})
    app = MailConsoleApp(
        path, secrets=secrets, store_secret=secrets.set, check_on_start=False, state_dir=tmp_path
    )
    async with app.run_test(size=(120, 40)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "c@acme.example")
        await pilot.press("d", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "c@acme.example" not in screen.board
        assert screen.table.cursor_email == "b@acme.example"
        await highlight(app, pilot, "a@acme.example")
        await pilot.press("d", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.table.cursor_email == "b@acme.example"  # the row below moved up


@pytest.mark.parametrize("protocol", list(Protocol))
@pytest.mark.parametrize("cause", list(Cause))
def test_texts_say_an_smtp_and_an_imap(cause: Cause, protocol: Protocol) -> None:
    advice = advise(cause, protocol)
    for text in (advice.title, advice.explanation, *advice.consequences, *advice.fix):
        assert not re.search(r"\b[Aa] (SMTP|IMAP)\b", text), text


def test_version_and_help() -> None:
    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "console", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert re.fullmatch(r"mailconsole \d+\.\d+\.\d+\S*\n", run("--version"))
    help_text = " ".join(run("--help").split())
    assert "Without a command, `mailconsole` starts the console (the terminal UI)" in help_text


async def test_a_dialog_has_its_own_footer_over_the_tables(lab: Lab, tmp_path: Path) -> None:
    path, _, _ = await lab_file(lab, tmp_path, ["a@acme.example"])
    secrets = MemorySecrets({})
    app = MailConsoleApp(
        path, secrets=secrets, store_secret=secrets.set, check_on_start=False, state_dir=tmp_path
    )
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("d", "a"):
            await pilot.press(key)
            await pilot.pause()
            footer = app.screen.query_one(Footer)
            assert footer.region.y == 23  # the bottom line, where the table's keys were
            keys = {b.binding.description for b in app.active_bindings.values() if b.binding.show}
            assert "Re-test" not in keys
            await pilot.press("escape")
            await pilot.pause()
