"""The IMAP probe against a real Dovecot: logins, STARTTLS, plaintext refusal, facts, secrets."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from servers import ALICE, BOB, CAROL
from servers_dovecot import DovecotServer

from console.core.model import Cause, Security, Stage, Status
from console.core.probe import probe_imap
from console.core.probe.tls import TlsInfo, client_context
from console.core.redact import secret_forms

TIMEOUT = 10.0
IMAP_STAGES_TLS = [
    Stage.DNS,
    Stage.CONNECT,
    Stage.TLS,
    Stage.GREETING,
    Stage.CAPABILITY,
    Stage.AUTH,
    Stage.MAILBOX,
    Stage.LOGOUT,
]

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


async def test_ok_over_implicit_tls(dovecot: DovecotServer) -> None:
    stages: list[Stage] = []
    result = await probe_imap(
        dovecot.settings(ALICE.name, Security.TLS),
        ALICE.password,
        timeout=TIMEOUT,
        on_stage=stages.append,
    )
    assert result.status is Status.OK, result
    assert result.cause is None and result.stage is None and result.message is None
    assert [s.stage for s in result.steps] == IMAP_STAGES_TLS
    assert stages == IMAP_STAGES_TLS
    assert all(s.ok for s in result.steps)
    facts = result.facts
    assert facts["messages"] == dovecot.inbox_counts[ALICE.name]
    assert str(facts["greeting"]).startswith("* OK") and "Dovecot" in str(facts["greeting"])
    assert facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert "trustme" in str(facts["cert_issuer"])
    assert isinstance(facts["cert_days_left"], int) and facts["cert_days_left"] > 14
    assert facts["idle"] is True
    assert "QUOTA" in facts["capabilities"]
    assert "PLAIN" in facts["auth_mechanisms"]
    assert facts["quota_limit_kb"] == 10240
    assert result.warnings == ()
    assert result.elapsed_ms >= sum(s.elapsed_ms for s in result.steps) - len(result.steps)


async def test_ok_over_starttls_with_the_special_character_password(
    dovecot: DovecotServer,
) -> None:
    result = await probe_imap(
        dovecot.settings(BOB.name, Security.STARTTLS), BOB.password, timeout=TIMEOUT
    )
    assert result.status is Status.OK, result
    stages = [s.stage for s in result.steps]
    assert stages.index(Stage.STARTTLS) < stages.index(Stage.AUTH)
    assert Stage.TLS not in stages
    starttls = next(s for s in result.steps if s.stage is Stage.STARTTLS)
    assert "Begin TLS negotiation now." in starttls.detail
    assert result.facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    # STARTTLS is forgotten after TLS (capabilities were asked again)
    assert "STARTTLS" not in result.facts["capabilities"]
    assert not any(BOB.password in line for line in result.transcript)


async def test_wrong_password_is_auth_failed_with_the_server_text(dovecot: DovecotServer) -> None:
    result = await probe_imap(
        dovecot.settings(ALICE.name, Security.TLS), "not-the-password", timeout=TIMEOUT
    )
    assert result.status is Status.FAILED
    assert result.cause is Cause.AUTH_FAILED
    assert result.stage is Stage.AUTH
    assert result.message == "[AUTHENTICATIONFAILED] Authentication failed."
    assert result.steps[-1].stage is Stage.AUTH and not result.steps[-1].ok
    auth_lines = [line for line in result.transcript if "AUTHENTICATE" in line]
    assert auth_lines and all(line.endswith("AUTHENTICATE PLAIN ****") for line in auth_lines)
    assert not any("not-the-password" in line for line in result.transcript)


async def test_plaintext_login_refused_from_a_remote_address(dovecot: DovecotServer) -> None:
    # Dovecot trusts 127.0.0.1 -> 127.0.0.1 as secure; from 127.0.0.2 it hides AUTH= and says
    # LOGINDISABLED, so the probe must not send the password at all.
    plain = dataclasses.replace(
        dovecot.settings(ALICE.name, Security.STARTTLS), security=Security.NONE
    )
    result = await probe_imap(plain, ALICE.password, timeout=TIMEOUT, local_addr="127.0.0.2")
    assert result.status is Status.FAILED
    assert result.cause is Cause.PLAINTEXT_DISABLED
    assert result.stage is Stage.AUTH
    assert "LOGINDISABLED" in result.facts["capabilities"]
    assert "from 127.0.0.2" in next(s.detail for s in result.steps if s.stage is Stage.CONNECT)
    assert not any(("LOGIN " in line or "AUTHENTICATE" in line) for line in result.transcript)


async def test_starttls_from_a_remote_address_still_logs_in(dovecot: DovecotServer) -> None:
    result = await probe_imap(
        dovecot.settings(ALICE.name, Security.STARTTLS),
        ALICE.password,
        timeout=TIMEOUT,
        local_addr="127.0.0.2",
    )
    assert result.status is Status.OK, result
    assert result.facts["messages"] == dovecot.inbox_counts[ALICE.name]


async def test_quota_near_full_is_reported_and_warned(dovecot: DovecotServer) -> None:
    result = await probe_imap(
        dovecot.settings(CAROL.name, Security.TLS), CAROL.password, timeout=TIMEOUT
    )
    assert result.status is Status.OK, result
    used, limit = result.facts["quota_used_kb"], result.facts["quota_limit_kb"]
    assert isinstance(used, int) and isinstance(limit, int) and limit > 0
    assert result.facts["quota_percent"] == round(used * 100 / limit, 1)
    assert float(result.facts["quota_percent"]) > 90
    assert any("full" in w and "bounce" in w for w in result.warnings)
    assert result.facts["messages"] == dovecot.inbox_counts[CAROL.name]


async def test_no_secret_stops_before_auth(dovecot: DovecotServer) -> None:
    result = await probe_imap(dovecot.settings(ALICE.name, Security.TLS), None, timeout=TIMEOUT)
    assert result.status is Status.OK
    assert [s.stage for s in result.steps][-2:] == [Stage.CAPABILITY, Stage.LOGOUT]
    assert not any("AUTHENTICATE" in line or " LOGIN " in line for line in result.transcript)


async def test_a_missing_mailbox_is_mailbox_unavailable(dovecot: DovecotServer) -> None:
    settings = dataclasses.replace(
        dovecot.settings(ALICE.name, Security.TLS), mailbox='Replies "2024" ü'
    )
    result = await probe_imap(settings, ALICE.password, timeout=TIMEOUT)
    assert result.status is Status.FAILED
    assert result.stage is Stage.MAILBOX
    assert result.cause is Cause.MAILBOX_UNAVAILABLE
    assert result.message is not None and "Mailbox doesn't exist" in result.message
    # quoted, with the non-ASCII part in modified UTF-7
    assert any('EXAMINE "Replies \\"2024\\" &APw-"' in line for line in result.transcript)


async def test_debug_logging_of_the_library_never_shows_the_password(
    dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await probe_imap(
        dovecot.settings(BOB.name, Security.STARTTLS), BOB.password, timeout=TIMEOUT
    )
    assert result.status is Status.OK
    assert any(r.name.startswith("aioimaplib") for r in caplog.records)  # DEBUG was on
    for form in set().union(*secret_forms(BOB.password)):
        assert form not in caplog.text
    # a record that the library would print with the escaped password in it
    library = logging.getLogger("aioimaplib.aioimaplib")
    escaped = BOB.password.replace("\\", "\\\\").replace('"', '\\"')
    library.debug("Sending : %s", f'AB12 LOGIN "bob" "{escaped}"\r\n'.encode())
    assert escaped not in caplog.text
    assert repr(escaped.encode())[2:-1] not in caplog.text


async def test_cancelling_closes_the_connection(dovecot: DovecotServer) -> None:
    started = asyncio.Event()

    def on_stage(stage: Stage) -> None:
        if stage is Stage.GREETING:
            started.set()

    task = asyncio.create_task(
        probe_imap(
            dovecot.settings(ALICE.name, Security.TLS),
            ALICE.password,
            timeout=TIMEOUT,
            on_stage=on_stage,
        )
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_certificate_expiry_warnings() -> None:
    def info(days: int) -> TlsInfo:
        return TlsInfo("TLSv1.3", "X", "CN=a", "CN=b", "2030-01-01T00:00:00Z", days)

    assert info(15).warnings() == ()
    (soon,) = info(3).warnings()
    assert "expires in 3 day(s)" in soon
    (gone,) = info(-1).warnings()
    assert "expired" in gone


def test_tls_contexts_are_cached_per_ca_file(dovecot: DovecotServer) -> None:
    first = client_context(str(dovecot.ca_file))
    assert client_context(str(dovecot.ca_file)) is first
    assert client_context(None) is not first
    assert client_context(None) is client_context(None)
