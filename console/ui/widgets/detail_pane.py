"""The pane beside (or below) the table: the highlighted account in full, or its edit form."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from console.ui.widgets.account_editor import AccountEditor

Render = Callable[[int], Content]
"""Builds the pane's text for a given line width."""


def _plain(widget: Static) -> str:
    visual = widget.visual
    return visual.plain if isinstance(visual, Content) else str(visual)


class FormResult(Static, can_focus=True):
    """A test's result above the form; focusable so the keyboard can scroll a long one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", show=False),
        Binding("down", "scroll_down", show=False),
    ]


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
    /* While editing, the account's name and the last test's result stay at the top of the pane
       (docked: the fields scroll beneath them, so the focused field stays in view too). */
    DetailPane > #editor-title {
        dock: top;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        text-style: bold;
        color: $text-accent;
        background: $boost;
    }
    DetailPane > #form-result {
        dock: top;
        margin: 1 0 0 0;  /* under the title: docked widgets on one edge would overlap */
        height: auto;
        max-height: 30vh;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        border-bottom: hkey $panel;
        display: none;
    }
    DetailPane > #form-result.-shown {
        display: block;
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
    def editor(self) -> AccountEditor | None:
        return self.query_one_optional(AccountEditor)

    @property
    def text(self) -> str:
        """What the pane says, as plain text (for tests and screen readers alike)."""
        widgets = [self.query_one("#detail-view", Static)]
        for extra in ("#editor-title", "#form-result"):
            found = self.query_one_optional(extra, Static)
            if found is not None:
                widgets.append(found)
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

    async def open_editor(self, editor: AccountEditor, title: Content) -> None:
        """Show the form; `title` names the account and stays at the top while editing."""
        await self.close_editor()
        self.query_one("#detail-view", Static).display = False
        await self.mount(Static(title, id="editor-title"))
        await self.mount(FormResult(Content(""), id="form-result"))
        await self.mount(editor)
        self.scroll_home(animate=False)

    async def close_editor(self) -> None:
        self._result_renderer = None
        for widget in self.query("AccountEditor, #editor-title, #form-result"):
            await widget.remove()
        self.query_one("#detail-view", Static).display = True

    def show_form_result(self, render: Render) -> None:
        """The result of a test or search, at the top of the pane under the title."""
        result = self.query_one_optional("#form-result", Static)
        if result is not None:
            self._result_renderer = render
            result.update(render(self.text_width))
            result.add_class("-shown")
            result.scroll_home(animate=False)
            focused = self.screen.focused
            if focused is not None and focused in self.walk_children():
                self.call_after_refresh(self.scroll_to_widget, focused, animate=False)
