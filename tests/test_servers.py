"""The loopback test servers behave as the other tests rely on (test-servers.md)."""

from __future__ import annotations

import imaplib
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiosmtplib
import pytest
from servers import ALICE, BOB, CAROL, HOST, TlsFiles
from servers_dovecot import DovecotServer, start_dovecot
from servers_smtp import SmtpServers, start_smtpd

from console.core.model import Protocol, Security

# --- Dovecot ----------------------------------------------------------------------------------


@contextmanager
def imap(
    server: DovecotServer, context: ssl.SSLContext, *, security: Security
) -> Iterator[imaplib.IMAP4]:
    """A verified imaplib connection that is always closed."""
    client: imaplib.IMAP4
    if security is Security.TLS:
        client = imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=context, timeout=10)
    else:
        client = imaplib.IMAP4(server.host, server.imap_port, timeout=10)
        client.starttls(context)
    try:
        yield client
    finally:
        client.shutdown()


def authenticate_plain(client: imaplib.IMAP4, user: str, password: str) -> tuple[str, object]:
    # imaplib's login() can only send ASCII; AUTHENTICATE PLAIN carries UTF-8 in base64.
    return client.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
def test_dovecot_accepts_the_special_character_password(
    dovecot: DovecotServer, client_tls_context: ssl.SSLContext, security: Security
) -> None:
    with imap(dovecot, client_tls_context, security=security) as client:
        assert authenticate_plain(client, BOB.name, BOB.password) == ("OK", [b"Logged in"])
        assert client.select("INBOX")[0] == "OK"


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
def test_dovecot_rejects_a_wrong_password(
    dovecot: DovecotServer, client_tls_context: ssl.SSLContext, security: Security
) -> None:
    with (
        imap(dovecot, client_tls_context, security=security) as client,
        pytest.raises(imaplib.IMAP4.error) as caught,
    ):
        authenticate_plain(client, BOB.name, BOB.password + "x")
    assert str(caught.value) == "[AUTHENTICATIONFAILED] Authentication failed."


def test_a_failed_login_does_not_slow_the_next_one(
    dovecot: DovecotServer, client_tls_context: ssl.SSLContext
) -> None:
    # auth_failure_delay = 0 and no anvil penalty keep a suite of failing logins fast.
    with (
        imap(dovecot, client_tls_context, security=Security.TLS) as client,
        pytest.raises(imaplib.IMAP4.error),
    ):
        client.login(ALICE.name, "wrong")
    started = time.monotonic()
    with imap(dovecot, client_tls_context, security=Security.TLS) as client:
        assert client.login(ALICE.name, ALICE.password)[0] == "OK"
    assert time.monotonic() - started < 1.0


def test_alice_has_messages_and_carol_is_nearly_over_quota(
    dovecot: DovecotServer, client_tls_context: ssl.SSLContext
) -> None:
    with imap(dovecot, client_tls_context, security=Security.TLS) as client:
        client.login(ALICE.name, ALICE.password)
        assert client.select("INBOX") == ("OK", [str(dovecot.inbox_counts[ALICE.name]).encode()])
        assert dovecot.inbox_counts[ALICE.name] > 0
    with imap(dovecot, client_tls_context, security=Security.TLS) as client:
        client.login(CAROL.name, CAROL.password)
        client.select("INBOX")
        typ, data = client.getquotaroot("INBOX")
    assert typ == "OK"
    match = re.search(rb"\(STORAGE (\d+) (\d+)\)", data[1][0])
    assert match is not None
    used, limit = int(match[1]), int(match[2])
    assert used / limit > 0.9
    assert dovecot.quota_user == CAROL.name


def test_plaintext_login_is_refused_from_a_non_local_source(dovecot: DovecotServer) -> None:
    # Dovecot treats 127.0.0.1 -> 127.0.0.1 as secured; from 127.0.0.2 it is not.
    with socket.create_connection(
        (dovecot.host, dovecot.imap_port), timeout=10, source_address=("127.0.0.2", 0)
    ) as sock:
        greeting = sock.makefile("rb").readline()
    assert b"LOGINDISABLED" in greeting
    assert b"STARTTLS" in greeting


def test_settings_point_at_the_server(dovecot: DovecotServer) -> None:
    tls = dovecot.settings(BOB.name)
    assert (tls.protocol, tls.host, tls.port, tls.username) == (
        Protocol.IMAP,
        HOST,
        dovecot.imaps_port,
        BOB.name,
    )
    assert dovecot.settings(security=Security.STARTTLS).port == dovecot.imap_port
    assert tls.tls_ca_file == str(dovecot.ca_file)
    assert dovecot.log_path.exists()


def live_processes_in_group(group: int) -> list[int]:
    """Members of a process group that still run.

    Zombies are not counted: where PID 1 does not reap orphans they stay, holding nothing.
    """
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        state, pgid = fields[0], int(fields[2])
        if pgid == group and state != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.usefixtures("dovecot_binary")
def test_stopping_dovecot_leaves_no_process(
    tls_files: TlsFiles, client_tls_context: ssl.SSLContext
) -> None:
    server = start_dovecot(tls_files)
    group = os.getpgid(server.process.pid)
    assert group == server.process.pid  # its own group: one killpg reaches every child
    with imap(server, client_tls_context, security=Security.TLS) as client:
        assert client.login(ALICE.name, ALICE.password)[0] == "OK"
    assert len(live_processes_in_group(group)) >= 4  # master, log, auth, login, ...
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 4.0
    assert live_processes_in_group(group) == []
    assert not server.directory.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, server.imaps_port), timeout=1).close()


# --- aiosmtpd ---------------------------------------------------------------------------------


def smtp_client(
    servers: SmtpServers, context: ssl.SSLContext, security: Security
) -> aiosmtplib.SMTP:
    port = servers.port_for(security)
    if security is Security.TLS:
        return aiosmtplib.SMTP(
            hostname=servers.host, port=port, use_tls=True, tls_context=context, timeout=10
        )
    return aiosmtplib.SMTP(
        hostname=servers.host,
        port=port,
        start_tls=security is Security.STARTTLS,
        tls_context=context,
        timeout=10,
    )


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
async def test_smtpd_accepts_the_special_character_password(
    smtpd: SmtpServers, client_tls_context: ssl.SSLContext, security: Security
) -> None:
    async with smtp_client(smtpd, client_tls_context, security) as client:
        response = await client.login(BOB.name, BOB.password)
    assert (response.code, response.message) == (235, "2.7.0 Authentication successful")


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
async def test_smtpd_rejects_a_wrong_password(
    smtpd: SmtpServers, client_tls_context: ssl.SSLContext, security: Security
) -> None:
    async with smtp_client(smtpd, client_tls_context, security) as client:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
            await client.login(BOB.name, "not " + BOB.password)
    assert (caught.value.code, caught.value.message) == (
        535,
        "5.7.8 Authentication credentials invalid",
    )


async def test_submission_port_requires_starttls_first(smtpd: SmtpServers) -> None:
    async with aiosmtplib.SMTP(
        hostname=smtpd.host, port=smtpd.submission_port, start_tls=False
    ) as client:
        await client.ehlo()
        assert client.supports_extension("starttls")
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
            await client.auth_plain(ALICE.name, ALICE.password)
    assert (caught.value.code, caught.value.message) == (530, "Must issue a STARTTLS command first")


async def test_plain_port_offers_no_starttls_but_takes_mail(smtpd: SmtpServers) -> None:
    async with aiosmtplib.SMTP(
        hostname=smtpd.host, port=smtpd.plain_port, start_tls=False
    ) as client:
        await client.ehlo()
        assert not client.supports_extension("starttls")
        assert client.supports_extension("auth")
        await client.auth_plain(ALICE.name, ALICE.password)
        await client.sendmail("alice@example.test", ["bob@example.test"], b"Subject: hi\r\n\r\nhi")
    assert smtpd.messages[-1].mail_from == "alice@example.test"


def test_smtpd_greets_with_its_ident(
    smtpd: SmtpServers, client_tls_context: ssl.SSLContext
) -> None:
    with (
        socket.create_connection((smtpd.host, smtpd.smtps_port), timeout=10) as raw,
        client_tls_context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        assert sock.recv(1024).startswith(b"220 localhost test-smtpd")
        sock.sendall(b"QUIT\r\n")


def test_stopping_smtpd_leaves_no_thread_or_port(tls_files: TlsFiles) -> None:
    before = set(threading.enumerate())
    servers = start_smtpd(tls_files)
    ports = [servers.smtps_port, servers.submission_port, servers.plain_port]
    assert len(set(threading.enumerate()) - before) == 3
    servers.stop()
    assert set(threading.enumerate()) - before == set()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, port), timeout=1).close()


def test_server_passwords_are_really_special() -> None:
    # Guards the fixture data: the quoting tests are only as good as this password.
    for char in ('"', "\\", " ", "ö", "€"):
        assert char in BOB.password
    assert not BOB.password.isascii()
