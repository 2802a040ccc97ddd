"""No number is cut at the table's right edge: the cause column flexes so the edge falls between
columns, at every terminal size people use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ui_support import main_screen

from console.core.secrets import MemorySecrets
from console.ui.app import MailConsoleApp
from console.ui.cells import CELL_PADDING, COLUMN_KEYS, column_widths, fit_columns

PORTS = {"46863", "993", "465", "587", "143"}
ACCOUNTS = "\n".join(
    f"""
[[account]]
email = "{local}@fabrikam.example"
[account.smtp]
host = "{smtp}"
port = {smtp_port}
security = "tls"
[account.imap]
host = "{imap}"
port = {imap_port}
security = "tls"
"""
    for local, smtp, smtp_port, imap, imap_port in [
        ("ana", "127.0.0.1", 465, "127.0.0.1", 46863),
        ("bo", "smtp.gmail.com", 587, "imap.gmail.com", 993),
        (
            "cy",
            "a-very-long-host-name.mail.fabrikam-industries.example",
            465,
            "imap.x.example",
            143,
        ),
    ]
)


@pytest.mark.parametrize("beyond", [0, 2])
@pytest.mark.parametrize("room", range(40, 260, 3))
def test_the_right_edge_never_falls_inside_a_column(room: int, beyond: int) -> None:
    widths = fit_columns(column_widths(["someone@example.com"]), room, beyond)
    edges = []
    position = 0
    for key in COLUMN_KEYS:
        start, position = position, position + widths[key] + CELL_PADDING
        edges.append((key, start, position))
    for edge in {room, room + beyond}:  # with the scrollbar shown, and without it
        # a column starting in the scrollbar's place shows two cells: glyph and space
        cut = [key for key, start, end in edges if start < edge < end and start < room]
        assert cut in ([], ["cause"], ["state"], ["account"], ["mark"]), (edge, cut)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40), (160, 45), (200, 50)])
async def test_host_port_cells_show_whole_ports(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS)
    app = MailConsoleApp(
        path,
        secrets=MemorySecrets(),
        store_secret=lambda settings, password: None,
        check_on_start=False,
        state_dir=tmp_path,
    )
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = main_screen(app).table
        lines = [table.render_line(y).text for y in range(table.size.height)]
    seen = set()
    for line in lines:
        for match in re.finditer(r":(\d*)(\S?)", line):
            port, after = match.groups()
            if not port and not after:
                raise AssertionError(f"a port is cut off at {size}: {line!r}")
            if port:
                assert port in PORTS, f"cut port {port!r} at {size}: {line!r}"
                seen.add(port)
    if size[0] >= 100:
        assert {"46863", "993"} <= seen  # the IMAP column is in view, whole


def test_cells_alike_on_many_rows_are_one_object_and_still_right() -> None:
    """10,000 unchecked rows share their state, cause, checked and latency cells (memory, see
    benchmarks/README.md); what differs per row (account, address, a selection) does not."""
    from datetime import UTC, datetime

    from rich.style import Style

    from console.core.model import Account, Protocol, Security, ServerSettings, State
    from console.ui.board import Entry
    from console.ui.cells import Palette, row_cells

    def entry(email: str) -> Entry:
        smtp = ServerSettings(
            protocol=Protocol.SMTP,
            host="smtp.example.org",
            port=465,
            security=Security.TLS,
            username=email,
        )
        return Entry(Account(email=email, smtp=smtp, send_only=True))

    palette = Palette(states={s: Style(color="red") for s in State}, muted=Style(dim=True))
    now = datetime.now(UTC)
    one, two = (
        row_cells(entry(e), selected=e.startswith("b"), palette=palette, title_of=str, now=now)
        for e in ("a@example.org", "b@example.org")
    )
    for key in ("state", "cause", "checked", "latency"):
        assert one[key] is two[key]
    assert one["state"].plain == "○ unchecked" and one["checked"].plain == "—"
    assert (one["mark"].plain, two["mark"].plain) == (" ", "✓")
    assert one["account"].plain == "a@example.org" and two["account"].plain == "b@example.org"
