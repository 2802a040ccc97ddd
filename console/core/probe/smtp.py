"""The SMTP check ladder: dns, connect, tls, greeting, ehlo, starttls, auth, quit. No mail is sent.

Built on aiosmtplib's `SMTPProtocol` (reply parsing with line and size limits, STARTTLS with
the injection defence) over a socket we connected ourselves, so dns, connect, tls and greeting
are separate, separately timed stages. Credentials never cross plaintext unless the account
says `security = "none"`.

Round trips (docs/round-trips.md): AUTH PLAIN carries its initial response (RFC 4954) when the
server offered PLAIN, so a login is one turn; a server that refuses the initial response (501,
or a 334 asking for it again) gets the classic exchange. QUIT is written and not waited for.
Over implicit TLS that is four turns: the TLS handshake, the banner, EHLO, AUTH.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections.abc import Awaitable, Callable

from aiosmtplib.auth import auth_crammd5_verify, auth_login_encode
from aiosmtplib.errors import SMTPException, SMTPResponseException
from aiosmtplib.esmtp import parse_esmtp_extensions
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse

from console.core.model import AuthMethod, Cause, CheckResult, Protocol, Security, ServerSettings
from console.core.model import Stage as S
from console.core.probe.flow import SocketSession, connect, record_tls, run_ladder
from console.core.probe.numbers import server_count
from console.core.probe.steps import Ladder, StageFailure
from console.core.probe.tls import client_context
from console.core.redact import REDACTED
from console.core.resolver import Resolve

_PEEK_BYTES = 512
_PASSWORD_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")  # preferred first


class _ProbeProtocol(SMTPProtocol):
    """aiosmtplib's protocol, holding input until we chose TLS and keeping the first bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.first_bytes = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.pause_reading()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if len(self.first_bytes) < _PEEK_BYTES:
            self.first_bytes += data[: _PEEK_BYTES - len(self.first_bytes)]
        super().data_received(data)


class _SmtpSession(SocketSession):
    """One probe connection: commands with transcript lines, TLS, and a close that always works."""

    protocol: _ProbeProtocol

    def __init__(self, ladder: Ladder) -> None:
        super().__init__(_ProbeProtocol(asyncio.get_running_loop()))
        self.ladder = ladder
        self.mechanisms: list[str] = []  # AUTH mechanisms offered by the last EHLO
        self.helo = ""  # the EHLO argument, for a second EHLO after STARTTLS

    async def greeting(self) -> SMTPResponse:
        transport = self.protocol.transport
        assert transport is not None
        transport.resume_reading()  # type: ignore[attr-defined]
        return self._heard(await self.protocol.read_response(timeout=None))

    async def command(self, *args: bytes, shown: str | None = None) -> SMTPResponse:
        self.ladder.transcript.client(shown if shown is not None else b" ".join(args).decode())
        try:
            return self._heard(await self.protocol.execute_command(*args, timeout=None))
        except SMTPResponseException as exc:
            raise _unparsable(exc) from None

    async def starttls(self, context: ssl.SSLContext, server_hostname: str) -> SMTPResponse:
        """STARTTLS and the handshake (aiosmtplib drops anything the server sent in between)."""
        self.ladder.transcript.client("STARTTLS")
        try:
            response = await self.protocol.start_tls(
                context, server_hostname=server_hostname, timeout=None
            )
        except SMTPResponseException as exc:
            if exc.code < 0:
                raise _unparsable(exc) from None
            raise _refused(self._heard(SMTPResponse(exc.code, exc.message))) from None
        self.tls_transport = self.protocol.transport  # type: ignore[assignment]
        return self._heard(response)

    def quit_nowait(self) -> str:
        """Write QUIT and do not wait for 221: the result does not depend on it, the close is
        ours (RFC 5321 4.1.1.10 only asks the server to answer before it closes)."""
        transport = self.protocol.transport
        if not isinstance(transport, asyncio.WriteTransport) or transport.is_closing():
            return "the server had already closed the connection"
        self.ladder.transcript.client("QUIT")
        transport.write(b"QUIT\r\n")
        return "QUIT sent; the connection is closed without waiting for the answer"

    def _heard(self, response: SMTPResponse) -> SMTPResponse:
        for line in render(response).split("\n"):
            self.ladder.transcript.server(line)
        return response


def render(response: SMTPResponse) -> str:
    """A reply as it was on the wire: `250-first` ... `250 last` (code on every line)."""
    lines = response.message.split("\n") if response.message else [""]
    last = len(lines) - 1
    return "\n".join(
        f"{response.code}{'-' if i < last else ' '}{line}".rstrip() for i, line in enumerate(lines)
    )


def _refused(response: SMTPResponse) -> StageFailure:
    return StageFailure(render(response), smtp_code=response.code)


def _unparsable(exc: SMTPResponseException) -> StageFailure:
    """aiosmtplib could not read a reply (malformed line, too long): its words, no code."""
    return StageFailure(exc.message.rstrip("\r\n"), exc=exc, cause=Cause.PROTOCOL_ERROR)


async def probe_smtp(
    settings: ServerSettings,
    secret: str | None,
    *,
    timeout: float,
    provider: str | None = None,
    on_stage: Callable[[S], None] | None = None,
    local_addr: str | None = None,
    resolve: Resolve | None = None,
    after_auth: AfterAuth | None = None,
) -> CheckResult:
    """Run the SMTP ladder against one server; every outcome is a `CheckResult`.

    `secret=None` stops before auth (no credential is sent). Only cancellation is raised, after
    the connection has been closed. `after_auth`, when given, runs on the session after a
    successful login and before QUIT (the reply canary sends its message there).
    """
    ladder = Ladder(
        Protocol.SMTP,
        settings,
        secret,
        timeout=timeout,
        provider=provider,
        on_stage=on_stage,
        resolve=resolve,
    )
    session = _SmtpSession(ladder)
    return await run_ladder(
        ladder, session, lambda: _ladder(ladder, session, secret, local_addr, after_auth)
    )


AfterAuth = Callable[[Ladder, "_SmtpSession"], Awaitable[None]]


async def _ladder(
    ladder: Ladder,
    session: _SmtpSession,
    secret: str | None,
    local_addr: str | None,
    after_auth: AfterAuth | None = None,
) -> None:
    settings = ladder.settings
    sock = await connect(ladder, session, local_addr)

    async with ladder.stage(S.GREETING) as note:
        try:
            banner = await session.greeting()
        except SMTPResponseException as exc:
            raise _not_smtp(session, exc) from None
        note.detail = render(banner)
        ladder.facts["banner"] = render(banner)
        if banner.code != 220:
            raise _refused(banner)

    here = str(sock.getsockname()[0])
    helo = f"[IPv6:{here}]" if sock.family == socket.AF_INET6 else f"[{here}]"
    session.helo = helo
    async with ladder.stage(S.EHLO) as note:
        note.detail = await _ehlo(ladder, session, helo)

    if settings.security is Security.STARTTLS:
        async with ladder.stage(S.STARTTLS) as note:
            if "STARTTLS" not in ladder.capability_names:
                raise StageFailure(
                    "the server does not offer STARTTLS (no credential was sent)",
                    cause=Cause.STARTTLS_UNAVAILABLE,
                )
            reply = await session.starttls(client_context(settings.tls_ca_file), settings.host)
            note.detail = f"{render(reply)}\n{record_tls(ladder, session)}"
            # RFC 3207: forget what was said before TLS and ask again
            note.detail += "\n" + await _ehlo(ladder, session, helo)

    if secret is not None:
        await _authenticate(ladder, session, secret)
        if after_auth is not None:
            await after_auth(ladder, session)
    else:
        ladder.transcript.note("no secret given: stopping before auth")

    async with ladder.stage(S.QUIT) as note:
        note.detail = session.quit_nowait()


async def _ehlo(ladder: Ladder, session: _SmtpSession, helo: str) -> str:
    """EHLO (HELO for old servers); the extensions it lists become facts."""
    reply = await session.command(b"EHLO", helo.encode())
    if reply.code != 250:
        fallback = await session.command(b"HELO", helo.encode())
        if fallback.code != 250:
            raise _refused(reply)
        reply = fallback
    extensions, mechanisms = parse_esmtp_extensions(reply.message)
    lines = [line.strip() for line in reply.message.split("\n")[1:] if line.strip()]
    ladder.facts["extensions"] = tuple(lines)
    ladder.capability_names = {name.upper() for name in extensions}
    session.mechanisms = [m.upper() for m in mechanisms]
    ladder.facts["auth_mechanisms"] = tuple(session.mechanisms)
    for line in lines:
        size = server_count(line[5:]) if line.upper().startswith("SIZE ") else None
        if size is not None:  # an absurdly long number is left out
            ladder.facts["size_limit"] = size
    return render(reply)


async def _authenticate(ladder: Ladder, session: _SmtpSession, secret: str) -> None:
    settings = ladder.settings
    offered = session.mechanisms
    async with ladder.stage(S.AUTH) as note:
        if session.tls_transport is None and settings.security is not Security.NONE:
            raise AssertionError("credentials would cross an unencrypted connection")
        if settings.auth is AuthMethod.OAUTH2:
            reply = await _xoauth2(ladder, session, secret)
        else:
            candidates = [m for m in _PASSWORD_MECHANISMS if m in offered] or ["PLAIN"]
            for mechanism in candidates:
                reply = await _password(ladder, session, mechanism, secret)
                if reply.code != 504:  # 504: mechanism not supported after all; try the next
                    break
        note.detail = render(reply)
        if reply.code != 235:
            if _auth_unoffered_before_tls(ladder, session, reply):
                await _look_after_starttls(ladder, session)
            raise _refused(reply)
    if session.tls_transport is None:
        ladder.warn(
            "The server accepted the password over an unencrypted connection "
            '(security = "none"): anyone on the network path can read it. Use TLS.'
        )


AUTH_AFTER_STARTTLS = "AUTH-AFTER-STARTTLS"
NO_AUTH_AFTER_STARTTLS = "NO-AUTH-AFTER-STARTTLS"
"""Evidence names for the rules (rules.toml): what a second EHLO after STARTTLS offered."""


def _auth_unoffered_before_tls(ladder: Ladder, session: _SmtpSession, reply: SMTPResponse) -> bool:
    """AUTH refused on a plain connection whose EHLO offered no AUTH but offered STARTTLS."""
    return (
        reply.code in (502, 503, 504, 530, 538)
        and session.tls_transport is None
        and "AUTH" not in ladder.capability_names
        and "STARTTLS" in ladder.capability_names
    )


async def _look_after_starttls(ladder: Ladder, session: _SmtpSession) -> None:
    """STARTTLS and a second EHLO (no credential) to learn whether AUTH is offered under TLS.

    If it is, the port wants TLS first (plaintext_disabled); if not, this port offers no login at
    all (basic_auth_disabled: another port, or ask the host). Any failure leaves the evidence as is.
    """
    before = set(ladder.capability_names)
    settings = ladder.settings
    try:
        await session.starttls(client_context(settings.tls_ca_file), settings.host)
        await _ehlo(ladder, session, session.helo)
    except (OSError, ssl.SSLError, SMTPException, StageFailure) as exc:
        ladder.transcript.note(f"could not look for AUTH after STARTTLS: {exc}")
        ladder.capability_names = before
        return
    offered = "AUTH" in ladder.capability_names
    ladder.facts["auth_after_starttls"] = offered
    ladder.transcript.note(
        "after STARTTLS the server offers AUTH" if offered else "no AUTH even after STARTTLS"
    )
    ladder.capability_names = before | {AUTH_AFTER_STARTTLS if offered else NO_AUTH_AFTER_STARTTLS}


INITIAL_RESPONSE_REFUSED = (500, 501)
"""Replies to `AUTH PLAIN <initial response>` that refuse the form, not the credentials
(a line too long, a syntax the server does not take): the classic exchange follows."""


async def _password(
    ladder: Ladder, session: _SmtpSession, mechanism: str, secret: str
) -> SMTPResponse:
    """AUTH PLAIN with its initial response when offered (one turn); otherwise the mechanism
    first and the credentials after the server's 334."""
    user = ladder.settings.username
    if mechanism == "PLAIN":
        payload = base64.b64encode(f"\0{user}\0{secret}".encode())
        ladder.add_secret(payload.decode())
        if mechanism in session.mechanisms:
            reply = await session.command(
                b"AUTH", b"PLAIN", payload, shown=f"AUTH PLAIN {REDACTED}"
            )
            if reply.code == 334:  # RFC 4954 4: an empty challenge asks for the response
                return await session.command(payload, shown=REDACTED)
            if reply.code not in INITIAL_RESPONSE_REFUSED:
                return reply
            ladder.transcript.note("the server refused the initial response: AUTH PLAIN, then 334")
    reply = await session.command(b"AUTH", mechanism.encode())
    if reply.code != 334:
        return reply
    if mechanism == "PLAIN":
        return await session.command(payload, shown=REDACTED)
    if mechanism == "LOGIN":
        encoded_user, encoded_password = auth_login_encode(user, secret)
        ladder.add_secret(encoded_password.decode())
        reply = await session.command(encoded_user)
        if reply.code != 334:
            return reply
        return await session.command(encoded_password, shown=REDACTED)
    verification = auth_crammd5_verify(user, secret, reply.message)
    return await session.command(verification, shown=REDACTED)


async def _xoauth2(ladder: Ladder, session: _SmtpSession, token: str) -> SMTPResponse:
    """XOAUTH2 in one line; an error arrives as a 334 challenge that wants an empty answer."""
    user = ladder.settings.username
    payload = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
    ladder.add_secret(payload.decode())
    reply = await session.command(b"AUTH", b"XOAUTH2", payload, shown=f"AUTH XOAUTH2 {REDACTED}")
    if reply.code == 334:
        challenge = _decode_challenge(reply.message)
        if challenge:
            ladder.transcript.note(f"XOAUTH2 error: {challenge}")
        reply = await session.command(b"", shown="")
    return reply


def _decode_challenge(text: str) -> str:
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", "replace")
    except ValueError:
        return ""


def _not_smtp(session: _SmtpSession, exc: SMTPResponseException) -> StageFailure:
    """A greeting aiosmtplib cannot parse: say what answered instead (IMAP, POP3, HTTP, noise)."""
    first = bytes(session.protocol.first_bytes)
    head = first.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    upper = head.upper()
    if upper.startswith(("* OK", "* PREAUTH", "* BYE")):
        what = "an IMAP server"
    elif upper.startswith("+OK"):
        what = "a POP3 server"
    elif upper.startswith(("HTTP/", "<")):
        what = "a web server"
    elif exc.code == -1 and "too long" in exc.message.lower():
        return _unparsable(exc)
    else:
        return StageFailure(
            f"this port does not answer with an SMTP greeting: {head}", cause=Cause.WRONG_SERVICE
        )
    return StageFailure(
        f"this port answers like {what}, not SMTP: {head}", cause=Cause.WRONG_SERVICE
    )
