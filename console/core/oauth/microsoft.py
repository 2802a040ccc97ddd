"""Microsoft sign-in with MSAL for Python: the device-code flow, and refreshing a stored sign-in.

The device-code flow (RFC 8628) suits a terminal and SSH: we show a URL and a short code, the
user enters the code on any device with a browser, and MSAL's polling ends with tokens. Scopes
are Exchange Online's delegated permissions for IMAP and SMTP; MSAL adds `openid profile
offline_access` itself (and refuses them when passed), so a refresh token always comes back.

MSAL talks HTTPS through `requests` in a worker thread (MSAL is synchronous; the event loop never
waits on it). Two switches make a local authority (the lab's, or a national cloud) work:
`instance_discovery=False` (MSAL would otherwise ask login.microsoftonline.com whether the
authority is known) and an HTTP client that passes `verify=<ca file>` on every request
(requests lets REQUESTS_CA_BUNDLE override a Session's own `verify`, so a session default is not
enough). Nothing here logs or returns a token in a message.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from console.core.model import SignIn
from console.core.oauth.store import Grant

SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
)
HTTP_TIMEOUT = 30.0
REGISTER = (
    "register an app in Microsoft Entra (Applications > App registrations > New registration; "
    "Authentication: allow public client flows; API permissions: Office 365 Exchange Online "
    "IMAP.AccessAsUser.All and SMTP.Send, delegated) and put its Application (client) ID in "
    "[settings] as oauth2_client_id (README: Microsoft Entra app registration)"
)

# MSAL's error codes (`error`) and the AADSTS numbers inside `error_description` that need their
# own words. https://learn.microsoft.com/entra/identity-platform/reference-error-codes
_AADSTS_WORDS = {
    "AADSTS700016": "the app registration (oauth2_client_id) does not exist in this tenant",
    "AADSTS7000218": "the app registration does not allow public client flows: turn on "
    "Authentication > Allow public client flows",
    "AADSTS50020": "this user is not in the tenant of oauth2_tenant",
    "AADSTS65001": "nobody consented to the app's mail permissions yet: an administrator must "
    "grant consent, or the user accepts when signing in",
    "AADSTS50076": "the tenant requires multi-factor authentication: sign in again",
    "AADSTS50173": "the sign-in was revoked (password changed or sessions revoked)",
    "AADSTS70008": "the stored sign-in expired",
    "AADSTS700082": "the stored sign-in expired after 90 days without use",
    "AADSTS700084": "the stored sign-in expired (single-page app tokens last 24 hours)",
    "AADSTS90002": "the tenant in oauth2_tenant does not exist",
}
_ERROR_WORDS = {
    "authorization_declined": "the user declined the sign-in",
    "expired_token": "the code expired before anyone entered it",
    "bad_verification_code": "the sign-in service did not recognise the device code",
    "invalid_grant": "it is no longer valid (revoked, expired, or the password changed)",
    "invalid_client": "the sign-in service does not know this app registration",
    "unauthorized_client": "the app registration may not use this sign-in flow",
    "invalid_scope": "the app registration lacks the mail permissions",
}


class SignInError(Exception):
    """A sign-in or refresh failed; the message is safe to show (no token, no code)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # MSAL's `error` (e.g. invalid_grant), when the service answered


@dataclass(frozen=True)
class DeviceCode:
    """What the user needs to sign in elsewhere: a page and a short code."""

    verification_uri: str
    user_code: str
    expires_at: float  # time.time() seconds
    flow: dict[str, Any] = field(repr=False, compare=False)

    @property
    def instructions(self) -> str:
        return f"Open {self.verification_uri} and enter the code {self.user_code}"


class _Http:
    """MSAL's HTTP client: requests with our CA file passed on every call (see the docstring)."""

    def __init__(self, ca_file: str | None) -> None:
        self._session = requests.Session()
        self._verify: str | bool = ca_file or True

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self._session.get(url, verify=self._verify, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self._session.post(url, verify=self._verify, **kwargs)

    def close(self) -> None:
        self._session.close()


class MicrosoftSignIn:
    """One account's sign-in against one app registration (see the module docstring)."""

    def __init__(self, sign_in: SignIn) -> None:
        if not sign_in.client_id:
            raise SignInError(f"No app registration to sign in with: {REGISTER}.")
        self.sign_in = sign_in
        self._app: msal.PublicClientApplication | None = None
        self._app_lock = threading.Lock()
        self._http = _Http(sign_in.ca_file)

    def close(self) -> None:
        self._http.close()

    async def start(self) -> DeviceCode:
        """Ask for a device code (one round trip to the sign-in service)."""
        flow = await self._call(lambda app: app.initiate_device_flow(scopes=list(SCOPES)))
        if "user_code" not in flow:
            raise _error(flow, "the sign-in service gave no device code")
        return DeviceCode(
            verification_uri=str(flow.get("verification_uri", "")),
            user_code=str(flow["user_code"]),
            expires_at=float(flow.get("expires_at", time.time() + 900)),
            flow=dict(flow),
        )

    async def finish(self, code: DeviceCode) -> Grant:
        """Wait until the user has entered the code (MSAL polls); cancelling stops the polling.

        MSAL ends its polling loop when `expires_at` has passed, so cancelling sets it to 0; the
        worker thread then returns within one polling interval.
        """
        try:
            result = await self._call(lambda app: app.acquire_token_by_device_flow(code.flow))
        except asyncio.CancelledError:
            code.flow["expires_at"] = 0
            raise
        return _grant(result, "the sign-in did not complete")

    async def refresh(self, refresh_token: str) -> Grant:
        """A new access token (and usually a new refresh token) for a stored sign-in."""
        result = await self._call(
            lambda app: app.acquire_token_by_refresh_token(refresh_token, scopes=list(SCOPES))
        )
        return _grant(result, "the stored sign-in could not be refreshed")

    async def _call(self, work: Any) -> Mapping[str, Any]:
        def run() -> Mapping[str, Any]:
            try:
                result: Mapping[str, Any] = work(self._application())
                return result
            except (requests.RequestException, OSError) as exc:
                host = urlsplit(self.sign_in.authority).hostname or self.sign_in.authority
                raise SignInError(
                    f"Could not reach the sign-in service at {host}: {http_reason(exc)}"
                ) from None
            except ValueError as exc:  # MSAL: authority not https, or not a known authority
                raise SignInError(f"The sign-in authority was refused: {exc}") from None

        return await asyncio.to_thread(run)

    def _application(self) -> msal.PublicClientApplication:
        """Built once, in a worker thread: MSAL fetches the authority's OpenID configuration."""
        with self._app_lock:
            if self._app is None:
                self._app = msal.PublicClientApplication(
                    self.sign_in.client_id,
                    authority=self.sign_in.authority_url,
                    http_client=self._http,
                    instance_discovery=False,
                )
            return self._app


def _grant(result: Mapping[str, Any], what: str) -> Grant:
    token = result.get("access_token")
    if not isinstance(token, str) or not token:
        raise _error(result, what)
    refresh = result.get("refresh_token")
    return Grant(
        access_token=token,
        expires_in=float(result.get("expires_in") or 3600),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
    )


def _error(result: Mapping[str, Any], what: str) -> SignInError:
    """Plain words for an MSAL error answer: the AADSTS code when it says more, else the error."""
    code = str(result.get("error") or "") or None
    description = str(result.get("error_description") or "")
    numbers = [word.rstrip(":") for word in description.split() if word.startswith("AADSTS")]
    words = next((_AADSTS_WORDS[n] for n in numbers if n in _AADSTS_WORDS), None)
    words = words or _ERROR_WORDS.get(code or "") or (code or "no reason given")
    tag = f" ({numbers[0]})" if numbers else f" ({code})" if code else ""
    message = f"{what.capitalize()}: {words}{tag}."
    if code in {"invalid_client", "unauthorized_client"} or "AADSTS700016" in numbers:
        message += f" To fix it, {REGISTER}."
    return SignInError(message, code=code)


def http_reason(exc: BaseException) -> str:
    """Why the service could not be reached, without the URL (requests' text carries it)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            "its TLS certificate is not trusted (behind a TLS-inspecting proxy, set "
            "oauth2_ca_file to that proxy's CA)"
        )
    if isinstance(exc, requests.Timeout):
        return f"no answer within {HTTP_TIMEOUT:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "the connection failed (no network, a firewall, or a proxy that needs HTTPS_PROXY)"
    return type(exc).__name__
