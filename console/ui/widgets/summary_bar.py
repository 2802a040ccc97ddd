"""The line above the table: how many accounts are in each state, what is in flight, which file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from console.core.model import State
from console.ui.cells import STATE_GLYPHS

_COUNTED = (State.CONNECTED, State.CONDITIONAL, State.DISCONNECTED, State.UNCHECKED)


def counts_content(counts: Counter[State], in_flight: int) -> Content:
    """Every state's count, zeros included: the bar keeps its shape while checks land."""
    parts: list[Content | tuple[str, str] | str] = []
    for state in _COUNTED:
        parts.append(
            (f"{STATE_GLYPHS[state]} {counts.get(state, 0)} {state.value}", f"$state-{state.value}")
        )
        parts.append(" ")
    if in_flight:
        parts.append(
            (f"{STATE_GLYPHS[State.CHECKING]} {in_flight} checking", "bold $state-checking")
        )
    return Content.assemble(*parts)


def elide_path(path: str, room: int) -> str:
    """Keep the end of a path (the file name matters most): `…/clients/accounts.toml`."""
    if len(path) <= room:
        return path
    if room <= 1:
        return "…"[:room]
    return "…" + path[-(room - 1) :]


class SummaryBar(Horizontal):
    DEFAULT_CSS = """
    SummaryBar {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    SummaryBar > #counts {
        width: auto;
    }
    SummaryBar > #path {
        width: 1fr;
        text-align: right;
        text-wrap: nowrap;
        color: $text-muted;
    }
    """

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._path = str(path)
        self._counts_width = 0

    def compose(self) -> ComposeResult:
        yield Static(Content(""), id="counts")
        yield Static(Content(self._path), id="path")

    def update_counts(self, counts: Counter[State], in_flight: int) -> None:
        content = counts_content(counts, in_flight)
        self._counts_width = content.cell_length
        self.query_one("#counts", Static).update(content)
        self._fit_path()

    def on_resize(self) -> None:
        self._fit_path()

    def _fit_path(self) -> None:
        room = self.size.width - 2 - self._counts_width - 2  # padding, then a gap
        self.query_one("#path", Static).update(Content(elide_path(self._path, max(room, 0))))
