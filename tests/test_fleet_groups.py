"""Group by cause: the core grouping, and the console's view (g) with enter as a table filter."""

from __future__ import annotations

from pathlib import Path

from ui_support import Acct, accounts_toml, main_screen, settle, shown_emails

from console.core.fleet.groups import group_failures
from console.core.model import (
    Account,
    Cause,
    CheckResult,
    Protocol,
    Security,
    ServerSettings,
    Status,
)
from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, ImapScenario, Lab, SmtpScenario
from console.ui.app import MailConsoleApp
from console.ui.screens.groups import GroupsScreen


def _account(email: str, host: str) -> Account:
    imap = ServerSettings(Protocol.IMAP, host, 993, Security.TLS, email)
    return Account(email=email, imap=imap, provider="google_workspace")


def _failed(protocol: Protocol, cause: Cause) -> CheckResult:
    return CheckResult(protocol, Status.FAILED, cause)


def test_groups_by_protocol_cause_provider_host_largest_first() -> None:
    ok = CheckResult(Protocol.SMTP, Status.OK)
    app_pw = _failed(Protocol.IMAP, Cause.APP_PASSWORD_REQUIRED)
    checks = [(_account(f"u{i}@acme.example", "imap.gmail.com"), ok, app_pw) for i in range(3)]
    checks.append(
        (_account("x@acme.example", "imap.gmail.com"), ok, _failed(Protocol.IMAP, Cause.TIMEOUT))
    )
    checks.append(
        (_account("y@acme.example", "imap.gmail.com"), ok, CheckResult(Protocol.IMAP, Status.OK))
    )
    groups = group_failures(checks)
    assert [g.size for g in groups] == [3, 1]
    assert groups[0].label.startswith("IMAP · ")
    assert "Google Workspace · imap.gmail.com · 3" in groups[0].label
    assert groups[0].filter_text() == "imap:failed cause:app_password_required imap.gmail.com"


async def test_group_view_counts_and_filters(lab: Lab, tmp_path: Path) -> None:
    smtp = await lab.start(SmtpScenario())
    imap_ok = await lab.start(ImapScenario())
    imap_bad = await lab.start(
        ImapScenario(auth_reply="NO [ALERT] Application-specific password required (Failure)")
    )
    accounts = [Acct(f"bad{i}@acme.example", smtp, imap_bad) for i in range(3)]
    accounts += [Acct("good@acme.example", smtp, imap_ok)]
    path = tmp_path / "accounts.toml"
    path.write_text(accounts_toml(accounts, lab.ca.ca_file), encoding="utf-8")
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, check_on_start=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = main_screen(app)
        assert "1 problem group (g)" in str(screen.table.border_title)
        await pilot.press("g")
        assert isinstance(app.screen, GroupsScreen)
        (group,) = app.screen.groups
        assert group.size == 3
        assert "Fix:" in app.screen.query_one("#group-detail").visual.plain  # type: ignore[union-attr]
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, GroupsScreen)
        assert sorted(shown_emails(app)) == [f"bad{i}@acme.example" for i in range(3)]


async def test_the_demo_import_file_shows_every_kind_of_row() -> None:
    """The newcomer's tour: 500 rows, pre-flight against the demo lab, the two fixable groups."""
    import asyncio

    from console.core.config import load_config
    from console.core.fleet import Action, plan_import, preflight
    from console.core.model import State
    from console.lab.demo import DEMO_HOSTS, DemoLab

    demo = await asyncio.to_thread(DemoLab)
    await asyncio.to_thread(demo.start)
    try:
        loaded = load_config(demo.config_path)
        plan = plan_import(
            demo.import_path.read_bytes(),
            existing=loaded.accounts,
            source=demo.import_path,
            server_defaults={"tls_ca_file": str(demo.ca_file)},
        )
        assert len(plan.rows) == 500
        assert plan.counts() == {"add": 474, "update": 0, "skip": 2, "error": 24}
        await preflight(plan, loaded.settings, fallback=demo.secrets, allowed_hosts=DEMO_HOSTS)
    finally:
        await asyncio.to_thread(demo.stop)
    states = [r.state for r in plan.rows if r.action is Action.ADD]
    assert states.count(State.CONNECTED) == 447
    groups = group_failures(
        (r.account, r.result.smtp, r.result.imap)
        for r in plan.rows
        if r.account is not None and r.result is not None
    )
    labels = [g.label for g in groups]
    assert any(x.startswith("IMAP · App password required · Google Workspace") for x in labels)
    assert groups[0].size == 12 and groups[1].size == 10
    assert groups[1].key.cause in (Cause.TLS_MISMATCH, Cause.TIMEOUT, Cause.WRONG_SERVICE)


async def test_fix_a_group_with_preview_retest_and_undo(lab: Lab, tmp_path: Path) -> None:
    """The port-mismatch group: f finds STARTTLS on the port, y saves it for all, u undoes."""
    from console.ui.group_fixes import FieldPromptScreen, FixPreviewScreen

    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario(security="starttls"))
    accounts = [Acct(f"m{i}@acme.example", smtp, imap, imap_security="tls") for i in range(3)]
    path = tmp_path / "accounts.toml"
    path.write_text(accounts_toml(accounts, lab.ca.ca_file), encoding="utf-8")
    original = path.read_text()
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("g")
        assert isinstance(app.screen, GroupsScreen)
        assert app.screen.groups[0].size == 3
        await pilot.press("f")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, FixPreviewScreen):
                break
        assert isinstance(app.screen, FixPreviewScreen)
        preview = app.screen.query_one("#preview-changes").visual.plain  # type: ignore[union-attr]
        assert preview.count("imap.security 'tls' -> 'starttls'") == 3
        assert path.read_text() == original  # nothing saved before the answer
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.05)
            if path.read_text() != original:
                break
        await settle(app, pilot)
        assert path.read_text().count('security = "starttls"') == 3
        assert "# written by the TUI tests" in path.read_text()
        screen = main_screen(app)
        assert all(e.state.value == "connected" for e in screen.board)
        # one undo puts the old values back (with its own preview)
        await pilot.press("g", "u")
        await pilot.pause()
        assert isinstance(app.screen, FixPreviewScreen)
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.05)
            if path.read_text() == original:
                break
        assert path.read_text() == original
        await settle(app, pilot)
        # a field change for the whole group
        await pilot.press("g", "c")
        await pilot.pause()
        assert isinstance(app.screen, FieldPromptScreen)
        await pilot.press(*"security starttls", "enter")
        await pilot.pause()
        assert isinstance(app.screen, FixPreviewScreen)
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.05)
            if path.read_text() != original:
                break
        assert path.read_text().count('security = "starttls"') == 3


async def test_password_queue_walks_the_group(lab: Lab, tmp_path: Path) -> None:
    from console.ui.group_fixes import PasswordQueueScreen

    users = {f"q{i}@acme.example": f"app-pw-{i}" for i in range(3)}
    smtp = await lab.start(SmtpScenario())
    imap = await lab.start(ImapScenario(users=users))
    accounts = [
        Acct(f"q{i}@acme.example", smtp, imap, imap_username=f"q{i}@acme.example") for i in range(3)
    ]
    path = tmp_path / "accounts.toml"
    path.write_text(accounts_toml(accounts, lab.ca.ca_file), encoding="utf-8")
    secrets = MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})
    for i in range(3):
        secrets.set(f"q{i}@acme.example@localhost", "the account password")
    app = MailConsoleApp(path, secrets=secrets, store_secret=secrets.set)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = main_screen(app)
        assert all(e.state.value == "conditional" for e in screen.board)
        await pilot.press("g", "w")
        await pilot.pause()
        assert isinstance(app.screen, PasswordQueueScreen)
        order = [email for email, _server in app.screen.logins]
        for email in order:
            assert email in app.screen.query_one("#queue-title").visual.plain  # type: ignore[union-attr]
            await pilot.press(*f"app-pw-{email[1]}", "enter")
            for _ in range(40):
                await pilot.pause(0.05)
                if not isinstance(app.screen, PasswordQueueScreen) or email not in (
                    app.screen.query_one("#queue-title").visual.plain  # type: ignore[union-attr]
                ):
                    break
        assert not isinstance(app.screen, PasswordQueueScreen)
        await settle(app, pilot)
        assert all(e.state.value == "connected" for e in screen.board)
        assert "app-pw-0" not in path.read_text()


def test_field_and_preset_fixes_preview_only_real_changes(tmp_path: Path) -> None:
    import pytest

    from console.core.config import load_config
    from console.core.fleet.group_fix import FixError, field_fix, preset_fix

    path = tmp_path / "accounts.toml"
    path.write_text(
        '[[account]]\nemail = "a@acme.example"\nprovider = "google_workspace"\n'
        '[account.imap]\nhost = "imap.acme.example"\nport = 143\nsecurity = "starttls"\n'
        '[[account]]\nemail = "b@acme.example"\nprovider = "google_workspace"\n'
        '[account.imap]\nhost = "imap.gmail.com"\nport = 993\nusername = "b@acme.example"\n',
        encoding="utf-8",
    )
    loaded = load_config(path)
    accounts = list(loaded.accounts)
    fix = field_fix(accounts, Protocol.IMAP, "username", "{local}")
    assert [str(c) for c in fix.preview(loaded)] == [
        "a@acme.example: imap.username (not set) -> 'a'",
        "b@acme.example: imap.username 'b@acme.example' -> 'b'",
    ]
    preset = preset_fix(accounts, Protocol.IMAP)
    changed = {(c.email, c.key) for c in preset.preview(loaded)}
    assert changed == {
        ("a@acme.example", "host"),
        ("a@acme.example", "port"),
        ("a@acme.example", "security"),
        ("a@acme.example", "username"),
        ("b@acme.example", "security"),
    }
    saved = preset.apply(loaded)
    assert saved.account("a@acme.example").imap.host == "imap.gmail.com"  # type: ignore[union-attr]
    undo = preset.inverse(loaded)
    restored = undo.apply(saved)
    assert restored.data == loaded.data
    for key, value in (("port", "x"), ("security", "ssl"), ("host", "a b"), ("oops", "1")):
        with pytest.raises(FixError):
            field_fix(accounts, Protocol.IMAP, key, value)
