"""`mailconsole --demo`: the console on the embedded lab shows every state; fixes really work."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static
from ui_support import highlight, main_screen, row, settle, shown_emails

from console.core.diagnosis import advise
from console.core.model import Cause, Protocol
from console.core.runner import Runner
from console.lab.demo import DEMO_HOSTS, DemoLab
from console.ui.app import MailConsoleApp
from console.ui.screens.sign_in import SignInScreen

# email -> (state cell, protocol of the cause, cause) for the demo's special accounts.
EXPECTED = {
    "dana@northwind.example": ("◐ conditional", Protocol.IMAP, Cause.APP_PASSWORD_REQUIRED),
    "zoe@zylker.example": ("◐ conditional", Protocol.IMAP, Cause.PROTOCOL_DISABLED),
    "sam@fabrikam.example": ("◐ conditional", Protocol.IMAP, Cause.BASIC_AUTH_DISABLED),
    "nora@nakatomi.example": ("◐ conditional", Protocol.IMAP, Cause.SETTINGS_MISSING),
    "ivan@tyrell.example": ("◐ conditional", Protocol.IMAP, Cause.TLS_MISMATCH),
    "olga@tyrell.example": ("◐ conditional", Protocol.IMAP, Cause.MAILBOX_UNAVAILABLE),
    "paul@tyrell.example": ("✕ disconnected", Protocol.SMTP, Cause.AUTH_FAILED),
    "wes@wayne.example": ("◐ conditional", Protocol.IMAP, Cause.CERTIFICATE_INVALID),
    "sid@soylent.example": ("◐ conditional", Protocol.IMAP, Cause.TIMEOUT),
    "rita@rekall.example": ("◐ conditional", Protocol.IMAP, Cause.RATE_LIMITED),
    "ines@fabrikam.example": ("✕ disconnected", Protocol.SMTP, Cause.SECRET_UNAVAILABLE),
    "omar@fabrikam.example": ("✕ disconnected", Protocol.SMTP, Cause.SECRET_UNAVAILABLE),
    "pia@fabrikam.example": ("✕ disconnected", Protocol.SMTP, Cause.AUTH_FAILED),
}
TOKEN_TITLE = {"pia@fabrikam.example": "Token expired"}
"""Where the token's own claims refine the cause's title (console/core/oauth/explain.py)."""


@pytest.fixture
def demo() -> Iterator[DemoLab]:
    with DemoLab() as lab:
        yield lab


def demo_app(demo: DemoLab, state_dir: Path) -> MailConsoleApp:
    """The app exactly as `mailconsole --demo` builds it (console/cli.py)."""
    return MailConsoleApp(
        demo.config_path,
        secrets=demo.secrets,
        store_secret=demo.secrets.set,
        runner_factory=partial(Runner, allowed_hosts=DEMO_HOSTS),
        state_dir=state_dir,
        sign_ins=demo.sign_ins,
        enter_code=demo.enter_code,
    )


async def test_a_newcomer_signs_in_with_the_device_code_and_sees_why_a_sign_in_failed(
    demo: DemoLab, tmp_path: Path
) -> None:
    app = demo_app(demo, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        omar = main_screen(app).board["omar@fabrikam.example"].check_for(Protocol.IMAP)
        assert omar is not None and omar.message is not None
        assert "no longer valid" in omar.message and "press L" in omar.message
        pia = main_screen(app).board["pia@fabrikam.example"].check_for(Protocol.IMAP)
        assert pia is not None and pia.facts["oauth2_problem"] == "expired"
        await highlight(app, pilot, "pia@fabrikam.example")
        pane = main_screen(app).pane.text
        assert "The access token expired at" in pane and "clock is behind" in pane
        await highlight(app, pilot, "ines@fabrikam.example")
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, SignInScreen)
        for _ in range(200):  # the demo enters the code after 3 s; MSAL polls every second
            if screen.signed:
                break
            await pilot.pause(0.05)
        assert screen.signed == ["ines@fabrikam.example"]
        shown = str(screen.query_one("#list", Static).render())
        assert "✓ ines@fabrikam.example: signed in, kept in memory" in shown
        await pilot.press("escape")
        await settle(app, pilot)
        assert row(app, "ines@fabrikam.example")["state"] == "● connected"
        assert row(app, "omar@fabrikam.example")["state"] == "✕ disconnected"


async def test_the_demo_shows_every_state_and_the_common_causes(
    demo: DemoLab, tmp_path: Path
) -> None:
    app = demo_app(demo, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        for email, (state, protocol, cause) in EXPECTED.items():
            shown = row(app, email)
            assert shown["state"] == state, email
            title = TOKEN_TITLE.get(email) or advise(cause, protocol).title
            assert title in shown["cause"], (email, shown["cause"])
        relay = row(app, "news@initech.example")
        assert relay["state"] == "● connected"
        assert "n/a" in relay["imap"]
        states = [row(app, email)["state"] for email in shown_emails(app)]
        assert states.count("● connected") >= 30  # a real agency's roster around the broken ones


async def type_into(pilot: Pilot[None], field: Input, text: str) -> None:
    field.focus()
    keys = ["space" if c == " " else c for c in text]
    await pilot.press("end", *["backspace"] * len(field.value), *keys)


@pytest.mark.parametrize(
    ("email", "field", "value"),
    [
        # The lab announces the app password in an [ALERT] line shown in the detail pane.
        ("dana@northwind.example", "password", "demoappspassword"),
        ("olga@tyrell.example", "mailbox", "INBOX"),
    ],
)
async def test_a_broken_demo_account_is_fixed_in_the_edit_pane(
    demo: DemoLab, tmp_path: Path, email: str, field: str, value: str
) -> None:
    app = demo_app(demo, tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(app, pilot)
        assert row(app, email)["state"] == "◐ conditional"
        await highlight(app, pilot, email)
        if field == "password":
            assert value in main_screen(app).pane.text  # the advice to follow is on screen
        await pilot.press("e")
        screen = main_screen(app)
        await type_into(pilot, screen.query_one(f"#{field}", Input), value)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert row(app, email)["state"] == "● connected"
    saved = tomllib.loads(demo.config_path.read_text())
    imap = next(a for a in saved["account"] if a["email"] == email)["imap"]
    assert "password" not in imap  # a typed password goes to the (demo) keyring only
    if field == "mailbox":
        assert imap["mailbox"] == "INBOX"
