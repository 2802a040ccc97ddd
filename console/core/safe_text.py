"""The one boundary for text that did not come from our own code.

Server replies, transcripts, certificate fields, account-file values, keyring and command error
text, CSV cells: before any of it reaches a widget, a terminal or a spreadsheet it passes
`visible()` (or `csv_cell()` for CSV). Why: a mail server's `NO` text can carry `ESC ] 52 ; c ;
<base64> ESC \\` (OSC 52 writes the user's clipboard), `ESC ] 0 ;` (window title), `ESC [ 2 J`,
OSC 8 hyperlinks or C1 controls (U+009B is a one-character CSI); a name in the account file can
carry bidi overrides that make `evil.example` read as something else. Rich's `Text` and Textual's
`markup=False` stop markup, not control bytes.

What is shown instead (so a reader sees that something was there, and what):
- C0 controls (except newline and tab when `keep_newlines`), DEL and C1 controls: `\\xNN`;
- bidi embeddings, overrides, isolates and marks (U+202A-202E, U+2066-2069, U+200E, U+200F,
  U+061C) and invisible characters (zero-width space/joiners U+200B-200D, word joiner U+2060,
  U+2061-2064, BOM U+FEFF, Mongolian vowel separator U+180E, soft hyphen U+00AD): `\\uNNNN`.

The console also drops any control character left in a rendered line (console/ui/app.py,
`ControlFilter`): a last line of defence for a path that forgot to call `visible()`.
"""

from __future__ import annotations

import json
import re

_UNSAFE_CLASS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 (not \t \n), DEL, C1
    "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
)
_UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
_UNSAFE_OR_NEWLINE = re.compile(f"[{_UNSAFE_CLASS}\t\n]")
# Characters a terminal acts on or hides, for the last-line-of-defence filter: removed, not shown.
CONTROL_OR_INVISIBLE = re.compile(f"[{_UNSAFE_CLASS}\t\n]")

# A spreadsheet takes a cell starting with one of these as a formula (OWASP's CSV injection rule).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_flat(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\t\n":
        return " "
    return _escape(match)


def visible(text: str, *, keep_newlines: bool = True) -> str:
    """Show `text` safely: control, bidi and invisible characters become visible escapes.

    With `keep_newlines` newlines and tabs stay (multi-line server replies); without, they become
    spaces and `\\r` is shown, so the result is one line (table cells, log lines).
    """
    if keep_newlines:
        return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text
    return _UNSAFE_OR_NEWLINE.sub(_escape_flat, text) if _UNSAFE_OR_NEWLINE.search(text) else text


def one_line(text: str) -> str:
    """`visible()` on one line: for table cells, notifications and CLI columns."""
    return visible(text, keep_newlines=False)


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text: no formula, no control characters.

    `None` is an empty cell. A cell that would start a formula (`=`, `+`, `-`, `@`, tab, CR) gets a
    leading `'`, as OWASP recommends; newlines stay (CSV quotes them).
    """
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return visible(text)


def json_dumps_safe(doc: object, **kwargs: object) -> str:
    """`json.dumps` whose output is safe on a terminal and still decodes to the same data.

    JSON escapes C0 controls itself; DEL, C1, bidi and invisible characters are written as
    `\\uNNNN` escapes here, which every JSON reader decodes back to the original characters.
    """
    text = json.dumps(doc, ensure_ascii=False, **kwargs)  # type: ignore[arg-type]
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
