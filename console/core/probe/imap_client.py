"""A bounded aioimaplib session over a socket we connected ourselves.

aioimaplib (the project's IMAP library) can hang on hostile servers, has no STARTTLS and no
AUTHENTICATE PLAIN, logs secrets at DEBUG and never closes its transport (research
library-facts section 1). This wrapper keeps its protocol parser and command machinery and adds:
a failure future that wakes every wait (server closed, flood, garbage), our own greeting check,
line and byte caps, SASL continuations, STARTTLS, redacted transcript and logs, and a close that
always releases the socket. Every wait here is bounded by the caller's stage deadline; nothing
takes aioimaplib's state lock, so cancellation always works.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from aioimaplib import aioimaplib

from console.core.probe.flow import SocketSession
from console.core.probe.numbers import server_count
from console.core.probe.steps import (
    ProtocolViolation,
    ServerClosed,
    StageFailure,
    Transcript,
)
from console.core.redact import REDACTED, Redactor

MAX_LINE_BYTES = 64 * 1024
"""Longest line we wait for; a server that sends more without CRLF is broken or hostile."""
MAX_SESSION_BYTES = 4 * 1024 * 1024
"""Everything a probe session may receive; a check needs a few kilobytes."""

T = TypeVar("T")
Response = Any  # aioimaplib.Response: namedtuple(result: str, lines: list[bytes])

_LIBRARY_LOGGER = "aioimaplib.aioimaplib"
_CAPABILITY_CODE = re.compile(r"\[CAPABILITY ([^\]]*)\]", re.I)
_CREDENTIAL_COMMAND = re.compile(r"\b([A-Za-z0-9]+ (?:LOGIN|AUTHENTICATE)) .*", re.S)
"""A command carrying credentials, in a log message: everything after the verb goes."""


# -- logging: aioimaplib must never print a secret ----------------------------------------------


class _RedactingFilter(logging.Filter):
    """Rewrites aioimaplib's log records: credential command arguments and live secrets."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[int, list[str]] = {}
        """Live secrets per session. Kept raw: their encodings are worked out only when a record
        is logged (aioimaplib's debug logging is off unless a user turns it on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: drop it rather than risk printing arguments
            return False
        redacted = _CREDENTIAL_COMMAND.sub(rf"\1 {REDACTED}", message)
        redacted = Redactor(s for live in list(self.secrets.values()) for s in live)(redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = _RedactingFilter()
logging.getLogger(_LIBRARY_LOGGER).addFilter(_FILTER)


# -- the protocol -----------------------------------------------------------------------------


class _ProbeProtocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's parser with bounded input, a failure future and our own greeting handling."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transcript: Transcript) -> None:
        super().__init__(loop)
        self.transcript = transcript
        self.failure: asyncio.Future[BaseException] = loop.create_future()
        self.greeting: asyncio.Future[bytes] = loop.create_future()
        self.last_bye: str | None = None
        self.received = 0
        self.pipeline: deque[aioimaplib.Command] = deque()
        """Commands written together and not yet answered, oldest first (`send_commands`)."""

    # transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # Hold input until the caller decides between TLS and plaintext: a plaintext greeting
        # read here would be lost to a TLS handshake started next (no "wrong version" then).
        transport.pause_reading()  # type: ignore[attr-defined]

    def data_received(self, d: bytes) -> None:
        self.received += len(d)
        if self.received > MAX_SESSION_BYTES:
            return self._violation(f"the server sent more than {MAX_SESSION_BYTES} bytes")
        if len(self.incomplete_line) + len(d) > MAX_LINE_BYTES and b"\r\n" not in d:
            return self._too_long()
        try:
            super().data_received(d)
        except Exception as exc:  # aioimaplib raises on unexpected tagged lines (and recursion)
            return self._violation(f"unexpected data from the server ({type(exc).__name__})")
        if len(self.incomplete_line) > MAX_LINE_BYTES:
            self._too_long()

    def _too_long(self) -> None:
        self._violation(f"the server sent a line longer than {MAX_LINE_BYTES} bytes without CRLF")

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        text = self.last_bye or "the server closed the connection"
        if exc is not None and not self.last_bye:
            text = f"{text}: {exc}"
        self._fail(ServerClosed(text))

    # parsing hooks

    def _handle_responses(self, data: bytes, line_handler: Any, current_cmd: Any = None) -> None:
        """aioimaplib's response loop, iterative: the library recurses once per line, so ~950
        lines in one read raised RecursionError. Same steps in the same order (pinned by
        tests/test_imap_numbers.py), plus a bound on literal sizes."""
        while True:
            if not data:
                if self.pending_sync_command is not None:
                    self.pending_sync_command.flush()
                if current_cmd is not None and current_cmd.wait_data():
                    raise aioimaplib.IncompleteRead(current_cmd)
                return
            if current_cmd is not None and current_cmd.wait_literal_data():
                data = current_cmd.append_literal_data(data)
                if current_cmd.wait_literal_data():
                    raise aioimaplib.IncompleteRead(current_cmd)
            line, separator, tail = data.partition(b"\r\n")
            if not separator:
                raise aioimaplib.IncompleteRead(current_cmd, data)
            cmd = line_handler(line, current_cmd)
            begin_literal = aioimaplib.literal_data_re.match(line)
            if begin_literal:
                size = server_count(begin_literal.group("size").decode("ascii"))
                if size is None or size > MAX_SESSION_BYTES:
                    raise ProtocolViolation("the server announced an impossibly large literal")
                if cmd is None:
                    cmd = aioimaplib.Command("NIL", "unused")
                cmd.begin_literal_data(size)
                data, current_cmd = tail, cmd
            elif cmd is not None and cmd.wait_data():
                data, current_cmd = tail, cmd
            else:
                data, current_cmd = tail, None

    def _handle_line(self, line: bytes, current_cmd: Any) -> Any:
        self.transcript.server(_text(line))
        if line.startswith(b"* BYE"):
            self.last_bye = _text(line[5:].strip()) or "BYE"
        if self.state == aioimaplib.CONNECTED:
            if not self.greeting.done():
                self.greeting.set_result(line)
            return None
        if line and current_cmd is None and not _is_imap(line):
            # aioimaplib would log and ignore it, and the command would wait for its deadline
            self._violation(f"the server sent a line that is not IMAP: {_text(line)[:200]}")
            return None
        return super()._handle_line(line, current_cmd)

    def _untagged_response(self, line: bytes) -> Any:
        """Untagged data belongs to the oldest unanswered pipelined command (servers answer in
        order); outside a pipeline aioimaplib routes it."""
        if not self.pipeline:
            return super()._untagged_response(line)
        head = self.pipeline[0]
        head.append_to_resp(line[2:] if line.startswith(b"* ") else line)
        return head

    def _response_done(self, line: bytes) -> None:
        """A tagged status completes the pipelined command with that tag, wherever it stands."""
        if not self.pipeline:
            super()._response_done(line)
            return
        tag, _, status = line.partition(b" ")
        for command in self.pipeline:
            if command.tag.encode() == tag:
                self.pipeline.remove(command)
                result, _, text = status.partition(b" ")
                command.close(text, result=result.decode("ascii", "replace").upper())
                return
        raise aioimaplib.Abort(f"unexpected tagged response: {_text(line)[:200]}")

    def _continuation(self, line: bytes) -> None:
        command = self.pending_sync_command
        if command is None or command.name != "AUTHENTICATE":
            super()._continuation(line)
            return
        pending: list[bytes] = getattr(command, "sasl_responses", [])
        if pending:
            answer = pending.pop(0)
            self.transcript.client(REDACTED)
        else:
            # An unexpected challenge: XOAUTH2 reports its error this way and wants an empty
            # line back (then answers NO); for anything else "*" cancels the exchange.
            answer = getattr(command, "sasl_final", b"*")
            self.transcript.client(answer.decode("ascii"))
        self.transport.write(answer + b"\r\n")

    def send(self, line: str, scrub: str | None = None) -> None:
        self.transcript.client(_shown(line))
        self.transport.write(f"{line}\r\n".encode())

    # failures

    def _violation(self, text: str) -> None:
        self._fail(ProtocolViolation(text))
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: BaseException) -> None:
        if not self.failure.done():
            self.failure.set_result(exc)


def _shown(line: str) -> str:
    """A command line as the transcript shows it: credential arguments replaced."""
    tag, _, rest = line.partition(" ")
    verb, _, args = rest.partition(" ")
    if verb.upper() == "LOGIN":
        return f"{tag} {verb} {REDACTED}"
    if verb.upper() == "AUTHENTICATE":
        mechanism = args.split(" ", 1)[0]
        return f"{tag} {verb} {mechanism} {REDACTED}" if " " in args else f"{tag} {verb} {args}"
    return line


def _is_imap(line: bytes) -> bool:
    """Untagged (`*`), continuation (`+`) or a tagged status: what a response line can be."""
    return line.startswith((b"*", b"+")) or bool(aioimaplib.tagged_status_response_re.match(line))


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


# -- the session ------------------------------------------------------------------------------


class ImapSession(SocketSession):
    """One probe connection: attach a socket, talk IMAP with bounded waits, always close."""

    protocol: _ProbeProtocol

    def __init__(self, transcript: Transcript) -> None:
        super().__init__(_ProbeProtocol(asyncio.get_running_loop(), transcript))
        self.transcript = transcript
        self._filter_key = id(self)

    @property
    def capabilities(self) -> set[str]:
        caps: set[str] = self.protocol.capabilities
        return caps

    @property
    def encrypted(self) -> bool:
        return self.tls_transport is not None

    def protect(self, secret: str) -> None:
        """Keep `secret` (and its encodings) out of aioimaplib's log records."""
        _FILTER.secrets.setdefault(self._filter_key, []).append(secret)

    async def greeting(self) -> bytes:
        """The server's first line; reading starts here."""
        assert self.protocol.transport is not None
        self.protocol.transport.resume_reading()
        return await self.bounded(self.protocol.greeting)

    def accept_greeting(self, preauth: bool) -> None:
        self.protocol.state = aioimaplib.AUTH if preauth else aioimaplib.NONAUTH

    async def bounded(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless the connection fails first; the stage deadline bounds both.

        No task per command: a failure of the connection cancels the waiting task itself, and
        that cancellation is turned back into the failure here (other cancellations, the stage
        deadline's included, pass through untouched).
        """
        failure: asyncio.Future[BaseException] = self.protocol.failure
        if failure.done():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise self._failure_error(failure.result())
        task = asyncio.current_task()
        assert task is not None
        waiting, woken = True, False

        def wake(_: object) -> None:
            nonlocal woken
            if waiting:  # scheduled before, run after the wait ended: nothing to wake
                woken = True
                task.cancel()

        failure.add_done_callback(wake)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not woken:
                raise
            task.uncancel()
            raise self._failure_error(failure.result()) from None
        finally:
            waiting = False
            failure.remove_done_callback(wake)

    def _failure_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, ServerClosed) and self.protocol.last_bye:
            # "* BYE <reason>" then close: the reason is the server's answer, verbatim
            return StageFailure(self.protocol.last_bye)
        return exc

    async def command(self, name: str, *args: str, untagged: str | None = None) -> Response:
        proto = self.protocol
        cmd = aioimaplib.Command(
            name, proto.new_tag(), *args, untagged_resp_name=untagged, loop=self._loop
        )
        return await self.bounded(proto.execute(cmd))

    def send_commands(self, *commands: tuple[str, ...]) -> list[aioimaplib.Command]:
        """Write several commands in one go (pipelining, RFC 9051 5.5); answers come in order.

        Each `(name, *args)` becomes a command whose response is collected on its own, so each
        keeps its own result and text; await them with `answer`.
        """
        proto = self.protocol
        if proto.pending_sync_command is not None or proto.pending_async_commands:
            raise AssertionError("pipelining while aioimaplib waits for a command")
        sent = [
            aioimaplib.Command(name, proto.new_tag(), *args, loop=self._loop)
            for name, *args in commands
        ]
        proto.pipeline.extend(sent)
        lines = [str(command) for command in sent]
        for line in lines:
            self.transcript.client(_shown(line))
        assert proto.transport is not None
        proto.transport.write("".join(f"{line}\r\n" for line in lines).encode())
        return sent

    async def answer(self, command: aioimaplib.Command) -> Response:
        """The response to a command written by `send_commands`."""
        await self.bounded(command.wait())
        return command.response

    def capabilities_from(self, text: str) -> bool:
        """Take the list from a `[CAPABILITY ...]` response code (greeting, login answer)."""
        match = _CAPABILITY_CODE.search(text)
        if match is None:
            return False
        self.protocol.capabilities = set(match.group(1).split())
        return True

    async def capability(self) -> set[str]:
        """Ask CAPABILITY and remember the answer (aioimaplib's own version can hang)."""
        response = await self.command("CAPABILITY")
        if response.result != "OK":
            raise ProtocolViolation(_last_text(response) or "CAPABILITY was refused")
        untagged = [bytes(line) for line in response.lines[:-1]]
        caps = set(b" ".join(untagged).decode("utf-8", "replace").split())
        self.protocol.capabilities = caps
        return caps

    def update_capabilities(self, response: Response) -> bool:
        """Take a new list from a login answer (servers announce more after login); True when
        the answer carried one (RFC 9051 6.2: a server SHOULD, and most do)."""
        found = self.capabilities_from(_last_text(response))
        for line in untagged_text(response):
            if line.upper().startswith("CAPABILITY "):
                self.protocol.capabilities = set(line.split()[1:])
                found = True
        return found

    async def starttls(self, context: ssl.SSLContext, server_hostname: str) -> Response:
        response = await self.command("STARTTLS")
        if response.result == "OK":
            await self.start_tls(context, server_hostname)
        return response

    async def authenticate(
        self, mechanism: str, payload: bytes, *, initial_response: bool, final: bytes = b"*"
    ) -> Response:
        """AUTHENTICATE with SASL-IR when allowed, else answering the `+` continuation."""
        proto = self.protocol
        encoded = base64.b64encode(payload).decode("ascii")
        self.protect(encoded)
        args = (mechanism, encoded) if initial_response else (mechanism,)
        cmd = aioimaplib.Command("AUTHENTICATE", proto.new_tag(), *args, loop=self._loop)
        cmd.sasl_responses = [] if initial_response else [encoded.encode("ascii")]
        cmd.sasl_final = final
        response = await self.bounded(proto.execute(cmd))
        if response.result == "OK":
            proto.state = aioimaplib.AUTH
        return response

    async def login(self, username: str, password: str) -> Response:
        """LOGIN with both arguments as quoted strings (aioimaplib quotes only the password)."""
        quoted_user, quoted_password = aioimaplib.quoted(username), aioimaplib.quoted(password)
        self.protect(quoted_password)
        response = await self.command("LOGIN", quoted_user, quoted_password)
        if response.result == "OK":
            self.protocol.state = aioimaplib.AUTH
        return response

    def logout_nowait(self) -> bool:
        """Write LOGOUT and do not wait for the answer: the check's result does not depend on
        it, and the close that follows is ours. False when the connection is already gone."""
        transport = self.protocol.transport
        if transport is None or transport.is_closing() or self.protocol.failure.done():
            return False
        proto = self.protocol
        if proto.pending_sync_command is None and not proto.pending_async_commands:
            self.send_commands(("LOGOUT",))  # an answer that comes before the close is routed
        else:  # the reply canary left a command unanswered (IDLE after a deadline)
            proto.send(f"{proto.new_tag()} LOGOUT")
        proto.state = aioimaplib.LOGOUT
        return True

    async def aclose(self) -> None:
        """Close TLS and raw transports; the socket is really closed when this returns."""
        _FILTER.secrets.pop(self._filter_key, None)
        await self.close_transports()
        if not self.protocol.failure.done():
            self.protocol.failure.set_result(ServerClosed("closed"))


def _last_text(response: Response) -> str:
    lines: Iterable[bytes] = response.lines or [b""]
    return _text(bytes(list(lines)[-1]))


def untagged_text(response: Response) -> list[str]:
    """The untagged lines of a response, decoded (the last line is the tagged text)."""
    lines = response.lines[:-1]
    return [_text(bytes(line)) for line in lines if isinstance(line, bytes | bytearray)]


def tagged_text(response: Response) -> str:
    return _last_text(response)


def encode_mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            encoded = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{encoded}-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return str(aioimaplib.quoted("".join(out)))
