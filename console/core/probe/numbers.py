"""Numbers in server replies (EXISTS, SIZE, QUOTA, literal sizes), parsed with a length bound.

Python refuses to convert integer strings longer than 4,300 digits (and a long one costs time), so
a hostile server's 5,000-digit EXISTS used to turn a healthy check into `unknown`. No count a mail
server reports needs more than `MAX_DIGITS` digits; a longer one is an oddity of the server: the
fact is left out and the check goes on.
"""

from __future__ import annotations

MAX_DIGITS = 18
"""Up to 10**18 - 1: more than any mailbox, message size or quota (and fits in 64 bits)."""


def server_count(text: str) -> int | None:
    """`text` as a non-negative integer, or None when it is not one or is absurdly long."""
    text = text.strip()
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)
