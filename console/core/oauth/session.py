"""The process's stored sign-ins, and which identity platform serves a sign-in."""

from __future__ import annotations

from console.core.model import SignIn
from console.core.oauth.google import GoogleSignIn
from console.core.oauth.microsoft import MicrosoftSignIn, SignInError
from console.core.oauth.store import Grant, SignIns


def client_for(sign_in: SignIn) -> MicrosoftSignIn | GoogleSignIn:
    """Microsoft's device-code flow or Google's browser flow; SignInError without a client id."""
    if sign_in.platform == "google":
        return GoogleSignIn(sign_in)
    return MicrosoftSignIn(sign_in)


async def refresh(sign_in: SignIn, refresh_token: str) -> Grant:
    """Exchange a stored refresh token at the sign-in's identity platform."""
    client = client_for(sign_in)
    try:
        return await client.refresh(refresh_token)
    finally:
        client.close()


def refused(exc: BaseException) -> bool:
    """The identity platform refused the refresh token itself: retrying cannot help."""
    return isinstance(exc, SignInError) and exc.code in {"invalid_grant", "invalid_client"}


SIGN_INS = SignIns(refresh, permanent=refused)
"""Every sign-in of this process (the console, `check`, `login`)."""
