"""The group-by-cause view: failing accounts grouped by (protocol, cause, provider, host), largest
first, each group's explanation and fix shown once. Enter shows the group's accounts in the table
(as a `/` filter); g or esc goes back.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.core.diagnosis import advise
from console.core.fleet.groups import Group
from console.core.fleet.output import visible


def group_text(group: Group) -> Content:
    """Explanation and fix of one group, as plain text (nothing in it is markup)."""
    advice = advise(group.key.cause, group.key.protocol, group.key.provider)
    lines = [
        visible(group.label, keep_newlines=False),
        "",
        advice.explanation,
        "",
        "Fix:",
        *(f"  {n}. {step}" for n, step in enumerate(advice.fix, start=1)),
        "",
        "Accounts: " + ", ".join(group.emails[:8]) + (" …" if group.size > 8 else ""),
    ]
    if not advice.auto_retry:
        lines += ["", "Not re-tried automatically: fix it, then press r on the accounts."]
    return Content("\n".join(visible(line) for line in lines))


class GroupsScreen(ModalScreen[str | None]):
    """Returns the filter text of the chosen group, or None."""

    DEFAULT_CSS = """
    GroupsScreen { align: center middle; }
    GroupsScreen > Vertical {
        width: 95%; height: 90%; border: thick $primary; background: $surface; padding: 0 1;
    }
    GroupsScreen Horizontal { height: 1fr; }
    GroupsScreen OptionList { width: 1fr; height: 1fr; }
    GroupsScreen #group-detail { width: 1fr; height: 1fr; padding: 0 1; overflow-y: auto; }
    GroupsScreen #groups-title { height: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g,escape", "close", "Back", id="groups.close"),
    ]

    def __init__(self, groups: list[Group]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        count = len(self.groups)
        accounts = len({e for g in self.groups for e in g.emails})
        title = (
            f"{count} problem(s) across {accounts} failing account(s) · enter: show in table"
            if count
            else "No failing accounts: nothing to group"
        )
        with Vertical():
            yield Static(Content(title), id="groups-title")
            with Horizontal():
                yield OptionList(
                    *(
                        Option(Content(visible(g.label, keep_newlines=False)), id=str(i))
                        for i, g in enumerate(self.groups)
                    ),
                    id="group-list",
                )
                yield Static(Content(""), id="group-detail")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        if self.groups:
            options.highlighted = 0
            self._show(0)

    def _show(self, index: int) -> None:
        self.query_one("#group-detail", Static).update(group_text(self.groups[index]))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show(event.option_index)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.groups[event.option_index].filter_text())

    def action_close(self) -> None:
        self.dismiss(None)
