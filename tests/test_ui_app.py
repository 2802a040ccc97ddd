"""The console as a person sees it, against lab servers on 127.0.0.1 with in-memory secrets."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import Input
from ui_support import Acct, accounts_toml, highlight, main_screen, row, settle, shown_emails

from console.core.secrets import MemorySecrets
from console.lab import LAB_PASSWORD, LAB_USER, ImapScenario, Lab, SmtpScenario
from console.ui.app import MailConsoleApp
from console.ui.widgets.filter_bar import DEBOUNCE_SECONDS, FilterInput
from console.ui.widgets.summary_bar import SummaryBar

GMAIL_IMAP_REJECT = "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"
HOSTILE_REPLY = "NO [ALERT] oops [/] then [@click=app.quit]click me[/] and [bold red]x"


def memory_secrets() -> MemorySecrets:
    return MemorySecrets({f"{LAB_USER}@localhost": LAB_PASSWORD})


async def four_accounts(lab: Lab, tmp_path: Path) -> Path:
    smtp_ok = await lab.start(SmtpScenario())
    smtp_bad = await lab.start(
        SmtpScenario(auth_reply="535 5.7.8 Authentication credentials invalid")
    )
    imap_ok = await lab.start(ImapScenario(messages=3))
    imap_gmail = await lab.start(ImapScenario(auth_reply=GMAIL_IMAP_REJECT))
    imap_hostile = await lab.start(ImapScenario(auth_reply=HOSTILE_REPLY))
    accounts = [
        Acct("alice@acme.example", smtp_ok, imap_ok, {"name": "Alice", "tags": ["acme"]}),
        Acct("bob@acme.example", smtp_ok, imap_gmail, {"tags": ["acme"], "provider": "gmail"}),
        Acct("carol@globex.example", smtp_bad, imap_ok, {"tags": ["globex"]}),
        Acct("dave@initech.example", smtp_ok, imap_hostile, {"name": "Dave [/] [@click=app.quit]"}),
    ]
    path = tmp_path / "accounts.toml"
    path.write_text(accounts_toml(accounts, lab.ca.ca_file))
    return path


async def test_every_account_appears_with_its_state_after_the_first_check(
    lab: Lab, tmp_path: Path
) -> None:
    app = MailConsoleApp(await four_accounts(lab, tmp_path), secrets=memory_secrets())
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert shown_emails(app) == [
            "alice@acme.example",
            "bob@acme.example",
            "carol@globex.example",
            "dave@initech.example",
        ]
        assert row(app, "alice@acme.example")["state"] == "● connected"
        assert row(app, "bob@acme.example")["state"] == "◐ conditional"
        assert row(app, "carol@globex.example")["state"] == "✕ disconnected"
        assert row(app, "dave@initech.example")["state"] == "◐ conditional"
        bob = row(app, "bob@acme.example")
        assert bob["imap"].startswith("✕ localhost:") and bob["smtp"].startswith("✓ localhost:")
        assert bob["cause"].startswith("IMAP: ")
        assert row(app, "carol@globex.example")["cause"].startswith("SMTP: ")
        assert row(app, "dave@initech.example")["who"] == "Dave [/] [@click=app.quit]"
        summary = main_screen(app).query_one(SummaryBar).text
        assert "1 connected" in summary and "2 conditional" in summary
        assert "1 disconnected" in summary and "0 unchecked" in summary
        painted = main_screen(app).table.render_line(1).text  # row 0 is the header
        assert "connected" in painted and "alice@acme.example" in painted


async def test_detail_pane_explains_the_cause_and_shows_the_server_text_verbatim(
    lab: Lab, tmp_path: Path
) -> None:
    app = MailConsoleApp(await four_accounts(lab, tmp_path), secrets=memory_secrets())
    async with app.run_test(size=(160, 60)) as pilot:
        await settle(app, pilot)
        screen = main_screen(app)
        await highlight(app, pilot, "bob@acme.example")
        text = " ".join(screen.pane.text.split())  # the pane wraps long lines
        assert "◐ conditional" in text
        assert "auth_failed" in text
        assert "How to fix it" in text
        assert "The server said, exactly:" in text
        assert "[AUTHENTICATIONFAILED] Invalid credentials (Failure)" in text
        assert "▶ ✕ auth" in screen.pane.text  # the failing rung of the ladder is marked
        assert "Reply tracking checklist" in text
        assert "◐ conditional · warm-up not ready" in text

        await highlight(app, pilot, "dave@initech.example")
        text = " ".join(screen.pane.text.split())  # the pane wraps long lines
        assert "oops [/] then [@click=app.quit]click me[/] and [bold red]x" in text
        assert "Dave [/] [@click=app.quit]" in text
        content = screen.query_one("#detail-view").visual
        assert not any("click" in str(span.style) for span in content.spans)  # type: ignore[union-attr]
        await pilot.click("#detail-view")  # clicking the text runs nothing
        await pilot.pause()
        assert app.is_running


async def test_filter_by_state_tag_and_cause_then_escape_clears(lab: Lab, tmp_path: Path) -> None:
    app = MailConsoleApp(await four_accounts(lab, tmp_path), secrets=memory_secrets())
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"state:conditional", "enter")
        assert shown_emails(app) == ["bob@acme.example", "dave@initech.example"]
        await pilot.press("slash", "ctrl+u", *"tag:acme !state:connected", "enter")
        assert shown_emails(app) == ["bob@acme.example"]
        await pilot.press("slash", "ctrl+u", *"cause:auth_failed tag:globex", "enter")
        assert shown_emails(app) == ["carol@globex.example"]
        assert "filter: cause:auth_failed tag:globex" in str(main_screen(app).table.border_title)
        await pilot.press("escape")
        assert len(shown_emails(app)) == 4
        await pilot.press("slash", *"globex")  # typing filters live, once the keys pause
        for _ in range(20):
            await pilot.pause(DEBOUNCE_SECONDS)
            if shown_emails(app) == ["carol@globex.example"]:
                break
        assert shown_emails(app) == ["carol@globex.example"]
        await pilot.press("ctrl+u", *"state:nonsense", "enter")
        error = main_screen(app).query_one("#filter-error").visual.plain  # type: ignore[union-attr]
        assert "no state 'nonsense'" in error
        assert len(shown_emails(app)) == 4  # back to the filter in force before: none


async def test_sort_keeps_the_cursor_on_the_same_account(lab: Lab, tmp_path: Path) -> None:
    app = MailConsoleApp(await four_accounts(lab, tmp_path), secrets=memory_secrets())
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        screen = main_screen(app)
        await highlight(app, pilot, "alice@acme.example")
        await pilot.press("s")  # by state: worst first
        assert shown_emails(app)[0] == "carol@globex.example"
        assert shown_emails(app)[-1] == "alice@acme.example"
        assert screen.table.cursor_email == "alice@acme.example"
        assert "State ▲" in screen.table.columns["state"].label.plain  # type: ignore[index]
        await pilot.click("#accounts", offset=(6, 1))  # header (under the border): State, reversed
        await pilot.pause()
        assert shown_emails(app)[0] == "alice@acme.example"
        assert screen.table.cursor_email == "alice@acme.example"


async def test_retest_highlighted_and_selected_accounts(lab: Lab, tmp_path: Path) -> None:
    path = await four_accounts(lab, tmp_path)
    app = MailConsoleApp(path, secrets=memory_secrets(), check_on_start=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert all(row(app, e)["state"] == "○ unchecked" for e in shown_emails(app))
        await pilot.press("space", "space", "r")  # alice and bob selected, then re-tested
        await settle(app, pilot)
        assert row(app, "alice@acme.example")["mark"] == "✓"  # the selection mark
        assert row(app, "alice@acme.example")["state"] == "● connected"
        assert row(app, "bob@acme.example")["state"] == "◐ conditional"
        assert row(app, "carol@globex.example")["state"] == "○ unchecked"
        await pilot.press("R")
        await settle(app, pilot)
        assert row(app, "carol@globex.example")["state"] == "✕ disconnected"


async def test_a_missing_account_file_is_explained_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "accounts.toml"
    app = MailConsoleApp(path, secrets=memory_secrets())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = main_screen(app).pane.text
        assert "No account file yet" in text
        assert str(path) in text
        assert main_screen(app).table.row_count == 0
        await pilot.press("r", "e", "s", "slash")  # nothing applies; nothing breaks
        assert app.is_running


async def test_help_screen_lists_the_keys(tmp_path: Path) -> None:
    app = MailConsoleApp(tmp_path / "accounts.toml", secrets=memory_secrets())
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = app.screen.query_one("#help-text").visual.plain  # type: ignore[union-attr]
        for expected in ("Re-test every account", "state:conditional", "ctrl+p", "Test the values"):
            assert expected in text
        await pilot.press("escape")
        assert isinstance(app.screen, type(main_screen(app)))


async def test_keys_typed_right_behind_slash_e_or_a_land_in_the_field(tmp_path: Path) -> None:
    """Over SSH keys arrive in bursts: `/tag` must not sort (s), switch theme (t) or add (a)."""
    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\nemail = "a@x.example"\n[account.smtp]\nhost = "s.x.example"\n')
    app = MailConsoleApp(path, secrets=memory_secrets(), check_on_start=False)

    def burst(first: str, text: str) -> None:
        """Queue every key before any is handled, as a fast terminal link delivers them."""
        app.post_message(events.Key(first, "/" if first == "slash" else first))
        for character in text:
            key = {"@": "at", ".": "full_stop", "/": "slash"}.get(character, character)
            app.post_message(events.Key(key, character))

    async with app.run_test() as pilot:
        await pilot.pause()
        screen = main_screen(app)
        theme = app.theme
        burst("slash", "state")
        await pilot.pause()
        assert screen.query_one(FilterInput).value == "state"
        assert app.theme == theme and screen.table_order.column is None
        assert app.screen is screen  # no dialog opened
        await pilot.press("escape")

        burst("e", "imap.x/")  # in a form field "/" and "a" are just characters
        await pilot.pause()
        assert screen.query_one("#host", Input).value == "imap.x/"
        await pilot.press("escape")
        assert screen.pane.editor is None

        burst("a", "jo@tea.example")
        await pilot.pause()
        assert app.screen.query_one("#email", Input).value == "jo@tea.example"
