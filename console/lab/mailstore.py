"""Mailboxes for the lab: the lab SMTP server delivers into them and the lab IMAP server serves
them, so the reply canary can run end to end on 127.0.0.1 (tests and `--demo`).

Each recipient has a delivery behaviour, as a mail server's rules would give it:

    inbox          arrives in INBOX and stays
    junk           arrives in Junk (SPECIAL-USE \\Junk)
    folder         arrives in the named folder (`folder = "Receipts"`)
    drop           accepted, never stored (forwarded away, discarded)
    remove_later   arrives in INBOX, moved to `folder` (default Archive) after `after` seconds
    refuse         RCPT TO is answered 550

    store = Mailstore()
    store.add_user("r@lab.test", Delivery("junk"))
    ImapScenario(..., mailstore=store); SmtpScenario(..., mailstore=store)
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.core.probe.imap_client import encode_mailbox

SPECIAL_USE: dict[str, str] = {
    "Junk": "\\Junk",
    "Trash": "\\Trash",
    "Archive": "\\Archive",
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
}
"""Folders every lab mailbox has, with their RFC 6154 special use."""


def wire_name(name: str) -> str:
    """A display name in modified UTF-7, unquoted (`Entwürfe` -> `Entw&APw-rfe`)."""
    quoted = encode_mailbox(name)
    return quoted[1:-1].replace('\\"', '"').replace("\\\\", "\\")


@dataclass(frozen=True)
class Delivery:
    kind: str = "inbox"  # inbox, junk, folder, drop, remove_later, refuse
    folder: str = "Archive"  # for folder and remove_later (a display name; may be non-ASCII)
    after: float = 1.0  # remove_later: seconds after arrival
    delay: float = 0.0  # seconds between acceptance and arrival (a queue, a slow filter)


@dataclass
class Message:
    uid: int
    data: bytes
    flags: set[str] = field(default_factory=set)
    internal: float = field(default_factory=time.time)

    def header_block(self) -> bytes:
        end = self.data.find(b"\r\n\r\n")
        return self.data[: end + 4] if end >= 0 else self.data

    def header_fields(self, names: list[str]) -> bytes:
        """The named header fields (with continuation lines), then the blank line."""
        wanted = {n.lower() for n in names}
        out: list[bytes] = []
        keep = False
        for line in self.header_block().split(b"\r\n"):
            if not line:
                continue
            if line[:1] in (b" ", b"\t"):
                if keep:
                    out.append(line)
                continue
            keep = line.split(b":", 1)[0].strip().lower().decode("latin-1") in wanted
            if keep:
                out.append(line)
        return b"\r\n".join(out) + (b"\r\n\r\n" if out else b"\r\n")

    def header_values(self, name: str) -> list[str]:
        values: list[str] = []
        current: str | None = None
        for line in self.header_block().decode("utf-8", "replace").split("\r\n"):
            if line[:1] in (" ", "\t") and current is not None:
                current += " " + line.strip()
                continue
            if current is not None:
                values.append(current)
                current = None
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                current = value.strip()
        if current is not None:
            values.append(current)
        return values


@dataclass
class Folder:
    wire: str  # the name on the wire (modified UTF-7)
    special: str | None = None
    uidvalidity: int = 1
    uidnext: int = 1
    messages: list[Message] = field(default_factory=list)

    def add(self, data: bytes, flags: set[str] | None = None) -> Message:
        message = Message(self.uidnext, data, set(flags or ()))
        self.uidnext += 1
        self.messages.append(message)
        return message


class Mailstore:
    """Users' folders and delivery behaviours; watchers are told when a folder changes."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Folder]] = {}
        self.delivery: dict[str, Delivery] = {}
        self.delivered: list[tuple[str, bytes]] = []
        self._watchers: list[Callable[[str, str], None]] = []
        self._timers: list[asyncio.TimerHandle] = []

    def add_user(self, user: str, delivery: Delivery | None = None, *folders: str) -> None:
        key = user.lower()
        boxes = self.users.setdefault(key, {"INBOX": Folder("INBOX")})
        for name, special in SPECIAL_USE.items():
            boxes.setdefault(name, Folder(name, special))
        extra = [*folders, *([delivery.folder] if delivery and delivery.kind != "inbox" else [])]
        for name in extra:
            boxes.setdefault(wire_name(name), Folder(wire_name(name)))
        self.delivery[key] = delivery or Delivery()

    def folder(self, user: str, wire: str) -> Folder | None:
        boxes = self.users.get(user.lower(), {})
        if wire.upper() == "INBOX":
            return boxes.get("INBOX")
        return boxes.get(wire)

    def accepts(self, recipient: str) -> bool:
        key = recipient.lower()
        return key in self.users and self.delivery[key].kind != "refuse"

    def deliver(self, recipient: str, data: bytes, *, received_by: str = "lab.test") -> None:
        """Store a message for `recipient` as its delivery behaviour says."""
        key = recipient.lower()
        rule = self.delivery.get(key, Delivery())
        if rule.delay > 0:
            loop = asyncio.get_running_loop()
            later = Delivery(rule.kind, rule.folder, rule.after)
            self._timers.append(
                loop.call_later(rule.delay, self._store, key, data, later, received_by)
            )
            return
        self._store(key, data, rule, received_by)

    def _store(self, key: str, data: bytes, rule: Delivery, received_by: str) -> None:
        recipient = key
        stamp = email.utils.format_datetime(datetime.now(UTC))
        data = (
            f"Received: from submission by {received_by} for <{recipient}>; {stamp}\r\n".encode()
            + data
        )
        self.delivered.append((key, data))
        if rule.kind in ("drop", "refuse"):
            return
        target = "INBOX"
        if rule.kind == "junk":
            target = "Junk"
        elif rule.kind == "folder":
            target = wire_name(rule.folder)
        folder = self.folder(key, target)
        assert folder is not None
        message = folder.add(data)
        self._changed(key, folder.wire)
        if rule.kind == "remove_later":
            wire = wire_name(rule.folder)
            loop = asyncio.get_running_loop()
            self._timers.append(
                loop.call_later(rule.after, self.move, key, "INBOX", message.uid, wire)
            )

    def move(self, user: str, source: str, uid: int, target: str) -> None:
        """What another mail client does: take a message out of one folder into another."""
        src, dst = self.folder(user, source), self.folder(user, target)
        if src is None or dst is None:
            return
        for message in list(src.messages):
            if message.uid == uid:
                src.messages.remove(message)
                dst.add(message.data, message.flags)
                self._changed(user, source)
                self._changed(user, target)

    def watch(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def _changed(self, user: str, wire: str) -> None:
        for callback in list(self._watchers):
            callback(user.lower(), wire)

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
