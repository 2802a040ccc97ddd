"""The lab servers, driven by real clients over real sockets: stdlib imaplib/smtplib (in a thread),
aioimaplib, aiosmtplib and raw asyncio streams."""

from __future__ import annotations

import asyncio
import base64
import gc
import imaplib
import smtplib
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from typing import Any

import aiosmtplib
import pytest
from aioimaplib import aioimaplib

from console.core.model import Security
from console.lab import (
    DEFAULT_GARBAGE,
    GMAIL_BAD_CREDENTIALS,
    GMAIL_XOAUTH2_CHALLENGE,
    IMAP_CAPABILITIES,
    LAB_PASSWORD,
    LAB_TOKEN,
    LAB_USER,
    VERIFY_CODES,
    CertKind,
    Hostile,
    ImapScenario,
    Lab,
    LabCA,
    LabImapServer,
    LabServer,
    LabSmtpServer,
    SmtpScenario,
    derived_password,
)

ODD_PASSWORD = "p\"a s\\s'wörd€ ünï"
ODD_USER = "bob@lab.test"
USERS = {LAB_USER: LAB_PASSWORD, ODD_USER: ODD_PASSWORD}
APP_PASSWORD = (
    "NO [ALERT] Application-specific password required: "
    "https://support.google.com/accounts/answer/185833 (Failure)"
)


@pytest.fixture(scope="module")
def ca() -> Any:
    with LabCA() as lab_ca:
        yield lab_ca


@asynccontextmanager
async def serving(server: LabServer[Any]) -> AsyncIterator[Any]:
    async with server:
        yield server
    assert server.errors == []


def imap(ca: LabCA, **fields: Any) -> LabImapServer:
    return LabImapServer(ImapScenario(**{"users": USERS, **fields}), ca=ca)


def smtp(ca: LabCA, **fields: Any) -> LabSmtpServer:
    return LabSmtpServer(SmtpScenario(**{"users": USERS, **fields}), ca=ca)


def plain_b64(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


class Raw:
    """A line-level client on asyncio streams, for what the libraries cannot (or will not) send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    @asynccontextmanager
    async def to(
        cls, srv: LabServer[Any], ctx: ssl.SSLContext | None = None, host: str = "localhost"
    ) -> AsyncIterator[Raw]:
        reader, writer = await asyncio.open_connection(
            srv.host, srv.port, ssl=ctx, server_hostname=host if ctx else None, limit=2**22
        )
        try:
            yield cls(reader, writer)
        finally:
            writer.close()
            with suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def line(self) -> bytes:
        async with asyncio.timeout(5):
            return (await self.reader.readuntil(b"\r\n"))[:-2]

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def ask(self, line: bytes | str, until: bytes | str | None = None) -> list[bytes]:
        """Send a line, read lines up to the tagged/final reply (first word == until)."""
        await self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        stop = until.encode() if isinstance(until, str) else until
        lines = [await self.line()]
        while stop is not None and not lines[-1].startswith(stop + b" "):
            lines.append(await self.line())
        return lines

    async def smtp(self, line: str) -> list[bytes]:
        await self.send(line + "\r\n")
        lines = [await self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(await self.line())
        return lines

    async def eof(self) -> bool:
        async with asyncio.timeout(5):
            return await self.reader.read() == b""

    async def starttls(self, ctx: ssl.SSLContext) -> None:
        await self.writer.start_tls(ctx, server_hostname="localhost")


@asynccontextmanager
async def aioimap(srv: LabServer[Any], ctx: ssl.SSLContext) -> AsyncIterator[aioimaplib.IMAP4]:
    client = aioimaplib.IMAP4_SSL("localhost", srv.port, ssl_context=ctx, timeout=5)
    try:
        await client.wait_hello_from_server()
        yield client
    finally:
        transport = client.protocol.transport
        if transport is not None and not transport.is_closing():
            transport.close()
        await asyncio.sleep(0)


# ---- IMAP: logging in --------------------------------------------------------------------------


async def test_imap_implicit_tls_login_examine_quota_logout(ca: LabCA) -> None:
    async with serving(imap(ca, messages=17, quota=(512, 2048))) as srv:
        async with aioimap(srv, ca.client_context()) as client:
            assert client.has_capability("AUTH=PLAIN")
            assert (await client.login(aioimaplib.quoted(LAB_USER), LAB_PASSWORD)).result == "OK"
            examined = await client.examine("INBOX")
            assert examined.result == "OK"
            assert aioimaplib.extract_exists(examined) == 17
            assert examined.lines[-1] == b"[READ-ONLY] Examine completed."
            quota = await client.getquotaroot("INBOX")
            assert b'"User quota" (STORAGE 512 2048)' in quota.lines
            logout = await client.logout()
            assert logout.lines == [b"BYE Logging out", b"Logout completed."]
        assert [(c.username, c.tls, c.accepted) for c in srv.credentials_seen()] == [
            (LAB_USER, True, True)
        ]
        assert not srv.saw_auth_before_tls()
        assert srv.logins_accepted == 1


async def test_imap_starttls_changes_capabilities_then_logs_in(ca: LabCA) -> None:
    async with serving(imap(ca, security=Security.STARTTLS)) as srv:

        def wrong_password() -> None:
            with imaplib.IMAP4("127.0.0.1", srv.port) as m:
                m.starttls(ca.client_context())
                m.login(LAB_USER, "wrong")

        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            await asyncio.to_thread(wrong_password)

        def good() -> tuple[tuple[str, ...], tuple[str, ...]]:
            with imaplib.IMAP4("127.0.0.1", srv.port) as m:
                before = m.capabilities
                m.starttls(ca.client_context())
                m.login(LAB_USER, LAB_PASSWORD)
                return before, m.capabilities

        before, after = await asyncio.to_thread(good)
        assert {"STARTTLS", "LOGINDISABLED"} <= set(before) and "AUTH=PLAIN" not in before
        assert "AUTH=PLAIN" in after and "STARTTLS" not in after
        assert not srv.saw_auth_before_tls()
        assert [c.accepted for c in srv.credentials_seen()] == [False, True]


async def test_imap_odd_password_via_quoted_login(ca: LabCA) -> None:
    async with serving(imap(ca)) as srv, aioimap(srv, ca.client_context()) as client:
        assert (await client.login(aioimaplib.quoted(ODD_USER), ODD_PASSWORD)).result == "OK"
    assert srv.lines()[-1].endswith(b'"p\\"a s\\\\s\'w\xc3\xb6rd\xe2\x82\xac \xc3\xbcn\xc3\xaf"')
    assert srv.credentials_seen()[0].secret == ODD_PASSWORD


async def test_imap_odd_password_via_authenticate_plain_both_ways(ca: LabCA) -> None:
    async with serving(imap(ca)) as srv:
        async with Raw.to(srv, ca.client_context()) as raw:
            await raw.line()
            ir = await raw.ask(f"a1 AUTHENTICATE PLAIN {plain_b64(ODD_USER, ODD_PASSWORD)}", "a1")
            assert ir == [b"a1 OK Logged in"]

        def continuation() -> str:
            with imaplib.IMAP4_SSL("localhost", srv.port, ssl_context=ca.client_context()) as m:
                sasl = f"\0{ODD_USER}\0{ODD_PASSWORD}".encode()
                return m.authenticate("PLAIN", lambda _: sasl)[0]

        assert await asyncio.to_thread(continuation) == "OK"
    second = srv.lines(conn=2)
    at = next(i for i, line in enumerate(second) if line.endswith(b" AUTHENTICATE PLAIN"))
    assert second[at + 1] == plain_b64(ODD_USER, ODD_PASSWORD).encode()
    assert [(c.mechanism, c.secret) for c in srv.credentials_seen()] == [
        ("PLAIN", ODD_PASSWORD)
    ] * 2


async def test_imap_authenticate_login_mechanism_prompts(ca: LabCA) -> None:
    caps = (*IMAP_CAPABILITIES, "AUTH=LOGIN")
    async with serving(imap(ca, capabilities=caps)) as srv, Raw.to(srv, ca.client_context()) as raw:
        await raw.line()
        assert await raw.ask("a1 AUTHENTICATE LOGIN") == [b"+ VXNlcm5hbWU6"]
        assert await raw.ask(base64.b64encode(ODD_USER.encode())) == [b"+ UGFzc3dvcmQ6"]
        assert await raw.ask(base64.b64encode(ODD_PASSWORD.encode()), "a1") == [b"a1 OK Logged in"]
    assert [(c.mechanism, c.secret) for c in srv.credentials_seen()] == [("LOGIN", ODD_PASSWORD)]


async def test_imap_literal_login_synchronizing_and_literal_plus(ca: LabCA) -> None:
    user, password = ODD_USER.encode(), ODD_PASSWORD.encode()
    async with serving(imap(ca, strict_8bit=True)) as srv:
        async with Raw.to(srv, ca.client_context()) as raw:
            await raw.line()
            assert await raw.ask(f"a1 LOGIN {ODD_USER} {{{len(password)}}}") == [b"+ OK"]
            assert await raw.ask(password, "a1") == [b"a1 OK Logged in"]
        async with Raw.to(srv, ca.client_context()) as raw:
            await raw.line()
            await raw.send(b"b1 LOGIN {%d+}\r\n%s {%d+}\r\n" % (len(user), user, len(password)))
            assert await raw.ask(password, "b1") == [b"b1 OK Logged in"]
        async with Raw.to(srv, ca.client_context()) as raw:  # strict: raw 8-bit needs a literal
            await raw.line()
            reply = await raw.ask(f'c1 LOGIN {ODD_USER} "{ODD_PASSWORD}"'.encode(), "c1")
            assert reply[0].startswith(b"c1 BAD ")
    assert [c.secret for c in srv.credentials_seen()] == [ODD_PASSWORD] * 2


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ('a1 LOGIN john doe "pw"', b"a1 BAD "),
        ('a1 LOGIN we"ird "pw"', b"a1 BAD "),
        ('a1 LOGIN DOMAIN\\user "pw"', b"a1 BAD "),
        ('a1 LOGIN alice "bad\\q"', b"a1 BAD "),
        ("a1  NOOP", b"a1 BAD "),
        ("a1 NOOP ", b"a1 BAD "),
        ("a1 SELECT INBOX", b"a1 BAD Command SELECT is not valid in the not authenticated state."),
        ("a1 FROB", b"a1 BAD Error in IMAP command FROB: Unknown command."),
        ("+1 NOOP", b"* BAD "),
        ("", b"* BAD "),
        ("a1 AUTHENTICATE CRAM-MD5", b"a1 BAD Unsupported authentication mechanism."),
    ],
)
async def test_imap_sloppy_commands_get_bad(ca: LabCA, line: str, reply: bytes) -> None:
    async with serving(imap(ca)) as srv, Raw.to(srv, ca.client_context()) as raw:
        await raw.line()
        answer = await raw.ask(line)
        assert answer[0].startswith(reply)
        assert await raw.ask("z9 NOOP", "z9") == [b"z9 OK NOOP completed."]  # still talking


async def test_imap_literal_plus_only_when_advertised(ca: LabCA) -> None:
    caps = tuple(c for c in IMAP_CAPABILITIES if c != "LITERAL+")
    async with serving(imap(ca, capabilities=caps)) as srv, Raw.to(srv, ca.client_context()) as raw:
        await raw.line()
        await raw.send(b"a1 LOGIN {5+}\r\nalice")
        assert (await raw.ask(' "pw"', "a1"))[0].startswith(b"a1 BAD ")
        assert await raw.ask("a2 NOOP", "a2") == [b"a2 OK NOOP completed."]


async def test_imap_logindisabled_refuses_login_and_records_exposure(ca: LabCA) -> None:
    async with serving(imap(ca, security=Security.STARTTLS)) as srv, Raw.to(srv) as raw:
        assert b"LOGINDISABLED" in await raw.line()
        reply = await raw.ask(f'a1 LOGIN {LAB_USER} "{LAB_PASSWORD}"', "a1")
        assert reply[0].startswith(b"* BAD [ALERT] Plaintext authentication not allowed")
        assert reply[1].startswith(b"a1 NO [PRIVACYREQUIRED] ")
        plain = await raw.ask(f"a2 AUTHENTICATE PLAIN {plain_b64(LAB_USER, LAB_PASSWORD)}", "a2")
        assert plain == [b"a2 NO [PRIVACYREQUIRED] Plaintext authentication disabled."]
    assert srv.saw_auth_before_tls()
    seen = srv.credentials_seen()
    assert [(c.mechanism, c.tls, c.accepted, c.secret) for c in seen] == [
        ("LOGIN", False, False, LAB_PASSWORD),
        ("PLAIN", False, False, LAB_PASSWORD),
    ]
    assert LAB_PASSWORD not in repr(seen)


async def test_imap_scripted_replies_come_back_verbatim(ca: LabCA) -> None:
    scenario = dict(
        auth_reply=APP_PASSWORD,
        auth_reply_user=ODD_USER,
        examine_reply="NO [NONEXISTENT] Mailbox doesn't exist: INBOX",
        replies={"id": '* ID ("name" "Gimap")\nOK Success'},
    )
    async with serving(imap(ca, **scenario)) as srv:
        async with aioimap(srv, ca.client_context()) as client:
            refused = await client.login(aioimaplib.quoted(ODD_USER), ODD_PASSWORD)
            assert refused == aioimaplib.Response("NO", [APP_PASSWORD[3:].encode()])
        async with Raw.to(srv, ca.client_context()) as raw:
            await raw.line()
            assert await raw.ask("i1 ID NIL", "i1") == [b'* ID ("name" "Gimap")', b"i1 OK Success"]
            assert await raw.ask(f'a1 LOGIN {LAB_USER} "{LAB_PASSWORD}"', "a1") == [
                b"a1 OK Logged in"
            ]
            assert await raw.ask("a2 EXAMINE INBOX", "a2") == [
                b"a2 NO [NONEXISTENT] Mailbox doesn't exist: INBOX"
            ]


async def test_imap_xoauth2_gmail_style_failure_and_success(ca: LabCA) -> None:
    caps = (*IMAP_CAPABILITIES, "AUTH=XOAUTH2")
    async with serving(imap(ca, capabilities=caps)) as srv, Raw.to(srv, ca.client_context()) as raw:
        await raw.line()

        def sasl(token: str) -> str:
            return base64.b64encode(f"user={LAB_USER}\1auth=Bearer {token}\1\1".encode()).decode()

        challenge = await raw.ask(f"a1 AUTHENTICATE XOAUTH2 {sasl('stale')}")
        assert challenge == [b"+ " + base64.b64encode(GMAIL_XOAUTH2_CHALLENGE.encode())]
        assert await raw.ask("", "a1") == [
            b"a1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"
        ]
        assert await raw.ask(f"a2 AUTHENTICATE XOAUTH2 {sasl(LAB_TOKEN)}", "a2") == [
            b"a2 OK Logged in"
        ]
    assert [(c.mechanism, c.accepted) for c in srv.credentials_seen()] == [
        ("XOAUTH2", False),
        ("XOAUTH2", True),
    ]


async def test_imap_authenticate_cancel_and_sasl_ir_rules(ca: LabCA) -> None:
    caps = tuple(c for c in IMAP_CAPABILITIES if c != "SASL-IR")
    async with serving(imap(ca, capabilities=caps)) as srv, Raw.to(srv, ca.client_context()) as raw:
        await raw.line()
        assert await raw.ask("a1 AUTHENTICATE PLAIN") == [b"+ "]
        assert await raw.ask("*", "a1") == [b"a1 BAD Authentication aborted by client."]
        ir = await raw.ask(f"a2 AUTHENTICATE PLAIN {plain_b64(LAB_USER, LAB_PASSWORD)}", "a2")
        assert ir[0].startswith(b"a2 BAD ")
    assert srv.credentials_seen() == []


async def test_imap_id_noop_capability_logout_and_state(ca: LabCA) -> None:
    async with (
        serving(imap(ca, mailboxes=("INBOX", "Sent Items"))) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        await raw.line()
        capability = await raw.ask("a1 CAPABILITY", "a1")
        assert capability == [
            b"* CAPABILITY " + " ".join(IMAP_CAPABILITIES).encode(),
            b"a1 OK Capability completed.",
        ]
        assert (await raw.ask('a2 ID ("name" "probe" "version" "1")', "a2"))[-1] == (
            b"a2 OK ID completed."
        )
        assert (await raw.ask('a3 ID ("name")', "a3"))[-1].startswith(b"a3 BAD ")
        await raw.ask(f'a4 LOGIN {LAB_USER} "{LAB_PASSWORD}"', "a4")
        assert (await raw.ask("a5 LOGIN x y", "a5"))[-1].startswith(b"a5 BAD Command LOGIN")
        listed = await raw.ask('a6 LIST "" "*"', "a6")
        assert listed[:2] == [
            b'* LIST (\\HasNoChildren) "/" INBOX',
            b'* LIST (\\HasNoChildren) "/" "Sent Items"',
        ]
        selected = await raw.ask('a7 SELECT "Sent Items"', "a7")
        assert b"* 0 EXISTS" in selected and selected[-1] == b"a7 OK [READ-WRITE] Select completed."
        assert await raw.ask("a8 SELECT Nope", "a8") == [
            b"a8 NO [NONEXISTENT] Mailbox doesn't exist: Nope"
        ]
        assert await raw.ask("i1 IDLE") == [b"+ idling"]
        assert await raw.ask("DONE", "i1") == [b"i1 OK Idle completed."]
        assert await raw.ask("a9 LOGOUT", "a9") == [
            b"* BYE Logging out",
            b"a9 OK Logout completed.",
        ]
        assert await raw.eof()


async def test_imap_starttls_discards_pipelined_plaintext(ca: LabCA) -> None:
    async with serving(imap(ca, security=Security.STARTTLS)) as srv, Raw.to(srv) as raw:
        await raw.line()
        await raw.send(b"a1 STARTTLS\r\na2 LOGIN injected command\r\n")
        assert await raw.line() == b"a1 OK Begin TLS negotiation now."
        await raw.starttls(ca.client_context())
        assert await raw.ask("a3 NOOP", "a3") == [b"a3 OK NOOP completed."]
    assert srv.credentials_seen() == []


async def test_imap_wrong_service_greetings(ca: LabCA) -> None:
    async with (
        serving(imap(ca, greeting="220 smtp.lab.test ESMTP Postfix")) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        assert await raw.line() == b"220 smtp.lab.test ESMTP Postfix"
        assert await raw.ask("a1 CAPABILITY") == [b"500 5.5.2 Error: command not recognized"]
    async with (
        serving(imap(ca, greeting="* BYE Too many connections")) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        assert await raw.line() == b"* BYE Too many connections"
        assert await raw.eof()


async def test_derived_passwords_and_delay(ca: LabCA) -> None:
    scenario = ImapScenario(users={}, password_of=derived_password, delay_ms=60)
    async with (
        serving(LabImapServer(scenario, ca=ca)) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        started = time.perf_counter()
        await raw.line()
        assert time.perf_counter() - started >= 0.05
        user = "u123@bench.test"
        ok = await raw.ask(f'a1 LOGIN {user} "{derived_password(user)}"', "a1")
        assert ok == [b"a1 OK Logged in"]


# ---- hostile behaviour -------------------------------------------------------------------------


async def test_hostile_silent_greeting_sends_nothing(ca: LabCA) -> None:
    async with (
        serving(imap(ca, hostile=Hostile(action="silent"))) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        await srv.wait_until(lambda s: s.connections_current == 1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await raw.reader.read(1)
        await raw.send(b"a1 CAPABILITY\r\n")
        await srv.wait_until(lambda s: s.lines() == [b"a1 CAPABILITY"])


async def test_hostile_close_at_auth_drops_the_connection(ca: LabCA) -> None:
    async with (
        serving(imap(ca, hostile=Hostile(action="close", at="auth"))) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        await raw.line()
        assert (await raw.ask("a1 CAPABILITY", "a1"))[-1] == b"a1 OK Capability completed."
        await raw.send(f'a2 LOGIN {LAB_USER} "{LAB_PASSWORD}"\r\n')
        assert await raw.eof()
    assert srv.credentials_seen() == []


async def test_hostile_reset_at_greeting(ca: LabCA) -> None:
    scenario = dict(security=Security.NONE, hostile=Hostile(action="reset"))
    async with serving(smtp(ca, **scenario)) as srv, Raw.to(srv) as raw:
        with pytest.raises(ConnectionResetError):
            await raw.line()


async def test_hostile_drip_sends_one_byte_at_a_time(ca: LabCA) -> None:
    async with (
        serving(smtp(ca, hostile=Hostile(action="drip", drip_ms=15, at="ehlo"))) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        assert await raw.line() == b"220 lab.test ESMTP mailconsole lab"
        await raw.send(b"EHLO probe\r\n")
        started = time.perf_counter()
        chunks = [await raw.reader.read(100) for _ in range(4)]
        assert chunks == [b"2", b"5", b"0", b"-"]
        assert time.perf_counter() - started >= 0.04


async def test_drip_through_starttls_is_slow_but_correct(ca: LabCA) -> None:
    hostile = Hostile(action="drip", drip_ms=1, at="starttls")
    async with serving(smtp(ca, security=Security.STARTTLS, hostile=hostile)) as srv:
        client = aiosmtplib.SMTP(
            hostname="localhost", port=srv.port, tls_context=ca.client_context()
        )
        async with client:
            assert (await client.login(LAB_USER, LAB_PASSWORD)).code == 235
    assert srv.logins_accepted == 1


async def test_hostile_garbage_then_close(ca: LabCA) -> None:
    hostile = Hostile(action="garbage", at="capability", close_after=True)
    async with serving(imap(ca, hostile=hostile)) as srv, Raw.to(srv, ca.client_context()) as raw:
        await raw.line()
        await raw.send(b"a1 CAPABILITY\r\n")
        async with asyncio.timeout(5):
            assert await raw.reader.read() == DEFAULT_GARBAGE


async def test_hostile_long_line_never_ends_a_line(ca: LabCA) -> None:
    hostile = Hostile(action="long_line", at="greeting", long_line_bytes=1 << 20)
    async with serving(imap(ca, hostile=hostile)) as srv, Raw.to(srv, ca.client_context()) as raw:
        async with asyncio.timeout(5):
            data = await raw.reader.readexactly(1 << 20)
        assert b"\n" not in data and set(data) == {ord("x")}


async def test_hostile_silent_tls_handshake(ca: LabCA) -> None:
    async with serving(imap(ca, hostile=Hostile(action="silent", at="tls"))) as srv:
        with pytest.raises(ConnectionAbortedError, match="SSL handshake is taking longer"):
            await asyncio.open_connection(
                srv.host,
                srv.port,
                ssl=ca.client_context(),
                server_hostname="localhost",
                ssl_handshake_timeout=0.2,
            )


# ---- certificates ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(VERIFY_CODES))
async def test_bad_certificates_fail_verification(ca: LabCA, kind: CertKind) -> None:
    async with serving(imap(ca, cert=kind)) as srv:
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            await asyncio.open_connection(
                srv.host, srv.port, ssl=ca.client_context(), server_hostname="localhost"
            )
        assert caught.value.verify_code == VERIFY_CODES[kind][0]
        await srv.wait_until(lambda s: s.connections_current == 0)


async def test_wrong_host_by_ip_and_good_cert_via_ca_file(ca: LabCA) -> None:
    async with serving(smtp(ca, cert=CertKind.WRONG_HOST)) as srv:
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            await asyncio.open_connection(srv.host, srv.port, ssl=ca.client_context())
        assert caught.value.verify_code == 64
    assert ca.ca_file.read_bytes() == ca.ca_pem
    assert ca.server_context() is ca.server_context(CertKind.GOOD)
    ctx = ssl.create_default_context(cafile=str(ca.ca_file))
    async with serving(smtp(ca)) as srv, Raw.to(srv, ctx, host="127.0.0.1") as raw:
        assert (await raw.line()).startswith(b"220 ")


# ---- SMTP --------------------------------------------------------------------------------------


async def test_smtp_implicit_tls_and_starttls_logins(ca: LabCA) -> None:
    async with serving(smtp(ca)) as srv:
        client = aiosmtplib.SMTP(
            hostname="localhost", port=srv.port, use_tls=True, tls_context=ca.client_context()
        )
        async with client:
            assert (await client.login(ODD_USER, ODD_PASSWORD)).code == 235
    async with serving(smtp(ca, security=Security.STARTTLS)) as srv:
        client = aiosmtplib.SMTP(
            hostname="localhost", port=srv.port, tls_context=ca.client_context()
        )
        async with client:
            assert (await client.login(LAB_USER, LAB_PASSWORD)).code == 235
            assert client.supports_extension("auth")
        assert [(c.tls, c.accepted) for c in srv.credentials_seen()] == [(True, True)]
        assert not srv.saw_auth_before_tls()
        assert srv.lines()[:2] == [b"EHLO localhost", b"STARTTLS"]


async def test_smtp_auth_login_and_plain_continuation(ca: LabCA) -> None:
    async with serving(smtp(ca, extensions=("AUTH LOGIN",))) as srv:

        def login() -> int:
            with smtplib.SMTP_SSL("localhost", srv.port, context=ca.client_context()) as m:
                return m.login(LAB_USER, LAB_PASSWORD)[0]  # smtplib's LOGIN is ASCII-only

        assert await asyncio.to_thread(login) == 235
        async with Raw.to(srv, ca.client_context()) as raw:
            await raw.line()
            await raw.smtp("EHLO probe")
            assert await raw.smtp("AUTH PLAIN") == [b"504 5.5.4 Unrecognized authentication type"]
            assert await raw.smtp("AUTH LOGIN") == [b"334 VXNlcm5hbWU6"]
            assert await raw.smtp("*") == [b"501 5.7.0 Authentication aborted"]
    async with serving(smtp(ca)) as srv, Raw.to(srv, ca.client_context()) as raw:
        await raw.line()
        await raw.smtp("EHLO probe")
        assert await raw.smtp("AUTH PLAIN") == [b"334 "]
        assert await raw.smtp(plain_b64(ODD_USER, ODD_PASSWORD)) == [
            b"235 2.7.0 Authentication successful"
        ]
        assert await raw.smtp("AUTH PLAIN") == [b"503 5.5.1 Error: already authenticated"]
    assert [c.secret for c in srv.credentials_seen()] == [ODD_PASSWORD]


async def test_smtp_login_mechanism_records_odd_password(ca: LabCA) -> None:
    async with serving(smtp(ca, extensions=("AUTH LOGIN",))) as srv:
        client = aiosmtplib.SMTP(
            hostname="localhost", port=srv.port, use_tls=True, tls_context=ca.client_context()
        )
        async with client:
            await client.ehlo()
            assert (await client.auth_login(ODD_USER, ODD_PASSWORD)).code == 235
    assert [(c.mechanism, c.secret) for c in srv.credentials_seen()] == [("LOGIN", ODD_PASSWORD)]


async def test_smtp_auth_before_starttls_gets_530_and_is_recorded(ca: LabCA) -> None:
    async with serving(smtp(ca, security=Security.STARTTLS)) as srv, Raw.to(srv) as raw:
        await raw.line()
        ehlo = await raw.smtp("EHLO probe")
        assert b"250 STARTTLS" in ehlo and not any(b"AUTH" in line for line in ehlo)
        refused = await raw.smtp(f"AUTH PLAIN {plain_b64(LAB_USER, LAB_PASSWORD)}")
        assert refused == [b"530 5.7.0 Must issue a STARTTLS command first."]
    assert srv.saw_auth_before_tls()
    assert [(c.tls, c.accepted) for c in srv.credentials_seen()] == [(False, False)]


@pytest.mark.parametrize(
    "reply",
    [
        GMAIL_BAD_CREDENTIALS,
        "534-5.7.9 Application-specific password required. For more information, go to\n"
        "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor lab - gsmtp",
        "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [AM0PR01]",
        "454 4.7.0 Temporary authentication failure",
    ],
)
async def test_smtp_scripted_auth_replies_verbatim(ca: LabCA, reply: str) -> None:
    async with serving(smtp(ca, auth_reply=reply)) as srv:
        client = aiosmtplib.SMTP(
            hostname="localhost", port=srv.port, use_tls=True, tls_context=ca.client_context()
        )
        async with client:
            with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
                await client.login(LAB_USER, LAB_PASSWORD)
        assert caught.value.code == int(reply[:3])
        assert caught.value.message.splitlines() == [line[4:] for line in reply.split("\n")]


async def test_smtp_421_closes_and_xoauth2_challenge(ca: LabCA) -> None:
    async with (
        serving(smtp(ca, auth_reply="421 4.7.0 Too many connections")) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        await raw.line()
        await raw.smtp("EHLO probe")
        assert await raw.smtp(f"AUTH PLAIN {plain_b64(LAB_USER, 'x')}") == [
            b"421 4.7.0 Too many connections"
        ]
        assert await raw.eof()
    extensions = ("AUTH PLAIN LOGIN XOAUTH2",)
    async with (
        serving(smtp(ca, extensions=extensions)) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        await raw.line()
        await raw.smtp("EHLO probe")
        sasl = base64.b64encode(f"user={LAB_USER}\1auth=Bearer stale\1\1".encode()).decode()
        challenge = await raw.smtp(f"AUTH XOAUTH2 {sasl}")
        assert challenge == [b"334 " + base64.b64encode(GMAIL_XOAUTH2_CHALLENGE.encode())]
        assert await raw.smtp("") == [line.encode() for line in GMAIL_BAD_CREDENTIALS.split("\n")]


async def test_smtp_sequence_and_unknown_commands(ca: LabCA) -> None:
    async with serving(smtp(ca, security=Security.NONE)) as srv, Raw.to(srv) as raw:
        await raw.line()
        assert await raw.smtp("AUTH PLAIN") == [b"503 5.5.1 Error: send EHLO first"]
        assert await raw.smtp("STARTTLS") == [b"503 5.5.1 Error: send EHLO first"]
        assert await raw.smtp("FROB") == [b"500 5.5.2 Error: command not recognized"]
        assert (await raw.smtp("EHLO"))[0].startswith(b"501 ")
        assert (await raw.smtp("EHLO probe"))[-1] == b"250 SMTPUTF8"
        assert await raw.smtp("STARTTLS") == [b"502 5.5.1 Error: command not implemented"]
        assert (await raw.smtp("MAIL FROM:<a@b>"))[0].startswith(b"502 ")
        assert await raw.smtp("RSET") == [b"250 2.0.0 Ok"]
        assert await raw.smtp("NOOP") == [b"250 2.0.0 Ok"]
        assert await raw.smtp("QUIT") == [b"221 2.0.0 Bye"]
        assert await raw.eof()


async def test_smtp_refusing_banner_and_wrong_service(ca: LabCA) -> None:
    async with (
        serving(smtp(ca, banner="554 5.7.1 No SMTP service here")) as srv,
        Raw.to(srv, ca.client_context()) as raw,
    ):
        assert await raw.line() == b"554 5.7.1 No SMTP service here"
        assert await raw.smtp("EHLO probe") == [b"503 5.5.1 Error: bad sequence of commands"]
        assert await raw.smtp("QUIT") == [b"221 2.0.0 Bye"]
    async with serving(smtp(ca, banner="* OK [CAPABILITY IMAP4rev1] Dovecot ready.")) as srv:
        client = aiosmtplib.SMTP(
            hostname="localhost",
            port=srv.port,
            use_tls=True,
            tls_context=ca.client_context(),
            timeout=5,
        )
        with pytest.raises(aiosmtplib.SMTPResponseException, match="Malformed SMTP response"):
            await client.connect()
        client.close()


# ---- counters, stop, Lab -----------------------------------------------------------------------


async def test_max_concurrency_counts_parallel_clients(ca: LabCA) -> None:
    async with serving(imap(ca, delay_ms=5)) as srv:
        limit = asyncio.Semaphore(3)

        async def check() -> None:
            async with limit, Raw.to(srv, ca.client_context()) as raw:
                await raw.line()
                await raw.ask(f'a1 LOGIN {LAB_USER} "{LAB_PASSWORD}"', "a1")
                await raw.ask("a2 LOGOUT", "a2")
                await raw.eof()

        await asyncio.gather(*(check() for _ in range(12)))
        assert (srv.connections_total, srv.max_concurrent, srv.logins_accepted) == (12, 3, 12)
        async with Raw.to(srv, ca.client_context()) as one, Raw.to(srv, ca.client_context()):
            await one.line()
            await srv.wait_until(lambda s: s.connections_current == 2)
        await srv.wait_until(lambda s: s.connections_current == 0)


@pytest.mark.parametrize(
    "hostile",
    [Hostile(action="silent"), Hostile(action="drip", drip_ms=50), Hostile(action="long_line")],
)
async def test_stop_with_stuck_clients_leaves_nothing_behind(ca: LabCA, hostile: Hostile) -> None:
    srv = await imap(ca, hostile=hostile).start()
    async with Raw.to(srv, ca.client_context()) as a, Raw.to(srv, ca.client_context()) as b:
        await srv.wait_until(lambda s: s.connections_current == 2)
        started = time.perf_counter()
        await srv.stop()
        assert time.perf_counter() - started < 1.0
        for raw in (a, b):  # the server hung up: EOF or a reset, never a hang
            with suppress(ConnectionResetError):
                async with asyncio.timeout(5):
                    while await raw.reader.read(1 << 16):
                        pass
            assert raw.reader.at_eof() or raw.reader.exception() is not None
    assert not srv.running and srv.connections_current == 0 and srv.errors == []
    assert asyncio.all_tasks() == {asyncio.current_task()}
    gc.collect()  # an unclosed socket or transport would raise ResourceWarning -> error
    with pytest.raises(OSError):
        await asyncio.open_connection(srv.host, srv.port)


async def test_lab_starts_many_servers_and_stops_them() -> None:
    async with Lab() as lab:
        servers = await lab.start_all(
            [ImapScenario(), SmtpScenario(security=Security.STARTTLS), ImapScenario(name="x")]
        )
        assert [type(s) for s in servers] == [LabImapServer, LabSmtpServer, LabImapServer]
        assert len({s.port for s in servers}) == 3
        ca_file = lab.ca.ca_file
        async with Raw.to(servers[1]) as raw:
            assert (await raw.line()).startswith(b"220 ")
        assert ca_file.exists()
    assert not ca_file.exists()
    assert not any(s.running for s in servers)
    assert replace(ImapScenario(), messages=3).messages == 3
