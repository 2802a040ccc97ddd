"""The lab IMAP server's mail commands, used when its scenario has a `Mailstore`: SELECT with real
counts, LIST with SPECIAL-USE, UID SEARCH/FETCH/STORE/EXPUNGE, EXPUNGE, and IDLE that reports new
mail. Enough for the reply canary; strict where it matters (UID EXPUNGE needs UIDPLUS)."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from console.lab.mailstore import Folder, Message

if TYPE_CHECKING:
    from console.lab.imap_server import _ImapSession

_FIELDS = re.compile(r"BODY(?:\.PEEK)?\[HEADER\.FIELDS \(([^)]*)\)\]", re.I)
_HEADER = re.compile(r"BODY(?:\.PEEK)?\[HEADER\]", re.I)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uids(spec: str, folder: Folder) -> list[Message]:
    wanted: set[int] = set()
    top = folder.uidnext - 1
    for part in spec.split(","):
        if ":" in part:
            low, high = (top if x == "*" else int(x) for x in part.split(":", 1))
            wanted.update(range(min(low, high), max(low, high) + 1))
        elif part.strip():
            wanted.add(top if part == "*" else int(part))
    return [m for m in folder.messages if m.uid in wanted]


def current(session: _ImapSession) -> Folder | None:
    store = session.sc.mailstore
    if store is None or session.user is None or session.selected is None:
        return None
    folder: Folder | None = store.folder(session.user, session.selected)
    return folder


async def open_mailbox(session: _ImapSession, tag: str, wire: str, *, read_only: bool) -> None:
    store = session.sc.mailstore
    assert store is not None and session.user is not None
    folder = store.folder(session.user, wire)
    if folder is None:
        await session.send(f"{tag} NO [NONEXISTENT] Mailbox doesn't exist: {wire}")
        return
    session.selected, session.read_only = folder.wire, read_only
    session.seen_count = len(folder.messages)
    done = "[READ-ONLY] Examine completed." if read_only else "[READ-WRITE] Select completed."
    await session.send(
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        f"* {len(folder.messages)} EXISTS",
        "* 0 RECENT",
        f"* OK [UIDVALIDITY {folder.uidvalidity}] UIDs valid",
        f"* OK [UIDNEXT {folder.uidnext}] Predicted next UID",
        f"{tag} OK {done}",
    )
    session.state = "selected"


async def list_folders(session: _ImapSession, tag: str) -> None:
    store = session.sc.mailstore
    assert store is not None and session.user is not None
    lines = []
    for folder in store.users.get(session.user.lower(), {}).values():
        flags = " ".join(["\\HasNoChildren", *([folder.special] if folder.special else [])])
        lines.append(f'* LIST ({flags}) "/" {_quote(folder.wire)}')
    await session.send(*lines, f"{tag} OK List completed.")


async def uid_command(session: _ImapSession, tag: str, raw: str) -> None:
    folder = current(session)
    verb, _, rest = raw.partition(" ")
    verb = verb.upper()
    if folder is None:
        await session.send(f"{tag} BAD UID {verb}: no mailbox selected.")
        return
    if verb == "SEARCH":
        await _search(session, tag, folder, rest)
    elif verb == "FETCH":
        spec, _, items = rest.partition(" ")
        await _fetch(session, tag, folder, spec, items)
    elif verb == "STORE":
        spec, _, change = rest.partition(" ")
        await _store(session, tag, folder, spec, change)
    elif verb == "EXPUNGE":
        if "UIDPLUS" not in session.capset:
            await session.send(f"{tag} BAD Error in IMAP command UID EXPUNGE: Unknown command.")
            return
        await expunge(session, tag, folder, _uids(rest.strip(), folder))
    else:
        await session.send(f"{tag} BAD Unknown UID command {verb}.")


async def _search(session: _ImapSession, tag: str, folder: Folder, criteria: str) -> None:
    match = re.fullmatch(r'HEADER (\S+) (?:"([^"]*)"|(\S+))', criteria.strip(), re.I)
    if criteria.strip().upper() == "ALL":
        found = [m.uid for m in folder.messages]
    elif match:
        name, value = match.group(1), (match.group(2) or match.group(3) or "").lower()
        found = [
            m.uid for m in folder.messages if any(value in v.lower() for v in m.header_values(name))
        ]
    else:
        await session.send(f"{tag} BAD Error in IMAP command UID SEARCH: unsupported criteria.")
        return
    await session.send("* SEARCH" + "".join(f" {u}" for u in found), f"{tag} OK Search completed.")


async def _fetch(session: _ImapSession, tag: str, folder: Folder, spec: str, items: str) -> None:
    fields = _FIELDS.search(items)
    for number, message in enumerate(folder.messages, start=1):
        if message not in _uids(spec, folder):
            continue
        if fields:
            body = message.header_fields(fields.group(1).split())
            section = f"BODY[HEADER.FIELDS ({fields.group(1)})]"
        elif _HEADER.search(items):
            body, section = message.header_block(), "BODY[HEADER]"
        else:
            flags = " ".join(sorted(message.flags))
            await session.send(f"* {number} FETCH (UID {message.uid} FLAGS ({flags}))")
            continue
        await session.link.send(
            f"* {number} FETCH (UID {message.uid} {section} {{{len(body)}}}\r\n".encode()
            + body
            + b")\r\n"
        )
    await session.send(f"{tag} OK Fetch completed.")


async def _store(session: _ImapSession, tag: str, folder: Folder, spec: str, change: str) -> None:
    if session.read_only:
        await session.send(f"{tag} NO [READ-ONLY] Mailbox is read-only.")
        return
    what, _, flags = change.partition(" ")
    names = set(flags.strip("()").split())
    for number, message in enumerate(folder.messages, start=1):
        if message in _uids(spec, folder):
            if what.upper().startswith("+"):
                message.flags |= names
            elif what.upper().startswith("-"):
                message.flags -= names
            else:
                message.flags = set(names)
            if ".SILENT" not in what.upper():
                shown = " ".join(sorted(message.flags))
                await session.send(f"* {number} FETCH (UID {message.uid} FLAGS ({shown}))")
    await session.send(f"{tag} OK Store completed.")


async def expunge(
    session: _ImapSession, tag: str, folder: Folder, among: list[Message] | None = None
) -> None:
    """Remove \\Deleted messages (only those in `among`, for UID EXPUNGE)."""
    if session.read_only:
        await session.send(f"{tag} NO [READ-ONLY] Mailbox is read-only.")
        return
    lines = []
    for message in list(folder.messages):
        if "\\Deleted" in message.flags and (among is None or message in among):
            lines.append(f"* {folder.messages.index(message) + 1} EXPUNGE")
            folder.messages.remove(message)
    session.seen_count = len(folder.messages)
    await session.send(*lines, f"{tag} OK Expunge completed.")


async def idle(session: _ImapSession, tag: str) -> None:
    """IDLE that reports `* N EXISTS` when the selected folder grows, until DONE."""
    store = session.sc.mailstore
    assert store is not None
    changed = asyncio.Event()
    stop = store.watch(lambda user, wire: changed.set())
    await session.send("+ idling")
    reader = asyncio.ensure_future(session.link.readline())
    try:
        while True:
            waiter = asyncio.ensure_future(changed.wait())
            done, _ = await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                waiter.cancel()
                await asyncio.wait({waiter})
            if reader in done:
                break
            changed.clear()
            folder = current(session)
            if folder is not None and len(folder.messages) != session.seen_count:
                session.seen_count = len(folder.messages)
                await session.send(f"* {len(folder.messages)} EXISTS")
    finally:
        stop()
        if not reader.done():
            reader.cancel()
            await asyncio.wait({reader})
    line = reader.result()
    if line.upper() == b"DONE":
        await session.send(f"{tag} OK Idle completed.")
    else:
        await session.send(f"{tag} BAD Expected DONE.")
