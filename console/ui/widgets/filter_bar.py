"""The `/` filter line (k9s style): typing filters live, enter keeps it, esc clears it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label, Static


class FilterInput(Input):
    """Escape belongs to the filter here (it clears it), not to the screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", id="filter.clear")
    ]

    def action_clear(self) -> None:
        bar = self.parent
        if isinstance(bar, FilterBar):
            bar.invalidate()
        self.post_message(FilterBar.Cleared())


DEBOUNCE_SECONDS = 0.15
"""Typing filters live, but a burst of keys rebuilds the table once."""


class FilterBar(Horizontal):
    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        background: $panel;
    }
    FilterBar > Label {
        width: 2;
        padding: 0 0 0 1;
        color: $text-accent;
        text-style: bold;
    }
    FilterBar > FilterInput {
        width: 1fr;
    }
    FilterBar > #filter-error {
        width: auto;
        max-width: 50%;
        color: $text-error;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    @dataclass
    class Changed(Message):
        """The text settled (typing paused); only sent while the bar is open."""

        text: str

    @dataclass
    class Done(Message):
        """Enter: keep the filter, go back to the table."""

        text: str

    class Cleared(Message):
        """Escape: no filter any more."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._generation = 0
        self.display = False

    def invalidate(self) -> None:
        """Forget pending debounced changes (enter or escape decided the filter already)."""
        self._generation += 1

    def compose(self) -> ComposeResult:
        yield Label("/")
        yield FilterInput(
            placeholder="text  state:conditional  tag:acme  cause:auth_failed  !state:connected",
            id="filter-input",
            compact=True,
        )
        yield Static(Content(""), id="filter-error")

    @property
    def input(self) -> FilterInput:
        return self.query_one(FilterInput)

    def open(self) -> None:
        """Show the line and take the keyboard at once, so keys typed right after `/` (a paste,
        a fast typist over SSH) land in the filter, not on the table's bindings."""
        self.display = True
        self.screen.set_focus(self.input)  # now: `focus()` would wait behind typed-ahead keys

    def close(self) -> None:
        self.invalidate()
        self.display = False

    def set_error(self, message: str) -> None:
        self.query_one("#filter-error", Static).update(Content(message))

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._generation += 1
        generation = self._generation
        self.set_timer(DEBOUNCE_SECONDS, lambda: self._settled(generation))

    def _settled(self, generation: int) -> None:
        if generation == self._generation and self.display:
            self.post_message(self.Changed(self.input.value))

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.invalidate()
        self.post_message(self.Done(event.value))
