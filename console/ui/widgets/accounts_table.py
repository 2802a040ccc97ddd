"""The live accounts table: rows keyed by email, diff updates, fixed-width columns.

It renders what the screen hands it (entries, palette, clock); it holds no check state of its own
beyond a cache of what each cell shows, so an unchanged cell is never touched again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.ui.board import Board, Entry
from console.ui.cells import COLUMNS, Palette, TitleOf, row_cells
from console.ui.sorting import SORT_KEYS, SortOrder

_Signature = tuple[str, str]


def _signature(text: Text) -> _Signature:
    return (text.plain, str(text.style))


class AccountsTable(DataTable[Text]):
    """One row per account; the `account` cell's plain text is always the row's key (the email)."""

    DEFAULT_CSS = """
    AccountsTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            cursor_type="row",
            zebra_stripes=True,
            fixed_columns=3,
            cursor_foreground_priority="css",
        )
        self._shown: dict[str, dict[str, _Signature]] = {}
        self._widths: dict[str, int] = {}
        self.set_widths({c.key: c.width for c in COLUMNS})

    def set_widths(self, widths: dict[str, int]) -> None:
        """Columns with these fixed widths (rows are dropped: call before `show`)."""
        if widths == self._widths:
            return
        self._widths = dict(widths)
        self.clear(columns=True)
        self._shown = {}
        for column in COLUMNS:
            self.add_column(Text(column.label), key=column.key, width=widths[column.key])

    # -- cursor -------------------------------------------------------------------------------

    @property
    def cursor_email(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return str(row_key.value) if row_key.value is not None else None

    def move_to(self, email: str | None) -> bool:
        """Put the cursor on an account's row; False when the row is not shown."""
        if email is None or email not in self._shown:
            return False
        try:
            index = self.get_row_index(email)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index, animate=False, scroll=True)
        return True

    @property
    def shown(self) -> Sequence[str]:
        return list(self._shown)

    # -- content ------------------------------------------------------------------------------

    def show(
        self,
        entries: Iterable[Entry],
        board: Board,
        *,
        palette: Palette,
        title_of: TitleOf,
        now: datetime,
        keep: str | None = None,
    ) -> None:
        """Replace all rows (filter, sort, theme change); the cursor stays on `keep` if shown."""
        self.clear()
        self._shown = {}
        for entry in entries:
            cells = row_cells(
                entry,
                selected=entry.email in board.selected,
                palette=palette,
                title_of=title_of,
                now=now,
            )
            self.add_row(*(cells[c.key] for c in COLUMNS), key=entry.email)
            self._shown[entry.email] = {k: _signature(v) for k, v in cells.items()}
        if not self.move_to(keep) and self.row_count:
            self.move_cursor(row=0, animate=False)

    def update_rows(
        self,
        entries: Iterable[Entry],
        board: Board,
        *,
        palette: Palette,
        title_of: TitleOf,
        now: datetime,
        columns: Collection[str] | None = None,
    ) -> int:
        """Diff update: only cells whose text or style changed are written. Returns that count.

        Widths stay fixed (`update_width` is never used): re-measuring a column per cell makes a
        bulk update quadratic in the number of rows.
        """
        written = 0
        for entry in entries:
            shown = self._shown.get(entry.email)
            if shown is None:
                continue
            cells = row_cells(
                entry,
                selected=entry.email in board.selected,
                palette=palette,
                title_of=title_of,
                now=now,
                columns=columns,
            )
            for key, text in cells.items():
                signature = _signature(text)
                if shown.get(key) != signature:
                    self.update_cell(entry.email, key, text)
                    shown[key] = signature
                    written += 1
        return written

    def sort_rows(self, order: SortOrder, board: Board, file_order: Sequence[str]) -> None:
        """Sort in place by board data (not by the rendered text), cursor kept on its account."""
        keep = self.cursor_email
        if order.column is None:
            position = {email: i for i, email in enumerate(file_order)}
            self.sort("account", key=lambda cell: position.get(cell.plain, len(position)))
        else:
            key = SORT_KEYS[order.column]
            self.sort(
                "account",
                key=lambda cell: key(board[cell.plain]),
                reverse=order.reverse,
            )
        self.move_to(keep)

    def label_sorted(self, order: SortOrder) -> None:
        """The sorted column's header carries ▲/▼ (k9s habit), the others their plain name."""
        for column in COLUMNS:
            label = column.label
            if column.key == order.column:
                label = f"{label} {'▼' if order.reverse else '▲'}"
            self.columns[column.key].label = Text(label)  # type: ignore[index]
        self.refresh()
