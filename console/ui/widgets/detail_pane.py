"""The pane beside (or below) the table: the highlighted account in full, or its IMAP editor."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from console.ui.widgets.imap_editor import ImapEditor

Render = Callable[[int], Content]
"""Builds the pane's text for a given line width."""


def _plain(widget: Static) -> str:
    visual = widget.visual
    return visual.plain if isinstance(visual, Content) else str(visual)


class DetailPane(VerticalScroll):
    """Focusable so `enter` can move the keyboard here to scroll a long explanation."""

    DEFAULT_CSS = """
    DetailPane {
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    DetailPane > #detail-view {
        width: 1fr;
        height: auto;
    }
    DetailPane > #form-result {
        height: auto;
        margin: 1 0 0 0;
    }
    """

    can_focus = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back to table", id="detail.leave"),
    ]

    class Left(Message):
        """The user is done reading (esc): the screen puts the focus back on the table."""

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave":  # while editing, esc belongs to the form (cancel)
            return self.editor is None
        return True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.showing: str | None = None
        """The email whose details are shown (None: nothing highlighted)."""
        self._renderer: Render | None = None
        self._result_renderer: Render | None = None

    @property
    def text_width(self) -> int:
        """Cells per line for the text: the pane less its padding and the scrollbar."""
        return max(20, self.size.width - 3)

    def on_resize(self) -> None:
        if self._renderer is not None:
            self.query_one("#detail-view", Static).update(self._renderer(self.text_width))
        if self._result_renderer is not None:
            self.show_form_result(self._result_renderer)

    def compose(self) -> ComposeResult:
        yield Static(Content(""), id="detail-view")

    @property
    def editor(self) -> ImapEditor | None:
        return self.query_one_optional(ImapEditor)

    @property
    def text(self) -> str:
        """What the pane says, as plain text (for tests and screen readers alike)."""
        widgets = [self.query_one("#detail-view", Static)]
        result = self.query_one_optional("#form-result", Static)
        if result is not None:
            widgets.append(result)
        return "\n".join(_plain(w) for w in widgets if w.display)

    def show(self, email: str | None, render: Render) -> None:
        """Show an account's details; a different account scrolls back to the top.

        `render(width)` builds the text; it runs again when the pane changes size.
        """
        if email != self.showing:
            self.scroll_home(animate=False)
        self.showing = email
        self._renderer = render
        self.query_one("#detail-view", Static).update(render(self.text_width))

    async def open_editor(self, editor: ImapEditor) -> None:
        await self.close_editor()
        self.query_one("#detail-view", Static).display = False
        await self.mount(editor)
        await self.mount(Static(Content(""), id="form-result"))
        self.scroll_home(animate=False)

    async def close_editor(self) -> None:
        self._result_renderer = None
        for widget in self.query("ImapEditor, #form-result"):
            await widget.remove()
        self.query_one("#detail-view", Static).display = True

    def show_form_result(self, render: Render) -> None:
        result = self.query_one_optional("#form-result", Static)
        if result is not None:
            self._result_renderer = render
            result.update(render(self.text_width))
            self.scroll_to_widget(result, animate=False, top=True)
