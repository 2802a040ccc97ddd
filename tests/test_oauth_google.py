"""Google's browser sign-in (PKCE, loopback redirect, paste-back) against the lab's
authorization server; the lab IMAP and SMTP servers check the tokens by introspection.

The "browser" is requests: it opens the authorization URL (the lab consents for the login_hint
user and redirects), then either follows the redirect to our loopback port or, as over SSH,
stops there and the redirected address is pasted back.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from oauth_lab import keyring_env, token_checking

from console.core.model import (
    GOOGLE_AUTHORITY,
    Account,
    AuthMethod,
    Security,
    ServerSettings,
    Settings,
    SignIn,
    Status,
)
from console.core.oauth.google import SCOPE, GoogleSignIn
from console.core.oauth.microsoft import SignInError
from console.core.runner import Runner
from console.lab import (
    LabCA,
    LabImapServer,
    LabSmtpServer,
)
from console.lab.oauth_server import LabAuthServer

EMAIL = "gia@gmail.com"


@pytest.fixture
async def auth() -> AsyncIterator[LabAuthServer]:
    with LabCA() as ca:
        async with LabAuthServer(ca=ca, users={EMAIL}) as server:
            yield server


def _sign_in(auth: LabAuthServer) -> SignIn:
    return SignIn(
        platform="google",
        email=EMAIL,
        client_id=auth.google_client_id,
        client_secret=auth.google_client_secret,
        authority=auth.base,
        ca_file=str(auth.ca.ca_file),
    )


async def _browser(auth: LabAuthServer, url: str, *, follow: bool) -> str:
    """Open the URL; return where the sign-in ends (following it to the loopback port or not)."""

    def run() -> str:
        consent = requests.get(url, verify=str(auth.ca.ca_file), allow_redirects=False, timeout=10)
        assert consent.status_code == 302, consent.text
        location = consent.headers["Location"]
        if follow:
            page = requests.get(location, timeout=10)
            assert "signed in" in page.text
        return location

    return await asyncio.to_thread(run)


async def _check(auth: LabAuthServer, token: str) -> tuple[Status, Status]:
    imap, smtp = token_checking(auth)
    async with LabImapServer(imap, ca=auth.ca) as i, LabSmtpServer(smtp, ca=auth.ca) as s:

        def server(protocol: str, port: int) -> ServerSettings:
            return ServerSettings(
                protocol=protocol,  # type: ignore[arg-type]
                host="localhost",
                port=port,
                security=Security.TLS,
                username=EMAIL,
                auth=AuthMethod.OAUTH2,
                tls_ca_file=str(auth.ca.ca_file),
            )

        async def secret(settings: ServerSettings) -> str:
            return token

        account = Account(EMAIL, smtp=server("smtp", s.port), imap=server("imap", i.port))
        (result,) = await Runner(Settings(timeout=5), secrets=secret).check_accounts([account])
    return result.smtp.status, result.imap.status


async def test_the_loopback_redirect_signs_in_and_both_servers_take_the_token(
    auth: LabAuthServer,
) -> None:
    client = GoogleSignIn(_sign_in(auth))
    try:
        authorization = await client.start()
        assert authorization.url.startswith(f"{auth.base}/o/oauth2/v2/auth?")
        for part in ("code_challenge_method=S256", "access_type=offline", "login_hint=gia"):
            assert part in authorization.url
        await _browser(auth, authorization.url, follow=True)
        grant = await client.finish(authorization)
        refreshed = await client.refresh(grant.refresh_token or "")
    finally:
        client.close()
    (first, second) = auth.tokens_of(EMAIL)
    assert grant.access_token == first.access_token and first.scope == SCOPE
    assert refreshed.access_token == second.access_token
    assert await _check(auth, refreshed.access_token) == (Status.OK, Status.OK)


async def test_over_ssh_the_redirected_address_is_pasted_back(auth: LabAuthServer) -> None:
    client = GoogleSignIn(_sign_in(auth))
    try:
        authorization = await client.start()
        location = await _browser(auth, authorization.url, follow=False)
        with pytest.raises(SignInError, match="not the address the sign-in ended on"):
            client.paste(authorization, "http://127.0.0.1:1/?code=x&state=y")
        with pytest.raises(SignInError, match="another sign-in"):
            client.paste(authorization, location.replace("state=", "state=stale"))
        client.paste(authorization, f"  {location}\n")
        grant = await client.finish(authorization)
    finally:
        client.close()
    assert grant.access_token == auth.tokens_of(EMAIL)[0].access_token


async def test_a_declined_consent_says_so(auth: LabAuthServer) -> None:
    client = GoogleSignIn(_sign_in(auth))
    try:
        authorization = await client.start()
        declined = f"{authorization.redirect_uri}?error=access_denied&state={authorization.state}"
        client.paste(authorization, declined)
        with pytest.raises(SignInError, match="declined on the consent page"):
            await client.finish(authorization)
    finally:
        client.close()
    assert auth.issued == []


def test_without_a_client_secret_it_says_what_to_register() -> None:
    bare = SignIn("google", EMAIL, "id.apps.googleusercontent.com", authority=GOOGLE_AUTHORITY)
    with pytest.raises(SignInError, match="Desktop app"):
        GoogleSignIn(bare)


async def test_mailconsole_login_takes_the_pasted_address_on_stdin(
    auth: LabAuthServer, tmp_path: Path
) -> None:
    config = tmp_path / "accounts.toml"
    config.write_text(
        f'[settings]\noauth2_client_id = "{auth.google_client_id}"\n'
        f'oauth2_client_secret = "{auth.google_client_secret}"\n'
        f'oauth2_authority = "{auth.base}"\noauth2_ca_file = "{auth.ca.ca_file}"\n'
        f'[[account]]\nemail = "{EMAIL}"\n[account.smtp]\nhost = "smtp.gmail.com"\nport = 465\n'
        'security = "tls"\nauth = "oauth2"\n'
    )
    env = keyring_env(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "login",
        EMAIL,
        "--config",
        str(config),
        "--no-check",
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        told = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        url = told.split("Open ", 1)[1].split(" in a browser", 1)[0]
        location = await _browser(auth, url, follow=False)
        proc.stdin.write(b"not an address\n" + location.encode() + b"\n")
        await proc.stdin.drain()
        rest = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
        assert await proc.wait() == 0, rest
    finally:  # a failing test must not leave the command waiting for a sign-in
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "not the address the sign-in ended on" in rest
    assert f"Signed in {EMAIL}; the sign-in is kept in the keyring." in rest
    (token,) = auth.tokens_of(EMAIL)
    stored = (tmp_path / "keyring.json").read_text()
    assert token.refresh_token in stored and f"oauth2:google:{EMAIL}" in stored
    assert token.access_token not in told + rest
