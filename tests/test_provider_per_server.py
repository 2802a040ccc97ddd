"""One provider per server, decided once (with its rule), the same in the result, JSON, table and
pane: an account that sends through SendGrid and reads replies on Outlook.com (issue 11)."""

from __future__ import annotations

from console.core import report
from console.core.diagnosis import advise
from console.core.diagnosis.classify import diagnose
from console.core.diagnosis.failure import Failure
from console.core.model import Account, Protocol, Security, ServerSettings, Settings, Stage
from console.core.providers import decide_provider
from console.core.runner import Runner
from console.core.secrets import MemorySecrets
from console.lab import ImapScenario, Lab, SmtpScenario
from console.ui import knowledge

EMAIL = "ops@outlook.com"
LOGIN_FAILED = "NO LOGIN failed."  # MS-01: Microsoft's answer to a refused IMAP login


async def test_a_mixed_provider_account_has_one_provider_per_server() -> None:
    async with Lab() as lab:
        imap, smtp = await lab.start_all(
            [
                ImapScenario(users={EMAIL: "pw"}, auth_reply=LOGIN_FAILED),
                SmtpScenario(users={"apikey": "key"}),
            ]
        )
        ca = str(lab.ca.ca_file)
        account = Account(
            email=EMAIL,
            provider="sendgrid",
            smtp=ServerSettings(
                Protocol.SMTP, "127.0.0.1", smtp.port, Security.TLS, "apikey", tls_ca_file=ca
            ),
            imap=ServerSettings(
                Protocol.IMAP, "127.0.0.1", imap.port, Security.TLS, EMAIL, tls_ca_file=ca
            ),
        )
        secrets = MemorySecrets({"apikey@127.0.0.1": "key", f"{EMAIL}@127.0.0.1": "pw"})
        result = await Runner(Settings(timeout=5), secrets=secrets).check_account(account)

    # decided once, with the rule that decided it
    assert (result.smtp.provider, result.smtp.provider_rule) == ("sendgrid", "account.provider")
    assert (result.imap.provider, result.imap.provider_rule) == ("outlook", "domain:outlook.com")
    assert decide_provider(account, Protocol.IMAP).provider == "outlook"
    assert result.smtp.ok
    # the diagnosis read the IMAP reply as Microsoft's, not SendGrid's
    expected = diagnose(Failure(Protocol.IMAP, Stage.AUTH, LOGIN_FAILED), "outlook").cause
    assert result.imap.cause is expected
    # JSON: the account keeps its named provider; each server says its own (additive keys)
    out = report.account_dict(account, result)
    assert out["provider"] == "sendgrid"
    assert (out["smtp"]["provider"], out["imap"]["provider"]) == ("sendgrid", "outlook")
    assert out["imap"]["provider_rule"] == "domain:outlook.com"
    title = advise(result.imap.cause, Protocol.IMAP, "outlook").title
    assert out["imap"]["title"] == title
    # table and pane
    assert f"IMAP: {title}" in report.to_table([account], [result])
    assert knowledge.server_provider(account, result.imap) == "outlook"
    assert knowledge.server_provider(account, result.smtp) == "sendgrid"


async def test_a_provider_recognised_from_the_banner_is_carried_not_dropped() -> None:
    from console.lab.scenario import GMAIL_BAD_CREDENTIALS

    async with Lab() as lab:
        smtp = await lab.start(
            SmtpScenario(
                banner="220 smtp.gmail.com ESMTP a1-20020a17090a - gsmtp",
                auth_reply=GMAIL_BAD_CREDENTIALS,
            )
        )
        ca = str(lab.ca.ca_file)
        account = Account(
            email="someone@unknown-domain.example",
            smtp=ServerSettings(
                Protocol.SMTP, "127.0.0.1", smtp.port, Security.TLS, "someone", tls_ca_file=ca
            ),
            send_only=True,
        )
        secrets = MemorySecrets({"someone@127.0.0.1": "pw"})
        result = await Runner(Settings(timeout=5), secrets=secrets).check_account(account)
    assert decide_provider(account, Protocol.SMTP).provider is None
    assert (result.smtp.provider, result.smtp.provider_rule) == ("gmail", "banner")
    assert report.account_dict(account, result)["smtp"]["provider"] == "gmail"
    assert knowledge.server_provider(account, result.smtp) == "gmail"
