"""Editing IMAP settings in the detail pane: test before save, save, password to the keyring."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.widgets import Input
from ui_support import Acct, accounts_toml, highlight, main_screen, row, settle

from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, ImapScenario, Lab, LabImapServer, SmtpScenario
from console.ui.app import MailConsoleApp
from console.ui.screens.confirm import ConfirmScreen

PASSWORD = 'pä ss "w\\rd'


async def wrong_port_file(lab: Lab, tmp_path: Path) -> tuple[Path, LabImapServer]:
    """bob's IMAP port points at the SMTP server (a classic): conditional until fixed."""
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario())
    accounts = [
        Acct("alice@acme.example", smtp, imap, {"name": "Alice", "tags": ["acme"]}),
        Acct("bob@acme.example", smtp, imap, {"tags": ["acme"]}, imap_port=smtp.port),
    ]
    path = tmp_path / "accounts.toml"
    path.write_text(accounts_toml(accounts, lab.ca.ca_file))
    return path, imap


async def type_into(pilot: object, field: Input, text: str) -> None:
    field.focus()
    await pilot.press("end", *["backspace"] * len(field.value), *text)  # type: ignore[attr-defined]


async def test_editing_the_port_saves_exactly_that_field_and_retests(
    lab: Lab, tmp_path: Path
) -> None:
    path, imap = await wrong_port_file(lab, tmp_path)
    before = tomllib.loads(path.read_text())
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set)
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(app, pilot)
        assert row(app, "bob@acme.example")["state"] == "◐ conditional"
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        await pilot.press("e")
        assert screen.pane.editor is not None
        assert screen.table.row_count == 2  # the table stays on screen
        await type_into(pilot, screen.query_one("#port", Input), str(imap.port))
        await pilot.press("ctrl+s")
        await pilot.pause()
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert screen.pane.editor is None
        assert row(app, "bob@acme.example")["state"] == "● connected"
    after = tomllib.loads(path.read_text())
    before["account"][1]["imap"]["port"] = imap.port
    assert after == before  # that one key changed; everything else as it was


async def test_a_typed_password_goes_to_the_keyring_never_to_the_file(
    lab: Lab, tmp_path: Path, memory_keyring: object
) -> None:
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario(users={"bob@lab.test": PASSWORD}))
    path = tmp_path / "accounts.toml"
    path.write_text(
        accounts_toml(
            [Acct("bob@acme.example", smtp, imap, imap_username="bob@lab.test")], lab.ca.ca_file
        )
    )
    original = path.read_bytes()
    store = memory_keyring.store  # type: ignore[attr-defined]
    store[("mailconsole", f"{LAB_USER}@localhost")] = LAB_PASSWORD  # SMTP's, already there
    app = MailConsoleApp(path)  # the real keyring path: fetch_secret + store_password
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(app, pilot)
        assert row(app, "bob@acme.example")["state"] == "◐ conditional"  # no IMAP password yet
        assert "secret_unavailable" in main_screen(app).pane.text
        await pilot.press("e")
        await type_into(pilot, main_screen(app).query_one("#password", Input), PASSWORD)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert row(app, "bob@acme.example")["state"] == "● connected"
    assert store[("mailconsole", "bob@lab.test@localhost")] == PASSWORD
    assert path.read_bytes() == original  # nothing else changed, so the file was not written
    assert PASSWORD.encode() not in path.read_bytes()
    assert not path.with_name("accounts.toml.bak").exists()


async def test_test_before_save_runs_the_ladder_on_the_unsaved_values(
    lab: Lab, tmp_path: Path
) -> None:
    path, imap = await wrong_port_file(lab, tmp_path)
    original = path.read_bytes()
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set)
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(app, pilot)
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        logins = imap.logins_accepted
        await pilot.press("e")
        await type_into(pilot, screen.query_one("#port", Input), str(imap.port))
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = " ".join(screen.pane.text.split())
        assert "Test of the values in the form (not saved yet)" in text
        assert "IMAP works with these settings" in text
        assert "✓ mailbox" in text
        assert imap.logins_accepted == logins + 1  # a real login, with the unsaved port
        assert row(app, "bob@acme.example")["state"] == "◐ conditional"  # nothing saved, row as was
        await pilot.press("escape")
        assert screen.pane.editor is None
    assert path.read_bytes() == original


async def test_validation_errors_sit_next_to_the_field(lab: Lab, tmp_path: Path) -> None:
    path, _imap = await wrong_port_file(lab, tmp_path)
    original = path.read_bytes()
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set, check_on_start=False)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("e")
        screen = main_screen(app)
        await type_into(pilot, screen.query_one("#host", Input), "imaps://mail.example.com")
        await type_into(pilot, screen.query_one("#port", Input), "993")
        await pilot.pause()
        assert "⚠" not in screen.query_one("#mismatch").visual.plain  # type: ignore[union-attr]
        await type_into(pilot, screen.query_one("#port", Input), "143")
        await pilot.pause()
        assert "port 143 expects a plain start: choose security starttls" in (
            screen.query_one("#mismatch").visual.plain  # type: ignore[union-attr]
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = screen.query_one("#error-host").visual.plain  # type: ignore[union-attr]
        assert "without imap://" in error
        assert screen.pane.editor is not None
    assert path.read_bytes() == original


async def test_a_file_changed_on_disk_is_not_overwritten_and_can_be_reloaded(
    lab: Lab, tmp_path: Path
) -> None:
    path, imap = await wrong_port_file(lab, tmp_path)
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set, check_on_start=False)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        await pilot.press("e")
        await type_into(pilot, screen.query_one("#port", Input), str(imap.port))
        outside = path.read_text().replace('name = "Alice"', 'name = "Alice Changed"')
        path.write_text(outside)  # someone else edits the file meanwhile
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "changed on disk" in app.screen.query_one("#question").visual.plain  # type: ignore[union-attr]
        assert path.read_text() == outside
        await pilot.press("y")  # reload
        await pilot.pause()
        assert screen.pane.editor is not None  # the form kept the user's values
        assert screen.query_one("#port", Input).value == str(imap.port)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    saved = tomllib.loads(path.read_text())
    assert saved["account"][0]["name"] == "Alice Changed"
    assert saved["account"][1]["imap"]["port"] == imap.port
