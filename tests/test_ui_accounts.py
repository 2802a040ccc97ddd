"""Adding and deleting accounts from the console, auto re-check rules, and the live repaint."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input
from ui_support import Acct, accounts_toml, highlight, main_screen, row, settle, shown_emails

from console.core.model import AccountResult, Cause, CheckResult, Protocol, Stage, Status
from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, ImapScenario, Lab, SmtpScenario
from console.ui.app import MailConsoleApp
from console.ui.screens.add_account import AddAccountScreen
from console.ui.screens.confirm import ConfirmScreen


async def fill(pilot: object, app: MailConsoleApp, field_id: str, text: str) -> None:
    field = app.screen.query_one(f"#{field_id}", Input)
    field.focus()
    await pilot.press("end", *["backspace"] * len(field.value), *text)  # type: ignore[attr-defined]


async def test_the_provider_fills_the_servers_from_the_address(tmp_path: Path) -> None:
    app = MailConsoleApp(tmp_path / "accounts.toml", secrets=MemorySecrets(), check_on_start=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, AddAccountScreen)
        await pilot.press(*"jo@gmail.com")
        await pilot.pause()
        value = {i.id: i.value for i in app.screen.query(Input)}
        assert value["imap-host"] == "imap.gmail.com" and value["imap-port"] == "993"
        assert value["smtp-host"] == "smtp.gmail.com"
        assert value["imap-username"] == "jo@gmail.com"
        assert "Gmail" in app.screen.query_one("#detected").visual.plain  # type: ignore[union-attr]
        await pilot.press("escape")
        assert not isinstance(app.screen, AddAccountScreen)
    assert not (tmp_path / "accounts.toml").exists()


async def test_adding_the_first_account_creates_the_file_and_checks_it(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(lab.ca.ca_file))  # the lab CA as the system's
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario())
    path = tmp_path / "new" / "accounts.toml"
    secrets = MemorySecrets()
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set)
    async with app.run_test(size=(100, 50)) as pilot:
        assert "No account file yet" in main_screen(app).pane.text
        await pilot.press("a")
        await fill(pilot, app, "email", "zed@lab.example")
        await fill(pilot, app, "tags", "lab, new")
        for proto, server in (("smtp", smtp), ("imap", imap)):
            await fill(pilot, app, f"{proto}-host", "localhost")
            await fill(pilot, app, f"{proto}-port", str(server.port))
            await fill(pilot, app, f"{proto}-username", LAB_USER)
            await fill(pilot, app, f"{proto}-password", LAB_PASSWORD)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert shown_emails(app) == ["zed@lab.example"]
        assert row(app, "zed@lab.example")["state"] == "● connected"
    saved = tomllib.loads(path.read_text())
    assert saved["account"][0]["email"] == "zed@lab.example"
    assert saved["account"][0]["tags"] == ["lab", "new"]
    assert saved["account"][0]["imap"]["port"] == imap.port
    assert LAB_PASSWORD not in path.read_text()
    assert f"{LAB_USER}@localhost" in secrets


async def test_delete_asks_first_then_removes_only_that_account(lab: Lab, tmp_path: Path) -> None:
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario())
    path = tmp_path / "accounts.toml"
    path.write_text(
        accounts_toml(
            [Acct("a@x.example", smtp, imap), Acct("b@x.example", smtp, imap)], lab.ca.ca_file
        )
    )
    before = tomllib.loads(path.read_text())
    app = MailConsoleApp(path, secrets=MemorySecrets(), check_on_start=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await highlight(app, pilot, "a@x.example")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing happens
        assert path.read_text() == accounts_toml(
            [Acct("a@x.example", smtp, imap), Acct("b@x.example", smtp, imap)], lab.ca.ca_file
        )
        await pilot.press("d", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert shown_emails(app) == ["b@x.example"]
    after = tomllib.loads(path.read_text())
    assert after["account"] == before["account"][1:]
    assert after["settings"] == before["settings"]


async def test_auto_recheck_skips_credential_and_policy_failures(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        "[settings]\nrecheck_minutes = 5\n"
        + "".join(
            f'[[account]]\nemail = "{name}@x.example"\n'
            '[account.smtp]\nhost = "smtp.x.example"\n'
            '[account.imap]\nhost = "imap.x.example"\n'
            for name in ("locked", "flaky", "fine")
        )
    )
    app = MailConsoleApp(path, secrets=MemorySecrets(), check_on_start=False)
    now = datetime.now(UTC)
    smtp_ok = CheckResult(Protocol.SMTP, Status.OK)

    def failed(cause: Cause) -> CheckResult:
        return CheckResult(Protocol.IMAP, Status.FAILED, cause=cause, stage=Stage.AUTH)

    async with app.run_test() as pilot:
        screen = main_screen(app)
        screen.board.set_result(
            AccountResult("locked@x.example", smtp_ok, failed(Cause.AUTH_FAILED), now)
        )
        screen.board.set_result(
            AccountResult("flaky@x.example", smtp_ok, failed(Cause.TIMEOUT), now)
        )
        screen.board.set_result(
            AccountResult("fine@x.example", smtp_ok, CheckResult(Protocol.IMAP, Status.OK), now)
        )
        screen.auto_recheck()
        checking = {e.email for e in screen.board if e.checking}
        assert checking == {"flaky@x.example", "fine@x.example"}
        screen.scheduler.cancel_all()
        await pilot.pause()


async def test_a_changed_row_is_repainted_and_the_others_keep_theirs(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        "".join(
            f'[[account]]\nemail = "{name}@x.example"\n'
            '[account.smtp]\nhost = "smtp.x.example"\n'
            '[account.imap]\nhost = "imap.x.example"\n'
            for name in ("a", "b")
        )
    )
    app = MailConsoleApp(path, secrets=MemorySecrets(), check_on_start=False)
    ok = AccountResult(
        "b@x.example",
        CheckResult(Protocol.SMTP, Status.OK),
        CheckResult(Protocol.IMAP, Status.OK),
        datetime.now(UTC),
    )
    async with app.run_test(size=(120, 20)) as pilot:
        screen = main_screen(app)
        await pilot.pause()
        assert "unchecked" in screen.table.render_line(2).text  # row b (line 0 is the header)
        screen.board.set_result(ok)
        screen.update_rows(["b@x.example"])
        await pilot.pause()
        assert "● connected" in screen.table.render_line(2).text
        assert "○ unchecked" in screen.table.render_line(1).text
