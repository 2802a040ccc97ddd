"""Table cells for one account: glyph + word for every state, plain `Text` for anything external.

Every string from the account file or a server goes into `rich.text.Text(...)`, never a `str` cell:
DataTable parses `str` cells as markup, and `[/]` in a server reply would crash the app.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.style import Style
from rich.text import Text

from console.core.model import CheckResult, Protocol, ServerSettings, Stage, State, Status
from console.core.safe_text import one_line
from console.ui.board import Entry
from console.ui.canary_view import short_text

STATE_GLYPHS: Mapping[State, str] = {
    State.CONNECTED: "●",
    State.CONDITIONAL: "◐",
    State.DISCONNECTED: "✕",
    State.UNCHECKED: "○",
    State.CHECKING: "⟳",
}
"""Each state has its own shape, so the table reads right with no colour at all."""

STATUS_GLYPHS: Mapping[Status, str] = {
    Status.OK: "✓",
    Status.FAILED: "✕",
    Status.MISSING: "∅",
    Status.NA: "·",
}

STATUS_STATE: Mapping[Status, State] = {
    Status.OK: State.CONNECTED,
    Status.FAILED: State.DISCONNECTED,
    Status.MISSING: State.DISCONNECTED,
    Status.NA: State.UNCHECKED,
}
"""Which state colour paints a protocol's outcome."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("mark", " ", 1),
    Column("state", "State", 14),
    Column("account", "Account", 26),
    Column("cause", "Cause", 36),
    Column("imap", "IMAP (replies)", 26),
    Column("smtp", "SMTP (sending)", 26),
    Column("who", "Name / tags", 24),
    Column("checked", "Checked", 9, right=True),
    Column("latency", "Latency", 9, right=True),
)
"""Fixed widths: a live table must never re-measure columns (library-facts 4.8). The order puts
what a person acts on first: at 80 columns state, account and cause stay in view; IMAP comes
before SMTP because a conditional account is an IMAP problem."""

ACCOUNT_WIDTH = (16, 34)
"""The account column fits the longest email within these bounds (set when the rows are built)."""

COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)

TitleOf = Callable[[CheckResult], str]
"""A failed check -> its cause's title, from the diagnosis knowledge."""


@dataclass(frozen=True)
class Palette:
    """Rich styles resolved from the active theme (rebuilt when the theme changes)."""

    states: Mapping[State, Style]
    muted: Style


_SHARED: dict[tuple[object, ...], Text] = {}
_SHARED_MAX = 512


def shared(key: tuple[object, ...], make: Callable[[], Text]) -> Text:
    """One `Text` for every row where a cell is the same (state words, "—", empty cells).

    At 10,000 rows most cells of an unchecked fleet are alike; one object per distinct cell
    instead of one per row keeps the table's memory near what the accounts themselves need
    (benchmarks/README.md, scale). Shared cells are never changed after they are made.
    """
    text = _SHARED.get(key)
    if text is None:
        if len(_SHARED) >= _SHARED_MAX:  # themes and styles come and go: start afresh
            _SHARED.clear()
        text = _SHARED[key] = make()
    return text


def state_cell(state: State, palette: Palette) -> Text:
    style = palette.states[state]
    return shared(
        ("state", state, style),
        lambda: Text(f"{STATE_GLYPHS[state]} {state.value}", style=style),
    )


def entry_state_cell(entry: Entry, palette: Palette) -> Text:
    """The state; a result remembered from the store (not re-checked yet) shows dimmed, and
    stays in view while its re-check is queued (the SMTP/IMAP cells show the check)."""
    mark = entry.history
    if mark is None or not mark.remembered or entry.result is None:
        return state_cell(entry.state, palette)
    state = entry.result.state
    return Text(
        f"{STATE_GLYPHS[state]} {state.value}", style=palette.states[state] + Style(dim=True)
    )


def _fit_address(settings: ServerSettings, room: int) -> str:
    """host:port within `room` characters; the port is kept, the host loses its start."""
    address = one_line(settings.address)
    if len(address) <= room:
        return address
    port = f":{settings.port}"
    keep = max(1, room - len(port) - 1)
    return "…" + one_line(settings.host)[-keep:] + port


def protocol_cell(entry: Entry, protocol: Protocol, palette: Palette, width: int) -> Text:
    settings = entry.account.settings_for(protocol)
    if protocol in entry.stages:
        stage = entry.stages[protocol]
        word = stage.value if stage is not None else "queued"
        text = Text(f"⟳ {word} ", style=palette.states[State.CHECKING])
        if settings is not None:
            text.append(_fit_address(settings, width - len(text)), style=palette.muted)
        return text
    result = entry.check_for(protocol)
    if protocol is Protocol.IMAP and entry.account.send_only and settings is None:
        return Text("· n/a (send-only)", style=palette.muted)
    if settings is None:
        if result is None:
            return Text("∅ not set", style=palette.states[State.DISCONNECTED])
        return Text(f"{STATUS_GLYPHS[result.status]} not set", style=_status_style(result, palette))
    if result is None:
        return Text(f"○ {_fit_address(settings, width - 2)}", style=palette.muted)
    glyph = STATUS_GLYPHS[result.status]
    return Text(
        f"{glyph} {_fit_address(settings, width - 2)}", style=_status_style(result, palette)
    )


def _status_style(result: CheckResult, palette: Palette) -> Style:
    return palette.states[STATUS_STATE[result.status]]


def leading_failure(entry: Entry) -> CheckResult | None:
    """The failure that decides the state: SMTP first (it makes the account disconnected)."""
    for protocol in (Protocol.SMTP, Protocol.IMAP):
        result = entry.check_for(protocol)
        if result is not None and result.status in (Status.FAILED, Status.MISSING) and result.cause:
            return result
    return None


def cause_cell(entry: Entry, title_of: TitleOf, palette: Palette) -> Text:
    flapping = entry.history is not None and entry.history.flapping
    failure = leading_failure(entry)
    text = Text()
    if flapping:
        text.append("↯ flapping", style="bold")
    if entry.canary is not None and (failure is None or entry.canary.running):
        if text:
            text.append(" · ")
        canary = short_text(entry.canary, datetime.now(UTC))
        text.append(canary, style="bold" if entry.canary.running else palette.muted)
        return text
    if failure is None:
        return text if text else shared(("empty",), Text)
    if flapping:
        text.append(" · ")
    title = title_of(failure)
    text.append(f"{failure.protocol.value.upper()}: {title}", style=palette.muted)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def who_cell(entry: Entry, palette: Palette) -> Text:
    account = entry.account
    text = Text(one_line(account.name or ""))
    for tag in account.tags:
        if text:
            text.append(" ")
        text.append(f"#{one_line(tag)}", style=palette.muted)
    return text


def relative_time(then: datetime | None, now: datetime) -> str:
    """Short and coarse on purpose: the column is 8 wide and refreshed every few seconds."""
    if then is None:
        return "—"
    seconds = int((now - then).total_seconds())
    if seconds < 5:
        return "now"
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def checked_cell(entry: Entry, now: datetime, palette: Palette) -> Text:
    then = entry.result.checked_at if entry.result is not None else None
    style = palette.muted
    if entry.history is not None and entry.history.remembered:
        style = style + Style(dim=True, italic=True)  # from the store: its age, not this run
    if then is None:
        return shared(("never", style), lambda: Text("—", style=style, justify="right"))
    return Text(relative_time(then, now), style=style, justify="right")


def format_ms(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def latency_cell(entry: Entry) -> Text:
    """The slower of the two checks (they run side by side), i.e. how long the account took."""
    if entry.result is None:
        return shared(("no latency",), lambda: Text("", justify="right"))
    ms = max(entry.result.smtp.elapsed_ms, entry.result.imap.elapsed_ms)
    return Text(format_ms(ms), justify="right")


CELL_PADDING = 2
"""Cells the table adds around each column (one on each side)."""
CAUSE_WIDTH = (20, 60)
"""The cause column gives and takes room so the table's right edge never cuts a column."""


def column_widths(
    emails: Iterable[str], room: int | None = None, beyond: int = 0
) -> dict[str, int]:
    """Fixed widths for this set of accounts: only the account column depends on the data.

    With `room` (the table's width in cells), the cause column flexes so the right edge falls
    between two columns instead of through one: `imap.gmail.com:99` for port 993 is worse than
    a column that starts off-screen (scrolling right shows it whole).
    """
    widths = {c.key: c.width for c in COLUMNS}
    longest = max((len(e) for e in emails), default=0)
    low, high = ACCOUNT_WIDTH
    widths["account"] = max(low, min(high, longest))
    return widths if room is None else fit_columns(widths, room, beyond)


def fit_columns(widths: dict[str, int], room: int, beyond: int = 0) -> dict[str, int]:
    """`widths` with the cause column changed so no column is cut by the right edge at `room`:
    the column at the edge either fits (cause gives up room, down to its minimum) or is pushed
    out whole (the column before it takes the slack); when cause itself is at the edge it ends
    there.
    `beyond`: cells past `room` that show when the vertical scrollbar is hidden; a column that
    starts there shows at most that many cells (a glyph and a space, never a number)."""
    fitted = dict(widths)
    low, high = CAUSE_WIDTH
    keys = list(COLUMN_KEYS)
    position = 0
    for index, key in enumerate(keys):
        width = fitted[key] + CELL_PADDING
        if position + width <= room:
            position += width
            continue
        if position >= room:
            break
        visible = room - position
        if key == "cause":
            fitted["cause"] = max(low, min(high, visible - CELL_PADDING + beyond))
        elif index > keys.index("cause"):
            missing = width - visible
            if fitted["cause"] - missing >= low:
                fitted["cause"] -= missing
            else:  # the column before it takes the rest of the line: this one starts at the edge
                fitted[keys[index - 1]] += visible
        break
    return fitted


def row_cells(
    entry: Entry,
    *,
    selected: bool,
    palette: Palette,
    title_of: TitleOf,
    now: datetime,
    columns: Collection[str] | None = None,
) -> dict[str, Text]:
    """The cells of one row by column key: all of them, or only `columns`."""
    widths = {c.key: c.width for c in COLUMNS}
    makers: dict[str, Callable[[], Text]] = {
        "mark": lambda: shared(
            ("mark", selected), lambda: Text("✓" if selected else " ", style="bold")
        ),
        "state": lambda: entry_state_cell(entry, palette),
        "account": lambda: Text(one_line(entry.email), style="bold" if selected else ""),
        "smtp": lambda: protocol_cell(entry, Protocol.SMTP, palette, widths["smtp"]),
        "imap": lambda: protocol_cell(entry, Protocol.IMAP, palette, widths["imap"]),
        "cause": lambda: cause_cell(entry, title_of, palette),
        "who": lambda: who_cell(entry, palette),
        "checked": lambda: checked_cell(entry, now, palette),
        "latency": lambda: latency_cell(entry),
    }
    keys = COLUMN_KEYS if columns is None else [k for k in COLUMN_KEYS if k in columns]
    return {key: makers[key]() for key in keys}


def failing_stage(result: CheckResult) -> Stage | None:
    return result.stage if result.status in (Status.FAILED, Status.MISSING) else None
