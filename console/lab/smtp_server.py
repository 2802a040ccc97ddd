"""The scripted SMTP submission server: EHLO, STARTTLS, AUTH (PLAIN, LOGIN, XOAUTH2) and the replies
around them, answering whatever its `SmtpScenario` says. It never accepts mail."""

from __future__ import annotations

import base64

from console.core.model import Security
from console.lab.introspect import token_is_active
from console.lab.link import Closed, Link
from console.lab.sasl import SaslError, parse_login_part, parse_plain, parse_xoauth2, text
from console.lab.scenario import SmtpScenario
from console.lab.server import LabServer

STAGE_OF = {"EHLO": "ehlo", "HELO": "ehlo", "STARTTLS": "starttls", "AUTH": "auth", "QUIT": "quit"}
NOT_IMPLEMENTED = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "VRFY", "EXPN", "HELP", "ETRN"})
SEND_EHLO_FIRST = "503 5.5.1 Error: send EHLO first"
ABORTED = "501 5.7.0 Authentication aborted"


class _Aborted(SaslError):
    """The client answered a 334 prompt with `*`."""


def render(text: str) -> tuple[bytes, str]:
    """A scripted reply as wire bytes, plus the reply code of its last line."""
    lines = text.replace("\r\n", "\n").split("\n")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape"), lines[-1][:3]


class LabSmtpServer(LabServer[SmtpScenario]):
    """`async with LabSmtpServer(SmtpScenario(...), ca=ca) as srv:` then connect to `srv.port`."""

    too_long = b"500 5.5.2 Error: line too long\r\n"
    idle_bye = b"421 4.4.2 Error: timeout exceeded\r\n"

    async def session(self, link: Link[SmtpScenario]) -> None:
        await _SmtpSession(self, link).run()


class _SmtpSession:
    def __init__(self, server: LabSmtpServer, link: Link[SmtpScenario]) -> None:
        self.server = server
        self.link = link
        self.sc: SmtpScenario = link.scenario
        self.extensions = self.sc.plain_extensions()
        self.esmtp = False  # EHLO seen since the start (or since STARTTLS)
        self.helo = False
        self.authenticated = False
        self.mail_from: str | None = None
        self.recipients: list[str] = []

    async def reply(self, text: str) -> str:
        """Send a (scripted) reply; close after a 421 as real servers do. Returns the code."""
        data, code = render(text)
        await self.link.send(data)
        if code == "421":
            raise Closed
        return code

    async def run(self) -> None:
        link, sc = self.link, self.sc
        await link.misbehave("connect")
        if sc.security is Security.TLS:
            await link.misbehave("tls")
            await link.start_tls(self.server.ca.server_context(sc.cert))
            self.extensions = sc.extensions
        await link.misbehave("greeting")
        code = await self.reply(sc.banner)
        if sc.banner.startswith("* "):
            await self.imap_impostor()
        if not code.isdigit():
            await link.readline()
            raise Closed
        refused = code != "220"
        while True:
            line = text(await link.readline())
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            await link.misbehave(STAGE_OF.get(verb, ""), verb)
            if refused and verb != "QUIT":
                await self.reply("503 5.5.1 Error: bad sequence of commands")
                continue
            await self.dispatch(verb, arg)

    async def imap_impostor(self) -> None:
        """An IMAP server on the SMTP port: every line is a bad IMAP command."""
        while True:
            tag = text(await self.link.readline()).split(" ", 1)[0] or "*"
            await self.link.send(
                f"{tag} BAD Error in IMAP command received by server.\r\n".encode()
            )

    async def dispatch(self, verb: str, arg: str) -> None:
        scripted = self.sc.replies.get(verb)
        if scripted is not None and verb != "AUTH":
            if verb == "STARTTLS":
                self.link.hold()
            code = await self.reply(scripted)
            if verb == "QUIT":
                raise Closed
            if code.startswith("2") and verb in ("EHLO", "HELO"):
                self.esmtp, self.helo = verb == "EHLO", True
            elif code.startswith("2") and verb == "STARTTLS":
                await self.upgrade()
            elif verb == "STARTTLS":
                self.link.raw.resume_reading()
            return
        if verb == "EHLO" or verb == "HELO":
            await self.hello(verb, arg)
        elif verb == "STARTTLS":
            await self.starttls(arg)
        elif verb == "AUTH":
            await self.auth(arg)
        elif verb in ("RSET", "NOOP"):
            await self.reply("250 2.0.0 Ok")
        elif verb == "QUIT":
            await self.reply("221 2.0.0 Bye")
            raise Closed
        elif verb in ("MAIL", "RCPT", "DATA") and self.sc.mailstore is not None:
            await self.mail(verb, arg)
        elif verb in NOT_IMPLEMENTED:
            await self.reply("502 5.5.1 Error: command not implemented (the lab accepts no mail)")
        else:
            await self.reply("500 5.5.2 Error: command not recognized")

    async def hello(self, verb: str, arg: str) -> None:
        if not arg.strip():
            await self.reply(f"501 5.5.4 Syntax: {verb} hostname")
            return
        self.helo, self.esmtp = True, verb == "EHLO"
        if verb == "HELO":
            await self.reply(f"250 {self.sc.hostname}")
            return
        lines = [f"{self.sc.hostname} Hello {arg.strip()}", *self.extensions]
        body = "\n".join(f"250-{line}" for line in lines[:-1])
        await self.reply(f"{body}\n250 {lines[-1]}" if body else f"250 {lines[-1]}")

    def offers(self, keyword: str) -> list[str] | None:
        """The parameters of an advertised extension (None when it is not advertised)."""
        for extension in self.extensions:
            name, *params = extension.split()
            if name.upper() == keyword:
                return [p.upper() for p in params]
        return None

    async def starttls(self, arg: str) -> None:
        if arg:
            await self.reply("501 5.5.4 Syntax: STARTTLS")
        elif self.link.tls:
            await self.reply("503 5.5.1 Error: TLS already active")
        elif not self.helo:
            await self.reply(SEND_EHLO_FIRST)
        elif self.offers("STARTTLS") is None:
            await self.reply("502 5.5.1 Error: command not implemented")
        else:
            self.link.hold()
            await self.reply("220 2.0.0 Ready to start TLS")
            await self.upgrade()

    async def upgrade(self) -> None:
        await self.link.misbehave("tls")
        await self.link.start_tls(self.server.ca.server_context(self.sc.cert))
        self.extensions = self.sc.extensions
        self.esmtp = self.helo = self.authenticated = False

    async def auth(self, arg: str) -> None:
        self.server.auth_command(self.link)
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        mechanisms = self.offers("AUTH")
        if not self.link.tls and mechanisms is None and self.offers("STARTTLS") is not None:
            self._note_initial(mechanism, initial)
            await self.reply(self.sc.starttls_required_reply)
        elif not self.esmtp:
            await self.reply(SEND_EHLO_FIRST)
        elif self.authenticated:
            await self.reply("503 5.5.1 Error: already authenticated")
        elif mechanisms is None:
            await self.reply("503 5.5.1 Error: authentication not enabled")
        elif mechanism not in mechanisms:
            await self.reply("504 5.5.4 Unrecognized authentication type")
        else:
            try:
                await self.sasl(mechanism, initial.encode() if initial else None)
            except SaslError as exc:
                await self.reply(f"501 5.5.2 {exc}")

    def _note_initial(self, mechanism: str, initial: str) -> None:
        """A credential sent with a refused AUTH still crossed the wire: record it."""
        try:
            if mechanism == "PLAIN" and initial:
                user, secret = parse_plain(initial.encode())
                self.server.credential(self.link, mechanism, user, secret, False)
            elif mechanism == "XOAUTH2" and initial:
                user, secret = parse_xoauth2(initial.encode())
                self.server.credential(self.link, mechanism, user, secret, False)
        except SaslError:
            pass

    async def prompt(self, challenge: str) -> bytes:
        await self.link.send(f"334 {challenge}\r\n".encode())
        line = await self.link.readline()
        if line == b"*":
            raise _Aborted
        return line

    async def sasl(self, mechanism: str, initial: bytes | None) -> None:
        try:
            if mechanism == "PLAIN":
                user, secret = parse_plain(initial or await self.prompt(""))
            elif mechanism == "LOGIN":
                user = parse_login_part(initial or await self.prompt("VXNlcm5hbWU6"))
                secret = parse_login_part(await self.prompt("UGFzc3dvcmQ6"))
            elif mechanism == "XOAUTH2":
                user, secret = parse_xoauth2(initial or await self.prompt(""))
                await self.conclude_xoauth2(user, secret)
                return
            else:
                await self.reply("504 5.5.4 Mechanism not implemented by the lab")
                return
        except _Aborted:
            await self.reply(ABORTED)
            return
        good = self.sc.expected_password(user) == secret
        await self.conclude(mechanism, user, secret, good, self.sc.auth_failed_reply)

    async def conclude_xoauth2(self, user: str, token: str) -> None:
        """Gmail-style: a failure first sends a JSON challenge and waits for an empty line."""
        reply = self.sc.scripted_auth(user)
        if self.sc.token_introspection is not None:
            good = await token_is_active(self.sc.token_introspection, user, token)
        else:
            good = self.sc.tokens.get(user) == token
        failing = not render(reply)[1].startswith("2") if reply is not None else not good
        if failing:
            challenge = base64.b64encode(self.sc.xoauth2_challenge.encode()).decode()
            try:
                await self.prompt(challenge)
            except _Aborted:
                self.server.credential(self.link, "XOAUTH2", user, token, False)
                await self.reply(ABORTED)
                return
        await self.conclude("XOAUTH2", user, token, good, self.sc.xoauth2_failed_reply)

    async def conclude(
        self, mechanism: str, user: str, secret: str, good: bool, failed_reply: str
    ) -> None:
        reply = self.sc.scripted_auth(user)
        if reply is None:
            reply = self.sc.auth_ok_reply if good else failed_reply
        data, code = render(reply)
        accepted = code.startswith("2")
        self.server.credential(self.link, mechanism, user, secret, accepted)
        self.authenticated = accepted
        await self.link.send(data)
        if code == "421":
            raise Closed

    async def mail(self, verb: str, arg: str) -> None:
        """Submission into the scenario's mailstore (console.lab.mailstore): the canary's path."""
        store = self.sc.mailstore
        if not self.authenticated:
            await self.reply("530 5.7.0 Authentication required")
        elif verb == "MAIL":
            self.mail_from, self.recipients = _address(arg, "FROM:"), []
            await self.reply("250 2.1.0 Ok")
        elif verb == "RCPT":
            to = _address(arg, "TO:")
            if self.mail_from is None:
                await self.reply("503 5.5.1 Error: need MAIL command")
            elif not to or not store.accepts(to):
                await self.reply(f"550 5.1.1 <{to}>: Recipient address rejected: User unknown")
            else:
                self.recipients.append(to)
                await self.reply("250 2.1.5 Ok")
        elif not self.recipients:
            await self.reply("554 5.5.1 Error: no valid recipients")
        else:
            await self.reply("354 End data with <CR><LF>.<CR><LF>")
            lines: list[bytes] = []
            while (line := await self.link.readline()) != b".":
                lines.append(line[1:] if line.startswith(b".") else line)
            data = b"\r\n".join(lines) + b"\r\n"
            for to in self.recipients:
                store.deliver(to, data, received_by=self.sc.hostname)
            self.mail_from, self.recipients = None, []
            await self.reply("250 2.0.0 Ok: queued")


def _address(arg: str, prefix: str) -> str:
    if not arg.upper().startswith(prefix):
        return ""
    return arg[len(prefix) :].strip().split(" ")[0].strip("<>")
