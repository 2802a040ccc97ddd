"""Checks at the protocol minimum of round trips, and what pipelining must not break.

Turns are counted by a relay between the probe and a real server (tests/turns_proxy.py): IMAP
over implicit TLS is TLS, greeting, AUTHENTICATE, EXAMINE (+ GETQUOTAROOT in the same write);
SMTP over implicit TLS is TLS, banner, EHLO, AUTH PLAIN with its initial response. LOGOUT and
QUIT are written and not waited for. Then the servers that take it badly: a pipelined EXAMINE
refused, a pipelined GETQUOTAROOT ignored or cut off, LOGOUT unanswered or closed on, and an SMTP
server that refuses the initial response (501) or asks for it again (an empty 334).
"""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from servers import ALICE, CAROL, HOST, TlsFiles, free_port
from servers_dovecot import DovecotServer
from servers_smtp import RecordingHandler, SmtpServers, authenticate
from turns_proxy import turns_proxy

from console.core.model import Cause, Protocol, Security, ServerSettings, Stage, Status
from console.core.probe import probe_imap, probe_smtp
from console.lab import LAB_PASSWORD, LAB_USER, Hostile, ImapScenario, LabCA, LabImapServer

TIMEOUT = 10.0
T = 0.5  # the per-stage deadline for the lab cases: a wait for an answer that never comes
DOVECOT_LOGIN_OK = "OK [CAPABILITY {capabilities}] Logged in"
pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


# -- turns against real servers -------------------------------------------------------------


async def test_imap_over_implicit_tls_takes_four_turns(dovecot: DovecotServer) -> None:
    settings = dovecot.settings(CAROL.name, Security.TLS)  # carol has a quota: GETQUOTAROOT too
    async with turns_proxy(settings.port) as proxy:
        proxied = dataclasses.replace(settings, port=proxy.port)
        result = await probe_imap(proxied, CAROL.password, timeout=TIMEOUT)
        talk = await proxy.settled()
    assert result.status is Status.OK, result
    assert "quota_limit_kb" in result.facts  # the pipelined GETQUOTAROOT kept its own answer
    assert "messages" in result.facts
    sent = [line for line in result.transcript if line.startswith("C: ")]
    assert not any(line.endswith(" CAPABILITY") for line in sent)  # greeting and login said
    assert talk.turns == 4, talk.flights()


async def test_imap_over_starttls_takes_six_turns(dovecot: DovecotServer) -> None:
    settings = dovecot.settings(CAROL.name, Security.STARTTLS)
    async with turns_proxy(settings.port) as proxy:
        proxied = dataclasses.replace(settings, port=proxy.port)
        result = await probe_imap(proxied, CAROL.password, timeout=TIMEOUT)
        talk = await proxy.settled()
    assert result.status is Status.OK, result
    # greeting, STARTTLS, TLS, CAPABILITY (what was said before TLS is forgotten), AUTH, EXAMINE
    assert talk.turns == 6, talk.flights()


async def test_smtp_over_implicit_tls_takes_four_turns(smtpd: SmtpServers) -> None:
    settings = smtpd.settings(ALICE.name, Security.TLS)
    async with turns_proxy(settings.port) as proxy:
        proxied = dataclasses.replace(settings, port=proxy.port)
        result = await probe_smtp(proxied, ALICE.password, timeout=TIMEOUT)
        talk = await proxy.settled()
    assert result.status is Status.OK, result
    assert "C: AUTH PLAIN ****" in result.transcript  # the initial response, hidden
    assert talk.turns == 4, talk.flights()


async def test_smtp_over_starttls_sends_no_credential_before_tls(smtpd: SmtpServers) -> None:
    settings = smtpd.settings(ALICE.name, Security.STARTTLS)
    async with turns_proxy(settings.port) as proxy:
        proxied = dataclasses.replace(settings, port=proxy.port)
        result = await probe_smtp(proxied, ALICE.password, timeout=TIMEOUT)
        talk = await proxy.settled()
    assert result.status is Status.OK, result
    sent = [line for line in result.transcript if line.startswith("C: ")]
    assert sent.index("C: STARTTLS") < sent.index("C: AUTH PLAIN ****")
    # banner, EHLO, STARTTLS, TLS, EHLO again (RFC 3207), AUTH
    assert talk.turns == 6, talk.flights()


# -- IMAP: pipelined commands keep their own answers ------------------------------------------


async def test_a_refused_pipelined_examine_is_still_mailbox_unavailable(
    dovecot: DovecotServer,
) -> None:
    settings = dataclasses.replace(dovecot.settings(CAROL.name), mailbox="No such folder")
    result = await probe_imap(settings, CAROL.password, timeout=TIMEOUT)
    assert (result.status, result.stage, result.cause) == (
        Status.FAILED,
        Stage.MAILBOX,
        Cause.MAILBOX_UNAVAILABLE,
    ), result
    assert "doesn't exist" in (result.message or ""), result.transcript
    sent = [line for line in result.transcript if line.startswith("C: ")]
    assert any("EXAMINE" in line for line in sent) and any("GETQUOTAROOT" in line for line in sent)


@pytest.fixture(scope="module")
def ca() -> Iterator[LabCA]:
    with LabCA() as lab_ca:
        yield lab_ca


def lab_settings(server: LabImapServer, ca: LabCA) -> ServerSettings:
    return ServerSettings(
        protocol=Protocol.IMAP,
        host="localhost",
        port=server.port,
        security=Security.TLS,
        username=LAB_USER,
        tls_ca_file=str(ca.ca_file),
    )


@pytest.mark.parametrize("action", ["silent", "close", "reset", "garbage"])
async def test_a_server_that_mishandles_the_pipelined_quota_still_passes(
    ca: LabCA, action: str
) -> None:
    """The mailbox opened: a quota the server will not tell is only left unreported."""
    scenario = ImapScenario(
        hostile=Hostile(action=action, at="GETQUOTAROOT"),
        login_ok_reply=DOVECOT_LOGIN_OK,  # capabilities after login: GETQUOTAROOT is pipelined
        messages=3,
    )
    async with LabImapServer(scenario, ca=ca) as server:
        started = time.monotonic()
        result = await probe_imap(lab_settings(server, ca), LAB_PASSWORD, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert result.status is Status.OK, result
    assert result.facts["messages"] == 3
    assert "quota_limit_kb" not in result.facts
    mailbox = next(step for step in result.steps if step.stage is Stage.MAILBOX)
    assert "quota unknown" in mailbox.detail
    assert elapsed < TIMEOUT / 2  # a bounded wait, not the stage's deadline


@pytest.mark.parametrize("action", ["silent", "close", "reset"])
async def test_logout_is_not_waited_for(ca: LabCA, action: str) -> None:
    scenario = ImapScenario(hostile=Hostile(action=action, at="logout"))
    async with LabImapServer(scenario, ca=ca) as server:
        started = time.monotonic()
        result = await probe_imap(lab_settings(server, ca), LAB_PASSWORD, timeout=T)
        elapsed = time.monotonic() - started
    assert result.status is Status.OK, result
    assert result.steps[-1].stage is Stage.LOGOUT and result.steps[-1].ok
    assert elapsed < T  # no stage waited for its deadline


async def test_capabilities_missing_after_login_are_asked_with_examine(ca: LabCA) -> None:
    """A login answer without [CAPABILITY]: CAPABILITY goes out with EXAMINE, and the quota
    learnt from it is still read (one more turn, only for such servers)."""
    scenario = ImapScenario(messages=2)  # the lab's login answer lists no capabilities
    async with LabImapServer(scenario, ca=ca) as server:
        result = await probe_imap(lab_settings(server, ca), LAB_PASSWORD, timeout=TIMEOUT)
    assert result.status is Status.OK, result
    sent = [line.split(" ", 2)[-1] for line in result.transcript if line.startswith("C: ")]
    assert sent[sent.index("CAPABILITY") + 1].startswith("EXAMINE")
    assert result.facts["quota_limit_kb"] == 10240


# -- SMTP: servers that refuse the initial response -------------------------------------------


class _NoInitialResponse(SMTP):  # type: ignore[misc]
    """aiosmtpd that will not take `AUTH PLAIN <response>`: 501, or an empty 334 asking again."""

    refusal = "501"

    async def smtp_AUTH(self, arg: str) -> None:
        mechanism, _, initial = (arg or "").partition(" ")
        if initial and self.refusal == "501":
            await self.push("501 5.5.4 Initial response not accepted")
            return
        await super().smtp_AUTH(mechanism if initial else arg)


class _Refusing(Controller):  # type: ignore[misc]
    def __init__(self, refusal: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refusal = refusal

    def factory(self) -> SMTP:
        server = _NoInitialResponse(self.handler, **self.SMTP_kwargs)
        server.refusal = self.refusal
        return server


@pytest.fixture(params=["501", "334"])
def refusing_smtpd(request: pytest.FixtureRequest, tls_files: TlsFiles) -> Iterator[Controller]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_files.cert_file), str(tls_files.key_file))
    controller = _Refusing(
        request.param,
        handler=RecordingHandler(),
        hostname=HOST,
        port=free_port(),
        ssl_context=context,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
        server_hostname="localhost",
    )
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def refusing_settings(controller: Controller, tls_files: TlsFiles) -> ServerSettings:
    return ServerSettings(
        protocol=Protocol.SMTP,
        host=HOST,
        port=controller.port,
        security=Security.TLS,
        username=ALICE.name,
        tls_ca_file=str(tls_files.ca_file),
    )


async def test_a_refused_initial_response_falls_back_to_the_334_exchange(
    refusing_smtpd: Controller, tls_files: TlsFiles
) -> None:
    settings = refusing_settings(refusing_smtpd, tls_files)
    result = await probe_smtp(settings, ALICE.password, timeout=TIMEOUT)
    assert result.status is Status.OK, result
    assert not any(ALICE.password in line for line in result.transcript)
    replies = [line for line in result.transcript if line.startswith("S: 334")]
    assert len(replies) == 1  # one exchange after the refusal, not a loop


async def test_a_wrong_password_after_the_fallback_is_still_auth_failed(
    refusing_smtpd: Controller, tls_files: TlsFiles
) -> None:
    settings = refusing_settings(refusing_smtpd, tls_files)
    result = await probe_smtp(settings, "not-the-password", timeout=TIMEOUT)
    assert (result.status, result.stage, result.cause) == (
        Status.FAILED,
        Stage.AUTH,
        Cause.AUTH_FAILED,
    ), result
    assert (result.message or "").startswith("535")
    assert sum(line.startswith("C: AUTH") for line in result.transcript) <= 2  # no retry storm
