"""The reply canary through the real stack: submission -> LMTP -> Dovecot + Sieve (Pigeonhole).

Every outcome comes from a real server doing what self-hosted mail does: Sieve `fileinto`
Archive/Junk/a UTF-8 folder, `redirect` (forwarding away), `discard`, a recipient Dovecot does not
know, and a second IMAP client that moves the canary during the hold.
"""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import HOST, TlsFiles, under_ci
from servers_mailstack import DOMAIN, LMTP_BINARY, SIEVE_PLUGIN, MailStack, start_mailstack

from console.core.canary import CanaryEngine, CanaryProgress, CanaryStatus, Progress
from console.core.model import Account, Cause, Protocol, Security, ServerSettings, Settings
from console.core.secrets import MemorySecrets

SIEVE = {
    "stays": None,
    "later": None,
    "mixed": None,  # holds look-alike messages that must survive
    "archive": 'require ["fileinto"];\nfileinto "Archive";\n',
    "spam": 'require ["fileinto"];\nfileinto "Junk";\n',
    "umlaut": 'require ["fileinto", "mailbox"];\nfileinto :create "Entwürfe";\n',
    "forward": 'redirect "someone@elsewhere.test";\n',
    "discard": "discard;\n",
}


@pytest.fixture(scope="module")
def stack(dovecot_binary: Path, tls_files: TlsFiles) -> Iterator[MailStack]:
    missing = [str(p) for p in (SIEVE_PLUGIN, LMTP_BINARY) if not p.exists()]
    if missing:
        reason = f"{', '.join(missing)} missing: install dovecot-lmtpd and dovecot-sieve"
        if under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    stack = start_mailstack(tls_files, SIEVE)
    try:
        yield stack
    finally:
        stack.stop()


def account(
    stack: MailStack, secrets: MemorySecrets, name: str, reply: str | None = None
) -> Account:
    user = f"{name}@{DOMAIN}"
    smtp = ServerSettings(
        Protocol.SMTP,
        HOST,
        stack.submission_port,
        Security.TLS,
        user,
        tls_ca_file=str(stack.ca_file),
    )
    imap = ServerSettings(
        Protocol.IMAP, HOST, stack.imaps_port, Security.TLS, user, tls_ca_file=str(stack.ca_file)
    )
    secrets.set(smtp, stack.password(user))
    secrets.set(imap, stack.password(user))
    return Account(email=user, reply_address=reply, smtp=smtp, imap=imap)


def imap_client(stack: MailStack, user: str) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    client = imaplib.IMAP4_SSL(HOST, stack.imaps_port, ssl_context=context)
    client.login(user, stack.password(user))
    return client


def folder_uids(stack: MailStack, user: str, folder: str) -> list[bytes]:
    client = imap_client(stack, user)
    try:
        client.select(folder)
        _, data = client.uid("SEARCH", "ALL")
        return data[0].split()
    finally:
        client.logout()


async def test_every_outcome_against_dovecot_and_sieve(stack: MailStack) -> None:
    secrets = MemorySecrets()
    names = ["stays", "archive", "spam", "umlaut", "forward", "discard"]
    accounts = [account(stack, secrets, n) for n in names]
    accounts.append(account(stack, secrets, "stays", reply=f"ghost@{DOMAIN}"))
    accounts[-1] = Account(
        email=f"refused@{DOMAIN}",
        reply_address=f"ghost@{DOMAIN}",
        smtp=accounts[0].smtp,
        imap=accounts[0].imap,
    )
    engine = CanaryEngine(Settings(timeout=10), secrets=secrets, arrival_timeout=4, hold=1.0)
    results = {r.email.split("@")[0]: r for r in await engine.run(accounts)}

    assert results["stays"].status is CanaryStatus.OK, results["stays"]
    assert results["stays"].cleaned and results["stays"].folder == "INBOX"
    assert results["archive"].cause is Cause.REPLY_MOVED
    assert results["archive"].folder == "Archive" and "\\Archive" in (
        results["archive"].message or ""
    )
    assert results["spam"].cause is Cause.REPLY_IN_SPAM and results["spam"].folder == "Junk"
    assert results["umlaut"].cause is Cause.REPLY_MOVED and results["umlaut"].folder == "Entwürfe"
    assert results["forward"].cause is Cause.REPLY_NOT_RECEIVED
    assert results["discard"].cause is Cause.REPLY_NOT_RECEIVED
    assert results["refused"].cause is Cause.RECIPIENT_REFUSED
    assert "550" in (results["refused"].message or "")
    assert len(stack.sink.messages) == 1  # the forwarded canary left the stack
    # what arrived was cleaned up: no canary left in any folder
    for name, folder in [("stays", "INBOX"), ("archive", "Archive"), ("spam", "Junk")]:
        assert folder_uids(stack, f"{name}@{DOMAIN}", folder) == []
    assert folder_uids(stack, f"umlaut@{DOMAIN}", '"Entw&APw-rfe"') == []
    assert results["stays"].auth_results is not None


async def test_a_move_during_the_hold_by_another_client(stack: MailStack) -> None:
    """Another client (a phone, a helpdesk tool) moves the canary once it is held in INBOX."""
    secrets = MemorySecrets()
    user = f"later@{DOMAIN}"
    holding = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, CanaryProgress) and event.progress is Progress.HOLDING:
            holding.set()

    engine = CanaryEngine(
        Settings(timeout=10), secrets=secrets, arrival_timeout=5, hold=2.0, on_event=on_event
    )

    def move_during_the_hold() -> None:
        assert holding.wait(timeout=10)
        client = imap_client(stack, user)
        try:
            client.select("INBOX")
            _, data = client.uid("SEARCH", "HEADER", "X-Mailconsole-Canary", "mc-canary-")
            client.uid("MOVE", data[0].split()[0], "Archive")
        finally:
            client.logout()

    mover = asyncio.create_task(asyncio.to_thread(move_during_the_hold))
    (result,) = await engine.run([account(stack, secrets, "later")])
    await mover
    assert result.cause is Cause.REPLY_REMOVED_LATER, result
    assert "Archive" in (result.message or "")
    assert result.cleaned
    assert folder_uids(stack, user, "Archive") == []


async def test_only_the_canary_is_deleted_from_dovecot(stack: MailStack) -> None:
    user = f"mixed@{DOMAIN}"
    lookalikes = [
        (
            f"From: {user}\r\nTo: {user}\r\nSubject: mailconsole reply canary mc-canary-1234\r\n"
            "X-Mailconsole-Canary: mc-canary-1234\r\n\r\nan older canary, not this run's\r\n"
        ),
        (
            f"From: prospect@other.test\r\nTo: {user}\r\nSubject: Re: mailconsole reply canary\r\n"
            "X-Mailconsole-Canary: mc-canary-\r\n\r\na reply quoting the header\r\n"
        ),
        f"From: prospect@other.test\r\nTo: {user}\r\nSubject: a real reply\r\n\r\nkeep me\r\n",
    ]
    with smtplib.LMTP(HOST, stack.lmtp_port, timeout=10) as lmtp:
        for text in lookalikes:
            lmtp.sendmail("prospect@other.test", [user], text.encode())
    before = folder_uids(stack, user, "INBOX")
    assert len(before) == 3
    client = imap_client(stack, user)  # one of them is already marked deleted by its owner
    client.select("INBOX")
    client.uid("STORE", before[2], "+FLAGS", "(\\Deleted)")
    client.logout()
    secrets = MemorySecrets()
    engine = CanaryEngine(Settings(timeout=10), secrets=secrets, arrival_timeout=5, hold=0.5)
    (result,) = await engine.run([account(stack, secrets, "mixed")])
    assert result.status is CanaryStatus.OK and result.cleaned
    assert folder_uids(stack, user, "INBOX") == before
