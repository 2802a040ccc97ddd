"""The SMTP probe and its diagnosis against a real Postfix (tests/servers_postfix.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import smtplib
import ssl

import pytest
import trustme
from servers import ALICE, BOB, TlsFiles
from servers_dovecot import DovecotServer
from servers_postfix import (
    AUTH_RATE,
    CONNECTION_RATE,
    REFUSED_RECIPIENT,
    PostfixServer,
    start_postfix,
)

from console.core.diagnosis import advise
from console.core.model import Cause, Protocol, Security, ServerSettings, Stage, Status
from console.core.probe import probe_smtp

TIMEOUT = 10.0

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


async def test_submission_with_starttls_logs_in(postfix: PostfixServer) -> None:
    result = await probe_smtp(postfix.settings("submission"), ALICE.password, timeout=TIMEOUT)
    assert result.status is Status.OK, result
    assert Stage.STARTTLS in [s.stage for s in result.steps]
    assert result.facts["banner"].startswith("220 mail.example.test ESMTP Postfix")


async def test_implicit_tls_logs_in_with_the_special_character_password(
    postfix: PostfixServer,
) -> None:
    result = await probe_smtp(
        postfix.settings("submissions", BOB.name), BOB.password, timeout=TIMEOUT
    )
    assert result.status is Status.OK, result
    assert set(result.facts["auth_mechanisms"]) == {"PLAIN", "LOGIN"}


async def test_wrong_password_is_auth_failed(postfix: PostfixServer) -> None:
    result = await probe_smtp(postfix.settings("submissions"), "nope", timeout=TIMEOUT)
    assert result.status is Status.FAILED
    assert result.cause is Cause.AUTH_FAILED
    assert result.stage is Stage.AUTH
    assert result.message is not None and result.message.startswith("535 5.7.8")


async def test_unknown_user_is_auth_failed(postfix: PostfixServer) -> None:
    result = await probe_smtp(
        postfix.settings("submissions", "nobody-here"), ALICE.password, timeout=TIMEOUT
    )
    assert result.cause is Cause.AUTH_FAILED
    assert result.stage is Stage.AUTH


async def test_untrusted_certificate_is_certificate_invalid(postfix: PostfixServer) -> None:
    result = await probe_smtp(postfix.settings("untrusted"), ALICE.password, timeout=TIMEOUT)
    assert result.stage is Stage.TLS
    assert result.cause is Cause.CERTIFICATE_INVALID


async def test_certificate_for_another_name_is_certificate_invalid(
    postfix: PostfixServer,
) -> None:
    result = await probe_smtp(postfix.settings("wrong_name"), ALICE.password, timeout=TIMEOUT)
    assert result.stage is Stage.TLS
    assert result.cause is Cause.CERTIFICATE_INVALID
    assert result.message is not None and "127.0.0.1" in result.message


def test_fixture_delivers_to_known_recipients_and_refuses_others(postfix: PostfixServer) -> None:
    context = ssl.create_default_context(cafile=str(postfix.ca_file))
    with smtplib.SMTP_SSL(
        postfix.host, postfix.ports["submissions"], context=context, timeout=TIMEOUT
    ) as client:
        client.login(ALICE.name, ALICE.password)
        client.mail(postfix.address(ALICE.name))
        assert client.rcpt(postfix.address(BOB.name))[0] == 250
        code, text = client.rcpt(f"nobody@{postfix.domain}")
        assert code == 550 and b"User unknown in virtual mailbox table" in text
        code, text = client.rcpt(REFUSED_RECIPIENT)
        assert code == 554 and b"5.7.1" in text
        client.rset()


def test_the_instance_is_private_and_its_processes_are_its_own(postfix: PostfixServer) -> None:
    assert "configuration " + str(postfix.config_directory) in postfix.log_text()
    pid = int((postfix.directory / "queue" / "pid" / "master.pid").read_text().strip())
    assert os.getpgid(pid) == pid  # the stop kills this whole group
    os.kill(pid, 0)


def test_stop_leaves_no_process_and_no_directory(
    tls_files: TlsFiles, tls_ca: trustme.CA, dovecot: DovecotServer
) -> None:
    server = start_postfix(tls_files, tls_ca, dovecot)
    pid = int((server.directory / "queue" / "pid" / "master.pid").read_text().strip())
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not server.directory.exists()


def _plain(postfix: PostfixServer, listener: str) -> ServerSettings:
    """The listener's settings with security "none" (a user who left TLS off)."""
    return dataclasses.replace(postfix.settings(listener), security=Security.NONE)


async def test_auth_only_after_starttls_is_plaintext_disabled_after_a_look(
    postfix: PostfixServer,
) -> None:
    # smtpd_tls_auth_only = yes: EHLO in plain text has no AUTH; after STARTTLS it does
    result = await probe_smtp(_plain(postfix, "submission_may"), ALICE.password, timeout=TIMEOUT)
    assert result.cause is Cause.PLAINTEXT_DISABLED
    assert result.message == "503 5.5.1 Error: authentication not enabled"
    assert result.facts["auth_after_starttls"] is True
    client = [line for line in result.transcript if line.startswith("C: ")]
    assert client[-3:] == ["C: AUTH PLAIN", "C: STARTTLS", client[-1]]
    assert client[-1].startswith("C: EHLO")  # the look sends no credential


async def test_a_port_that_requires_tls_is_plaintext_disabled(postfix: PostfixServer) -> None:
    result = await probe_smtp(_plain(postfix, "submission"), ALICE.password, timeout=TIMEOUT)
    assert result.cause is Cause.PLAINTEXT_DISABLED
    assert result.message == "530 5.7.0 Must issue a STARTTLS command first"
    assert result.facts["auth_after_starttls"] is True


@pytest.mark.parametrize("security", [Security.NONE, Security.STARTTLS])
async def test_a_port_without_smtp_auth_is_basic_auth_disabled(
    postfix: PostfixServer, security: Security
) -> None:
    settings = dataclasses.replace(postfix.settings("noauth"), security=security)
    result = await probe_smtp(settings, ALICE.password, timeout=TIMEOUT)
    assert result.cause is Cause.BASIC_AUTH_DISABLED
    assert result.message == "503 5.5.1 Error: authentication not enabled"
    if security is Security.NONE:
        assert result.facts["auth_after_starttls"] is False
    fixes = " ".join(advise(result.cause, Protocol.SMTP).fix)
    assert "587" in fixes and "ask the host" in fixes


async def test_connection_count_limit_is_rate_limited(postfix: PostfixServer) -> None:
    context = ssl.create_default_context(cafile=str(postfix.ca_file))
    reader, writer = await asyncio.open_connection(
        postfix.host, postfix.ports["connection_limit"], ssl=context
    )
    try:
        assert (await reader.readline()).startswith(b"220 ")
        result = await probe_smtp(
            postfix.settings("connection_limit"), ALICE.password, timeout=TIMEOUT
        )
    finally:
        writer.close()
        await writer.wait_closed()
    assert (result.cause, result.stage) == (Cause.RATE_LIMITED, Stage.GREETING)
    assert result.message is not None and "too many connections" in result.message


async def test_connection_rate_limit_is_rate_limited(postfix: PostfixServer) -> None:
    causes = [
        (await probe_smtp(postfix.settings("connection_rate"), None, timeout=TIMEOUT)).cause
        for _ in range(CONNECTION_RATE + 1)
    ]
    assert causes == [None] * CONNECTION_RATE + [Cause.RATE_LIMITED]


async def test_auth_rate_limit_is_rate_limited_not_auth_failed(postfix: PostfixServer) -> None:
    results = [
        await probe_smtp(postfix.settings("auth_rate"), "wrong", timeout=TIMEOUT)
        for _ in range(AUTH_RATE + 1)
    ]
    assert [r.cause for r in results] == [Cause.AUTH_FAILED] * AUTH_RATE + [Cause.RATE_LIMITED]
    assert results[-1].message == "450 4.7.1 Error: too many AUTH commands from 127.0.0.1"
