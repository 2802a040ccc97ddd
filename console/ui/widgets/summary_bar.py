"""The line above the table: how many accounts are in each state, what is in flight, which file.

One fixed-height line drawn as one `Content`: updating it never triggers a layout pass, which
matters because it changes with every batch of results during a run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from textual.content import Content
from textual.widgets import Static

from console.core.model import State
from console.ui.cells import STATE_GLYPHS

_COUNTED = (State.CONNECTED, State.CONDITIONAL, State.DISCONNECTED, State.UNCHECKED)


def counts_content(counts: Counter[State], in_flight: int) -> Content:
    """Every state's count, zeros included: the bar keeps its shape while checks land."""
    parts: list[Content | tuple[str, str] | str] = []
    for state in _COUNTED:
        label = f"{STATE_GLYPHS[state]} {counts.get(state, 0)} {state.value}"
        parts += [(label, f"$state-{state.value}"), " "]
    if in_flight:
        label = f"{STATE_GLYPHS[State.CHECKING]} {in_flight} checking"
        parts.append((label, "bold $state-checking"))
    return Content.assemble(*parts)


def elide_path(path: str, room: int) -> str:
    """Keep the end of a path (the file name matters most): `…/clients/accounts.toml`."""
    if len(path) <= room:
        return path
    if room <= 1:
        return "…"[:room]
    return "…" + path[-(room - 1) :]


class SummaryBar(Static):
    DEFAULT_CSS = """
    SummaryBar {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
    }
    """

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(Content(""), id=id)
        self._path = str(path)
        self._counts = Content("")

    @property
    def text(self) -> str:
        return self._counts.plain

    def update_counts(self, counts: Counter[State], in_flight: int) -> None:
        counts_line = counts_content(counts, in_flight)
        if counts_line != self._counts:
            self._counts = counts_line
            self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        room = self.size.width - 2 - self._counts.cell_length - 2  # padding, then a gap
        path = elide_path(self._path, max(room, 0))
        gap = max(1, self.size.width - 2 - self._counts.cell_length - len(path))
        line = Content.assemble(self._counts, " " * gap, (path, "$text-muted"))
        self.update(line, layout=False)
