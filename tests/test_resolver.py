"""One host name lookup per fleet run: shared while in flight, kept briefly, failures kept less.

The lookups are the system resolver's (getaddrinfo of `localhost`, answered from /etc/hosts), seen
through a counting wrapper; names that fail do so locally (an over-long label), so no test sends
a DNS query anywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from servers import ALICE
from servers_dovecot import DovecotServer
from servers_smtp import SmtpServers

from console.core.model import Account, Security, Settings
from console.core.resolver import AddrInfo, Resolver, system_lookup
from console.core.runner import Runner
from console.core.secrets import MemorySecrets

BAD_NAME = "x" * 64 + ".example"  # a label over 63 octets: refused before any query is sent


class Counted:
    """The system lookup, counting the names asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, host: str) -> list[AddrInfo]:
        self.asked.append(host)
        return await system_lookup(host)


async def test_a_fleet_on_one_host_name_looks_it_up_once(
    dovecot: DovecotServer, smtpd: SmtpServers
) -> None:
    lookup = Counted()
    secrets = MemorySecrets()
    accounts = []
    for i in range(20):
        imap = dataclasses.replace(dovecot.settings(ALICE.name, Security.TLS), host="localhost")
        smtp = dataclasses.replace(smtpd.settings(ALICE.name, Security.TLS), host="localhost")
        accounts.append(Account(email=f"u{i}@fleet.test", smtp=smtp, imap=imap))
        secrets.set(imap.keyring_key, ALICE.password)
        secrets.set(smtp.keyring_key, ALICE.password)
    runner = Runner(
        Settings(concurrency=16, per_host=16), secrets=secrets, resolver=Resolver(lookup=lookup)
    )
    results = await runner.check_accounts(accounts)
    assert all(r.smtp.ok and r.imap.ok for r in results), [r.imap.message for r in results]
    assert lookup.asked == ["localhost"]  # 40 checks and the per-host limits: one question
    dns = [s for r in results for s in (*r.smtp.steps, *r.imap.steps) if s.stage.value == "dns"]
    assert len(dns) == 40 and all(s.ok for s in dns)  # every check still names its DNS stage


async def test_lookups_in_flight_are_shared_and_answers_expire() -> None:
    lookup = Counted()
    resolver = Resolver(lookup=lookup, ttl=0.2)
    answers = await asyncio.gather(*(resolver(" LOCALHOST", port) for port in range(1, 51)))
    assert lookup.asked == ["localhost"]
    assert {info[4][1] for infos in answers for info in infos} == set(range(1, 51))  # own port
    await resolver("localhost", 993)
    assert len(lookup.asked) == 1
    await asyncio.sleep(0.3)  # a later run asks again
    await resolver("localhost", 993)
    assert len(lookup.asked) == 2


async def test_a_failed_lookup_is_shared_then_forgotten_soon() -> None:
    lookup = Counted()
    resolver = Resolver(lookup=lookup, failure_ttl=0.2)
    outcomes = await asyncio.gather(
        *(resolver(BAD_NAME, 993) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(o, UnicodeError) for o in outcomes), outcomes
    with pytest.raises(UnicodeError):
        await resolver(BAD_NAME, 993)
    assert len(lookup.asked) == 1
    await asyncio.sleep(0.3)
    with pytest.raises(UnicodeError):
        await resolver(BAD_NAME, 993)
    assert len(lookup.asked) == 2


async def test_one_callers_cancellation_does_not_cancel_the_shared_lookup() -> None:
    lookup = Counted()
    resolver = Resolver(lookup=lookup)
    first = asyncio.ensure_future(resolver("localhost", 1))
    second = asyncio.ensure_future(resolver("localhost", 2))
    await asyncio.sleep(0)
    first.cancel()
    infos = await second
    assert infos and infos[0][4][1] == 2
    assert first.cancelled()
