"""The account file's text after a change: only the changed values differ, every other byte
(comments, blank lines, key order, quoting, inline comments) stays as the user wrote it.

`rewrite(text, old, new)` takes the file's text, what it parses to (`old`) and what it should
parse to (`new`) and returns the new text. How:

1. The fast path cuts the text at its top-level tables. Each `[[account]]` with its sub-tables
   (and the comment lines right above its header) is one piece. Only pieces whose account
   changed are parsed with tomlkit (a comment-keeping TOML library; parsing a whole 10,000-account
   file with it takes seconds, one piece takes a millisecond), changed in place and put back.
   A removed account's piece is dropped; a new account is appended as a `[[account]]` block.
2. When the file's shape does not allow that (settings changed, accounts written as an inline
   array, tables out of order, ...), the whole document goes through tomlkit: slower, still
   keeping comments.
3. Every result is parsed again with tomllib and must equal `new`; if neither way gives that,
   the file is written from scratch with tomli-w (values kept, comments lost; the `.bak` has them).

tomllib stays the reader everywhere else: it is several times faster than tomlkit.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Array, InlineTable, Table

Dumps = Callable[[dict[str, Any]], str]


def rewrite(
    text: str, old: Mapping[str, Any], new: dict[str, Any], dumps: Dumps
) -> tuple[str, dict[str, Any]] | None:
    """`text` changed so that it parses to `new`, and what it parses to; None when neither way
    keeps the text (the caller then writes the file from scratch with `dumps`)."""
    for way in (_splice, _whole_document):
        try:
            result = way(text, old, new, dumps)
        except Exception:  # tomlkit's errors share no base class; the caller falls back
            continue
        if result is not None:
            try:
                again = tomllib.loads(result)
            except tomllib.TOMLDecodeError:
                continue
            if again == new:
                return result, again
    return None


# ---------------------------------------------------------------------------------------------
# The fast path: one piece per account


@dataclass(frozen=True)
class _Header:
    line: int
    path: tuple[str, ...]
    array: bool  # [[...]]


_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*([A-Za-z0-9_.\- \t]+?)[ \t]*(\]\]?)[ \t]*(#.*)?\r?\n?$")


def _splice(text: str, old: Mapping[str, Any], new: dict[str, Any], dumps: Dumps) -> str | None:
    if {k: v for k, v in old.items() if k != "account"} != {
        k: v for k, v in new.items() if k != "account"
    }:
        return None
    old_accounts, new_accounts = _entries(old), _entries(new)
    if old_accounts is None or new_accounts is None:
        return None
    lines = text.splitlines(keepends=True)
    pieces = _account_pieces(lines)
    if pieces is None or len(pieces) != len(old_accounts):
        return None
    new_by_email = {_key(e): e for e in new_accounts}
    old_keys = [_key(e) for e in old_accounts]
    kept = [k for k in old_keys if k in new_by_email]
    known = set(old_keys)
    added = [e for e in new_accounts if _key(e) not in known]
    if [_key(e) for e in new_accounts] != kept + [_key(e) for e in added]:
        return None  # reordered: let the whole-document path (or the check) decide
    out: list[str] = []
    position = 0
    for (start, end), entry, key in zip(pieces, old_accounts, old_keys, strict=True):
        out.extend(lines[position:start])
        position = end
        piece = "".join(lines[start:end])
        if key not in new_by_email:
            continue
        target = new_by_email[key]
        out.append(piece if target == entry else _edit_piece(piece, target))
    out.extend(lines[position:])
    result = "".join(out)
    if position == len(lines) and len(old_keys) and old_keys[-1] not in new_by_email:
        result = (
            result.rstrip("\n") + "\n" if result.strip() else ""
        )  # no blank lines left at the end
    for entry in added:
        block = dumps({"account": [entry]})
        if result and not result.endswith("\n"):
            result += "\n"
        result += ("\n" if result.strip() else "") + block
    return result


def _entries(raw: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The accounts, when every one is a table with a distinct string email."""
    entries = raw.get("account", [])
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("email"), str) for e in entries
    ):
        return None
    if len({_key(e) for e in entries}) != len(entries):
        return None
    return entries


def _key(entry: Mapping[str, Any]) -> str:
    return str(entry["email"]).casefold()


def _edit_piece(piece: str, target: dict[str, Any]) -> str:
    document = tomlkit.parse(piece)
    array = document["account"]
    if not isinstance(array, AoT) or len(array) != 1:
        raise _NotSpliceable
    _merge(array[0], target)
    return tomlkit.dumps(document)


class _NotSpliceable(Exception):
    pass


def _account_pieces(lines: list[str]) -> list[tuple[int, int]] | None:
    """(first line, end line) of each [[account]] piece, lead comments included; None when
    the text has shapes this cutter does not handle (quoted table names, `[account]`)."""
    headers = _headers(lines)
    if headers is None:
        return None
    tops = [h for h in headers if h.path[0] != "account" or (h.array and len(h.path) == 1)]
    if any(h.path == ("account",) and not h.array for h in headers):
        return None
    starts = [_lead(lines, h.line) for h in tops]
    pieces: list[tuple[int, int]] = []
    for i, header in enumerate(tops):
        if header.path == ("account",):
            end = starts[i + 1] if i + 1 < len(tops) else len(lines)
            pieces.append((starts[i], end))
    # a sub-table of the last account written after another top-level table: not cut here
    top_lines = {h.line for h in tops}
    last_top: tuple[str, ...] = ("account",)
    for header in headers:
        if header.line in top_lines:
            last_top = header.path
        elif last_top != ("account",):
            return None
    return pieces


def _lead(lines: list[str], header: int) -> int:
    """The first of the comment lines directly above a header (no blank line between)."""
    start = header
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start


def _headers(lines: list[str]) -> list[_Header] | None:
    headers: list[_Header] = []
    scanner = _Scanner()
    for number, line in enumerate(lines):
        if scanner.idle and (match := _HEADER.match(line)):
            opening, name, closing = match.group(1), match.group(2), match.group(3)
            if len(opening) != len(closing):
                return None
            path = tuple(part.strip() for part in name.split("."))
            if not all(path):
                return None
            headers.append(_Header(number, path, len(opening) == 2))
            continue
        if not (scanner.idle and _PLAIN_LINE.match(line)):
            scanner.feed(line)
    return headers if scanner.idle else None


_PLAIN_LINE = re.compile(
    r"""[ \t]*(?:#.*|[A-Za-z0-9_\-]+[ \t]*=[ \t]*(?:"[^"\\\[\]{}]*"|[0-9]+|true|false)"""
    r"""[ \t]*(?:#[^"'\[\]{}]*)?)?\r?\n?$"""
)
"""A line that cannot open a string or an array (most of an account file): no need to lex it."""


class _Scanner:
    """Just enough TOML lexing to know whether a line starts inside a multi-line string or a
    multi-line array/inline table (where a `[` at the start of a line is not a header)."""

    def __init__(self) -> None:
        self.quote: str | None = None  # the open multi-line string's delimiter
        self.depth = 0

    @property
    def idle(self) -> bool:
        return self.quote is None and self.depth == 0

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        while i < n:
            if self.quote is not None:
                close = line.find(self.quote, i)
                while close > 0 and self.quote == '"""' and _escaped(line, close):
                    close = line.find(self.quote, close + 1)
                if close < 0:
                    return
                i = close + 3
                while i < n and line[i] == self.quote[0]:  # up to two quotes end the content
                    i += 1
                self.quote = None
                continue
            c = line[i]
            if c == "#":
                return
            if line.startswith('"""', i) or line.startswith("'''", i):
                self.quote = line[i : i + 3]
                i += 3
                continue
            if c in "\"'":
                i = _string_end(line, i)
                continue
            if c in "[{":
                self.depth += 1
            elif c in "]}":
                self.depth = max(0, self.depth - 1)
            i += 1


def _escaped(line: str, at: int) -> bool:
    backslashes = 0
    while at - 1 - backslashes >= 0 and line[at - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _string_end(line: str, start: int) -> int:
    quote = line[start]
    i = start + 1
    while i < len(line):
        if line[i] == "\\" and quote == '"':
            i += 2
            continue
        if line[i] == quote:
            return i + 1
        i += 1
    return i


# ---------------------------------------------------------------------------------------------
# The whole document through tomlkit


def _whole_document(
    text: str, old: Mapping[str, Any], new: dict[str, Any], dumps: Dumps
) -> str | None:
    document = tomlkit.parse(text)
    _merge(document, new)
    return tomlkit.dumps(document)


def _merge(container: Container | Table | InlineTable | Any, new: Mapping[str, Any]) -> None:
    """Change `container` (a tomlkit table) in place until it holds `new`; items whose value
    does not change are not touched, so their formatting and comments stay."""
    for key in [k for k in container if k not in new]:
        del container[key]
    for key, value in new.items():
        if key in container:
            current = container[key]
            if isinstance(value, dict) and isinstance(current, Table | InlineTable):
                _merge(current, value)
                continue
            if isinstance(current, AoT | Array) and _merge_array(current, value):
                continue
            if _unwrap(current) == value:
                continue
        container[key] = value


def _merge_array(array: AoT | Array, value: object) -> bool:
    """An array of tables changed entry by entry (matched by email when there is one)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return False
    if not all(isinstance(t, Table | InlineTable) for t in array):
        return False
    keys = [str(v.get("email", i)).casefold() for i, v in enumerate(value)]
    have = [str(_unwrap(t).get("email", i)).casefold() for i, t in enumerate(array)]
    for i in reversed(range(len(have))):
        if have[i] not in keys:
            del array[i]
            del have[i]
    if have != keys[: len(have)]:
        return False
    for table, entry in zip(array, value, strict=False):
        _merge(table, entry)
    for entry in value[len(have) :]:
        array.append(entry)
    return True


def _unwrap(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item
