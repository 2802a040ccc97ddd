"""Providers against the lab: each provider's reply leads to its own fix, end to end, and every
preset in the provider data is something the lab (a correct server) can serve."""

from __future__ import annotations

import pytest

from console.core.diagnosis import advise
from console.core.model import Account, Cause, Protocol, Security, ServerSettings, Settings, Status
from console.core.probe import probe_imap, probe_smtp
from console.core.providers import ServerPreset, all_providers, presets
from console.core.report import protocol_dict
from console.core.runner import Runner
from console.core.secrets import MemorySecrets
from console.lab import ImapScenario, Lab, SmtpScenario, derived_password
from console.lab.server import HOST

EMAIL = "user@example.com"
MICROSOFT = "* OK The Microsoft Exchange IMAP4 service is ready. [TABPADQAUAAxADgAMgBD]"

# provider -> (greeting or None, the server's answer to the login, the causes it may mean)
REPLIES: dict[str, tuple[str | None, str, set[Cause]]] = {
    "gmail": (
        "* OK Gimap ready for requests from 127.0.0.1 lab1",
        "NO [ALERT] Application-specific password required: "
        "https://support.google.com/accounts/answer/185833 (Failure)",
        {Cause.APP_PASSWORD_REQUIRED},
    ),
    "google_workspace": (
        "* OK Gimap ready for requests from 127.0.0.1 lab2",
        "NO [ALERT] Your account is not enabled for IMAP use. Please visit your Gmail settings "
        "page and enable your account for IMAP access. (Failure)",
        {Cause.PROTOCOL_DISABLED},
    ),
    "outlook": (MICROSOFT, "NO AUTHENTICATE failed.", {Cause.BASIC_AUTH_DISABLED}),
    "microsoft365": (MICROSOFT, "NO LOGIN failed.", {Cause.BASIC_AUTH_DISABLED}),
    "yahoo": (
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID] IMAP4rev1 Hello",
        "NO [AUTHENTICATIONFAILED] AUTHENTICATE Invalid credentials",
        {Cause.AUTH_FAILED, Cause.APP_PASSWORD_REQUIRED},
    ),
    "aol": (
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID] IMAP4rev1 Hello",
        "NO [AUTHENTICATIONFAILED] AUTHENTICATE Invalid credentials",
        {Cause.AUTH_FAILED, Cause.APP_PASSWORD_REQUIRED},
    ),
    "icloud": (
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] iSCREAM ready to rumble (lab)",
        "NO [AUTHENTICATIONFAILED] Authentication failed",
        {Cause.AUTH_FAILED, Cause.APP_PASSWORD_REQUIRED},
    ),
    "zoho": (
        "* OK lab.zoho.com IMAP4 Server (Zoho Mail IMAP4rev1 Server version 1.0)",
        "NO [ALERT] You are yet to enable IMAP for your account. (Failure)",
        {Cause.PROTOCOL_DISABLED},
    ),
    "fastmail": (
        "* OK IMAP4 ready",
        "NO Incorrect username or password.",
        {Cause.AUTH_FAILED, Cause.APP_PASSWORD_REQUIRED},
    ),
    "yandex": (
        "* OK Yandex IMAP4rev1 at lab.yandex.net:993 ready to talk with 127.0.0.1",
        "NO [AUTHENTICATIONFAILED] AUTHENTICATE Invalid credentials or IMAP is disabled",
        {Cause.AUTH_FAILED, Cause.PROTOCOL_DISABLED, Cause.APP_PASSWORD_REQUIRED},
    ),
    "mailru": (
        None,
        "NO [AUTHENTICATIONFAILED] Authentication failed: application password is required",
        {Cause.APP_PASSWORD_REQUIRED, Cause.AUTH_FAILED},
    ),
    "gmx": (None, "NO authentication failed", {Cause.AUTH_FAILED, Cause.PROTOCOL_DISABLED}),
    "webde": (None, "NO authentication failed", {Cause.AUTH_FAILED, Cause.PROTOCOL_DISABLED}),
    "cpanel": (
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN] Dovecot ready.",
        "NO [AUTHENTICATIONFAILED] Authentication failed.",
        {Cause.AUTH_FAILED},
    ),
}


@pytest.mark.parametrize("provider", sorted(REPLIES))
async def test_a_providers_reply_leads_to_its_own_fix(lab: Lab, provider: str) -> None:
    greeting, reply, causes = REPLIES[provider]
    extra = {"greeting": greeting} if greeting else {}
    imap = await lab.start(ImapScenario(auth_reply=reply, **extra))
    smtp = await lab.start(SmtpScenario(users={EMAIL: "lab-password"}))
    ca = str(lab.ca.ca_file)
    smtp_settings = ServerSettings(
        Protocol.SMTP, HOST, smtp.port, Security.TLS, EMAIL, tls_ca_file=ca
    )
    imap_settings = ServerSettings(
        Protocol.IMAP, HOST, imap.port, Security.TLS, EMAIL, tls_ca_file=ca
    )
    account = Account(email=EMAIL, provider=provider, smtp=smtp_settings, imap=imap_settings)
    # one keyring key per login (<user>@<host>): both are 127.0.0.1 here, so one secret serves
    secrets = MemorySecrets({f"{EMAIL}@{HOST}": "lab-password"})
    result = await Runner(Settings(timeout=5), secrets=secrets).check_account(account)
    assert result.smtp.status is Status.OK
    assert result.imap.cause in causes, (provider, result.imap.cause, result.imap.message)
    assert result.imap.message == reply.removeprefix("NO ")  # the server's words, verbatim
    shown = protocol_dict(result.imap, provider)
    assert result.imap.cause is not None
    own = advise(result.imap.cause, Protocol.IMAP, provider)
    generic = advise(result.imap.cause, Protocol.IMAP)
    assert shown["fix"] == list(own.fix)
    assert shown["fix"][0] not in generic.fix  # the provider's own step comes first


async def test_gmail_shows_the_app_password_link(lab: Lab) -> None:
    greeting, reply, _ = REPLIES["gmail"]
    imap = await lab.start(ImapScenario(greeting=greeting or "", auth_reply=reply))
    settings = ServerSettings(
        Protocol.IMAP, HOST, imap.port, Security.TLS, EMAIL, tls_ca_file=str(lab.ca.ca_file)
    )
    result = await probe_imap(settings, "normal password", timeout=5, provider="gmail")
    shown = protocol_dict(result, "gmail")
    assert result.cause is Cause.APP_PASSWORD_REQUIRED
    assert any("myaccount.google.com/apppasswords" in step for step in shown["fix"])


def _presets() -> list[tuple[str, Protocol, ServerPreset]]:
    found = []
    for provider in all_providers():
        imap, smtp = presets(provider, EMAIL)
        found += [(provider.id, Protocol.IMAP, imap)] if imap else []
        found += [(provider.id, Protocol.SMTP, smtp)] if smtp else []
    return found


async def test_every_preset_is_something_the_lab_serves(lab: Lab) -> None:
    """The port/security pair and login form of each preset work against a correct server
    listening the way the preset says (the lab stands in for the provider's host)."""
    servers = {
        (Protocol.IMAP, security): await lab.start(
            ImapScenario(security=security, password_of=derived_password)
        )
        for security in (Security.TLS, Security.STARTTLS)
    } | {
        (Protocol.SMTP, security): await lab.start(
            SmtpScenario(security=security, password_of=derived_password)
        )
        for security in (Security.TLS, Security.STARTTLS)
    }
    checked = 0
    for provider, protocol, preset in _presets():
        assert 1 <= preset.port <= 65535 and preset.host
        assert preset.security is not Security.NONE, (provider, protocol)
        server = servers[(protocol, preset.security)]
        username = preset.username_for(EMAIL) or EMAIL
        settings = ServerSettings(
            protocol, HOST, server.port, preset.security, username, tls_ca_file=str(lab.ca.ca_file)
        )
        probe = probe_imap if protocol is Protocol.IMAP else probe_smtp
        result = await probe(settings, derived_password(username), timeout=5)
        assert result.status is Status.OK, (provider, protocol, result.cause, result.message)
        checked += 1
    assert checked >= 2 * 15  # both protocols of every mailbox provider, SMTP of every relay
