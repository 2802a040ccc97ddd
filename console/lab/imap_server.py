"""The scripted IMAP server: enough of RFC 3501 (+ SASL-IR, LITERAL+, ID, QUOTA, XOAUTH2) to tell a
correct client from a sloppy one, answering whatever its `ImapScenario` says."""

from __future__ import annotations

import base64
import fnmatch
import re
from collections.abc import Awaitable, Callable
from typing import cast

from console.core.model import Security
from console.lab import imap_mail
from console.lab.imap_syntax import (
    ArgParser,
    Atom,
    ImapSyntaxError,
    Token,
    as_text,
)
from console.lab.introspect import token_is_active
from console.lab.link import Closed, Link
from console.lab.sasl import SaslError, parse_login_part, parse_plain, parse_xoauth2
from console.lab.scenario import ImapScenario
from console.lab.server import LabServer

NONAUTH, AUTH, SELECTED = "not authenticated", "authenticated", "selected"
ANY = (NONAUTH, AUTH, SELECTED)
LOGGED_IN = (AUTH, SELECTED)
STAGE_OF = {
    "CAPABILITY": "capability",
    "STARTTLS": "starttls",
    "LOGIN": "auth",
    "AUTHENTICATE": "auth",
    "SELECT": "mailbox",
    "EXAMINE": "mailbox",
    "GETQUOTAROOT": "mailbox",
    "LIST": "mailbox",
    "LOGOUT": "logout",
}
Handler = Callable[[str, list[Token]], Awaitable[None]]
FLAGS = r"(\Answered \Flagged \Deleted \Seen \Draft)"
_TAG_FORBIDDEN = frozenset(b"+*%")
_QUOTE_NEEDED = frozenset(b'(){ %*"\\]') | frozenset(range(0x21)) | {0x7F}


def _wire(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def astring(value: str) -> str:
    """`value` as an IMAP astring: an atom when it can be, else a quoted string."""
    raw = _wire(value)
    if raw and not any(b in _QUOTE_NEEDED or b >= 0x80 for b in raw):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(tag: str, text: str) -> tuple[bytes, bool, bool]:
    """A scripted reply as wire bytes, whether its tagged status is OK, and whether it says BYE."""
    lines = text.replace("\r\n", "\n").split("\n")
    last = lines[-1]
    tagged = not last.startswith(("*", "+"))
    if tagged:
        lines[-1] = f"{tag} {last}"
    ok = tagged and last.split(" ", 1)[0].upper() == "OK"
    bye = any(line.upper().startswith("* BYE") for line in lines)
    return _wire("\r\n".join(lines) + "\r\n"), ok, bye


class LabImapServer(LabServer[ImapScenario]):
    """`async with LabImapServer(ImapScenario(...), ca=ca) as srv:` then connect to `srv.port`."""

    too_long = b"* BYE Line too long.\r\n"
    idle_bye = b"* BYE Disconnected for inactivity.\r\n"

    async def session(self, link: Link[ImapScenario]) -> None:
        await _ImapSession(self, link).run()


class _ImapSession:
    def __init__(self, server: LabImapServer, link: Link[ImapScenario]) -> None:
        self.server = server
        self.link = link
        self.sc: ImapScenario = link.scenario
        self.state = NONAUTH
        self.user: str | None = None  # logged in as (the mailstore's user)
        self.selected: str | None = None  # the selected folder's wire name (mailstore only)
        self.read_only = False
        self.seen_count = 0
        self._set_caps(self.sc.plain_capabilities())
        self.handlers: dict[
            str, tuple[Callable[[str, list[Token]], Awaitable[None]], tuple[str, ...]]
        ] = {
            "CAPABILITY": (self.capability, ANY),
            "NOOP": (self.noop, ANY),
            "ID": (self.id, ANY),
            "LOGOUT": (self.logout, ANY),
            "STARTTLS": (self.starttls, (NONAUTH,)),
            "LOGIN": (self.login, (NONAUTH,)),
            "AUTHENTICATE": (self.authenticate, (NONAUTH,)),
            "SELECT": (self.select, LOGGED_IN),
            "EXAMINE": (self.examine, LOGGED_IN),
            "GETQUOTAROOT": (self.getquotaroot, LOGGED_IN),
            "LIST": (self.list_mailboxes, LOGGED_IN),
            "IDLE": (self.idle, LOGGED_IN),
            "CLOSE": (self.close, (SELECTED,)),
            "UNSELECT": (self.close, (SELECTED,)),
            "UID": (self.uid, (SELECTED,)),
            "EXPUNGE": (self.expunge, (SELECTED,)),
        }

    def _set_caps(self, caps: tuple[str, ...]) -> None:
        self.caps = caps
        self.capset = {c.upper() for c in caps}

    async def send(self, *lines: str) -> None:
        await self.link.send(_wire("\r\n".join(lines) + "\r\n"))

    async def scripted(self, tag: str, text: str) -> bool:
        data, ok, bye = render(tag, text)
        await self.link.send(data)
        if bye:
            raise Closed
        return ok

    async def run(self) -> None:
        link, sc = self.link, self.sc
        await link.misbehave("connect")
        if sc.security is Security.TLS:
            await link.misbehave("tls")
            await link.start_tls(self.server.ca.server_context(sc.cert))
            self._set_caps(sc.capabilities)
        await link.misbehave("greeting")
        greeting = sc.greeting.replace("{capabilities}", " ".join(self.caps))
        await self.send(*greeting.replace("\r\n", "\n").split("\n"))
        head = greeting.lstrip().upper()
        if head.startswith("* BYE"):
            raise Closed
        if not head.startswith("* "):
            await self.foreign(head)
        if head.startswith("* PREAUTH"):
            self.state = AUTH
        while True:
            command = await self.read_command()
            if command is not None:
                await self.dispatch(*command)

    async def foreign(self, head: str) -> None:
        """Not an IMAP greeting: behave like what it claims to be (an SMTP server), or hang up."""
        if not head[:3].isdigit():
            await self.link.readline()
            raise Closed
        while True:
            await self.link.readline()
            await self.link.send(b"500 5.5.2 Error: command not recognized\r\n")

    async def read_command(self) -> tuple[str, str, list[Token]] | None:
        link = self.link
        parser = ArgParser(strict_8bit=self.sc.strict_8bit)
        line = await link.readline()
        uid = re.match(rb"^([^\s+*%(){]+) UID (.+)$", line, re.I)
        if uid and self.sc.mailstore is not None:  # the canary's UID commands, read whole
            return uid.group(1).decode(), "UID", [Atom(uid.group(2))]
        try:
            while (spec := parser.feed(line)) is not None:
                if spec.synchronizing:
                    await link.send(b"+ OK\r\n")
                elif not self._literal_plus(spec.size):
                    await link.readexactly(spec.size)
                    await link.readline()
                    raise ImapSyntaxError("Non-synchronizing literal not advertised.")
                parser.add_literal(await link.readexactly(spec.size))
                line = await link.readline()
            tokens = parser.finish()
        except ImapSyntaxError as exc:
            await self.send(f"{self._tag_of(parser.tokens)} BAD Error in IMAP command: {exc}")
            return None
        tag = self._tag_of(tokens)
        if tag == "*":
            await self.send("* BAD Error in IMAP command received by server.")
            return None
        if len(tokens) < 2 or not isinstance(tokens[1], Atom):
            await self.send(f"{tag} BAD Error in IMAP command received by server.")
            return None
        return tag, as_text(tokens[1]).upper(), tokens[2:]

    def _literal_plus(self, size: int) -> bool:
        return "LITERAL+" in self.capset or (size <= 4096 and "LITERAL-" in self.capset)

    @staticmethod
    def _tag_of(tokens: list[Token]) -> str:
        if tokens and isinstance(tokens[0], Atom) and not _TAG_FORBIDDEN & set(tokens[0]):
            return as_text(tokens[0])
        return "*"

    async def dispatch(self, tag: str, name: str, args: list[Token]) -> None:
        await self.link.misbehave(STAGE_OF.get(name, ""), name)
        if name in ("LOGIN", "AUTHENTICATE"):
            self.server.auth_command(self.link)
        scripted = self.sc.replies.get(name)
        if scripted is not None and name not in ("LOGIN", "AUTHENTICATE"):
            if name == "STARTTLS":
                self.link.hold()
            ok = await self.scripted(tag, scripted)
            if name == "LOGOUT":
                raise Closed
            if ok and name == "STARTTLS":
                await self.upgrade()
            elif ok and name in ("SELECT", "EXAMINE"):
                self.state = SELECTED
            elif name == "STARTTLS":
                self.link.raw.resume_reading()
            return
        entry = self.handlers.get(name)
        if entry is None:
            await self.send(f"{tag} BAD Error in IMAP command {name}: Unknown command.")
            return
        handler, states = entry
        if self.state not in states:
            await self.send(f"{tag} BAD Command {name} is not valid in the {self.state} state.")
            return
        try:
            await handler(tag, args)
        except ImapSyntaxError as exc:
            await self.send(f"{tag} BAD Error in IMAP command {name}: {exc}")

    # ---- commands ------------------------------------------------------------------------

    @staticmethod
    def _strings(args: list[Token], count: int) -> list[str]:
        if len(args) != count:
            raise ImapSyntaxError(f"Expected {count} argument(s).")
        return [as_text(a) for a in args]

    async def capability(self, tag: str, args: list[Token]) -> None:
        self._strings(args, 0)
        await self.send("* CAPABILITY " + " ".join(self.caps), f"{tag} OK Capability completed.")

    async def noop(self, tag: str, args: list[Token]) -> None:
        self._strings(args, 0)
        await self.send(f"{tag} OK NOOP completed.")

    async def id(self, tag: str, args: list[Token]) -> None:
        if len(args) != 1 or not (args[0] == b"NIL" or isinstance(args[0], list)):
            raise ImapSyntaxError("Expected NIL or a list of field/value pairs.")
        if isinstance(args[0], list) and len(args[0]) % 2:
            raise ImapSyntaxError("ID fields and values must come in pairs.")
        await self.send('* ID ("name" "mailconsole lab")', f"{tag} OK ID completed.")

    async def logout(self, tag: str, args: list[Token]) -> None:
        self._strings(args, 0)
        await self.send("* BYE Logging out", f"{tag} OK Logout completed.")
        raise Closed

    async def starttls(self, tag: str, args: list[Token]) -> None:
        self._strings(args, 0)
        if self.link.tls or "STARTTLS" not in self.capset:
            await self.send(f"{tag} BAD STARTTLS is not available.")
            return
        self.link.hold()
        await self.send(f"{tag} OK Begin TLS negotiation now.")
        await self.upgrade()

    async def upgrade(self) -> None:
        await self.link.misbehave("tls")
        await self.link.start_tls(self.server.ca.server_context(self.sc.cert))
        self._set_caps(self.sc.capabilities)

    async def login(self, tag: str, args: list[Token]) -> None:
        user, password = self._strings(args, 2)
        if "LOGINDISABLED" in self.capset:
            self.server.credential(self.link, "LOGIN", user, password, False)
            await self.scripted(tag, self.sc.logindisabled_reply)
            return
        good = self.sc.expected_password(user) == password
        await self.conclude(tag, "LOGIN", user, password, good, self.sc.auth_failed_reply)

    async def conclude(
        self, tag: str, mechanism: str, user: str, secret: str, good: bool, failed: str
    ) -> None:
        """Decide a login (a scripted reply wins), record it, answer it."""
        reply = self.sc.scripted_auth(user)
        if reply is None:
            reply = self.sc.login_ok_reply if good else failed
            reply = reply.replace("{capabilities}", " ".join(self.caps))
        data, accepted, bye = render(tag, reply)
        self.server.credential(self.link, mechanism, user, secret, accepted)
        if accepted:
            self.state = AUTH
            self.user = user
        await self.link.send(data)
        if bye:
            raise Closed

    async def authenticate(self, tag: str, args: list[Token]) -> None:
        if not args or len(args) > 2 or not isinstance(args[0], Atom):
            raise ImapSyntaxError("Expected a mechanism and an optional initial response.")
        mechanism = as_text(args[0]).upper()
        if len(args) == 2 and (not isinstance(args[1], Atom) or "SASL-IR" not in self.capset):
            raise ImapSyntaxError("Initial response not allowed (SASL-IR not advertised).")
        if f"AUTH={mechanism}" not in self.capset:
            if len(args) == 2:
                self.note_exposed(mechanism, args[1])
            if not self.link.tls and "STARTTLS" in self.capset:
                await self.send(f"{tag} NO [PRIVACYREQUIRED] Plaintext authentication disabled.")
            else:
                await self.send(f"{tag} BAD Unsupported authentication mechanism.")
            return
        if len(args) == 2:
            response: bytes | None = cast(Atom, args[1])  # checked above
        else:  # LOGIN prompts with its own challenges
            response = b"" if mechanism == "LOGIN" else await self.challenge("")
        if response is None:
            await self.send(f"{tag} BAD Authentication aborted by client.")
            return
        try:
            if mechanism == "PLAIN":
                user, secret = parse_plain(response)
            elif mechanism == "XOAUTH2":
                user, secret = parse_xoauth2(response)
            elif mechanism == "LOGIN":
                user, secret = await self.sasl_login(response)
            else:
                await self.send(f"{tag} NO [CANNOT] Mechanism not implemented by the lab.")
                return
        except SaslError as exc:
            await self.send(f"{tag} BAD {exc}")
            return
        if mechanism == "XOAUTH2":
            await self.conclude_xoauth2(tag, user, secret)
        else:
            good = self.sc.expected_password(user) == secret
            await self.conclude(tag, mechanism, user, secret, good, self.sc.auth_failed_reply)

    def note_exposed(self, mechanism: str, initial: Token) -> None:
        """A credential sent with a refused AUTHENTICATE still crossed the wire: record it."""
        parse = {"PLAIN": parse_plain, "XOAUTH2": parse_xoauth2}.get(mechanism)
        if parse is None or isinstance(initial, list):
            return
        try:
            user, secret = parse(initial)
        except SaslError:
            return
        self.server.credential(self.link, mechanism, user, secret, False)

    async def conclude_xoauth2(self, tag: str, user: str, token: str) -> None:
        """Gmail-style: a failure first sends a JSON challenge and waits for an empty line."""
        reply = self.sc.scripted_auth(user)
        if self.sc.token_introspection is not None:
            good = await token_is_active(self.sc.token_introspection, user, token)
        else:
            good = self.sc.tokens.get(user) == token
        if not render(tag, reply)[1] if reply is not None else not good:
            challenge = base64.b64encode(self.sc.xoauth2_challenge.encode()).decode()
            if await self.challenge(challenge) is None:
                self.server.credential(self.link, "XOAUTH2", user, token, False)
                await self.send(f"{tag} BAD Authentication aborted by client.")
                return
        await self.conclude(tag, "XOAUTH2", user, token, good, self.sc.xoauth2_failed_reply)

    async def sasl_login(self, initial: bytes) -> tuple[str, str]:
        user = initial if initial else await self.challenge("VXNlcm5hbWU6")
        secret = await self.challenge("UGFzc3dvcmQ6") if user is not None else None
        if user is None or secret is None:
            raise SaslError("Authentication aborted by client.")
        return parse_login_part(user), parse_login_part(secret)

    async def challenge(self, text: str) -> bytes | None:
        """Send `+ text`, return the client's line (None when it cancels with `*`)."""
        await self.link.send(_wire(f"+ {text}\r\n"))
        line = await self.link.readline()
        return None if line == b"*" else line

    async def select(self, tag: str, args: list[Token]) -> None:
        await self.open_mailbox(tag, args, read_only=False)

    async def examine(self, tag: str, args: list[Token]) -> None:
        await self.open_mailbox(tag, args, read_only=True)

    async def open_mailbox(self, tag: str, args: list[Token], *, read_only: bool) -> None:
        (mailbox,) = self._strings(args, 1)
        self.state = AUTH  # a failed SELECT leaves no mailbox selected (RFC 3501 6.3.1)
        sc = self.sc
        if sc.examine_reply is not None:
            if await self.scripted(tag, sc.examine_reply):
                self.state = SELECTED
            return
        if sc.mailstore is not None:
            await imap_mail.open_mailbox(self, tag, mailbox, read_only=read_only)
            return
        if self._mailbox(mailbox) is None:
            await self.send(f"{tag} NO [NONEXISTENT] Mailbox doesn't exist: {mailbox}")
            return
        permanent = (
            "[PERMANENTFLAGS ()] Read-only mailbox."
            if read_only
            else (f"[PERMANENTFLAGS {FLAGS[:-1]} \\*)] Flags permitted.")
        )
        done = "[READ-ONLY] Examine completed." if read_only else "[READ-WRITE] Select completed."
        await self.send(
            f"* FLAGS {FLAGS}",
            f"* OK {permanent}",
            f"* {sc.messages} EXISTS",
            f"* {sc.recent} RECENT",
            f"* OK [UIDVALIDITY {sc.uidvalidity}] UIDs valid",
            f"* OK [UIDNEXT {sc.messages + 1}] Predicted next UID",
            f"{tag} OK {done}",
        )
        self.state = SELECTED

    def _mailbox(self, name: str) -> str | None:
        for known in self.sc.mailboxes:
            if known == name or (known.upper() == "INBOX" and name.upper() == "INBOX"):
                return known
        return None

    async def getquotaroot(self, tag: str, args: list[Token]) -> None:
        (mailbox,) = self._strings(args, 1)
        if "QUOTA" not in self.capset:
            await self.send(f"{tag} BAD Error in IMAP command GETQUOTAROOT: Unknown command.")
            return
        known = self._mailbox(mailbox)
        if known is None:
            await self.send(f"{tag} NO [NONEXISTENT] Mailbox doesn't exist: {mailbox}")
            return
        quota = self.sc.quota
        if quota is None:
            await self.send(f"* QUOTAROOT {astring(known)}", f"{tag} OK Getquotaroot completed.")
            return
        used, limit = quota
        await self.send(
            f'* QUOTAROOT {astring(known)} "User quota"',
            f'* QUOTA "User quota" (STORAGE {used} {limit})',
            f"{tag} OK Getquotaroot completed.",
        )

    async def list_mailboxes(self, tag: str, args: list[Token]) -> None:
        reference, pattern = self._strings(args, 2)
        if self.sc.mailstore is not None and pattern:
            await imap_mail.list_folders(self, tag)
            return
        if not pattern:
            await self.send('* LIST (\\Noselect) "/" ""', f"{tag} OK List completed.")
            return
        glob = (reference + pattern).replace("%", "*")
        lines = [
            f'* LIST (\\HasNoChildren) "/" {astring(name)}'
            for name in self.sc.mailboxes
            if fnmatch.fnmatchcase(name, glob)
        ]
        await self.send(*lines, f"{tag} OK List completed.")

    async def idle(self, tag: str, args: list[Token]) -> None:
        self._strings(args, 0)
        if "IDLE" not in self.capset:
            await self.send(f"{tag} BAD Error in IMAP command IDLE: Unknown command.")
            return
        if self.sc.mailstore is not None:
            await imap_mail.idle(self, tag)
            return
        await self.send("+ idling")
        done = await self.link.readline()
        if done.upper() == b"DONE":
            await self.send(f"{tag} OK Idle completed.")
        else:
            await self.send(f"{tag} BAD Expected DONE.")

    async def close(self, tag: str, args: list[Token]) -> None:
        self._strings(args, 0)
        self.state = AUTH
        await self.send(f"{tag} OK Close completed.")

    async def uid(self, tag: str, args: list[Token]) -> None:
        if self.sc.mailstore is None or len(args) != 1:
            await self.send(f"{tag} BAD Error in IMAP command UID: Unknown command.")
            return
        await imap_mail.uid_command(self, tag, as_text(args[0]))

    async def expunge(self, tag: str, args: list[Token]) -> None:
        self._strings(args, 0)
        folder = imap_mail.current(self)
        if folder is None:
            await self.send(f"{tag} OK Expunge completed.")
            return
        await imap_mail.expunge(self, tag, folder)
