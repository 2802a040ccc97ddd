"""Saving from the edit form keeps the account file as the user wrote it: every byte outside the
edited values stays (the documented example, comments and all)."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

from textual.widgets import Input
from ui_support import highlight, main_screen

from console.core.runner import Runner
from console.core.secrets import MemorySecrets
from console.ui.app import MailConsoleApp

EXAMPLE = Path(__file__).resolve().parent.parent / "accounts.example.toml"
LOOPBACK = frozenset({"localhost", "127.0.0.1"})


def example_app(path: Path, tmp_path: Path) -> MailConsoleApp:
    """The console on a copy of the example; it may only contact loopback (the example's
    servers are real providers), so the re-test after a save never leaves the machine."""
    secrets = MemorySecrets({})
    return MailConsoleApp(
        path,
        secrets=secrets,
        store_secret=secrets.set,
        check_on_start=False,
        runner_factory=partial(Runner, allowed_hosts=LOOPBACK),
        allowed_hosts=LOOPBACK,
        state_dir=tmp_path,
    )


async def replace_text(pilot: object, field: Input, text: str) -> None:
    field.focus()
    await pilot.press("end", *["backspace"] * len(field.value), *text)  # type: ignore[attr-defined]


async def test_saving_the_form_changes_only_the_edited_values(tmp_path: Path) -> None:
    path = Path(shutil.copy(EXAMPLE, tmp_path / "accounts.toml"))
    original = path.read_text()
    app = example_app(path, tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = main_screen(app)
        await highlight(app, pilot, "carol@initech.example")
        await pilot.press("e")
        await pilot.pause()
        await replace_text(pilot, screen.query_one("#host", Input), "localhost")
        await replace_text(pilot, screen.query_one("#port", Input), "1143")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.pane.editor is None
    saved = path.read_text()
    carol_imap = (
        '[account.imap]\nhost = "mail.initech.example"\nport = 993\n'
        'security = "tls"\npassword_command = "pass show mail/replies@initech.example"'
    )
    assert original.count(carol_imap) == 1
    expected = original.replace(
        carol_imap,
        carol_imap.replace('"mail.initech.example"', '"localhost"').replace("993", "1143"),
    )
    assert saved == expected  # every other byte (every comment line among them) as it was
    assert saved.count("#") == original.count("#")
    assert (tmp_path / "accounts.toml.bak").read_text() == original
