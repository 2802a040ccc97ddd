"""Keeping known secrets out of text: server replies, transcripts, log records, error messages.

A `Redactor` is given every secret a check or a secret source handles and replaces each form of
it that may come back in text with `REDACTED`:

- the secret as is, IMAP-quoted (`\\"` and `\\\\`), and as a Python bytes/str repr;
- its hex encoding (a server or helper that dumps bytes);
- base64: of the secret alone, and the three alignment-independent cores of its base64 inside
  any longer payload (`\\0user\\0password` for AUTHENTICATE PLAIN / AUTH PLAIN, `user=..\\x01auth=
  Bearer <token>` for XOAUTH2), so a server that echoes the client's SASL response shows no
  password or token however the payload aligns;
- raw, quoted and hex forms are matched without regard to case (an upper-cased echo is hidden
  too); base64 is case-sensitive by nature and matched exactly.

Limits, on purpose: forms shorter than `MIN_FORM` characters are not redacted in free text (a
2-character password would blank those two letters wherever they occur); credentials are never
written to transcripts in the first place (credential commands are recorded as `****`), so a short
password is not shown there either. A partial echo (a server quoting half a password) and other
encodings (URL-encoding, UTF-16) are not recognised. One or two base64 characters at the edges of
an echoed SASL payload may remain: each carries at most a few bits of the secret.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

REDACTED = "****"
MIN_FORM = 3
"""Shorter forms are not redacted in free text (see the module docstring)."""


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 characters that depend on `secret` alone, at each of the 3 alignments."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii").rstrip("=")
        start = 4 if offset else 0  # the first group mixes in the bytes before the secret
        whole_groups = (offset + len(secret)) // 3
        core = encoded[start : 4 * whole_groups]
        cores.add(core)
    cores.add(base64.b64encode(secret).decode("ascii"))  # the secret encoded on its own
    return {c for c in cores if len(c) >= 4}


def secret_forms(secret: str) -> tuple[set[str], set[str]]:
    """(forms matched ignoring case, base64 forms matched exactly) for one secret."""
    escaped = secret.replace("\\", "\\\\").replace('"', '\\"')
    folded = {secret, escaped}
    for form in (secret, escaped):
        folded.add(repr(form.encode())[2:-1])
        folded.add(repr(form)[1:-1])
    folded.add(secret.encode().hex())
    exact = _base64_cores(secret.encode())
    return {f for f in folded if len(f) >= MIN_FORM}, exact


class Redactor:
    """Replaces every registered secret's forms in text with `REDACTED` (see module docs).

    Most text holds no secret: when the text and the forms are ASCII, a plain substring test
    says so without a regular expression (compiling one per check cost more CPU than the rest of
    a check); the patterns are compiled only for text that may hold a form, and only once.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._folded: set[str] = set()
        self._exact: set[str] = set()
        self._lowered: frozenset[str] = frozenset()
        self._ascii = True
        self._patterns: tuple[re.Pattern[str] | None, re.Pattern[str] | None] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        folded, exact = secret_forms(secret)
        if folded <= self._folded and exact <= self._exact:
            return
        self._folded |= folded
        self._exact |= exact
        self._lowered = frozenset(form.lower() for form in self._folded)
        self._ascii = all(form.isascii() for form in self._folded)
        self._patterns = None

    def __bool__(self) -> bool:
        return bool(self._folded or self._exact)

    def __call__(self, text: str) -> str:
        if not self._folded and not self._exact:
            return text
        if self._ascii and text.isascii():
            lowered = text.lower()  # for ASCII, exactly what IGNORECASE matches
            if not any(form in lowered for form in self._lowered) and not any(
                form in text for form in self._exact
            ):
                return text
        if self._patterns is None:
            self._patterns = (
                _alternation(self._folded, re.IGNORECASE),
                _alternation(self._exact, 0),
            )
        for pattern in self._patterns:
            if pattern is not None:
                text = pattern.sub(REDACTED, text)
        return text


def _alternation(forms: set[str], flags: int) -> re.Pattern[str] | None:
    if not forms:
        return None
    ordered = sorted(forms, key=len, reverse=True)  # the longest form wins where they overlap
    return re.compile("|".join(re.escape(f) for f in ordered), flags)


def redact(text: str, *secrets: str | None) -> str:
    """One-off: `text` with every form of `secrets` hidden."""
    return Redactor(s for s in secrets if s)(text)


_TOKEN_LIKE = re.compile(r"[A-Za-z0-9+/_\-.=~%:]{20,}")
"""A run that may be a token, a key or an encoded password (base64, hex, JWT, URL-encoded)."""
_QUOTED = re.compile(r"""(["'`])[^"'`\s]{6,}\1""")
"""A quoted word: helpers print the value they could not use in quotes."""
EXCERPT_CHARS = 200


def untrusted_excerpt(text: str, *secrets: str | None) -> str:
    """A short, redacted one-line excerpt of error text from a secret source.

    Text that a password helper or a keyring backend printed may hold the very secret it was
    asked for, and nothing says where: known `secrets` are hidden, then anything token-like (long
    runs of base64/hex/JWT characters) and quoted words, and the result is cut to
    `EXCERPT_CHARS`. What is left is enough to recognise "gpg: decryption failed" or "No such
    file", not to recover a credential.
    """
    text = redact(text, *secrets)
    text = _TOKEN_LIKE.sub(REDACTED, text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(1)}", text)
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
