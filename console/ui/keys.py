"""The main screen's keys, declared once: the footer, the help screen and the tests read these.

Ids follow "<area>.<what>": the user's keymap file rebinds them (keymap.py, App.set_keymap).
"""

from __future__ import annotations

from textual.binding import Binding

MAIN_BINDINGS: tuple[Binding, ...] = (
    Binding(
        "slash",
        "filter",
        "Filter",
        id="table.filter",
        tooltip="Filter: words, state:, tag:, cause:, provider:, imap:/smtp: (see below)",
        # priority: handled as it arrives, so keys typed right behind it (a burst over SSH)
        # land in the filter line instead of triggering sort, theme, add...
        priority=True,
    ),
    Binding("escape", "clear_filter", "Clear filter", id="table.clear-filter"),
    Binding(
        "s",
        "cycle_sort",
        "Sort",
        id="table.sort",
        tooltip="Sort by the next column (a header click sorts by that column)",
    ),
    Binding(
        "enter",
        "focus_detail",
        "Detail",
        id="table.detail",
        show=False,
        tooltip="Move to the detail pane (arrows scroll it; esc or tab comes back)",
    ),
    Binding(
        "space",
        "toggle_select",
        "Select",
        id="table.select",
        show=False,
        tooltip="Select or unselect the highlighted account (r re-tests the selection)",
    ),
    Binding(
        "r",
        "retest",
        "Re-test",
        id="table.retest",
        tooltip="Re-test the selected accounts, or the highlighted one",
    ),
    Binding(
        "R", "retest_all", "Re-test all", id="table.retest-all", tooltip="Re-test every account"
    ),
    Binding(
        "e",
        "edit",
        "Edit",
        id="table.edit",
        tooltip="Edit the highlighted account's IMAP and SMTP settings in the detail pane",
        priority=True,  # like "/": what is typed right after goes into the form
    ),
    Binding(
        "f",
        "find_settings",
        "Find settings",
        id="table.find-settings",
        show=False,  # the footer keeps room for q and ?; the detail pane offers it where it helps
        tooltip="Find the IMAP port and security that answer (no password is sent) and put "
        "them in the edit form",
        priority=True,  # like "e": it opens the form
    ),
    Binding(
        "a",
        "add",
        "Add",
        id="table.add",
        show=False,
        tooltip="Add an account (email first; the provider fills the servers)",
        priority=True,  # like "/": the address typed right after goes into the dialog
    ),
    Binding(
        "d",
        "delete",
        "Delete",
        id="table.delete",
        show=False,
        tooltip="Delete the highlighted account from the file (asks first)",
    ),
    Binding(
        "v",
        "toggle_detail",
        "Pane",
        id="table.toggle-pane",
        show=False,
        tooltip="Show or hide the detail pane",
    ),
    Binding(
        "ctrl+r",
        "reload",
        "Reload file",
        id="table.reload",
        show=False,
        tooltip="Read the account file again from disk",
    ),
    Binding(
        "g",
        "group_view",
        "Groups",
        id="table.groups",
        show=False,  # the footer keeps its room; the table's title says "N problem groups (g)"
        tooltip="Failing accounts grouped by protocol, cause, provider and host; enter shows a "
        "group's accounts in the table",
    ),
    Binding(
        "i",
        "import",
        "Import",
        id="table.import",
        show=False,
        tooltip="Import accounts from a CSV/TSV export: mapping, pre-flight test, then save",
    ),
    Binding(
        "c",
        "copy_example",
        "Copy example",
        id="first-run.copy-example",
        tooltip="No account file yet: copy the documented example there, then edit it",
    ),
    Binding(
        "D",
        "start_demo",
        "Start demo",
        id="first-run.demo",
        tooltip="No account file yet: try the demo (scripted servers on 127.0.0.1)",
    ),
    Binding(
        "ctrl+t",
        "test_form",
        "Test",
        id="editor.test",
        tooltip="Test the values in the form (the full IMAP and SMTP ladders), without saving",
    ),
    Binding(
        "ctrl+s",
        "save_form",
        "Save",
        id="editor.save",
        tooltip="Save the changed fields (password to the keyring) and re-test",
    ),
    Binding(
        "escape",
        "cancel_edit",
        "Cancel",
        id="editor.cancel",
        tooltip="Close the form without saving",
    ),
    Binding(
        "C",
        "canary",
        "Canary",
        id="table.canary",
        show=False,
        tooltip="Send a reply canary (asks first): the current account, the selection, or every "
        "account the filter shows; it checks that a reply arrives in the tracked mailbox and stays",
    ),
    Binding(
        "L",
        "sign_in",
        "Sign in",
        id="table.sign-in",
        show=False,
        tooltip="Sign in with Microsoft (device code): the current account, the selection, or "
        "every account the filter shows, one after another; the refresh token goes to the keyring",
    ),
    Binding(
        "A",
        "audit_report",
        "Audit report",
        id="table.audit-report",
        show=False,
        tooltip="Write the audit report (HTML, per client, from the recorded checks) and say where",
    ),
)
