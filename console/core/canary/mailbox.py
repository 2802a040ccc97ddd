"""IMAP commands the canary needs on a logged-in probe session: select, search, fetch headers,
list folders with their special use, wait (IDLE or a pause), and delete only our own message.

Built on the probe's bounded aioimaplib session (console/core/probe/imap_client.py): every
command is bounded by `timeout` and by the connection's failure future, so a dropped connection
wakes every wait at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aioimaplib import aioimaplib

from console.core.canary.message import TOKEN_PREFIX, token_of
from console.core.canary.model import CANARY_HEADER
from console.core.canary.utf7 import decode_mailbox
from console.core.probe.imap_client import ImapSession, encode_mailbox, tagged_text
from console.core.probe.steps import ProtocolViolation

SPECIAL_FIRST = ("\\Junk", "\\Trash", "\\Archive", "\\All")
"""Where a canary that missed the tracked mailbox usually is: searched first, in this order."""
SPAM_NAMES = ("spam", "junk", "bulk", "junk e-mail", "junk email", "[gmail]/spam")
"""Folder names taken as the spam folder when the server does not mark it \\Junk."""
_LIST = re.compile(rb'^(?:LIST )?\(([^)]*)\) (?:NIL|"(?:[^"\\]|\\.)*") ?(.*)$', re.I | re.S)
_FETCH = re.compile(rb"^\d+ FETCH \(", re.I)
_UID = re.compile(rb"UID (\d+)", re.I)
_EXISTS = re.compile(rb"^\d+ EXISTS", re.I)


class CommandRefused(Exception):
    """The server answered NO or BAD; the text is the server's."""


@dataclass(frozen=True)
class Folder:
    """A mailbox as LIST reported it: its wire name, display name and special use."""

    wire: str  # as sent by the server (modified UTF-7), for commands
    name: str  # decoded, for people
    attributes: tuple[str, ...]

    @property
    def special(self) -> str | None:
        for flag in SPECIAL_FIRST:
            if flag.lower() in (a.lower() for a in self.attributes):
                return flag
        return None

    @property
    def spam(self) -> bool:
        return self.special == "\\Junk" or self.name.lower() in SPAM_NAMES

    @property
    def selectable(self) -> bool:
        return not {a.lower() for a in self.attributes} & {"\\noselect", "\\nonexistent"}

    def describe(self) -> str:
        return f"{self.name} ({self.special})" if self.special else self.name


class Mailbox:
    """The canary's view of one logged-in session."""

    def __init__(self, session: ImapSession, timeout: float) -> None:
        self.session = session
        self.timeout = timeout
        self.selected: str | None = None
        self.read_only = False

    @property
    def caps(self) -> set[str]:
        return {c.upper() for c in self.session.capabilities}

    @property
    def can_idle(self) -> bool:
        return "IDLE" in self.caps

    @property
    def can_expunge_uid(self) -> bool:
        """UID EXPUNGE touches only the given UIDs: UIDPLUS or IMAP4rev2 (RFC 4315, 9051)."""
        return bool({"UIDPLUS", "IMAP4REV2"} & self.caps)

    async def _run(self, command: aioimaplib.Command) -> Any:
        async with asyncio.timeout(self.timeout):
            response = await self.session.bounded(self.session.protocol.execute(command))
        if response.result != "OK":
            raise CommandRefused(tagged_text(response))
        return response

    def _command(self, name: str, *args: str, prefix: str | None = None, untagged: str = "") -> Any:
        proto = self.session.protocol
        return aioimaplib.Command(
            name,
            proto.new_tag(),
            *args,
            prefix=prefix,
            untagged_resp_name=untagged or name,
            loop=asyncio.get_running_loop(),
        )

    async def select(self, wire_name: str, *, read_only: bool = False) -> None:
        """SELECT (or EXAMINE) a mailbox given by its wire name."""
        verb = "EXAMINE" if read_only else "SELECT"
        quoted = aioimaplib.quoted(wire_name)
        self.session.protocol.state = aioimaplib.AUTH
        await self._run(self._command(verb, quoted))
        self.session.protocol.state = aioimaplib.SELECTED
        self.selected, self.read_only = wire_name, read_only

    async def select_name(self, name: str) -> None:
        """SELECT the account's configured mailbox (a display name, encoded here)."""
        await self.select(encode_mailbox(name)[1:-1].replace('\\"', '"').replace("\\\\", "\\"))

    async def canaries(self) -> dict[str, int]:
        """Every canary in the selected mailbox: token -> UID (other messages are ignored)."""
        search = self._command(
            "SEARCH", "HEADER", CANARY_HEADER, TOKEN_PREFIX, prefix="UID", untagged="SEARCH"
        )
        response = await self._run(search)
        uids: list[str] = []
        for line in response.lines[:-1]:
            # aioimaplib drops the "SEARCH" word of the untagged answer; accept both forms
            words = line.split() if isinstance(line, bytes) else []
            if words and words[0].upper() == b"SEARCH":
                words = words[1:]
            if words and all(w.isdigit() for w in words):
                uids += [w.decode() for w in words]
        if not uids:
            return {}
        return {token: uid for uid, token in (await self.tokens(uids)).items() if token}

    async def tokens(self, uids: Iterable[str]) -> dict[int, str | None]:
        """UID -> the canary token in its header (None: not a canary); never sets \\Seen."""
        items = f"(UID BODY.PEEK[HEADER.FIELDS ({CANARY_HEADER.upper()})])"
        return {uid: token_of(header) for uid, header in (await self.headers(uids, items)).items()}

    async def headers(
        self, uids: Iterable[str], items: str = "(UID BODY.PEEK[HEADER])"
    ) -> dict[int, bytes]:
        proto = self.session.protocol
        fetch = aioimaplib.FetchCommand(
            proto.new_tag(),
            ",".join(uids),
            items,
            prefix="UID",
            loop=asyncio.get_running_loop(),
        )
        response = await self._run(fetch)
        return _fetched(response.lines[:-1])

    async def folders(self) -> list[Folder]:
        response = await self._run(self._command("LIST", '""', '"*"'))
        out: list[Folder] = []
        lines = list(response.lines[:-1])
        for i, line in enumerate(lines):
            if not isinstance(line, bytes):
                continue
            match = _LIST.match(line)
            if match is None:
                continue
            attributes = tuple(a.decode("utf-8", "replace") for a in match.group(1).split())
            raw = match.group(2).strip()
            if raw.endswith(b"}") and i + 1 < len(lines):  # a literal: the name is the next line
                wire = bytes(lines[i + 1]).decode("utf-8", "replace")
            elif raw.startswith(b'"'):
                wire = re.sub(r"\\(.)", r"\1", raw[1:-1].decode("utf-8", "replace"))
            else:
                wire = raw.decode("utf-8", "replace")
            out.append(Folder(wire, decode_mailbox(wire), attributes))
        return out

    async def wait(self, seconds: float) -> bool:
        """Wait for news in the selected mailbox: IDLE where offered, else a plain pause.

        Returns True when the server announced new mail (IDLE only).
        """
        if seconds <= 0:
            return False
        if not self.can_idle:
            await asyncio.sleep(seconds)
            return False
        proto = self.session.protocol
        command = aioimaplib.IdleCommand(
            proto.new_tag(), proto.idle_queue, loop=asyncio.get_running_loop()
        )
        running = asyncio.ensure_future(self.session.bounded(proto.execute(command)))
        news = False
        try:
            # aioimaplib sets its (private) _idle_event on the server's "+" continuation
            async with asyncio.timeout(self.timeout):
                await self.session.bounded(proto._idle_event.wait())
            try:
                async with asyncio.timeout(seconds):
                    while not news:
                        lines = await self.session.bounded(proto.idle_queue.get())
                        news = any(
                            _EXISTS.match(bytes(x))
                            for x in lines
                            if isinstance(x, bytes | bytearray)
                        )
            except TimeoutError:
                pass
            proto.idle_done()
            async with asyncio.timeout(self.timeout):
                response = await running
            if response.result != "OK":
                raise CommandRefused(tagged_text(response))
        finally:
            if not running.done():
                running.cancel()
                await asyncio.wait({running})
        while not proto.idle_queue.empty():
            proto.idle_queue.get_nowait()
        return news

    async def delete(self, uid: int, token: str) -> bool:
        """Delete our canary at `uid` in the selected mailbox, after checking its token.

        True: expunged (UID EXPUNGE, only with UIDPLUS/IMAP4rev2). False: marked \\Seen
        \\Deleted and left, because a plain EXPUNGE could remove other deleted messages.
        Raises ProtocolViolation if the message there is not our canary (nothing is changed).
        """
        found = (await self.tokens([str(uid)])).get(uid)
        if found != token:
            raise ProtocolViolation(f"UID {uid} is not the canary {token}; nothing was deleted")
        flags = "(\\Deleted)" if self.can_expunge_uid else "(\\Seen \\Deleted)"
        await self._run(
            self._command("STORE", str(uid), "+FLAGS.SILENT", flags, prefix="UID", untagged="FETCH")
        )
        if not self.can_expunge_uid:
            return False
        await self._run(self._command("EXPUNGE", str(uid), prefix="UID"))
        return True


def _fetched(lines: list[Any]) -> dict[int, bytes]:
    """UID -> literal from FETCH responses (the UID may come before or after the literal)."""
    out: dict[int, bytes] = {}
    uid: int | None = None
    literal: bytes | None = None

    def flush() -> None:
        if uid is not None and literal is not None:
            out[uid] = literal

    for line in lines:
        if isinstance(line, bytes) and _FETCH.match(line):
            flush()
            uid, literal = None, None
        if isinstance(line, bytearray):
            literal = bytes(line)
            continue
        if isinstance(line, bytes):
            match = _UID.search(line)
            if match:
                uid = int(match.group(1))
    flush()
    return out
