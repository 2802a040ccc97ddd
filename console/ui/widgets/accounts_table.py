"""The live accounts table: rows keyed by email, diff updates, fixed-width columns.

It renders what the screen hands it (entries, palette, clock); it holds no check state of its own
beyond a cache of what each cell shows, so an unchanged cell is never touched again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from rich.text import Text
from textual.cache import LRUCache
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from console.ui.board import Board, Entry
from console.ui.cells import COLUMNS, Palette, TitleOf, row_cells
from console.ui.sorting import SORT_KEYS, SortOrder

FIRST_ROWS = 300
"""Rows a `show` adds at once: more than a tall terminal shows; the rest follow in chunks."""
CHUNK_ROWS = 1000
"""Rows added per refresh after the first ones (about 0.1 s of work here)."""

_ROW_KEYED_CACHES = ("_cell_render_cache", "_row_render_cache")
"""DataTable's render caches whose keys start with the row key (Textual 8.2)."""
_SHARED_CACHES = ("_row_renderable_cache", "_line_cache")


def _same(a: Text, b: Text) -> bool:
    """What a person sees is equal: text, base style and styled spans (Text == skips style)."""
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


def _evict(cache: LRUCache[Any, Any], rows: set[RowKey]) -> None:
    for key in [k for k in cache.keys() if k and k[0] in rows]:  # noqa: SIM118 (no __iter__)
        cache.discard(key)


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
            cursor_foreground_priority="css",
        )
        self._targeted = all(
            isinstance(getattr(self, name, None), LRUCache)
            for name in (*_ROW_KEYED_CACHES, *_SHARED_CACHES)
        ) and isinstance(getattr(self, "_data", None), dict)
        self._shown: set[str] = set()
        """Emails with a row (a set: the cells themselves live in the DataTable only)."""
        self._generation = 0
        """Counts `show` calls: chunks of an older one are dropped."""
        self.filling = False
        """Rows of the last `show` are still being added (a sort then needs a new `show`)."""
        self._widths: dict[str, int] = {}
        self.set_widths({c.key: c.width for c in COLUMNS})

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Skip measuring every cell of new rows: all columns have fixed widths and all rows
        one line, so the measurements would never be used (3,000 rows: most of a rebuild)."""
        if not any(column.auto_width for column in self.columns.values()):
            new_rows = ()
        super()._update_dimensions(new_rows)

    class Resized(Message):
        """The table's width changed: the screen may fit the columns to it again."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    @property
    def room(self) -> tuple[int | None, int]:
        """Cells for columns with the vertical scrollbar shown (None before the first layout),
        and the scrollbar's width: it comes and goes with the number of rows, the widths not."""
        bar = self.styles.scrollbar_size_vertical
        width = self.content_region.width - bar
        return (width if width > 0 else None), bar

    @property
    def widths(self) -> dict[str, int]:
        return dict(self._widths)

    def set_widths(self, widths: dict[str, int]) -> None:
        """Columns with these fixed widths (rows are dropped: call before `show`)."""
        if widths == self._widths:
            return
        self._widths = dict(widths)
        self.clear(columns=True)
        self._shown = set()
        self._generation += 1
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
        """Replace all rows (filter, sort, theme change); the cursor stays on `keep` if shown.

        A large table shows its first rows at once and takes the rest a chunk per refresh, so
        10,000 accounts paint as soon as a screenful is there and keys keep working meanwhile.
        """
        self.clear()
        self._shown = set()
        self._generation += 1
        pending = list(entries)
        add = partial(self._add, board=board, palette=palette, title_of=title_of, now=now)
        add(pending[:FIRST_ROWS])
        if not self.move_to(keep) and self.row_count:
            self.move_cursor(row=0, animate=False)
        self.filling = len(pending) > FIRST_ROWS
        if self.filling:
            self._add_later(pending[FIRST_ROWS:], self._generation, add, keep)

    def _add(
        self,
        entries: Sequence[Entry],
        *,
        board: Board,
        palette: Palette,
        title_of: TitleOf,
        now: datetime,
    ) -> None:
        for entry in entries:
            cells = row_cells(
                entry,
                selected=entry.email in board.selected,
                palette=palette,
                title_of=title_of,
                now=now,
            )
            self.add_row(*(cells[c.key] for c in COLUMNS), key=entry.email)
            self._shown.add(entry.email)

    def _add_later(
        self,
        rest: Sequence[Entry],
        generation: int,
        add: Callable[[Sequence[Entry]], None],
        keep: str | None,
    ) -> None:
        """The next chunk after the next frame; a newer `show` makes the pending chunks moot."""

        def step() -> None:
            if generation != self._generation:
                return
            first = self.cursor_email
            add(rest[:CHUNK_ROWS])
            if len(rest) > CHUNK_ROWS:
                self._add_later(rest[CHUNK_ROWS:], generation, add, keep)
                return
            self.filling = False
            if keep is not None and keep != first and self.cursor_row == 0:
                self.move_to(keep)  # its row came late; the user has not moved meanwhile

        self.call_after_refresh(step)

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
        writes: list[tuple[str, str, Text]] = []
        for entry in entries:
            if entry.email not in self._shown:
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
                if not _same(self.get_cell(entry.email, key), text):
                    writes.append((entry.email, key, text))
        self._write(writes)
        return len(writes)

    def _write(self, writes: list[tuple[str, str, Text]]) -> None:
        """Store new cell values and repaint only their rows.

        `DataTable.update_cell` bumps a counter that is part of every render-cache key, so one
        changed cell anywhere re-renders every visible row (about 0.4 ms a cell). During a run
        over thousands of accounts that kept the UI busy for seconds; here only the rows that
        changed lose their cached renders. Falls back to `update_cell` if the internals differ.
        """
        if not writes:
            return
        if not self._targeted:
            for email, key, text in writes:
                self.update_cell(email, key, text)
            return
        data: dict[RowKey, dict[ColumnKey, Text]] = self._data
        rows: set[RowKey] = set()
        for email, key, text in writes:
            row = RowKey(email)
            data[row][ColumnKey(key)] = text
            rows.add(row)
        for name in _ROW_KEYED_CACHES:
            _evict(getattr(self, name), rows)
        for name in _SHARED_CACHES:
            getattr(self, name).clear()
        self.refresh()

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
