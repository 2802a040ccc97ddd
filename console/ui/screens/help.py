"""`?`: every key, from the same Binding declarations the footer uses, and the filter syntax."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from console.ui.detail import Page

Sections = Sequence[tuple[str, Sequence[tuple[str, str]]]]

FILTER_HELP = (
    ("word", "accounts whose email, name, tag, host or cause contains it"),
    ("state:conditional", "by state (connected, conditional, disconnected, unchecked, checking)"),
    ("tag:acme", "by tag"),
    ("cause:auth_failed", "by cause id, SMTP or IMAP"),
    ("provider:gmail", "by provider id"),
    ("imap:failed", "by a protocol's status (ok, failed, missing, n/a, checking)"),
    ("!state:connected", "a leading ! (or -) excludes"),
    ("a b", "terms of different kinds must all match; one kind several times: any"),
)


def binding_rows(
    bindings: Iterable[BindingType], key_display: Callable[[str], str] = str
) -> list[tuple[str, str]]:
    """(keys, description) for every binding that has a description, in declaration order."""
    rows: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for item in bindings:
        binding = item if isinstance(item, Binding) else Binding(*item)
        if not binding.description:
            continue
        keys = ", ".join(key_display(k.strip()) for k in binding.key.split(","))
        row = (keys, binding.tooltip or binding.description)
        if row not in seen:
            seen.add(row)
            rows.append(row)
    return rows


def help_content(sections: Sections, width: int = 80) -> Content:
    """Keys in a narrow column, descriptions wrapped beside them (hanging indent)."""
    page = Page(width)
    key_width = max((len(keys) for _, rows in sections for keys, _ in rows), default=4)
    key_width = min(key_width, 18)
    for title, rows in sections:
        page.line((title, "bold $text-accent"))
        for keys, description in rows:
            page.item((f"  {keys:<{key_width}}  ", "bold"), description)
        page.blank()
    return page.content()


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-color: $text-accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close help", id="help.close"),
    ]

    def __init__(self, sections: Sections) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll()
        scroll.border_title = Content("Keys · esc closes")
        with scroll:
            yield Static(Content(""), id="help-text")

    def on_resize(self) -> None:
        scroll = self.query_one(VerticalScroll)
        width = min(90, self.size.width) - 6  # border, padding and the scrollbar
        self.query_one("#help-text", Static).update(help_content(self._sections, width))
        scroll.scroll_home(animate=False)
