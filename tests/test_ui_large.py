"""A large account file: the first rows are painted at once, the rest follow in order."""

from __future__ import annotations

import random
from pathlib import Path

from ui_support import main_screen, shown_emails

from console.ui.app import MailConsoleApp
from console.ui.sorting import SortOrder
from console.ui.widgets.accounts_table import FIRST_ROWS

COUNT = FIRST_ROWS + 2_500


def big_file(path: Path) -> list[str]:
    emails = [f"user{i:05d}@big.example" for i in range(COUNT)]
    random.Random(7).shuffle(emails)  # file order is not sorted order
    lines = []
    for email in emails:
        lines += ["[[account]]", f'email = "{email}"', "[account.smtp]", 'host = "127.0.0.1"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return emails


async def test_rows_arrive_in_chunks_and_a_sort_meanwhile_covers_them_all(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    emails = big_file(path)
    app = MailConsoleApp(path, check_on_start=False, state_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = main_screen(app)
        table = screen.table
        while table.filling:
            await pilot.pause()
        assert shown_emails(app) == emails  # the account file's order, every row

        screen.rebuild()  # as a filter or theme change does
        assert table.filling and table.row_count == FIRST_ROWS
        screen.apply_sort(SortOrder("account", reverse=True))  # before the rest arrived
        while table.filling:
            await pilot.pause()
        assert shown_emails(app) == sorted(emails, reverse=True)
        assert table.cursor_email == emails[0]  # the cursor stayed on its account
