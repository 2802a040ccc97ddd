"""The edit form as a person uses it: SMTP as well as IMAP, at 80x24, with the mouse, and with keys
typed ahead before the form is on screen."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual import events
from textual.widget import Widget
from textual.widgets import Input, Select
from ui_support import Acct, accounts_toml, highlight, main_screen, row, settle

from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, ImapScenario, Lab, SmtpScenario
from console.ui.app import MailConsoleApp
from console.ui.screens.add_account import AddAccountScreen
from console.ui.screens.confirm import ConfirmScreen

SMTP_PASSWORD = "smtp only pässword"


async def smtp_on_wrong_port(lab: Lab, tmp_path: Path) -> tuple[Path, int, int]:
    """bob's SMTP port points at the IMAP server: his sending is broken until fixed."""
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario())
    accounts = [
        Acct("alice@acme.example", smtp, imap, {"name": "Alice"}),
        Acct("bob@acme.example", smtp, imap, {"name": "Bob"}),
    ]
    text = accounts_toml(accounts, lab.ca.ca_file)
    head, _, bob = text.partition('email = "bob@acme.example"')
    bob = bob.replace(f"port = {smtp.port}", f"port = {imap.port}", 1)
    path = tmp_path / "accounts.toml"
    path.write_text(head + 'email = "bob@acme.example"' + bob)
    return path, smtp.port, imap.port


async def replace_text(pilot: object, field: Input, text: str) -> None:
    field.focus()
    await pilot.press("end", *["backspace"] * len(field.value), *text)  # type: ignore[attr-defined]


def on_screen(app: MailConsoleApp, widget: Widget) -> bool:
    """The widget is painted inside the visible part of the detail pane (not scrolled away)."""
    pane = main_screen(app).pane.region
    region = widget.region
    return bool(region.height) and pane.contains_region(region)


def form_app(path: Path, tmp_path: Path) -> tuple[MailConsoleApp, MemorySecrets]:
    """The console on `path` with an empty in-memory keyring, no start-up checks."""
    secrets = MemorySecrets({})
    app = MailConsoleApp(
        path, secrets=secrets, store_secret=secrets.set, check_on_start=False, state_dir=tmp_path
    )
    return app, secrets


async def test_smtp_is_edited_tested_and_saved_like_imap(lab: Lab, tmp_path: Path) -> None:
    path, smtp_port, _imap_port = await smtp_on_wrong_port(lab, tmp_path)
    before = path.read_text()
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set, state_dir=tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(app, pilot)
        assert row(app, "bob@acme.example")["state"] != "● connected"
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        await pilot.press("e")
        await replace_text(pilot, screen.query_one("#smtp-port", Input), str(smtp_port))
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = " ".join(screen.pane.text.split())
        assert "✓ IMAP works with these settings." in text
        assert "✓ SMTP works with these settings." in text
        assert path.read_text() == before  # a test saves nothing
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert screen.pane.editor is None
        assert row(app, "bob@acme.example")["state"] == "● connected"
    after = path.read_text()
    assert after == before.replace(
        before[before.index('email = "bob@acme.example"') :],
        before[before.index('email = "bob@acme.example"') :].replace(
            f"port = {_imap_port}", f"port = {smtp_port}", 1
        ),
    )


async def test_a_typed_smtp_password_goes_to_the_keyring_not_the_file(
    lab: Lab, tmp_path: Path
) -> None:
    path, _smtp_port, _ = await smtp_on_wrong_port(lab, tmp_path)
    before = path.read_bytes()
    app, secrets = form_app(path, tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "alice@acme.example")
        await pilot.press("e")
        await replace_text(pilot, screen.query_one("#smtp-password", Input), SMTP_PASSWORD)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.pane.editor is None
        entry = screen.board["alice@acme.example"].account
    assert path.read_bytes() == before
    assert entry.smtp is not None
    assert await secrets(entry.smtp) == SMTP_PASSWORD
    assert SMTP_PASSWORD.encode() not in path.read_bytes()


async def test_at_80x24_the_result_and_the_account_stay_in_view(lab: Lab, tmp_path: Path) -> None:
    path, smtp_port, _ = await smtp_on_wrong_port(lab, tmp_path)
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(
        path, secrets=secrets, store_secret=secrets.set, check_on_start=False, state_dir=tmp_path
    )
    async with app.run_test(size=(80, 24)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        await pilot.press("e")
        await replace_text(pilot, screen.query_one("#smtp-port", Input), str(smtp_port))
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        title = screen.query_one("#editor-title")
        result = screen.query_one("#form-result")
        assert on_screen(app, title)
        assert "bob@acme.example" in title.visual.plain  # type: ignore[union-attr]
        assert on_screen(app, result)
        assert "SMTP works with these settings" in result.visual.plain  # type: ignore[union-attr]
        assert app.focused is screen.query_one("#smtp-port")
        assert on_screen(app, app.focused)  # typing is not blind
        for _ in range(6):  # walk through the fields: each one scrolls into view
            await pilot.press("tab")
            if app.focused is not None and app.focused in screen.pane.walk_children():
                assert on_screen(app, app.focused), app.focused
        await pilot.press("escape")
        await pilot.pause()
        await highlight(app, pilot, "alice@acme.example")
        await pilot.press("f")  # find settings opens the form on the highlighted account
        await pilot.pause()
        title = screen.query_one("#editor-title")
        assert on_screen(app, title)
        assert "alice@acme.example" in title.visual.plain  # type: ignore[union-attr]
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert on_screen(app, screen.query_one("#form-result"))
        assert on_screen(app, screen.query_one("#editor-title"))


async def test_every_button_of_the_form_works_with_the_mouse(lab: Lab, tmp_path: Path) -> None:
    path, smtp_port, _ = await smtp_on_wrong_port(lab, tmp_path)
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(
        path, secrets=secrets, store_secret=secrets.set, check_on_start=False, state_dir=tmp_path
    )
    async with app.run_test(size=(120, 50)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        await pilot.press("e")
        await replace_text(pilot, screen.query_one("#smtp-port", Input), str(smtp_port))
        screen.query_one("#test").scroll_visible(animate=False)
        await pilot.pause()
        assert await pilot.click("#test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "SMTP works with these settings" in screen.pane.text
        screen.query_one("#cancel").scroll_visible(animate=False)
        await pilot.pause()
        assert await pilot.click("#cancel")
        await pilot.pause()
        assert screen.pane.editor is None
        await pilot.press("e")
        await replace_text(pilot, screen.query_one("#smtp-port", Input), str(smtp_port))
        await pilot.press("enter")  # Enter in a field tests, as the Test button does
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "SMTP works with these settings" in screen.pane.text
        screen.query_one("#save").scroll_visible(animate=False)
        await pilot.pause()
        assert await pilot.click("#save")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.pane.editor is None
    saved = tomllib.loads(path.read_text())
    assert saved["account"][1]["smtp"]["port"] == smtp_port


async def test_every_button_of_the_dialogs_works_with_the_mouse(lab: Lab, tmp_path: Path) -> None:
    path, _, _ = await smtp_on_wrong_port(lab, tmp_path)
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(
        path, secrets=secrets, store_secret=secrets.set, check_on_start=False, state_dir=tmp_path
    )
    async with app.run_test(size=(100, 40)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert await pilot.click("#no")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("d")
        await pilot.pause()
        assert await pilot.click("#yes")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "bob@acme.example" not in screen.board
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AddAccountScreen)
        assert await pilot.click("#cancel")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"carol@acme.example")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, AddAccountScreen)
        for protocol in ("smtp", "imap"):
            dialog.query_one(f"#{protocol}-host", Input).value = "localhost"
            dialog.query_one(f"#{protocol}-port", Input).value = "993"
            dialog.query_one(f"#{protocol}-username", Input).value = "carol"
        dialog.query_one("#add").scroll_visible(animate=False)
        await pilot.pause()
        assert await pilot.click("#add")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert "carol@acme.example" in path.read_text()


def burst(app: MailConsoleApp, keys: str | list[str]) -> None:
    """Keys arriving in one read from the terminal (typed ahead over SSH): no pause between
    them, all queued before the app handles the first."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        name = {"\t": "tab", " ": "space", "@": "at", ".": "full_stop"}.get(key, key)
        char = key if len(key) == 1 and key != "\t" else None
        event = events.Key(name, char)
        event.set_sender(app)
        driver.send_message(event)


async def test_keys_typed_right_after_e_land_in_their_fields(lab: Lab, tmp_path: Path) -> None:
    path, _, _ = await smtp_on_wrong_port(lab, tmp_path)
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(
        path, secrets=secrets, store_secret=secrets.set, check_on_start=False, state_dir=tmp_path
    )
    async with app.run_test(size=(80, 24)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        host = screen.board["bob@acme.example"].account.imap.host  # type: ignore[union-attr]
        # e, then (host field) end of line and ".x", tab tab tab (port, security, username),
        # "Z", tab (password), a password with spaces
        keys = ["e", "end", *".x", "\t", "\t", "\t", "end", "Z", "\t", *"demo app pass word"]
        burst(app, keys)
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one("#host", Input).value == host + ".x"
        assert screen.query_one("#username", Input).value == LAB_USER + "Z"
        assert screen.query_one("#password", Input).value == "demo app pass word"
        assert app.focused is screen.query_one("#password")


async def test_a_username_with_spaces_is_warned_about_before_saving(
    lab: Lab, tmp_path: Path
) -> None:
    path, _, _ = await smtp_on_wrong_port(lab, tmp_path)
    before = path.read_bytes()
    app, _secrets = form_app(path, tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "alice@acme.example")
        await pilot.press("e")
        await replace_text(pilot, screen.query_one("#smtp-username", Input), "demo app pass")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        warning = screen.query_one("#warning-smtp-username").visual.plain  # type: ignore[union-attr]
        assert "has a space" in warning
        assert screen.pane.editor is not None
        assert path.read_bytes() == before  # not saved yet
        await pilot.press("ctrl+s")  # saving again keeps it as typed
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.pane.editor is None
    assert tomllib.loads(path.read_text())["account"][0]["smtp"]["username"] == "demo app pass"


async def test_a_provider_preset_fills_both_servers(lab: Lab, tmp_path: Path) -> None:
    path, _, _ = await smtp_on_wrong_port(lab, tmp_path)
    app, _secrets = form_app(path, tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "alice@acme.example")
        await pilot.press("e")
        screen.query_one("#preset", Select).value = "gmail"
        await pilot.pause()
        assert screen.query_one("#host", Input).value == "imap.gmail.com"
        assert screen.query_one("#smtp-host", Input).value == "smtp.gmail.com"
        assert screen.query_one("#smtp-port", Input).value == "465"
        assert screen.query_one("#smtp-username", Input).value == "alice@acme.example"
