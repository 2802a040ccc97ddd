"""Google sign-in: the installed-app flow with PKCE and a loopback redirect, plus paste-back.

Google's flow for desktop apps (RFC 8252): mailconsole listens on 127.0.0.1 on a free port, the
user opens the authorization URL in a browser, signs in and consents to the scope
https://mail.google.com/, and Google redirects the browser to http://127.0.0.1:PORT/?code=...
The code is exchanged at the token endpoint with the PKCE verifier (RFC 7636, S256).

Over SSH the browser runs on another machine and cannot reach our loopback port: its page then
fails to load, but the address bar holds the whole redirected URL. The user copies that URL
back (`paste`), and the flow ends the same way. Whichever arrives first wins; the `state`
parameter must match, so a stale or foreign URL is refused.

The endpoints come from the authority's OpenID configuration (Google's at
https://accounts.google.com/.well-known/openid-configuration; the lab's in tests). Google issues
an installed app a "client secret" that it documents as not confidential; it is read from the
account file (`oauth2_client_secret`). Nothing here logs or returns a token or a code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from console.core.model import SignIn
from console.core.oauth.microsoft import SignInError, http_reason
from console.core.oauth.store import Grant

SCOPE = "https://mail.google.com/"
HTTP_TIMEOUT = 30.0
SIGN_IN_WAIT = 600.0
"""How long the browser sign-in may take before the loopback listener gives up (seconds)."""
REGISTER = (
    "create an OAuth client in Google Cloud (APIs & Services > Credentials > Create credentials "
    "> OAuth client ID > Desktop app; the consent screen with the scope https://mail.google.com/)"
    " and put its client ID and client secret in [settings] as oauth2_client_id and "
    "oauth2_client_secret (README: Google Cloud OAuth client)"
)
_PAGE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"mailconsole: signed in. You can close this page and return to the terminal.\n"
)
_ERRORS = {
    "access_denied": "the sign-in was declined on the consent page",
    "invalid_grant": "it is no longer valid (revoked, expired, or the password changed)",
    "invalid_client": "Google does not know this OAuth client (oauth2_client_id/secret)",
    "unauthorized_client": "this OAuth client may not use this flow",
    "invalid_scope": "the OAuth client's consent screen lacks the scope https://mail.google.com/",
}


@dataclass
class Authorization:
    """One sign-in in progress: the URL to open, and what comes back."""

    url: str
    redirect_uri: str
    state: str = field(repr=False)
    verifier: str = field(repr=False)
    token_endpoint: str
    code: asyncio.Future[str] = field(repr=False)
    server: asyncio.Server | None = field(default=None, repr=False)

    @property
    def instructions(self) -> str:
        return (
            f"Open {self.url} in a browser and sign in. If the page it ends on does not load "
            "(the browser is on another machine), copy that page's address and paste it here."
        )


class GoogleSignIn:
    """One account's sign-in against one OAuth client (see the module docstring)."""

    def __init__(self, sign_in: SignIn) -> None:
        if not sign_in.client_id or not sign_in.client_secret:
            raise SignInError(f"No OAuth client to sign in with: {REGISTER}.")
        self.sign_in = sign_in
        self._session = requests.Session()
        self._verify: str | bool = sign_in.ca_file or True

    def close(self) -> None:
        self._session.close()

    async def start(self) -> Authorization:
        """Listen on a loopback port and build the authorization URL (PKCE S256, a state)."""
        config = await self._call("get", self._discovery_url())
        loop = asyncio.get_running_loop()
        code: asyncio.Future[str] = loop.create_future()
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )

        async def redirected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                line = await asyncio.wait_for(reader.readline(), 10)
                target = line.decode("latin-1").split(" ")[1] if b" " in line else ""
                query = urlsplit(target).query
                if query:
                    _take(code, query, state)
                writer.write(_PAGE)
                await writer.drain()
            except (OSError, TimeoutError, IndexError):
                pass
            finally:
                writer.transport.abort()

        server = await asyncio.start_server(redirected, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        redirect_uri = f"http://127.0.0.1:{port}/"
        query = urlencode(
            {
                "client_id": self.sign_in.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": SCOPE,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "access_type": "offline",  # a refresh token
                "prompt": "consent",  # ... every time, even when consent was given before
                "login_hint": self.sign_in.email,
            }
        )
        return Authorization(
            url=f"{config['authorization_endpoint']}?{query}",
            redirect_uri=redirect_uri,
            state=state,
            verifier=verifier,
            token_endpoint=str(config["token_endpoint"]),
            code=code,
            server=server,
        )

    @staticmethod
    def paste(authorization: Authorization, url: str) -> None:
        """The redirected address, copied from the browser (SSH); refused when it does not fit."""
        parts = urlsplit(url.strip())
        expected = urlsplit(authorization.redirect_uri)
        if (parts.hostname, parts.port) != (expected.hostname, expected.port) or not parts.query:
            raise SignInError(
                "That is not the address the sign-in ended on: it starts with "
                f"{authorization.redirect_uri}?"
            )
        if not _take(authorization.code, parts.query, authorization.state):
            raise SignInError("That address belongs to another sign-in: start again.")

    async def finish(self, authorization: Authorization) -> Grant:
        """Wait for the code (loopback or pasted), then exchange it with the PKCE verifier."""
        try:
            code = await asyncio.wait_for(asyncio.shield(authorization.code), SIGN_IN_WAIT)
        except TimeoutError:
            raise SignInError(
                f"No sign-in arrived within {SIGN_IN_WAIT / 60:g} minutes: start again."
            ) from None
        finally:
            if authorization.server is not None:
                authorization.server.close()
                await authorization.server.wait_closed()
                authorization.server = None
        result = await self._call(
            "post",
            authorization.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": authorization.redirect_uri,
                "client_id": self.sign_in.client_id,
                "client_secret": self.sign_in.client_secret,
                "code_verifier": authorization.verifier,
            },
        )
        return _grant(result, "the sign-in did not complete")

    async def refresh(self, refresh_token: str) -> Grant:
        config = await self._call("get", self._discovery_url())
        result = await self._call(
            "post",
            str(config["token_endpoint"]),
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.sign_in.client_id,
                "client_secret": self.sign_in.client_secret,
            },
        )
        return _grant(result, "the stored sign-in could not be refreshed")

    def _discovery_url(self) -> str:
        return f"{self.sign_in.authority.rstrip('/')}/.well-known/openid-configuration"

    async def _call(self, method: str, url: str, **kwargs: Any) -> Mapping[str, Any]:
        def run() -> Mapping[str, Any]:
            try:
                answer = self._session.request(
                    method, url, verify=self._verify, timeout=HTTP_TIMEOUT, **kwargs
                )
                payload = answer.json()
            except (requests.RequestException, OSError) as exc:
                host = urlsplit(url).hostname or url
                raise SignInError(
                    f"Could not reach the sign-in service at {host}: {http_reason(exc)}"
                ) from None
            except ValueError:
                raise SignInError(
                    f"The sign-in service answered {answer.status_code} without JSON."
                ) from None
            if not isinstance(payload, dict):
                raise SignInError("The sign-in service answered something unexpected.")
            return payload

        return await asyncio.to_thread(run)


def _take(code: asyncio.Future[str], query: str, state: str) -> bool:
    """Settle the code future from a redirect's query; False when the state does not match."""
    params = dict(parse_qsl(query))
    if params.get("state") != state:
        return False
    if code.done():
        return True
    if "code" in params:
        code.set_result(params["code"])
    else:
        error = params.get("error", "no code in the redirect")
        words = _ERRORS.get(error, error)
        code.set_exception(SignInError(f"The sign-in did not complete: {words} ({error})."))
    return True


def _grant(result: Mapping[str, Any], what: str) -> Grant:
    token = result.get("access_token")
    if isinstance(token, str) and token:
        refresh = result.get("refresh_token")
        return Grant(
            access_token=token,
            expires_in=float(result.get("expires_in") or 3600),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        )
    error = str(result.get("error") or "") or None
    words = _ERRORS.get(error or "", error or "no reason given")
    tag = f" ({error})." if error else "."
    raise SignInError(f"{what.capitalize()}: {words}{tag}", code=error)
