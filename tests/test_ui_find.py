"""The one-key fix: `f` finds the IMAP port/security pair that answers and puts it in the form."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.widgets import Input, Select
from ui_support import Acct, accounts_toml, highlight, main_screen, row, settle

from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, ImapScenario, Lab, SmtpScenario
from console.ui.app import MailConsoleApp


async def test_find_settings_fills_the_working_pair_without_sending_a_password(
    lab: Lab, tmp_path: Path
) -> None:
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario(security="starttls"))
    path = tmp_path / "accounts.toml"
    path.write_text(
        accounts_toml(
            [Acct("ivan@tyrell.example", smtp, imap, imap_security="tls")], lab.ca.ca_file
        )
    )
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(
        path,
        secrets=secrets,
        store_secret=secrets.set,
        state_dir=tmp_path,
        allowed_hosts=frozenset({"localhost", "127.0.0.1"}),
    )
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(app, pilot)
        assert row(app, "ivan@tyrell.example")["state"] == "◐ conditional"
        await highlight(app, pilot, "ivan@tyrell.example")
        screen = main_screen(app)
        assert "Press f to find the IMAP port and security" in " ".join(screen.pane.text.split())
        await pilot.press("f")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.pane.editor is not None
        assert screen.query_one("#security", Select).value == "starttls"
        assert screen.query_one("#port", Input).value == str(imap.port)
        text = " ".join(screen.pane.text.split())
        assert f"use localhost:{imap.port} with security starttls" in text
        assert "ctrl+s saves them" in text
        assert imap.credentials_seen() == []  # the search itself sent no password
        assert row(app, "ivan@tyrell.example")["state"] == "◐ conditional"  # nothing saved yet
        await pilot.press("ctrl+s")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert row(app, "ivan@tyrell.example")["state"] == "● connected"
    saved = tomllib.loads(path.read_text())
    assert saved["account"][0]["imap"]["security"] == "starttls"
