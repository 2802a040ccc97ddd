"""Read a CSV/TSV export as records with their line numbers, whatever the spreadsheet wrote.

Encodings: UTF-8 (with or without BOM), UTF-16 (BOM, or the NUL pattern without one), else
Windows-1252. Separators: `,`, `;`, tab or `|`, sniffed from the header line outside quotes.
Quoted fields may hold separators, quotes (doubled) and newlines (RFC 4180). A malformed record
(a quote never closed, text after a closing quote) becomes a `Malformed` entry with its line and
column, and reading goes on with the next line: one bad row never hides the others. No cell
content is ever put in a message: cells may be passwords.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

SEPARATORS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class Record:
    """One data row: the 1-based line it starts on and its cells (as read, not stripped)."""

    line: int
    cells: tuple[str, ...] = field(repr=False)  # may hold passwords: never in a repr or log


@dataclass(frozen=True)
class Malformed:
    """A record that could not be read; `column` is the 1-based cell number."""

    line: int
    column: int
    message: str


@dataclass(frozen=True)
class Table:
    """A whole file: its header, its records and malformed rows in file order, how it was read."""

    header: tuple[str, ...]
    rows: tuple[Record | Malformed, ...]
    encoding: str
    separator: str


class ReadError(Exception):
    """The file as a whole is unusable (empty, unreadable); the message says why, never content."""


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding's name."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", "replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace"), "utf-16"
    if len(data) >= 4 and data[1] == 0 and data[3] == 0 and data[0] != 0:
        return data.decode("utf-16-le", "replace"), "utf-16-le"
    if len(data) >= 4 and data[0] == 0 and data[2] == 0 and data[1] != 0:
        return data.decode("utf-16-be", "replace"), "utf-16-be"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Windows-1252 leaves five bytes undefined; those are taken as Latin-1 rather than failing.
    return _cp1252(data), "windows-1252"


def _cp1252(data: bytes) -> str:
    return "".join(
        chunk.decode("cp1252", "strict") if i % 2 == 0 else chunk.decode("latin-1")
        for i, chunk in enumerate(re.split(b"([\x81\x8d\x8f\x90\x9d]+)", data))
    )


def sniff_separator(text: str) -> str:
    """The separator that occurs most in the first line outside quotes (ties: the listed order)."""
    first = _first_logical_line(text)
    counts = {sep: 0 for sep in SEPARATORS}
    quoted = False
    for ch in first:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] else ","


def _first_logical_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _patterns(sep: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    s = re.escape(sep)
    quoted = re.compile(r'"((?:[^"]|"")*)"')
    unquoted = re.compile(rf"[^{s}\r\n]*")
    return quoted, unquoted


def parse(text: str, sep: str) -> Iterator[Record | Malformed]:
    """Records of `text` (header included), each with its first line; blank lines are skipped."""
    quoted_re, unquoted_re = _patterns(sep)
    pos, line, n = 0, 1, len(text)
    while pos < n:
        start_line, line_start = line, pos
        cells: list[str] = []
        problem: Malformed | None = None
        while True:
            column = len(cells) + 1
            if pos < n and text[pos] == '"':
                m = quoted_re.match(text, pos)
                if m is None:
                    problem = Malformed(
                        start_line, column, "a quoted cell is never closed (its quote is unmatched)"
                    )
                    break
                value = m.group(1).replace('""', '"')
                line += len(_NEWLINE.findall(m.group(1)))
                pos = m.end()
                cells.append(value)
                if pos < n and text[pos] not in (sep, "\r", "\n"):
                    problem = Malformed(
                        start_line,
                        column,
                        "text follows a closing quote; put the whole cell in quotes and double "
                        'the quotes inside it ("")',
                    )
                    break
            else:
                m = unquoted_re.match(text, pos)
                assert m is not None  # the pattern matches the empty string
                cells.append(m.group(0))
                pos = m.end()
            if pos < n and text[pos] == sep:
                pos += 1
                continue
            break
        if problem is not None:
            # Go on at the line after the one the record started on.
            nl = _NEWLINE.search(text, line_start)
            pos = n if nl is None else nl.end()
            line = start_line + 1
            yield problem
            continue
        nl = _NEWLINE.match(text, pos)
        if nl is not None:
            pos = nl.end()
            line += 1
        if any(c.strip() for c in cells):
            yield Record(start_line, tuple(cells))


def read_table(data: bytes, *, separator: str | None = None) -> Table:
    """Decode, sniff, parse; the first non-blank record is the header."""
    if not data.strip():
        raise ReadError("the file is empty")
    text, encoding = decode(data)
    sep = separator or sniff_separator(text)
    rows = list(parse(text, sep))
    if not rows:
        raise ReadError("the file has no rows")
    first = rows[0]
    if isinstance(first, Malformed):
        raise ReadError(
            f"the header (line {first.line}, column {first.column}) cannot be read: {first.message}"
        )
    header = tuple(cell.strip() for cell in first.cells)
    return Table(header, tuple(rows[1:]), encoding, sep)
