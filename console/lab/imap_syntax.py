"""RFC 3501 command syntax, strictly: a sloppy client (bad quoting, stray spaces, raw 8-bit,
unannounced LITERAL+) gets BAD from the lab instead of silently passing.

A command arrives as line segments; a segment ending in `{n}` / `{n+}` is followed by n bytes
of literal and then the next segment. `ArgParser` consumes them one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

MAX_LITERAL = 64 * 1024

_SP, _DQUOTE, _BACKSLASH, _LPAREN, _RPAREN, _LBRACE = 0x20, 0x22, 0x5C, 0x28, 0x29, 0x7B
_ATOM_STOP = frozenset(b'(){ "\\') | frozenset(range(0x20)) | {0x7F}


class ImapSyntaxError(Exception):
    """The command line is not valid IMAP; the text goes into the BAD reply."""


class Atom(bytes):
    """An unquoted token (so `NIL` the atom differs from `"NIL"` the string)."""


Token: TypeAlias = "bytes | list[Token]"


@dataclass(frozen=True, slots=True)
class LiteralSpec:
    size: int
    synchronizing: bool


class ArgParser:
    """Tokenizes one command: atoms, quoted strings, literals and parenthesised lists."""

    def __init__(self, *, strict_8bit: bool = False) -> None:
        self.strict_8bit = strict_8bit
        self._stack: list[list[Token]] = [[]]
        self._need_space = False

    @property
    def tokens(self) -> list[Token]:
        return self._stack[0]

    def feed(self, segment: bytes) -> LiteralSpec | None:
        """Parse one segment; return the literal it announces at its end, if any."""
        i, end = 0, len(segment)
        while i < end:
            c = segment[i]
            if self._need_space:
                if c == _RPAREN:
                    self._close_list()
                    i += 1
                elif c == _SP and i + 1 < end and segment[i + 1] != _SP:
                    self._need_space = False
                    i += 1
                else:
                    raise ImapSyntaxError("Missing or extra space between arguments.")
            elif c == _LPAREN:
                self._stack.append([])
                i += 1
            elif c == _RPAREN and len(self._stack) > 1 and not self._stack[-1]:
                self._close_list()
                i += 1
            elif c == _DQUOTE:
                i = self._quoted(segment, i + 1)
            elif c == _LBRACE:
                return self._literal_spec(segment, i)
            else:
                i = self._atom(segment, i)
        if not self._need_space and (len(self._stack) > 1 or self.tokens):
            raise ImapSyntaxError("Missing argument.")  # ended after a space or "("
        return None

    def add_literal(self, data: bytes) -> None:
        self._stack[-1].append(data)
        self._need_space = True

    def finish(self) -> list[Token]:
        if len(self._stack) > 1:
            raise ImapSyntaxError("Missing ')'.")
        return self.tokens

    def _close_list(self) -> None:
        if len(self._stack) == 1:
            raise ImapSyntaxError("Unexpected ')'.")
        done = self._stack.pop()
        self._stack[-1].append(done)
        self._need_space = True

    def _quoted(self, segment: bytes, i: int) -> int:
        out = bytearray()
        end = len(segment)
        while i < end:
            c = segment[i]
            if c == _DQUOTE:
                self._stack[-1].append(bytes(out))
                self._need_space = True
                return i + 1
            if c == _BACKSLASH:
                if i + 1 >= end or segment[i + 1] not in (_DQUOTE, _BACKSLASH):
                    raise ImapSyntaxError("Invalid escape in quoted string.")
                out.append(segment[i + 1])
                i += 2
                continue
            if c == 0 or c == 0x0D or c == 0x0A:
                raise ImapSyntaxError("Invalid character in quoted string.")
            if c >= 0x80 and self.strict_8bit:
                raise ImapSyntaxError("8-bit data in quoted string (use a literal).")
            out.append(c)
            i += 1
        raise ImapSyntaxError("Missing '\"'.")

    def _atom(self, segment: bytes, i: int) -> int:
        start = i
        end = len(segment)
        while i < end and segment[i] not in _ATOM_STOP:
            if segment[i] >= 0x80 and self.strict_8bit:
                raise ImapSyntaxError("8-bit data in atom.")
            i += 1
        if i == start or (i < end and segment[i] not in (_SP, _RPAREN)):
            raise ImapSyntaxError("Invalid characters in atom.")
        self._stack[-1].append(Atom(segment[start:i]))
        self._need_space = True
        return i

    def _literal_spec(self, segment: bytes, i: int) -> LiteralSpec:
        body = segment[i + 1 : -1] if segment.endswith(b"}") else b""
        synchronizing = not body.endswith(b"+")
        digits = body if synchronizing else body[:-1]
        if not digits.isdigit() or not digits.isascii():
            raise ImapSyntaxError("Invalid literal (expected {size} at the end of the line).")
        size = int(digits)
        if size > MAX_LITERAL:
            raise ImapSyntaxError("Literal too large.")
        return LiteralSpec(size, synchronizing)


def as_text(token: Token) -> str:
    """An astring argument as text (UTF-8, lossless for odd bytes)."""
    if isinstance(token, list):
        raise ImapSyntaxError("Expected a string, got a list.")
    return token.decode("utf-8", "surrogateescape")
