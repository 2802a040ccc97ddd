"""Both probes against the lab's scripted and hostile servers: every misbehaviour ends in the
right cause within its stage deadline, never a hang or a traceback, and credentials never travel
where they must not (the lab records what it received)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from console.core.model import (
    AuthMethod,
    Cause,
    CheckResult,
    Protocol,
    Security,
    ServerSettings,
    Stage,
    Status,
)
from console.core.probe import probe_imap, probe_smtp
from console.core.redact import secret_forms
from console.lab import (
    GMAIL_BAD_CREDENTIALS,
    LAB_PASSWORD,
    LAB_TOKEN,
    LAB_USER,
    CertKind,
    Hostile,
    ImapScenario,
    LabCA,
    LabImapServer,
    LabSmtpServer,
    SmtpScenario,
)

T = 0.5  # per-stage timeout: hostile cases must end about then
SLOW = 3.0  # generous upper bound for a whole check that hits one timeout
FAST = 1.5  # a check that should end without waiting for any timeout

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


@pytest.fixture(scope="module")
def ca() -> Iterator[LabCA]:
    with LabCA() as lab_ca:
        yield lab_ca


def imap_settings(
    server: LabImapServer | LabSmtpServer | None,
    ca: LabCA,
    security: Security,
    *,
    user: str = LAB_USER,
    host: str = "localhost",
    port: int | None = None,
    **extra: Any,
) -> ServerSettings:
    return ServerSettings(
        protocol=Protocol.IMAP,
        host=host,
        port=port if port is not None else (server.port if server else 1),
        security=security,
        username=user,
        tls_ca_file=str(ca.ca_file),
        **extra,
    )


def smtp_settings(
    server: LabImapServer | LabSmtpServer, ca: LabCA, security: Security, **extra: Any
) -> ServerSettings:
    return ServerSettings(
        protocol=Protocol.SMTP,
        host="localhost",
        port=server.port,
        security=security,
        username=extra.pop("user", LAB_USER),
        tls_ca_file=str(ca.ca_file),
        **extra,
    )


async def timed(probe: Any, *args: Any, **kwargs: Any) -> tuple[CheckResult, float]:
    started = time.monotonic()
    result = await probe(*args, timeout=kwargs.pop("timeout", T), **kwargs)
    return result, time.monotonic() - started


def failed_at(result: CheckResult, stage: Stage, cause: Cause) -> None:
    assert result.status is Status.FAILED, result
    assert (result.stage, result.cause) == (stage, cause), result
    assert result.steps[-1].stage is stage and not result.steps[-1].ok
    assert all(step.ok for step in result.steps[:-1])


# -- IMAP: hostile servers ----------------------------------------------------------------------

IMAP_HOSTILE = [
    # action, where, client security, failing stage, cause (timeouts wait for the deadline)
    ("silent", "greeting", "tls", "greeting", "timeout"),
    ("silent", "capability", "tls", "capability", "timeout"),
    ("silent", "auth", "tls", "auth", "timeout"),
    ("silent", "mailbox", "tls", "mailbox", "timeout"),
    ("silent", "starttls", "starttls", "starttls", "timeout"),
    ("silent", "tls", "tls", "tls", "timeout"),
    ("close", "greeting", "none", "greeting", "protocol_error"),
    ("close", "capability", "tls", "capability", "protocol_error"),
    ("close", "starttls", "starttls", "starttls", "tls_failed"),  # TLS negotiation cut off
    ("close", "auth", "tls", "auth", "protocol_error"),
    ("close", "mailbox", "tls", "mailbox", "protocol_error"),
    ("reset", "auth", "tls", "auth", "protocol_error"),
    ("drip", "greeting", "tls", "greeting", "timeout"),
    ("drip", "capability", "none", "capability", "timeout"),
    ("garbage", "greeting", "tls", "greeting", "wrong_service"),
    ("garbage", "auth", "tls", "auth", "protocol_error"),
    ("long_line", "greeting", "tls", "greeting", "protocol_error"),
    ("long_line", "mailbox", "none", "mailbox", "protocol_error"),
]


@pytest.mark.parametrize(
    ("action", "at", "security", "stage", "cause"),
    IMAP_HOSTILE,
    ids=[f"{a}-at-{w}-{s}" for a, w, s, *_ in IMAP_HOSTILE],
)
async def test_imap_hostile_server(
    ca: LabCA, action: str, at: str, security: str, stage: str, cause: str
) -> None:
    # The probe asks CAPABILITY only when the greeting does not list the capabilities.
    greeting = "* OK mailconsole lab IMAP ready." if at == "capability" else None
    scenario = ImapScenario(
        security=Security(security),
        hostile=Hostile(action=action, at=at),
        **({"greeting": greeting} if greeting else {}),
    )
    async with LabImapServer(scenario, ca=ca) as server:
        settings = imap_settings(server, ca, Security(security))
        result, elapsed = await timed(probe_imap, settings, LAB_PASSWORD)
    failed_at(result, Stage(stage), Cause(cause))
    assert_timing(result, elapsed, waits=cause == "timeout")
    assert result.message


def assert_timing(result: CheckResult, elapsed: float, *, waits: bool) -> None:
    """A timeout ends at the stage deadline (not much later); anything else ends at once."""
    if waits:
        assert T * 0.9 <= elapsed < SLOW
        assert result.steps[-1].elapsed_ms >= T * 900
    else:
        assert elapsed < FAST


@pytest.mark.parametrize("protocol", ["imap", "smtp"])
async def test_each_stage_has_its_own_deadline_however_long_the_ladder(
    ca: LabCA, protocol: str
) -> None:
    """Every answer is slow: the ladder outlasts T and still succeeds (the deadline moves with
    each stage); a silent server after that fails at its stage after T. (The lab delays each
    reply, so IMAP's pipelined mailbox stage waits three delays: T/4 there, 2T/5 for SMTP.)"""
    delay = T * (250 if protocol == "imap" else 400)
    if protocol == "imap":
        make, settings_for, probe = ImapScenario, imap_settings, probe_imap
        server_type: type[LabImapServer | LabSmtpServer] = LabImapServer
    else:
        make, settings_for, probe = SmtpScenario, smtp_settings, probe_smtp
        server_type = LabSmtpServer
    async with server_type(make(delay_ms=delay), ca=ca) as server:  # type: ignore[arg-type]
        result, elapsed = await timed(probe, settings_for(server, ca, Security.TLS), LAB_PASSWORD)
    assert result.status is Status.OK, result
    assert elapsed > 1.2 * T
    silent_at_auth = make(delay_ms=delay, hostile=Hostile(action="silent", at="auth"))
    async with server_type(silent_at_auth, ca=ca) as server:  # type: ignore[arg-type]
        result, elapsed = await timed(probe, settings_for(server, ca, Security.TLS), LAB_PASSWORD)
    failed_at(result, Stage.AUTH, Cause.TIMEOUT)
    assert T * 900 <= result.steps[-1].elapsed_ms < SLOW * 1000
    assert elapsed > T + 2 * delay / 1000


async def test_imap_bye_greeting_keeps_the_reason(ca: LabCA) -> None:
    scenario = ImapScenario(greeting="* BYE Too many connections from your IP, try again later")
    async with LabImapServer(scenario, ca=ca) as server:
        result, elapsed = await timed(
            probe_imap, imap_settings(server, ca, Security.TLS), LAB_PASSWORD
        )
    failed_at(result, Stage.GREETING, Cause.RATE_LIMITED)
    assert result.message == "Too many connections from your IP, try again later"
    assert elapsed < FAST


async def test_imap_server_that_is_not_imap4rev1(ca: LabCA) -> None:
    scenario = ImapScenario(
        greeting="* OK ancient server ready", capabilities=("IMAP2", "AUTH=PLAIN")
    )
    async with LabImapServer(scenario, ca=ca) as server:
        result, elapsed = await timed(
            probe_imap, imap_settings(server, ca, Security.TLS), LAB_PASSWORD
        )
    failed_at(result, Stage.CAPABILITY, Cause.PROTOCOL_ERROR)
    assert "IMAP4rev1" in (result.message or "")
    assert elapsed < FAST
    assert server.credentials_seen() == []


async def test_imap_scripted_smtp_banner_is_wrong_service(ca: LabCA) -> None:
    scenario = ImapScenario(greeting="220 mx.lab.test ESMTP Postfix")
    async with LabImapServer(scenario, ca=ca) as server:
        result, _ = await timed(probe_imap, imap_settings(server, ca, Security.TLS), LAB_PASSWORD)
    failed_at(result, Stage.GREETING, Cause.WRONG_SERVICE)
    assert "220 mx.lab.test ESMTP Postfix" in (result.message or "")


@pytest.mark.parametrize("probe", [probe_imap, probe_smtp])
async def test_a_web_server_answering_is_wrong_service(ca: LabCA, probe: Any) -> None:
    http = "HTTP/1.1 400 Bad Request"
    scenario: ImapScenario | SmtpScenario
    if probe is probe_imap:
        scenario, settings = ImapScenario(greeting=http), imap_settings
    else:
        scenario, settings = SmtpScenario(banner=http), smtp_settings
    server_class = LabImapServer if probe is probe_imap else LabSmtpServer
    async with server_class(scenario, ca=ca) as server:  # type: ignore[arg-type]
        result, elapsed = await timed(probe, settings(server, ca, Security.TLS), LAB_PASSWORD)
    failed_at(result, Stage.GREETING, Cause.WRONG_SERVICE)
    assert http in (result.message or "") and "web server" in (result.message or "")
    assert elapsed < FAST


async def test_imap_check_against_an_smtp_server_is_wrong_service(ca: LabCA) -> None:
    async with LabSmtpServer(SmtpScenario(security=Security.TLS), ca=ca) as server:
        result, elapsed = await timed(
            probe_imap, imap_settings(server, ca, Security.TLS), LAB_PASSWORD
        )
    failed_at(result, Stage.GREETING, Cause.WRONG_SERVICE)
    assert elapsed < FAST
    assert server.credentials_seen() == []


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
@pytest.mark.parametrize(
    "cert", [CertKind.WRONG_HOST, CertKind.EXPIRED, CertKind.UNKNOWN_CA, CertKind.SELF_SIGNED]
)
async def test_imap_bad_certificate(ca: LabCA, cert: CertKind, security: Security) -> None:
    async with LabImapServer(ImapScenario(security=security, cert=cert), ca=ca) as server:
        result, elapsed = await timed(probe_imap, imap_settings(server, ca, security), LAB_PASSWORD)
    stage = Stage.TLS if security is Security.TLS else Stage.STARTTLS
    failed_at(result, stage, Cause.CERTIFICATE_INVALID)
    assert "certificate verify failed" in (result.message or "")
    assert elapsed < FAST
    assert server.credentials_seen() == []


async def test_implicit_tls_client_on_a_plain_port(ca: LabCA) -> None:
    async with LabImapServer(ImapScenario(security=Security.STARTTLS), ca=ca) as server:
        result, elapsed = await timed(
            probe_imap, imap_settings(server, ca, Security.TLS), LAB_PASSWORD
        )
    failed_at(result, Stage.TLS, Cause.TLS_MISMATCH)
    assert "WRONG_VERSION_NUMBER" in (result.message or "").upper().replace(" ", "_")
    assert elapsed < FAST


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.NONE])
async def test_plain_client_on_a_tls_port_times_out(ca: LabCA, security: Security) -> None:
    async with LabImapServer(ImapScenario(security=Security.TLS), ca=ca) as server:
        result, elapsed = await timed(probe_imap, imap_settings(server, ca, security), LAB_PASSWORD)
    failed_at(result, Stage.GREETING, Cause.TIMEOUT)
    assert T * 0.9 <= elapsed < SLOW
    assert server.credentials_seen() == []


def _free_well_known_port(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_plain_client_on_port_993_is_a_tls_mismatch(ca: LabCA) -> None:
    # the configured pair (993, none) is a known mismatch: the silence is evidence for it
    if not _free_well_known_port(993):
        pytest.skip("127.0.0.1:993 is in use")
    server = LabImapServer(ImapScenario(security=Security.TLS), ca=ca, port=993)
    async with server:
        result, _ = await timed(probe_imap, imap_settings(server, ca, Security.NONE), "x")
    failed_at(result, Stage.GREETING, Cause.TLS_MISMATCH)


# -- IMAP: credentials only where they may go ---------------------------------------------------


async def test_stripped_starttls_sends_no_credential(ca: LabCA) -> None:
    scenario = ImapScenario(
        security=Security.STARTTLS, capabilities_plain=("IMAP4rev1", "AUTH=PLAIN", "SASL-IR")
    )
    async with LabImapServer(scenario, ca=ca) as server:
        result, _ = await timed(
            probe_imap, imap_settings(server, ca, Security.STARTTLS), LAB_PASSWORD
        )
        assert server.credentials_seen() == []
        assert not server.saw_auth_before_tls()
    failed_at(result, Stage.STARTTLS, Cause.STARTTLS_UNAVAILABLE)


@pytest.mark.parametrize(
    "plain_caps",
    [
        ("IMAP4rev1", "STARTTLS", "LOGINDISABLED"),
        ("IMAP4rev1", "STARTTLS", "LOGINDISABLED", "AUTH=PLAIN", "SASL-IR"),
    ],
    ids=["no-auth-plain", "auth-plain-offered"],
)
async def test_logindisabled_sends_no_credential(ca: LabCA, plain_caps: tuple[str, ...]) -> None:
    scenario = ImapScenario(security=Security.STARTTLS, capabilities_plain=plain_caps)
    async with LabImapServer(scenario, ca=ca) as server:
        result, _ = await timed(probe_imap, imap_settings(server, ca, Security.NONE), LAB_PASSWORD)
        assert server.credentials_seen() == []
        assert not server.saw_auth_before_tls()
    failed_at(result, Stage.AUTH, Cause.PLAINTEXT_DISABLED)


async def test_login_quotes_username_and_password(
    ca: LabCA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # aioimaplib logs every line it sends at DEBUG
    user, password = 'john "j" doe\\x', "p\"a s\\s'wörd€ ünï"
    scenario = ImapScenario(
        security=Security.TLS,
        capabilities=("IMAP4rev1", "IDLE"),  # no AUTH=PLAIN: LOGIN it is
        users={user: password},
    )
    async with LabImapServer(scenario, ca=ca) as server:
        result, _ = await timed(
            probe_imap, imap_settings(server, ca, Security.TLS, user=user), password
        )
        seen = server.credentials_seen()
    assert result.status is Status.OK, result
    assert [(c.mechanism, c.username, c.secret, c.accepted) for c in seen] == [
        ("LOGIN", user, password, True)
    ]
    assert any(line.endswith(" LOGIN ****") for line in result.transcript)
    assert not any(password in line or "wörd" in line for line in result.transcript)
    assert any(r.name == "aioimaplib.aioimaplib" for r in caplog.records)
    assert not any(form in caplog.text for form in set().union(*secret_forms(password)))


async def test_authenticate_plain_without_sasl_ir_uses_the_continuation(ca: LabCA) -> None:
    password = "p\"a s\\s'wörd€ ünï"
    scenario = ImapScenario(
        security=Security.STARTTLS,
        capabilities=("IMAP4rev1", "AUTH=PLAIN"),
        users={LAB_USER: password},
        messages=7,
    )
    async with LabImapServer(scenario, ca=ca) as server:
        result, _ = await timed(probe_imap, imap_settings(server, ca, Security.STARTTLS), password)
        seen = server.credentials_seen()
    assert result.status is Status.OK, result
    assert [(c.mechanism, c.secret, c.tls) for c in seen] == [("PLAIN", password, True)]
    assert result.facts["messages"] == 7
    assert any(line.endswith("AUTHENTICATE PLAIN") for line in result.transcript)
    assert "C: ****" in result.transcript


async def test_xoauth2_failure_returns_no_instead_of_hanging(ca: LabCA) -> None:
    scenario = ImapScenario(capabilities=(*ImapScenario().capabilities, "AUTH=XOAUTH2"))
    async with LabImapServer(scenario, ca=ca) as server:
        settings = imap_settings(server, ca, Security.TLS, auth=AuthMethod.OAUTH2)
        bad, elapsed = await timed(probe_imap, settings, "expired-token")
        good, _ = await timed(probe_imap, settings, LAB_TOKEN)
    failed_at(bad, Stage.AUTH, Cause.AUTH_FAILED)
    assert bad.message == "[AUTHENTICATIONFAILED] Invalid credentials (Failure)"
    assert elapsed < FAST
    assert any(line.startswith("S: + ") for line in bad.transcript)
    assert good.status is Status.OK, good
    assert not any(LAB_TOKEN in line for line in good.transcript)


async def test_cancelling_a_check_closes_its_connection(ca: LabCA) -> None:
    scenario = ImapScenario(hostile=Hostile(action="silent", at="greeting"))
    async with LabImapServer(scenario, ca=ca) as server:
        task = asyncio.create_task(
            probe_imap(imap_settings(server, ca, Security.TLS), LAB_PASSWORD, timeout=30)
        )
        await server.wait_until(lambda s: s.connections_current == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.wait_until(lambda s: s.connections_current == 0)


# -- network failures ---------------------------------------------------------------------------


async def test_connection_refused(ca: LabCA) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result, elapsed = await timed(
        probe_imap, imap_settings(None, ca, Security.TLS, port=port), LAB_PASSWORD
    )
    failed_at(result, Stage.CONNECT, Cause.CONNECTION_REFUSED)
    assert elapsed < FAST


@pytest.mark.parametrize("probe", [probe_imap, probe_smtp])
async def test_dns_failure(ca: LabCA, probe: Any) -> None:
    settings = imap_settings(None, ca, Security.TLS, host="no-such-host.invalid", port=993)
    result, _ = await timed(probe, settings, LAB_PASSWORD, timeout=5)
    failed_at(result, Stage.DNS, Cause.DNS_FAILED)
    assert [s.stage for s in result.steps] == [Stage.DNS]


# -- SMTP ---------------------------------------------------------------------------------------

SMTP_HOSTILE = [
    ("silent", "greeting", "tls", "greeting", "timeout"),
    ("silent", "ehlo", "tls", "ehlo", "timeout"),
    ("silent", "auth", "tls", "auth", "timeout"),
    ("silent", "tls", "starttls", "starttls", "timeout"),
    ("close", "greeting", "none", "greeting", "protocol_error"),
    ("close", "ehlo", "tls", "ehlo", "protocol_error"),
    ("close", "starttls", "starttls", "starttls", "tls_failed"),  # TLS negotiation cut off
    ("close", "auth", "tls", "auth", "protocol_error"),
    ("drip", "greeting", "tls", "greeting", "timeout"),
    ("garbage", "greeting", "tls", "greeting", "wrong_service"),
    ("garbage", "ehlo", "tls", "ehlo", "protocol_error"),
    ("long_line", "greeting", "tls", "greeting", "protocol_error"),
    ("long_line", "auth", "none", "auth", "protocol_error"),
]


@pytest.mark.parametrize(
    ("action", "at", "security", "stage", "cause"),
    SMTP_HOSTILE,
    ids=[f"{a}-at-{w}-{s}" for a, w, s, *_ in SMTP_HOSTILE],
)
async def test_smtp_hostile_server(
    ca: LabCA, action: str, at: str, security: str, stage: str, cause: str
) -> None:
    scenario = SmtpScenario(security=Security(security), hostile=Hostile(action=action, at=at))
    async with LabSmtpServer(scenario, ca=ca) as server:
        settings = smtp_settings(server, ca, Security(security))
        result, elapsed = await timed(probe_smtp, settings, LAB_PASSWORD)
    failed_at(result, Stage(stage), Cause(cause))
    assert_timing(result, elapsed, waits=cause == "timeout")


async def test_smtp_check_against_an_imap_server_is_wrong_service(ca: LabCA) -> None:
    async with LabImapServer(ImapScenario(security=Security.TLS), ca=ca) as server:
        result, elapsed = await timed(
            probe_smtp, smtp_settings(server, ca, Security.TLS), LAB_PASSWORD
        )
    failed_at(result, Stage.GREETING, Cause.WRONG_SERVICE)
    assert "IMAP" in (result.message or "")
    assert elapsed < FAST


async def test_smtp_stripped_starttls_sends_no_credential(ca: LabCA) -> None:
    scenario = SmtpScenario(security=Security.STARTTLS, extensions_plain=("AUTH PLAIN LOGIN",))
    async with LabSmtpServer(scenario, ca=ca) as server:
        result, _ = await timed(
            probe_smtp, smtp_settings(server, ca, Security.STARTTLS), LAB_PASSWORD
        )
        assert server.credentials_seen() == []
        assert not server.saw_auth_before_tls()
    failed_at(result, Stage.STARTTLS, Cause.STARTTLS_UNAVAILABLE)


async def test_smtp_starttls_required_sends_no_credential(ca: LabCA) -> None:
    async with LabSmtpServer(SmtpScenario(security=Security.STARTTLS), ca=ca) as server:
        result, _ = await timed(probe_smtp, smtp_settings(server, ca, Security.NONE), LAB_PASSWORD)
        assert server.credentials_seen() == []
    failed_at(result, Stage.AUTH, Cause.PLAINTEXT_DISABLED)
    assert result.message == "530 5.7.0 Must issue a STARTTLS command first."


async def test_smtp_login_mechanism_and_bad_password_text_verbatim(ca: LabCA) -> None:
    scenario = SmtpScenario(
        extensions=("AUTH LOGIN", "8BITMIME"), auth_failed_reply=GMAIL_BAD_CREDENTIALS
    )
    async with LabSmtpServer(scenario, ca=ca) as server:
        good, _ = await timed(probe_smtp, smtp_settings(server, ca, Security.TLS), LAB_PASSWORD)
        bad, _ = await timed(probe_smtp, smtp_settings(server, ca, Security.TLS), "wrong")
        seen = server.credentials_seen()
    assert good.status is Status.OK, good
    assert [c.mechanism for c in seen] == ["LOGIN", "LOGIN"]
    failed_at(bad, Stage.AUTH, Cause.AUTH_FAILED)
    assert bad.message == GMAIL_BAD_CREDENTIALS


async def test_smtp_xoauth2_failure_is_answered_and_reported(ca: LabCA) -> None:
    scenario = SmtpScenario(extensions=("AUTH PLAIN LOGIN XOAUTH2",))
    async with LabSmtpServer(scenario, ca=ca) as server:
        settings = smtp_settings(server, ca, Security.TLS, auth=AuthMethod.OAUTH2)
        bad, elapsed = await timed(probe_smtp, settings, "expired-token")
        good, _ = await timed(probe_smtp, settings, LAB_TOKEN)
    failed_at(bad, Stage.AUTH, Cause.AUTH_FAILED)
    assert bad.message == GMAIL_BAD_CREDENTIALS
    assert elapsed < FAST
    assert good.status is Status.OK, good
    assert not any(LAB_TOKEN in line for line in good.transcript)


async def test_smtp_implicit_tls_on_a_plain_port(ca: LabCA) -> None:
    async with LabSmtpServer(SmtpScenario(security=Security.STARTTLS), ca=ca) as server:
        result, elapsed = await timed(
            probe_smtp, smtp_settings(server, ca, Security.TLS), LAB_PASSWORD
        )
    failed_at(result, Stage.TLS, Cause.TLS_MISMATCH)
    assert elapsed < FAST


async def test_smtp_refusing_banner_keeps_code_and_text(ca: LabCA) -> None:
    banner = "554-5.7.1 Too many connections from 127.0.0.1\n554 5.7.1 Try again later"
    async with LabSmtpServer(SmtpScenario(banner=banner), ca=ca) as server:
        result, _ = await timed(probe_smtp, smtp_settings(server, ca, Security.TLS), LAB_PASSWORD)
    assert result.stage is Stage.GREETING
    assert result.message == banner
    assert result.cause is Cause.RATE_LIMITED


async def test_imap_preauth_greeting_skips_login(ca: LabCA) -> None:
    scenario = ImapScenario(greeting="* PREAUTH [CAPABILITY {capabilities}] welcome back")
    async with LabImapServer(scenario, ca=ca) as server:
        result, _ = await timed(probe_imap, imap_settings(server, ca, Security.TLS), LAB_PASSWORD)
        assert server.credentials_seen() == []
    assert result.status is Status.OK, result
    assert Stage.AUTH not in [s.stage for s in result.steps]
    assert result.facts["messages"] == 0


async def test_imap_preauth_on_plaintext_cannot_start_tls(ca: LabCA) -> None:
    scenario = ImapScenario(
        security=Security.STARTTLS, greeting="* PREAUTH [CAPABILITY {capabilities}] hi"
    )
    async with LabImapServer(scenario, ca=ca) as server:
        result, _ = await timed(
            probe_imap, imap_settings(server, ca, Security.STARTTLS), LAB_PASSWORD
        )
    failed_at(result, Stage.STARTTLS, Cause.STARTTLS_UNAVAILABLE)
