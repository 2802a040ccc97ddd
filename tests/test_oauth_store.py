"""Stored sign-ins: refresh token in the keyring only, access tokens refreshed once per account."""

from __future__ import annotations

import asyncio

import pytest

from console.core.model import SignIn
from console.core.oauth.store import Grant, SignIns, keyring_user, load_refresh_token
from tests.conftest import MemoryKeyring

EMAIL = "Ann@Example.com"
MICROSOFT = SignIn("microsoft", EMAIL, "client-id")
GOOGLE = SignIn("google", EMAIL, "client-id")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """Issues numbered tokens; a revoked refresh token is refused like a real endpoint does."""

    def __init__(self) -> None:
        self.calls = 0
        self.revoked: set[str] = set()

    async def refresh(self, sign_in: SignIn, refresh_token: str) -> Grant:
        self.calls += 1
        await asyncio.sleep(0.01)  # both protocols ask while this refresh is under way
        if refresh_token in self.revoked:
            raise PermissionError("invalid_grant: the refresh token was revoked")
        return Grant(f"access-{self.calls}", 3600, f"refresh-{self.calls}")


def test_refresh_token_goes_to_the_keyring_under_its_contract_name(
    memory_keyring: MemoryKeyring,
) -> None:
    signins = SignIns(TokenEndpoint().refresh)
    assert signins.remember(MICROSOFT, Grant("access-0", 3600, "refresh-0")) is True
    assert keyring_user("microsoft", EMAIL) == "oauth2:microsoft:ann@example.com"
    assert memory_keyring.store == {
        ("mailconsole", "oauth2:microsoft:ann@example.com"): "refresh-0"
    }
    assert load_refresh_token("microsoft", EMAIL) == "refresh-0"
    assert "access-0" not in repr(Grant("access-0", 3600, "refresh-0"))


def test_refresh_before_expiry_is_coalesced_across_protocols(
    memory_keyring: MemoryKeyring,
) -> None:
    clock, endpoint = Clock(), TokenEndpoint()
    signins = SignIns(endpoint.refresh, clock=clock, margin=120)
    signins.remember(MICROSOFT, Grant("access-0", 3600, "refresh-0"))

    async def both() -> list[str]:
        return list(
            await asyncio.gather(signins.access_token(MICROSOFT), signins.access_token(MICROSOFT))
        )

    assert asyncio.run(both()) == ["access-0", "access-0"]
    assert endpoint.calls == 0
    clock.now += 3600 - 119  # inside the margin: refreshed before it expires
    assert asyncio.run(both()) == ["access-1", "access-1"]
    assert endpoint.calls == 1  # once, although SMTP and IMAP asked together
    assert load_refresh_token("microsoft", EMAIL) == "refresh-1"  # rotated token kept


def test_a_refused_refresh_token_is_not_tried_again_until_the_next_sign_in(
    memory_keyring: MemoryKeyring,
) -> None:
    clock, endpoint = Clock(), TokenEndpoint()
    endpoint.revoked.add("refresh-0")
    permanent = SignIns(
        endpoint.refresh, clock=clock, permanent=lambda e: isinstance(e, PermissionError)
    )
    permanent.remember(MICROSOFT, Grant("access-0", 60, "refresh-0"))
    clock.now += 60
    for _ in range(3):
        with pytest.raises(PermissionError, match="revoked"):
            asyncio.run(permanent.access_token(MICROSOFT))
    assert endpoint.calls == 1
    permanent.remember(MICROSOFT, Grant("access-9", 60, "refresh-9"))  # signed in again
    assert asyncio.run(permanent.access_token(MICROSOFT)) == "access-9"


def test_a_short_lived_token_is_used_for_half_its_lifetime(memory_keyring: MemoryKeyring) -> None:
    """Lifetimes under the margin must not refresh on every use."""
    clock, endpoint = Clock(), TokenEndpoint()
    signins = SignIns(endpoint.refresh, clock=clock, margin=120)
    signins.remember(MICROSOFT, Grant("access-0", 60, "refresh-0"))
    clock.now += 29
    assert asyncio.run(signins.access_token(MICROSOFT)) == "access-0"
    clock.now += 2
    assert asyncio.run(signins.access_token(MICROSOFT)) == "access-1"
    assert endpoint.calls == 1


def test_without_a_keyring_the_sign_in_works_for_the_session() -> None:
    endpoint = TokenEndpoint()
    clock = Clock()
    signins = SignIns(endpoint.refresh, clock=clock)
    assert signins.remember(GOOGLE, Grant("access-0", 3600, "refresh-0")) is False
    assert signins.kept == {"oauth2:google:ann@example.com": False}
    assert asyncio.run(signins.access_token(GOOGLE)) == "access-0"
    clock.now += 3600
    assert asyncio.run(signins.access_token(GOOGLE)) == "access-1"
    assert load_refresh_token("google", EMAIL) is None


def test_no_stored_sign_in_names_the_login_command() -> None:
    signins = SignIns(TokenEndpoint().refresh)
    with pytest.raises(LookupError, match=r"mailconsole login bob@example\.com"):
        asyncio.run(signins.access_token(SignIn("microsoft", "bob@example.com", None)))
