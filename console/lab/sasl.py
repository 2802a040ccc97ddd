"""SASL responses both lab servers decode: PLAIN (RFC 4616) and XOAUTH2 (Google's format)."""

from __future__ import annotations

import base64
import binascii


class SaslError(Exception):
    """The client's SASL response is malformed; the text goes into the error reply."""


def b64decode(data: bytes) -> bytes:
    """Strict base64 (`=` alone is the empty initial response, RFC 4959)."""
    if data == b"=":
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("Invalid base64 data in the response.") from None


def text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def parse_plain(response: bytes) -> tuple[str, str]:
    """`[authzid] NUL authcid NUL passwd` -> (username, password)."""
    parts = b64decode(response).split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise SaslError("Invalid PLAIN response.")
    authzid, user, password = parts
    if authzid and authzid != user:
        raise SaslError("Authorization identity differs from the user (not supported).")
    return text(user), text(password)


def parse_xoauth2(response: bytes) -> tuple[str, str]:
    """`user=U ^A auth=Bearer T ^A ^A` -> (username, token)."""
    fields = b64decode(response).split(b"\x01")
    if len(fields) != 4 or fields[2:] != [b"", b""]:
        raise SaslError("Invalid XOAUTH2 response.")
    user, auth = fields[0], fields[1]
    if not user.startswith(b"user=") or not auth.lower().startswith(b"auth=bearer "):
        raise SaslError("Invalid XOAUTH2 response.")
    return text(user[5:]), text(auth[12:])


def parse_login_part(response: bytes) -> str:
    """One base64 line of the LOGIN mechanism (username or password)."""
    return text(b64decode(response))
