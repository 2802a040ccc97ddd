"""The process's stored sign-ins and how a refresh reaches the identity platform."""

from __future__ import annotations

from console.core.model import SignIn
from console.core.oauth.microsoft import MicrosoftSignIn, SignInError
from console.core.oauth.store import Grant, SignIns


async def refresh(sign_in: SignIn, refresh_token: str) -> Grant:
    """Exchange a stored refresh token at the sign-in's identity platform."""
    client = MicrosoftSignIn(sign_in)
    try:
        return await client.refresh(refresh_token)
    finally:
        client.close()


def refused(exc: BaseException) -> bool:
    """The identity platform refused the refresh token itself: retrying cannot help."""
    return isinstance(exc, SignInError) and exc.code in {"invalid_grant", "invalid_client"}


SIGN_INS = SignIns(refresh, permanent=refused)
"""Every sign-in of this process (the console, `check`, `login`)."""
