"""The SMTP probe against real aiosmtpd listeners: TLS, STARTTLS, refusals, and no mail sent."""

from __future__ import annotations

import dataclasses

import pytest
from servers import ALICE, BOB
from servers_smtp import SmtpServers

from console.core.model import Cause, Security, Stage, Status
from console.core.probe import probe_smtp

TIMEOUT = 10.0

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


async def test_ok_over_implicit_tls_and_no_mail_is_sent(smtpd: SmtpServers) -> None:
    sent_before = len(smtpd.messages)
    stages: list[Stage] = []
    result = await probe_smtp(
        smtpd.settings(ALICE.name, Security.TLS),
        ALICE.password,
        timeout=TIMEOUT,
        on_stage=stages.append,
    )
    assert result.status is Status.OK, result
    expected = [
        Stage.DNS,
        Stage.CONNECT,
        Stage.TLS,
        Stage.GREETING,
        Stage.EHLO,
        Stage.AUTH,
        Stage.QUIT,
    ]
    assert [s.stage for s in result.steps] == expected
    assert stages == expected
    assert result.facts["banner"] == "220 localhost test-smtpd"
    assert set(result.facts["auth_mechanisms"]) == {"PLAIN", "LOGIN"}
    assert result.facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    auth = next(s for s in result.steps if s.stage is Stage.AUTH)
    assert auth.detail == "235 2.7.0 Authentication successful"
    assert len(smtpd.messages) == sent_before
    assert not any(line.startswith(("C: MAIL", "C: RCPT", "C: DATA")) for line in result.transcript)


async def test_ok_over_starttls_with_the_special_character_password(smtpd: SmtpServers) -> None:
    result = await probe_smtp(
        smtpd.settings(BOB.name, Security.STARTTLS), BOB.password, timeout=TIMEOUT
    )
    assert result.status is Status.OK, result
    stages = [s.stage for s in result.steps]
    assert stages == [
        Stage.DNS,
        Stage.CONNECT,
        Stage.GREETING,
        Stage.EHLO,
        Stage.STARTTLS,
        Stage.AUTH,
        Stage.QUIT,
    ]
    starttls = next(s for s in result.steps if s.stage is Stage.STARTTLS)
    assert starttls.detail.startswith("220 Ready to start TLS")
    # before TLS the server offered no AUTH; after TLS (second EHLO) it does
    assert "AUTH LOGIN PLAIN" in result.facts["extensions"]
    assert not any(BOB.password in line for line in result.transcript)
    assert "C: AUTH PLAIN ****" in result.transcript  # the initial response, hidden


async def test_wrong_password_is_auth_failed_with_code_and_text(smtpd: SmtpServers) -> None:
    result = await probe_smtp(smtpd.settings(ALICE.name, Security.TLS), "nope", timeout=TIMEOUT)
    assert result.status is Status.FAILED
    assert result.cause is Cause.AUTH_FAILED
    assert result.stage is Stage.AUTH
    assert result.message == "535 5.7.8 Authentication credentials invalid"


async def test_a_port_that_requires_starttls_refuses_plaintext_auth(smtpd: SmtpServers) -> None:
    settings = dataclasses.replace(
        smtpd.settings(ALICE.name, Security.STARTTLS), security=Security.NONE
    )
    result = await probe_smtp(settings, ALICE.password, timeout=TIMEOUT)
    assert result.status is Status.FAILED
    assert result.cause is Cause.PLAINTEXT_DISABLED
    assert result.stage is Stage.AUTH
    assert result.message == "530 Must issue a STARTTLS command first"
    # the mechanism was asked for, the password never followed (no 334 came back); then
    # STARTTLS and a second EHLO looked for AUTH under TLS (no credential either)
    client = [line for line in result.transcript if line.startswith("C: ")]
    assert client[-3:-1] == ["C: AUTH PLAIN", "C: STARTTLS"]
    assert client[-1].startswith("C: EHLO")
    assert result.facts["auth_after_starttls"] is True


async def test_starttls_not_offered_fails_before_any_credential(smtpd: SmtpServers) -> None:
    settings = dataclasses.replace(
        smtpd.settings(ALICE.name, Security.NONE), security=Security.STARTTLS
    )
    result = await probe_smtp(settings, ALICE.password, timeout=TIMEOUT)
    assert result.status is Status.FAILED
    assert result.cause is Cause.STARTTLS_UNAVAILABLE
    assert result.stage is Stage.STARTTLS
    assert Stage.AUTH not in [s.stage for s in result.steps]
    assert not any("AUTH" in line for line in result.transcript if line.startswith("C: "))


async def test_plaintext_login_when_the_account_allows_it_warns(smtpd: SmtpServers) -> None:
    result = await probe_smtp(
        smtpd.settings(ALICE.name, Security.NONE), ALICE.password, timeout=TIMEOUT
    )
    assert result.status is Status.OK, result
    assert any("unencrypted" in w for w in result.warnings)
    assert "tls_version" not in result.facts


async def test_no_secret_stops_before_auth(smtpd: SmtpServers) -> None:
    result = await probe_smtp(smtpd.settings(ALICE.name, Security.TLS), None, timeout=TIMEOUT)
    assert result.status is Status.OK
    assert [s.stage for s in result.steps][-2:] == [Stage.EHLO, Stage.QUIT]
    assert not any(line.startswith("C: AUTH") for line in result.transcript)


async def test_untrusted_certificate_is_certificate_invalid(smtpd: SmtpServers) -> None:
    # without the test CA the system trust store cannot verify the server
    settings = dataclasses.replace(smtpd.settings(ALICE.name, Security.TLS), tls_ca_file=None)
    result = await probe_smtp(settings, ALICE.password, timeout=TIMEOUT)
    assert result.status is Status.FAILED
    assert result.stage is Stage.TLS
    assert result.cause is Cause.CERTIFICATE_INVALID
    assert result.message is not None and "certificate verify failed" in result.message
