"""The baselines the engine is measured against: what a user would write instead.

A user's first fleet-check script, with the standard library (and the same steps on raw asyncio
streams, the fastest a Python client can be with no mail library at all):

    IMAP  connect, TLS, greeting, CAPABILITY, LOGIN, SELECT "INBOX", LOGOUT
    SMTP  connect, TLS, greeting, EHLO, AUTH PLAIN <initial response>, QUIT

imaplib asks CAPABILITY on connect and waits for LOGOUT's answer; smtplib's `login` sends AUTH
PLAIN with its initial response and `quit` waits for 221. The engine does more per account (the
quota, the TLS and certificate facts, a diagnosis of every failure) in fewer turns
(docs/round-trips.md).

Every baseline verifies the lab's certificate with one shared SSL context and checks each reply.
`Job` is one connection (one protocol of one account), the unit the engine's `concurrency` counts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import imaplib
import smtplib
import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from console.core.model import Account, Protocol, ServerSettings

TIMEOUT = 15.0


@dataclass(frozen=True)
class Job:
    settings: ServerSettings
    password: str


def jobs_of(accounts: Sequence[Account], password_of: Callable[[str], str]) -> list[list[Job]]:
    """Per account, its IMAP and SMTP connections."""
    out = []
    for account in accounts:
        jobs = []
        for protocol in (Protocol.IMAP, Protocol.SMTP):
            settings = account.settings_for(protocol)
            assert settings is not None
            jobs.append(Job(settings, password_of(settings.username)))
        out.append(jobs)
    return out


def _plain(username: str, password: str) -> str:
    return base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")


# -- stdlib: imaplib / smtplib, blocking -------------------------------------------------------


def stdlib_imap(job: Job, context: ssl.SSLContext) -> bool:
    s = job.settings
    imap = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=context, timeout=TIMEOUT)  # + CAPABILITY
    try:
        imap.login(s.username, job.password)
        typ, _ = imap.select("INBOX")
        return typ == "OK"
    finally:
        imap.logout()


def stdlib_smtp(job: Job, context: ssl.SSLContext) -> bool:
    s = job.settings
    with smtplib.SMTP_SSL(
        s.host, s.port, local_hostname=f"[{s.host}]", context=context, timeout=TIMEOUT
    ) as smtp:
        smtp.ehlo()
        code, _ = smtp.login(s.username, job.password)  # AUTH PLAIN <initial response>
        return code == 235  # smtplib raises on anything else; QUIT on leaving the block


def stdlib_job(job: Job, context: ssl.SSLContext) -> bool:
    check = stdlib_imap if job.settings.protocol is Protocol.IMAP else stdlib_smtp
    try:
        return check(job, context)
    except (OSError, imaplib.IMAP4.error, smtplib.SMTPException):
        return False


def run_sequential(accounts: list[list[Job]], context: ssl.SSLContext) -> int:
    """One account after another, IMAP then SMTP: what a simple script does.

    Returns the number of accounts whose checks all passed (as every runner here does).
    """
    return sum(all([stdlib_job(job, context) for job in jobs]) for jobs in accounts)


def run_threads(accounts: list[list[Job]], context: ssl.SSLContext, workers: int = 32) -> int:
    """The same blocking code in a ThreadPoolExecutor: `workers` connections in flight."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [[pool.submit(stdlib_job, job, context) for job in jobs] for jobs in accounts]
        return sum(all([f.result() for f in account]) for account in futures)


# -- raw asyncio: streams, no mail library -----------------------------------------------------


class _Refused(Exception):
    pass


async def _imap_command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tag: str, command: str
) -> None:
    writer.write(f"{tag} {command}\r\n".encode())
    prefix = f"{tag} ".encode()
    while True:
        line = await reader.readline()
        if not line:
            raise _Refused("closed")
        if line.startswith(prefix):
            if line[len(prefix) : len(prefix) + 2] != b"OK":
                raise _Refused(line.decode())
            return


async def raw_imap(job: Job, context: ssl.SSLContext) -> bool:
    s = job.settings
    reader, writer = await asyncio.open_connection(
        s.host, s.port, ssl=context, server_hostname=s.host
    )
    try:
        if not (await reader.readline()).startswith(b"* OK"):
            return False
        login = f"LOGIN {_quoted(s.username)} {_quoted(job.password)}"
        for tag, command in (("a1", "CAPABILITY"), ("a2", login), ("a3", 'SELECT "INBOX"')):
            await _imap_command(reader, writer, tag, command)
        await _imap_command(reader, writer, "a4", "LOGOUT")
        return True
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _smtp_reply(reader: asyncio.StreamReader) -> int:
    while True:
        line = await reader.readline()
        if len(line) < 4:
            raise _Refused("closed")
        if line[3:4] != b"-":
            return int(line[:3])


async def _smtp_command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, expect: int
) -> None:
    writer.write(f"{line}\r\n".encode())
    code = await _smtp_reply(reader)
    if code != expect:
        raise _Refused(str(code))


async def raw_smtp(job: Job, context: ssl.SSLContext) -> bool:
    s = job.settings
    reader, writer = await asyncio.open_connection(
        s.host, s.port, ssl=context, server_hostname=s.host
    )
    try:
        if await _smtp_reply(reader) != 220:
            return False
        await _smtp_command(reader, writer, f"EHLO [{s.host}]", 250)
        await _smtp_command(reader, writer, f"AUTH PLAIN {_plain(s.username, job.password)}", 235)
        await _smtp_command(reader, writer, "QUIT", 221)
        return True
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def raw_job(job: Job, context: ssl.SSLContext, slots: asyncio.Semaphore) -> bool:
    check = raw_imap if job.settings.protocol is Protocol.IMAP else raw_smtp
    async with slots:
        try:
            async with asyncio.timeout(TIMEOUT):
                return await check(job, context)
        except (OSError, TimeoutError, _Refused, ValueError):
            return False


async def run_raw(accounts: list[list[Job]], context: ssl.SSLContext, concurrency: int = 32) -> int:
    """Like the runner: every account's IMAP and SMTP at once, `concurrency` connections."""
    slots = asyncio.Semaphore(concurrency)

    async def account(jobs: list[Job]) -> bool:
        return all(await asyncio.gather(*(raw_job(j, context, slots) for j in jobs)))

    return sum(await asyncio.gather(*(account(jobs) for jobs in accounts)))
