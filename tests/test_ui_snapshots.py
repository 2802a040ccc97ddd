"""Layout snapshots of the main screen: 80x24, 100x30 and 160x48, a dark and a light theme.

The content is fixed: results are injected (no servers, no timing) and the clock is frozen, so a
difference in a snapshot is a difference in layout or styling. Update with `--snapshot-update`
only after looking at the report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot
from ui_support import highlight as show

from console.core.model import (
    AccountResult,
    Cause,
    CheckResult,
    Protocol,
    Stage,
    Status,
    Step,
)
from console.core.secrets import MemorySecrets
from console.ui.app import MailConsoleApp
from console.ui.screens.main import MainScreen

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

ACCOUNTS = """\
[settings]
timeout = 10

[[account]]
email = "alice@acme.example"
name = "Alice (Acme)"
tags = ["acme"]
[account.smtp]
host = "smtp.acme.example"
port = 465
security = "tls"
[account.imap]
host = "imap.acme.example"
port = 993
security = "tls"

[[account]]
email = "bob@acme.example"
name = "Bob"
tags = ["acme", "eu"]
provider = "gmail"
[account.smtp]
host = "smtp.gmail.com"
port = 465
security = "tls"
[account.imap]
host = "imap.gmail.com"
port = 993
security = "tls"

[[account]]
email = "carol@globex.example"
tags = ["globex"]
[account.smtp]
host = "mail.globex.example"
port = 587
security = "starttls"
[account.imap]
host = "mail.globex.example"
port = 993
security = "tls"

[[account]]
email = "dave@initech.example"
name = "Dave [/] [@click=app.quit]"
[account.smtp]
host = "smtp.initech.example"
port = 465
security = "tls"
[account.imap]
host = "imap.initech.example"
port = 143
security = "tls"

[[account]]
email = "erin@relay.example"
send_only = true
provider = "sendgrid"
[account.smtp]
host = "smtp.sendgrid.net"
port = 465
security = "tls"
username = "apikey"

[[account]]
email = "frank@later.example"
[account.smtp]
host = "smtp.later.example"
port = 465
security = "tls"
[account.imap]
host = "imap.later.example"
port = 993
security = "tls"
"""


def steps(protocol: Protocol, fail_at: Stage | None, detail: str = "") -> tuple[Step, ...]:
    ladder = (
        [Stage.CONFIG, Stage.SECRET, Stage.DNS, Stage.CONNECT, Stage.TLS, Stage.GREETING]
        + ([Stage.CAPABILITY] if protocol is Protocol.IMAP else [Stage.EHLO])
        + [Stage.AUTH]
        + ([Stage.MAILBOX, Stage.LOGOUT] if protocol is Protocol.IMAP else [Stage.QUIT])
    )
    done: list[Step] = []
    for stage in ladder:
        if stage is fail_at:
            done.append(Step(stage, False, 120, detail))
            break
        done.append(Step(stage, True, 20, f"{stage.value} ok"))
    return tuple(done)


def check(
    protocol: Protocol,
    cause: Cause | None = None,
    stage: Stage | None = None,
    message: str | None = None,
    ms: int = 240,
) -> CheckResult:
    if cause is None:
        return CheckResult(
            protocol,
            Status.OK,
            elapsed_ms=ms,
            steps=steps(protocol, None),
            facts={"tls_version": "TLSv1.3", "idle": True, "messages": 12},
        )
    return CheckResult(
        protocol,
        Status.FAILED,
        cause=cause,
        stage=stage,
        message=message,
        elapsed_ms=ms,
        steps=steps(protocol, stage, message or ""),
    )


RESULTS = (
    AccountResult(
        "alice@acme.example", check(Protocol.SMTP), check(Protocol.IMAP), NOW - timedelta(minutes=2)
    ),
    AccountResult(
        "bob@acme.example",
        check(Protocol.SMTP, ms=310),
        check(
            Protocol.IMAP,
            Cause.AUTH_FAILED,
            Stage.AUTH,
            "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
            420,
        ),
        NOW - timedelta(seconds=40),
    ),
    AccountResult(
        "carol@globex.example",
        check(
            Protocol.SMTP,
            Cause.AUTH_FAILED,
            Stage.AUTH,
            "535 5.7.8 Authentication credentials invalid",
            515,
        ),
        check(Protocol.IMAP, ms=380),
        NOW - timedelta(hours=3),
    ),
    AccountResult(
        "dave@initech.example",
        check(Protocol.SMTP),
        check(
            Protocol.IMAP,
            Cause.TLS_MISMATCH,
            Stage.TLS,
            "[SSL: WRONG_VERSION_NUMBER] wrong version number [/]",
            90,
        ),
        NOW - timedelta(minutes=15),
    ),
    AccountResult(
        "erin@relay.example",
        check(Protocol.SMTP, ms=180),
        CheckResult(Protocol.IMAP, Status.NA),
        NOW - timedelta(days=2),
    ),
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MailConsoleApp:
    monkeypatch.chdir(tmp_path)  # the summary bar shows the path as given: keep it short
    Path("accounts.toml").write_text(ACCOUNTS)
    return MailConsoleApp(
        Path("accounts.toml"),
        secrets=MemorySecrets(),
        store_secret=lambda settings, password: None,
        check_on_start=False,
        clock=lambda: NOW,
        state_dir=tmp_path / "state",
    )


def prepare(theme: str, highlight: str = "bob@acme.example"):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        await pilot.pause()  # the screenshot helper calls this before the screen is composed
        screen = app.screen_stack[0]
        assert isinstance(screen, MainScreen)
        app.theme = theme
        for result in RESULTS:
            screen.board.set_result(result)
        screen.rebuild()
        await show(app, pilot, highlight)  # type: ignore[arg-type]
        # the pane scrolls to its top when it changes account: let that finish before the capture
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("theme", ["mailconsole-dark", "mailconsole-light"])
@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
def test_main_screen(
    app: MailConsoleApp, snap_compare: object, theme: str, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=prepare(theme))  # type: ignore[operator]
