"""The console's rules without a terminal: themes, filter and sort, edit diffs, cell text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.style import Style
from textual.color import Color

from console.core.model import (
    Account,
    AccountResult,
    Cause,
    CheckResult,
    Protocol,
    Security,
    ServerSettings,
    Stage,
    State,
    Status,
)
from console.ui import themes
from console.ui.app import MailConsoleApp
from console.ui.board import Board
from console.ui.cells import STATE_GLYPHS, Palette, relative_time, row_cells
from console.ui.edits import ImapForm, changes_from_form, form_from_account, validate
from console.ui.filtering import FilterError, parse_query
from console.ui.prefs import Prefs, load_prefs, save_prefs
from console.ui.sorting import SORTABLE, SortOrder

UI = Path(__file__).resolve().parents[1] / "console" / "ui"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def imap(host: str = "imap.acme.example", port: int = 993, **kw: object) -> ServerSettings:
    return ServerSettings(Protocol.IMAP, host, port, Security.TLS, "alice@acme.example", **kw)  # type: ignore[arg-type]


def smtp() -> ServerSettings:
    return ServerSettings(
        Protocol.SMTP, "smtp.acme.example", 465, Security.TLS, "alice@acme.example"
    )


def result(
    email: str, smtp_status: Status, imap_status: Status, cause: Cause | None = None, ms: int = 100
) -> AccountResult:
    imap_result = CheckResult(
        Protocol.IMAP, imap_status, cause=cause, stage=Stage.AUTH if cause else None, elapsed_ms=ms
    )
    return AccountResult(
        email,
        CheckResult(Protocol.SMTP, smtp_status, elapsed_ms=ms),
        imap_result,
        NOW - timedelta(minutes=3),
    )


def board() -> Board:
    accounts = [
        Account("alice@acme.example", name="Alice", tags=("acme",), smtp=smtp(), imap=imap()),
        Account(
            "bob@acme.example",
            tags=("acme", "eu"),
            provider="gmail",
            smtp=smtp(),
            imap=imap("imap.gmail.com"),
        ),
        Account("carol@globex.example", tags=("globex",), smtp=smtp(), imap=imap()),
        Account("dave@initech.example", smtp=smtp(), imap=imap()),
    ]
    b = Board(accounts)
    b.set_result(result("alice@acme.example", Status.OK, Status.OK, ms=300))
    b.set_result(result("bob@acme.example", Status.OK, Status.FAILED, Cause.AUTH_FAILED, 900))
    b.set_result(result("carol@globex.example", Status.FAILED, Status.OK, ms=50))
    return b


# -- themes ----------------------------------------------------------------------------------


def test_every_shipped_theme_loads_with_all_state_colours() -> None:
    loaded = themes.load_themes([themes.BUNDLED_THEMES_DIR])
    assert loaded.errors == ()
    names = {t.name for t in loaded.themes}
    assert {
        "mailconsole-dark",
        "mailconsole-light",
        "mailconsole-high-contrast",
        "mailconsole-colour-blind-safe",
    } <= names
    for theme in loaded.themes:
        assert set(themes.STATE_VARIABLES.values()) <= set(theme.variables), theme.name
        colours = [theme.variables[v] for v in themes.STATE_VARIABLES.values()]
        assert len(set(colours)) == len(colours), f"{theme.name}: two states share a colour"


def _luminance(colour: Color) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.r) + 0.7152 * channel(colour.g) + 0.0722 * channel(colour.b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(Color.parse(a)), _luminance(Color.parse(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_state_colours_are_readable_on_every_shipped_theme() -> None:
    """WCAG AA for normal text (4.5:1) against the background and the table's surface."""
    for theme in themes.load_themes([themes.BUNDLED_THEMES_DIR]).themes:
        generated = theme.to_color_system().generate()
        for variable in themes.STATE_VARIABLES.values():
            for ground in ("background", "surface"):
                ratio = contrast(theme.variables[variable], generated[ground])
                assert ratio >= 4.5, f"{theme.name}: {variable} on {ground} is {ratio:.1f}:1"


def test_states_are_told_apart_without_colour() -> None:
    assert len(set(STATE_GLYPHS.values())) == len(State)


def test_colour_blind_safe_theme_avoids_a_red_green_pair() -> None:
    theme = themes.load_theme_file(themes.BUNDLED_THEMES_DIR / "mailconsole-colour-blind-safe.toml")
    connected = theme.variables["state-connected"].lower()
    assert connected in {"#56b4e9", "#0072b2"}  # Okabe-Ito blues, never green


def test_no_hard_coded_colours_in_the_ui_code() -> None:
    hex_colour = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b")
    offenders = [
        str(path.relative_to(UI))
        for path in [*UI.rglob("*.py"), *UI.rglob("*.tcss")]
        if "themes" not in path.relative_to(UI).parts[:1] and hex_colour.search(path.read_text())
    ]
    assert offenders == []


def test_a_broken_theme_file_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "bad"\nprimary = "not a colour"\n')
    (tmp_path / "junk.toml").write_text("name = [\n")
    (tmp_path / "ok.toml").write_text('name = "mine"\nprimary = "#112233"\n')
    loaded = themes.load_themes([tmp_path])
    assert [t.name for t in loaded.themes] == ["mine"]
    assert len(loaded.errors) == 2
    assert any("primary" in e and "bad.toml" in e for e in loaded.errors)


async def test_builtin_themes_get_state_colours_too(tmp_path: Path) -> None:
    app = MailConsoleApp(tmp_path / "accounts.toml", state_dir=tmp_path, theme_dirs=[])
    async with app.run_test() as pilot:
        for name in ("textual-light", "nord", "ansi-dark"):
            app.theme = name
            await pilot.pause()
            palette = app.state_palette()
            assert all(palette.states[s].color is not None for s in State), name


async def test_the_chosen_theme_is_remembered(tmp_path: Path) -> None:
    app = MailConsoleApp(tmp_path / "accounts.toml", state_dir=tmp_path)
    async with app.run_test() as pilot:
        assert app.theme == "mailconsole-dark"
        await pilot.press("t")
        chosen = app.theme
        assert chosen != "mailconsole-dark"
    assert load_prefs(tmp_path) == Prefs(theme=chosen)
    again = MailConsoleApp(tmp_path / "accounts.toml", state_dir=tmp_path)
    assert again.theme == chosen


def test_prefs_survive_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "ui.toml").write_text("theme = [")
    assert load_prefs(tmp_path) == Prefs()
    save_prefs(Prefs(theme="nord"), tmp_path)
    assert load_prefs(tmp_path).theme == "nord"


# -- filter and sort -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["alice", "bob", "carol", "dave"]),
        ("state:conditional", ["bob"]),
        ("state:cond", ["bob"]),
        ("state:connected state:disconnected", ["alice", "carol"]),
        ("tag:acme", ["alice", "bob"]),
        ("tag:acme !state:connected", ["bob"]),
        ("cause:auth_failed", ["bob"]),
        ("provider:gmail", ["bob"]),
        ("imap:failed", ["bob"]),
        ("smtp:failed", ["carol"]),
        ("state:unchecked", ["dave"]),
        ("globex", ["carol"]),
        ("gmail.com", ["bob"]),
        ("-globex", ["alice", "bob", "dave"]),
    ],
)
def test_filter_terms(query: str, expected: list[str]) -> None:
    parsed = parse_query(query)
    matched = [e.email.split("@")[0] for e in board() if parsed.matches(e)]
    assert matched == expected


def test_filter_errors_name_the_choices() -> None:
    with pytest.raises(FilterError, match="choose from: connected, conditional"):
        parse_query("state:bogus")
    with pytest.raises(FilterError, match="ambiguous"):
        parse_query("cause:s")


def test_sort_cycles_through_every_column_and_back_to_file_order() -> None:
    order = SortOrder()
    seen = []
    for _ in SORTABLE:
        order = order.next_column()
        seen.append(order.column)
    assert seen == list(SORTABLE)
    assert order.next_column() == SortOrder()
    assert SortOrder("state").clicked("state") == SortOrder("state", reverse=True)
    assert SortOrder("state").clicked("account") == SortOrder("account")


# -- edits ------------------------------------------------------------------------------------


def test_only_changed_keys_are_written() -> None:
    account = Account("alice@acme.example", smtp=smtp(), imap=imap())
    form = form_from_account(account)
    assert changes_from_form(account, form).empty
    moved = ImapForm(**{**form.__dict__, "port": "143", "security": "starttls"})
    changes = changes_from_form(account, moved)
    assert changes.imap == {"port": 143, "security": "starttls"}
    assert changes.account == {}
    replies = ImapForm(**{**form.__dict__, "reply_address": "replies@acme.example"})
    changes = changes_from_form(account, replies)
    assert changes.account == {"reply_address": "replies@acme.example"}
    assert changes.imap == {"username": "alice@acme.example"}  # pinned: its default would move


def test_the_password_never_shows_in_a_repr() -> None:
    form = ImapForm(host="h", password="hunter2")
    assert "hunter2" not in repr(form)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "", "host name is needed"),
        ("host", "imap.example.com:993", "port field"),
        ("port", "99999", "1 to 65535"),
        ("port", "abc", "whole number"),
        ("username", " ", "needed"),
        ("mailbox", "", "INBOX"),
        ("reply_address", "not an address", "email address"),
    ],
)
def test_validation_messages(field: str, value: str, message: str) -> None:
    good = ImapForm("imap.example.com", "993", "tls", "a@example.com", "", "INBOX", "")
    errors = validate(ImapForm(**{**good.__dict__, field: value}))
    assert message in errors[field]
    assert validate(good) == {}


# -- cells ------------------------------------------------------------------------------------


def test_cells_keep_markup_like_text_literal() -> None:
    account = Account(
        "x@y.example", name="[/] [@click=app.quit]x[/]", tags=("[b]",), smtp=smtp(), imap=imap()
    )
    b = Board([account])
    cells = row_cells(
        b["x@y.example"],
        selected=False,
        palette=Palette({s: Style() for s in State}, Style()),
        title_of=lambda r: "",
        now=NOW,
    )
    assert cells["who"].plain == "[/] [@click=app.quit]x[/] #[b]"
    assert cells["state"].plain == "○ unchecked"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(1, "now"), (42, "42s ago"), (300, "5m ago"), (7200, "2h ago"), (3 * 86400, "3d ago")],
)
def test_relative_time(seconds: int, shown: str) -> None:
    assert relative_time(NOW - timedelta(seconds=seconds), NOW) == shown
    assert relative_time(None, NOW) == "—"


async def test_the_command_palette_offers_the_shipped_themes(tmp_path: Path) -> None:
    app = MailConsoleApp(tmp_path / "accounts.toml", state_dir=tmp_path)
    async with app.run_test() as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Theme: mailconsole-colour-blind-safe" in commands
        commands["Theme: mailconsole-light"].callback()
        await pilot.pause()
        assert app.theme == "mailconsole-light"
    assert load_prefs(tmp_path).theme == "mailconsole-light"


@pytest.mark.parametrize("theme", ["mailconsole-dark", "mailconsole-light", "nord"])
async def test_with_no_color_the_worst_state_has_the_most_contrast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, theme: str
) -> None:
    """NO_COLOR shows colours as their luminance: red "disconnected" was the dimmest text."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = MailConsoleApp(tmp_path / "accounts.toml", state_dir=tmp_path, theme_dirs=None)
    async with app.run_test() as pilot:
        assert app.no_color
        app.theme = theme
        await pilot.pause()
        palette = app.state_palette()
        background = Color.parse(app.theme_variables["background"])

        def contrast(state: State) -> float:
            colour = palette.states[state].color
            assert colour is not None
            return abs(Color.from_rich_color(colour).brightness - background.brightness)

        order = [State.DISCONNECTED, State.CONDITIONAL, State.CONNECTED, State.UNCHECKED]
        contrasts = [contrast(s) for s in order]
        assert contrasts == sorted(contrasts, reverse=True), (theme, contrasts)
        assert palette.states[State.DISCONNECTED].bold
