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


def help_content(sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> Content:
    parts: list[Content | str | tuple[str, str]] = []
    for title, rows in sections:
        parts.append((f"{title}\n", "bold $text-accent"))
        for keys, description in rows:
            parts.append((f"  {keys:<20}", "bold"))
            parts.append(f" {description}\n")
        parts.append("\n")
    return Content.assemble(*parts)


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

    def __init__(self, sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll()
        scroll.border_title = Content("Keys · esc closes")
        with scroll:
            yield Static(help_content(self._sections), id="help-text")
