"""The group-by-cause view: failing accounts grouped by (protocol, cause, provider, host), largest
first, each group's explanation and fix shown once. Enter shows the group's accounts in the table
(as a `/` filter); f, c, p and w fix the whole group (console/ui/group_fixes.py), u undoes the
last group fix, r re-tests the group; g or esc goes back.
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
from console.core.safe_text import visible
from console.ui.group_fixes import GroupFixer


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
        Binding("f", "fix('discover')", "Find port", id="groups.discover"),
        Binding("c", "fix('field')", "Change field", id="groups.field"),
        Binding("p", "fix('preset')", "Preset", id="groups.preset"),
        Binding("w", "fix('passwords')", "Passwords", id="groups.passwords"),
        Binding("r", "fix('retest')", "Re-test", id="groups.retest"),
        Binding("u", "undo", "Undo", id="groups.undo"),
    ]

    def __init__(self, groups: list[Group], fixer: GroupFixer | None = None) -> None:
        super().__init__()
        self.groups = groups
        self.fixer = fixer

    def compose(self) -> ComposeResult:
        count = len(self.groups)
        accounts = len({e for g in self.groups for e in g.emails})
        title = (
            f"{count} problem(s) across {accounts} failing account(s) · enter: show in table · "
            "f: find port/security · c: change a field · p: preset · w: re-enter passwords · "
            "r: re-test · u: undo"
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

    def _current(self) -> Group | None:
        index = self.query_one(OptionList).highlighted
        return self.groups[index] if index is not None and self.groups else None

    def action_fix(self, how: str) -> None:
        """Fix the highlighted group: the group view closes, the preview (or queue) follows."""
        group = self._current()
        if group is None or self.fixer is None:
            return
        self.dismiss(None)
        if how == "discover":
            self.fixer.discover(group)
        elif how == "field":
            self.fixer.field(group)
        elif how == "preset":
            self.fixer.preset(group)
        elif how == "passwords":
            self.fixer.passwords(group)
        else:
            self.fixer.retest(group.emails)

    def action_undo(self) -> None:
        if self.fixer is not None:
            self.dismiss(None)
            self.fixer.undo()
