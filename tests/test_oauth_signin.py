"""The built-in Microsoft sign-in end to end, on real parts only.

MSAL runs the device-code flow against the lab's authorization server (Authlib's grants on
127.0.0.1, over TLS); Dovecot's oauth2 passdb and the lab SMTP server check every token at that
server's RFC 7662 introspection endpoint, so a token that is expired, revoked, for the wrong
audience or without the protocol's scope is refused by the server itself, as Exchange does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from servers import ALICE, TlsFiles, free_port
from servers_dovecot import DovecotServer, OAuth2Introspection, start_dovecot

from console.cli_login import sign_in_now
from console.core.model import (
    Account,
    AuthMethod,
    Cause,
    Protocol,
    Security,
    ServerSettings,
    Settings,
    SignIn,
    Stage,
    Status,
)
from console.core.oauth.session import SIGN_INS
from console.core.runner import Runner
from console.lab import LabCA, LabSmtpServer, SmtpScenario
from console.lab.oauth_server import GRAPH, LabAuthServer
from tests.conftest import MemoryKeyring

EMAIL = "alice@contoso.onmicrosoft.com"
RESOURCE_SECRET = "lab-resource-secret"


@pytest.fixture(scope="module")
def auth_ca() -> Iterator[LabCA]:
    with LabCA() as ca:
        yield ca


@pytest.fixture(scope="module")
def auth_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def oauth_dovecot(
    dovecot_binary: Path, tls_files: TlsFiles, auth_ca: LabCA, auth_port: int
) -> Iterator[DovecotServer]:
    """Dovecot whose XOAUTH2 logins are checked at the lab authorization server below."""
    url = f"https://imap:{RESOURCE_SECRET}@localhost:{auth_port}/introspect"
    server = start_dovecot(tls_files, oauth2=OAuth2Introspection(url, auth_ca.ca_file))
    yield server
    server.stop()


@pytest.fixture
async def auth(auth_ca: LabCA, auth_port: int) -> AsyncIterator[LabAuthServer]:
    async with LabAuthServer(
        ca=auth_ca, users={ALICE.name}, port=auth_port, resource_secret=RESOURCE_SECRET
    ) as server:
        yield server


def _smtp_scenario(auth: LabAuthServer) -> SmtpScenario:
    """Exchange Online's submission replies; tokens checked at `auth` as the resource "smtp"."""
    return SmtpScenario(
        security=Security.TLS,
        extensions=("AUTH LOGIN XOAUTH2", "8BITMIME"),
        xoauth2_challenge='{"status":"401","schemes":"bearer"}',
        xoauth2_failed_reply="535 5.7.3 Authentication unsuccessful",
        token_introspection=auth.introspection_for("smtp"),
    )


@pytest.fixture
async def smtp(auth: LabAuthServer, auth_ca: LabCA) -> AsyncIterator[LabSmtpServer]:
    async with LabSmtpServer(_smtp_scenario(auth), ca=auth_ca) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_sign_ins() -> Iterator[None]:
    yield
    SIGN_INS.forget(_sign_in_for(0, None))


@contextlib.asynccontextmanager
async def _short_lived(ca: LabCA, port: int) -> AsyncIterator[tuple[LabAuthServer, LabSmtpServer]]:
    """An authorization server whose access tokens live 2 s, and the SMTP server checking them."""
    async with (
        LabAuthServer(
            ca=ca, users={ALICE.name}, port=port, resource_secret=RESOURCE_SECRET, access_lifetime=2
        ) as auth,
        LabSmtpServer(_smtp_scenario(auth), ca=ca) as smtp,
    ):
        yield auth, smtp


def _sign_in_for(port: int, ca: LabCA | None) -> SignIn:
    return SignIn(
        platform="microsoft",
        email=EMAIL,
        client_id="lab-mailconsole-public-client",
        tenant="11111111-2222-3333-4444-555555555555",
        authority=f"https://localhost:{port}",
        ca_file=str(ca.ca_file) if ca else None,
    )


def _account(
    auth: LabAuthServer, dovecot: DovecotServer, smtp: LabSmtpServer, ca: LabCA
) -> Account:
    sign_in = _sign_in_for(auth.port, ca)
    imap = ServerSettings(
        protocol=Protocol.IMAP,
        host="127.0.0.1",
        port=dovecot.imaps_port,
        security=Security.TLS,
        username=ALICE.name,
        auth=AuthMethod.OAUTH2,
        tls_ca_file=str(dovecot.ca_file),
        sign_in=sign_in,
    )
    smtp_settings = ServerSettings(
        protocol=Protocol.SMTP,
        host="127.0.0.1",
        port=smtp.port,
        security=Security.TLS,
        username=ALICE.name,
        auth=AuthMethod.OAUTH2,
        tls_ca_file=str(ca.ca_file),
        sign_in=sign_in,
    )
    return Account(email=EMAIL, provider="microsoft365", smtp=smtp_settings, imap=imap)


async def _sign_in(auth: LabAuthServer, sign_in: SignIn) -> bool:
    """The device flow as a user does it: the code is shown, entered elsewhere, approved."""
    told: list[str] = []
    login = asyncio.ensure_future(sign_in_now(sign_in, told.append))
    code = await auth.next_user_code()
    auth.approve(code, ALICE.name)
    kept = await login
    assert told and code in told[0] and f"{auth.base}/device" in told[0]
    return kept


async def _check(account: Account) -> tuple:
    (result,) = await Runner(Settings(timeout=10)).check_accounts([account])
    return result.smtp, result.imap


async def test_device_flow_signs_in_and_both_servers_accept_the_token(
    auth: LabAuthServer,
    smtp: LabSmtpServer,
    oauth_dovecot: DovecotServer,
    auth_ca: LabCA,
    memory_keyring: MemoryKeyring,
) -> None:
    account = _account(auth, oauth_dovecot, smtp, auth_ca)
    assert await _sign_in(auth, account.imap.sign_in) is True
    (token,) = auth.tokens_of(ALICE.name)
    assert memory_keyring.store == {
        ("mailconsole", f"oauth2:microsoft:{EMAIL}"): token.refresh_token
    }
    smtp_result, imap_result = await _check(account)
    assert smtp_result.status is Status.OK, smtp_result
    assert imap_result.status is Status.OK, imap_result
    secret_step = next(s for s in imap_result.steps if s.stage is Stage.SECRET)
    assert secret_step.detail == "token from the stored sign-in (microsoft)"
    assert smtp.logins_accepted == 1
    assert "XOAUTH2" in {c.mechanism for c in smtp.credentials_seen()}


async def test_an_access_token_about_to_expire_is_refreshed_once(
    auth_ca: LabCA,
    auth_port: int,
    oauth_dovecot: DovecotServer,
    memory_keyring: MemoryKeyring,
) -> None:
    # Tokens that live 2 s are refreshed after half their lifetime.
    async with _short_lived(auth_ca, auth_port) as (auth, smtp):
        account = _account(auth, oauth_dovecot, smtp, auth_ca)
        await _sign_in(auth, account.imap.sign_in)
        await asyncio.sleep(1.1)
        first = auth.tokens_of(ALICE.name)[0]
        auth.expire_access_tokens(ALICE.name)  # the server would refuse the old one now
        smtp_result, imap_result = await _check(account)
        assert smtp_result.status is Status.OK, smtp_result
        assert imap_result.status is Status.OK, imap_result
        tokens = auth.tokens_of(ALICE.name)
        assert len(tokens) == 2  # one refresh for SMTP and IMAP together
        assert first.refresh_revoked  # the rotated refresh token replaced the old one
        stored = memory_keyring.store[("mailconsole", f"oauth2:microsoft:{EMAIL}")]
        assert stored == tokens[1].refresh_token


async def test_a_revoked_sign_in_asks_to_sign_in_again_and_is_not_retried(
    auth_ca: LabCA,
    auth_port: int,
    oauth_dovecot: DovecotServer,
    memory_keyring: MemoryKeyring,
) -> None:
    async with _short_lived(auth_ca, auth_port) as (auth, smtp):
        account = _account(auth, oauth_dovecot, smtp, auth_ca)
        await _sign_in(auth, account.imap.sign_in)
        await asyncio.sleep(1.1)
        auth.revoke_refresh_tokens(ALICE.name)  # a password reset, an admin's revoke
        smtp_result, imap_result = await _check(account)
        refreshes = [r for r in auth.requests if r[1].endswith("/token")]
        again = await _check(account)
        assert [r for r in auth.requests if r[1].endswith("/token")] == refreshes
    for result in (smtp_result, imap_result, *again):
        assert result.status is Status.FAILED
        assert result.cause is Cause.SECRET_UNAVAILABLE
        assert result.stage is Stage.SECRET
        assert "no longer valid" in result.message
        assert f"Sign in again: press L in the console, or run mailconsole login {EMAIL}" in (
            result.message
        )
    assert len(refreshes) == 2  # the sign-in's own token request, then one refused refresh
    assert smtp.connections_total == 0  # nothing was sent without a token


async def test_a_token_without_the_imap_scope_is_refused_and_explained(
    auth: LabAuthServer,
    smtp: LabSmtpServer,
    oauth_dovecot: DovecotServer,
    auth_ca: LabCA,
    memory_keyring: MemoryKeyring,
) -> None:
    auth.scope_override = "https://outlook.office.com/SMTP.Send offline_access"
    account = _account(auth, oauth_dovecot, smtp, auth_ca)
    await _sign_in(auth, account.imap.sign_in)
    smtp_result, imap_result = await _check(account)
    assert smtp_result.status is Status.OK, smtp_result
    assert imap_result.status is Status.FAILED
    assert imap_result.cause is Cause.AUTH_FAILED
    assert imap_result.facts["oauth2_problem"] == "missing_scope"
    assert "IMAP.AccessAsUser.All" in str(imap_result.facts["oauth2_explanation"])
    assert any(f"mailconsole login {EMAIL}" in step for step in imap_result.facts["oauth2_fix"])


async def test_a_graph_token_is_refused_by_both_servers_and_explained(
    auth: LabAuthServer,
    smtp: LabSmtpServer,
    oauth_dovecot: DovecotServer,
    auth_ca: LabCA,
    memory_keyring: MemoryKeyring,
) -> None:
    auth.audience = GRAPH
    account = _account(auth, oauth_dovecot, smtp, auth_ca)
    await _sign_in(auth, account.imap.sign_in)
    for result in await _check(account):
        assert result.status is Status.FAILED, result
        assert result.cause is Cause.AUTH_FAILED
        assert result.facts["oauth2_problem"] == "wrong_audience"
        assert GRAPH in str(result.facts["oauth2_explanation"])


async def test_an_expired_token_from_a_helper_is_explained_as_expired(
    auth: LabAuthServer,
    smtp: LabSmtpServer,
    oauth_dovecot: DovecotServer,
    auth_ca: LabCA,
    memory_keyring: MemoryKeyring,
) -> None:
    """A token command that prints a stale token: the servers refuse it, the claims say why."""
    account = _account(auth, oauth_dovecot, smtp, auth_ca)
    await _sign_in(auth, account.imap.sign_in)
    (token,) = auth.tokens_of(ALICE.name)
    auth.expire_access_tokens(ALICE.name)

    async def stale(settings: ServerSettings) -> str:
        return token.access_token

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    (result,) = await Runner(
        Settings(timeout=10), secrets=stale, clock=lambda: later
    ).check_accounts([account])
    for check in (result.smtp, result.imap):
        assert check.status is Status.FAILED, check
        assert check.facts["oauth2_problem"] == "expired"


async def test_no_sign_in_yet_names_the_login_command(
    auth: LabAuthServer,
    smtp: LabSmtpServer,
    oauth_dovecot: DovecotServer,
    auth_ca: LabCA,
    memory_keyring: MemoryKeyring,
) -> None:
    account = _account(auth, oauth_dovecot, smtp, auth_ca)
    for result in await _check(account):
        assert result.cause is Cause.SECRET_UNAVAILABLE
        login = f"press L in the console, or run mailconsole login {EMAIL}"
        assert result.message == f"{EMAIL} is not signed in yet: {login}"
    assert smtp.connections_total == 0
