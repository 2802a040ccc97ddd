"""The reply canary submitted to Postfix, which delivers over LMTP into Dovecot, where Sieve runs:
the stack self-hosted senders run, end to end on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from servers import ALICE, CAROL, HOST, TlsFiles, under_ci
from servers_dovecot import DovecotServer
from servers_mailstack import DOMAIN, LMTP_BINARY, SIEVE_PLUGIN, MailStack, start_mailstack
from servers_postfix import PostfixServer, start_postfix

from console.core.canary import CanaryEngine, CanaryStatus
from console.core.model import Account, Cause, Protocol, Security, ServerSettings, Settings
from console.core.secrets import MemorySecrets


@pytest.fixture(scope="module")
def delivery(
    postfix_binary: Path, dovecot: DovecotServer, tls_files: TlsFiles, tls_ca: trustme.CA
) -> Iterator[tuple[PostfixServer, MailStack]]:
    missing = [str(p) for p in (SIEVE_PLUGIN, LMTP_BINARY) if not p.exists()]
    if missing:
        reason = f"{', '.join(missing)} missing: install dovecot-lmtpd and dovecot-sieve"
        if under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    # Postfix's mailboxes are the servers.py users at example.test: the stack has the same names
    stack = start_mailstack(
        tls_files, {"alice": None, "carol": 'require ["fileinto"];\nfileinto "Junk";\n'}
    )
    try:
        postfix = start_postfix(
            tls_files, tls_ca, dovecot, next_hop=f"lmtp:inet:{HOST}:{stack.lmtp_port}"
        )
        try:
            yield postfix, stack
        finally:
            postfix.stop()
    finally:
        stack.stop()


def account(postfix: PostfixServer, stack: MailStack, secrets: MemorySecrets, user: str) -> Account:
    email = postfix.address(user)
    assert email.endswith(f"@{DOMAIN}")
    smtp = postfix.settings("submissions", user=user)
    imap = ServerSettings(
        Protocol.IMAP, HOST, stack.imaps_port, Security.TLS, email, tls_ca_file=str(stack.ca_file)
    )
    password = {ALICE.name: ALICE.password, CAROL.name: CAROL.password}[user]
    secrets.set(smtp, password)
    secrets.set(imap, stack.password(email))
    return Account(email=email, smtp=smtp, imap=imap)


async def test_postfix_to_lmtp_to_sieve(delivery: tuple[PostfixServer, MailStack]) -> None:
    postfix, stack = delivery
    secrets = MemorySecrets()
    accounts = [account(postfix, stack, secrets, u) for u in (ALICE.name, CAROL.name)]
    engine = CanaryEngine(Settings(timeout=10), secrets=secrets, arrival_timeout=20, hold=0.5)
    alice, carol = await engine.run(accounts)
    assert alice.status is CanaryStatus.OK, alice
    assert alice.cleaned and alice.latency_ms is not None
    assert carol.cause is Cause.REPLY_IN_SPAM, carol
    assert any(
        "postfix" in line.lower() or "esmtp" in line.lower() for line in alice.send.transcript
    )  # type: ignore[union-attr]
    print(f"Postfix -> LMTP -> Dovecot delivery latency: {alice.latency_ms} ms")
