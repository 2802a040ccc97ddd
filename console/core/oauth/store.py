"""Where a sign-in lives: the refresh token in the keyring, access tokens in memory.

The refresh token goes to the keyring (service "mailconsole", user "oauth2:<provider>:<email>"),
never to the account file. Without a keyring backend the sign-in is kept for this session only,
and `save_refresh_token` says so (the caller tells the user the token cannot be kept).
Access tokens stay in memory and are refreshed shortly before they expire, once per account even
when the SMTP and IMAP checks ask at the same moment (the second waits for the first's refresh).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import keyring
import keyring.errors

KEYRING_SERVICE = "mailconsole"
REFRESH_MARGIN = 120.0
"""Seconds before expiry at which an access token is refreshed (covers clock skew and a slow
login)."""

_lock = threading.Lock()
_KEYRING_ERRORS = (keyring.errors.KeyringError, RuntimeError, ImportError)


def keyring_user(provider: str, email: str) -> str:
    return f"oauth2:{provider}:{email.strip().lower()}"


@dataclass(frozen=True)
class Grant:
    """What a token endpoint answered (never printed: repr hides the tokens)."""

    access_token: str
    expires_in: float
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return f"Grant(expires_in={self.expires_in:g})"


Refresher = Callable[[str], Awaitable[Grant]]
"""Exchanges a refresh token for a new grant; raises on failure (revoked, expired...)."""


def save_refresh_token(provider: str, email: str, token: str) -> bool:
    """Store the refresh token in the keyring; False when no backend can keep it."""
    try:
        with _lock:
            keyring.get_keyring().set_password(
                KEYRING_SERVICE, keyring_user(provider, email), token
            )
    except _KEYRING_ERRORS:
        return False
    return True


def load_refresh_token(provider: str, email: str) -> str | None:
    try:
        with _lock:
            return keyring.get_keyring().get_password(
                KEYRING_SERVICE, keyring_user(provider, email)
            )
    except _KEYRING_ERRORS:
        return None


@dataclass
class _Entry:
    refresh_token: str | None
    access_token: str | None = None
    expires_at: float = 0.0
    lock: asyncio.Lock | None = None


class SignIns:
    """Access tokens per (provider, email), refreshed before expiry, one refresh at a time."""

    def __init__(
        self,
        refresher: Refresher,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = REFRESH_MARGIN,
    ) -> None:
        self._refresher = refresher
        self._clock = clock
        self._margin = margin
        self._entries: dict[str, _Entry] = {}
        self.kept: dict[str, bool] = {}  # key -> whether the refresh token is in the keyring

    def remember(self, provider: str, email: str, grant: Grant) -> bool:
        """Take a fresh sign-in; returns whether its refresh token could be kept in the keyring."""
        key = keyring_user(provider, email)
        entry = self._entries.setdefault(key, _Entry(grant.refresh_token))
        self._take(entry, grant)
        kept = bool(grant.refresh_token) and save_refresh_token(
            provider, email, grant.refresh_token or ""
        )
        self.kept[key] = kept
        return kept

    async def access_token(self, provider: str, email: str) -> str:
        """A valid access token; refreshes (once, however many ask) when it is about to expire."""
        key = keyring_user(provider, email)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(load_refresh_token(provider, email))
        if entry.lock is None:
            entry.lock = asyncio.Lock()
        async with entry.lock:
            if entry.access_token and self._clock() < entry.expires_at - self._margin:
                return entry.access_token
            if not entry.refresh_token:
                raise LookupError(f"No stored sign-in for {email}: mailconsole login {email}")
            grant = await self._refresher(entry.refresh_token)
            self._take(entry, grant)
            if grant.refresh_token and self.kept.get(key, True):
                self.kept[key] = save_refresh_token(provider, email, grant.refresh_token)
            assert entry.access_token is not None
            return entry.access_token

    def forget(self, provider: str, email: str) -> None:
        self._entries.pop(keyring_user(provider, email), None)

    def _take(self, entry: _Entry, grant: Grant) -> None:
        entry.access_token = grant.access_token
        entry.expires_at = self._clock() + grant.expires_in
        if grant.refresh_token:
            entry.refresh_token = grant.refresh_token
