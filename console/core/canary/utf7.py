"""Mailbox names on the wire: modified UTF-7 (RFC 3501 section 5.1.3), decoded for display."""

from __future__ import annotations

import base64
import binascii


def decode_mailbox(name: str) -> str:
    """`Entw&APw-rfe` -> `Entwürfe`; a malformed name is returned as it was."""
    out: list[str] = []
    i = 0
    while i < len(name):
        char = name[i]
        if char != "&":
            out.append(char)
            i += 1
            continue
        end = name.find("-", i)
        if end == -1:
            return name
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            data = chunk.replace(",", "/")
            data += "=" * (-len(data) % 4)
            try:
                out.append(base64.b64decode(data, validate=True).decode("utf-16-be"))
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return name
        i = end + 1
    return "".join(out)
