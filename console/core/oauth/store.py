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

from console.core.model import SignIn

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


Refresher = Callable[[SignIn, str], Awaitable[Grant]]
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
    refresh_at: float = 0.0
    lock: asyncio.Lock | None = None
    refused: BaseException | None = None  # the refresh token was refused: no retry until login


class SignIns:
    """Access tokens per sign-in (platform, email), refreshed before expiry, one refresh at a time.

    A refresh token the service refused (`permanent(exc)` is true: revoked, expired) is not
    tried again until the next sign-in: re-checks must not hammer the sign-in service.
    """

    def __init__(
        self,
        refresher: Refresher,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = REFRESH_MARGIN,
        permanent: Callable[[BaseException], bool] = lambda exc: False,
        keep: bool = True,
    ) -> None:
        """`keep=False`: never read or write the keyring (the demo; sign-ins last the session)."""
        self._refresher = refresher
        self.keep = keep
        self._clock = clock
        self._margin = margin
        self._permanent = permanent
        self._entries: dict[str, _Entry] = {}
        self.kept: dict[str, bool] = {}  # key -> whether the refresh token is in the keyring

    def remember(self, sign_in: SignIn, grant: Grant) -> bool:
        """Take a fresh sign-in; returns whether its refresh token could be kept in the keyring."""
        key = keyring_user(sign_in.platform, sign_in.email)
        entry = self._entries[key] = _Entry(grant.refresh_token)
        self._take(entry, grant)
        kept = bool(grant.refresh_token) and self._save(sign_in, grant.refresh_token or "")
        self.kept[key] = kept
        return kept

    def has(self, sign_in: SignIn) -> bool:
        """Whether a sign-in is known (in this session or in the keyring)."""
        entry = self._entries.get(keyring_user(sign_in.platform, sign_in.email))
        if entry is not None and (entry.access_token or entry.refresh_token):
            return True
        return self.keep and load_refresh_token(sign_in.platform, sign_in.email) is not None

    async def access_token(self, sign_in: SignIn) -> str:
        """A valid access token; refreshes (once, however many ask) when it is about to expire."""
        key = keyring_user(sign_in.platform, sign_in.email)
        entry = self._entries.get(key)
        if entry is None:
            stored = None
            if self.keep:
                stored = await asyncio.to_thread(
                    load_refresh_token, sign_in.platform, sign_in.email
                )
            entry = self._entries.setdefault(key, _Entry(stored))
        if entry.lock is None:
            entry.lock = asyncio.Lock()
        async with entry.lock:
            if entry.access_token and self._clock() < entry.refresh_at:
                return entry.access_token
            if entry.refused is not None:
                raise entry.refused
            if not entry.refresh_token:
                raise LookupError(
                    f"No stored sign-in for {sign_in.email}: mailconsole login {sign_in.email}"
                )
            try:
                grant = await self._refresher(sign_in, entry.refresh_token)
            except Exception as exc:
                if self._permanent(exc):
                    entry.refused = exc
                raise
            self._take(entry, grant)
            if grant.refresh_token and self.kept.get(key, True):
                self.kept[key] = self._save(sign_in, grant.refresh_token)
            assert entry.access_token is not None
            return entry.access_token

    def _save(self, sign_in: SignIn, refresh_token: str) -> bool:
        return self.keep and save_refresh_token(sign_in.platform, sign_in.email, refresh_token)

    def forget(self, sign_in: SignIn) -> None:
        self._entries.pop(keyring_user(sign_in.platform, sign_in.email), None)

    def _take(self, entry: _Entry, grant: Grant) -> None:
        # `margin` before expiry, but a fresh token is used for at least half its lifetime
        entry.access_token = grant.access_token
        lifetime = max(0.0, grant.expires_in)
        entry.refresh_at = self._clock() + max(lifetime - self._margin, lifetime / 2)
        if grant.refresh_token:
            entry.refresh_token = grant.refresh_token
