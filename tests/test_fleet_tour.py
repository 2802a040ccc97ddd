"""The README's import tour in the demo: i, enter, ctrl+t, ctrl+s, y; g shows the groups; the
port-mismatch group is fixed with f and the app-password group with the password queue."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from textual.pilot import Pilot
from ui_support import main_screen, settle

from console.core.model import Cause, State
from console.core.runner import Runner
from console.lab.demo import DEMO_HOSTS, DemoLab
from console.ui.app import MailConsoleApp
from console.ui.group_fixes import FixPreviewScreen, PasswordQueueScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.groups import GroupsScreen
from console.ui.screens.import_dialog import ImportScreen


@pytest.fixture
def demo() -> Iterator[DemoLab]:
    with DemoLab() as lab:
        yield lab


async def wait_for(pilot: Pilot[None], condition, tries: int = 400) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the console did not get there in time")


@pytest.mark.timeout(240)
async def test_import_tour_in_the_demo(demo: DemoLab, tmp_path: Path) -> None:
    app = MailConsoleApp(
        demo.config_path,
        secrets=demo.secrets,
        store_secret=demo.secrets.set,
        runner_factory=partial(Runner, allowed_hosts=DEMO_HOSTS),
        allowed_hosts=DEMO_HOSTS,
        state_dir=tmp_path,
    )
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = main_screen(app)
        before = len(screen.board)
        await pilot.press("i")
        assert isinstance(app.screen, ImportScreen)
        dialog = app.screen
        await pilot.press("enter")  # the demo's file is already in the path field
        await wait_for(pilot, lambda: dialog.plan is not None)
        assert dialog.plan is not None and len(dialog.plan.rows) == 500
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: dialog.plan is not None and dialog.plan.tested)
        status = dialog.query_one("#import-status").visual.plain  # type: ignore[union-attr]
        assert "474 add" in status and "447 connected" in status
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (ImportScreen, ConfirmScreen)))
        assert len(screen.board) == before + 474
        assert screen.board["user001@initech.example"].state is State.CONNECTED

        # the groups: the port-mismatch one is fixed by what discovery finds on the host
        await pilot.press("g")
        assert isinstance(app.screen, GroupsScreen)
        groups = app.screen.groups
        app_pw = next(i for i, g in enumerate(groups) if g.key.cause is Cause.APP_PASSWORD_REQUIRED)
        mismatch = next(i for i, g in enumerate(groups) if g.key.cause is Cause.TLS_MISMATCH)
        assert groups[app_pw].size >= 12 and groups[mismatch].size >= 10
        mismatch_emails = list(groups[mismatch].emails)
        app.screen.query_one("OptionList").highlighted = mismatch  # type: ignore[attr-defined]
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FixPreviewScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, FixPreviewScreen))
        await settle(app, pilot)
        assert all(screen.board[e].state is State.CONNECTED for e in mismatch_emails)

        # the app-password group: the queue walks it with the password field focused
        await pilot.press("g")
        groups = app.screen.groups  # type: ignore[attr-defined]
        app_pw = next(i for i, g in enumerate(groups) if g.key.cause is Cause.APP_PASSWORD_REQUIRED)
        app_pw_emails = list(groups[app_pw].emails)
        app.screen.query_one("OptionList").highlighted = app_pw  # type: ignore[attr-defined]
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, PasswordQueueScreen))
        queue = app.screen
        for n in range(len(app_pw_emails)):
            await pilot.press(*"demoappspassword", "enter")
            await wait_for(
                pilot,
                lambda n=n: (
                    queue.stored == n + 1 or not isinstance(app.screen, PasswordQueueScreen)
                ),
            )
        await wait_for(pilot, lambda: not isinstance(app.screen, PasswordQueueScreen))
        await settle(app, pilot)
        assert all(screen.board[e].state is State.CONNECTED for e in app_pw_emails)


async def test_the_dialog_mapping_can_be_corrected_and_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input, TextArea

    from console.core.secrets import MemorySecrets

    monkeypatch.setenv("MAILCONSOLE_MAPPINGS_DIR", str(tmp_path / "mappings"))
    config = tmp_path / "accounts.toml"
    config.write_text("[settings]\ntimeout = 5\n", encoding="utf-8")
    source = tmp_path / "client.csv"
    source.write_text(
        "Mailbox,Secret,Out,In\r\nana@fern.example,Zq-7-secret,smtp.fern.example,imap.fern.example\r\n",
        encoding="utf-8",
    )
    secrets = MemorySecrets()
    app = MailConsoleApp(config, secrets=secrets, store_secret=secrets.set, check_on_start=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("i")
        dialog = app.screen
        assert isinstance(dialog, ImportScreen)
        dialog.query_one("#import-path", Input).value = str(source)
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.plan is not None)
        assert dialog.plan is not None and dialog.plan.rows[0].action.value == "error"
        dialog.query_one(
            TextArea
        ).text = "Mailbox = email\nSecret = password\nOut = smtp.host\nIn = imap.host\n"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: dialog.plan.rows[0].action.value == "add")  # type: ignore[union-attr]
        save_name = dialog.query_one("#import-save-name", Input)
        save_name.focus()
        await pilot.press(*"client-x", "enter")
        await pilot.pause()
        assert (tmp_path / "mappings" / "client-x.toml").exists()
        shown = dialog.query_one("#import-status").visual.plain  # type: ignore[union-attr]
        assert "Zq-7-secret" not in shown
        await pilot.press("ctrl+s")  # untested rows are never saved
        await pilot.pause()
        assert "Test the rows first" in dialog.query_one("#import-status").visual.plain  # type: ignore[union-attr]
    assert "fern" not in config.read_text()
