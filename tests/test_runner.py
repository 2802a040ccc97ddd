"""The runner against lab servers: limits measured in the server, cancellation, events, rules."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from console.core.model import (
    Account,
    AccountResult,
    Cause,
    CheckResult,
    ConfigIssue,
    Protocol,
    Security,
    ServerSettings,
    Settings,
    Stage,
    State,
    Status,
)
from console.core.runner import (
    SESSION_HOSTS_ONLY,
    AccountFinished,
    CheckFinished,
    CheckStarted,
    Runner,
    RunnerEvent,
    StageReached,
    auto_recheck_allowed,
)
from console.core.secrets import MemorySecrets
from console.lab import (
    Action,
    Hostile,
    ImapScenario,
    Lab,
    LabServer,
    SmtpScenario,
    derived_password,
)
from console.ui.board import Entry
from console.ui.detail import detail_content
from console.ui.knowledge import cause_title


def server(protocol: Protocol, srv: LabServer, user: str, ca: str, host: str) -> ServerSettings:
    return ServerSettings(
        protocol=protocol,
        host=host,
        port=srv.port,
        security=Security.TLS,
        username=user,
        tls_ca_file=ca,
    )


def fleet(
    n: int, smtp: LabServer, imap: LabServer | None, ca: str
) -> tuple[list[Account], MemorySecrets]:
    """n accounts; SMTP reached as localhost and IMAP as 127.0.0.1 (two hosts, two host limits)."""
    secrets = MemorySecrets()
    accounts = []
    for i in range(n):
        user = f"user{i}@fleet.example"
        s = server(Protocol.SMTP, smtp, user, ca, "localhost")
        m = server(Protocol.IMAP, imap, user, ca, "127.0.0.1") if imap else None
        secrets.set(s, derived_password(user))
        if m is not None:
            secrets.set(m, derived_password(user))
        accounts.append(Account(email=user, smtp=s, imap=m, send_only=imap is None))
    return accounts, secrets


async def test_300_accounts_respect_the_per_host_limit() -> None:
    async with Lab(record=False) as lab:
        imap, smtp = await lab.start_all(
            [
                ImapScenario(password_of=derived_password, delay_ms=5),
                SmtpScenario(password_of=derived_password, delay_ms=5),
            ]
        )
        accounts, secrets = fleet(300, smtp, imap, str(lab.ca.ca_file))
        runner = Runner(Settings(concurrency=100, per_host=4, timeout=10), secrets=secrets)
        results = await runner.check_accounts(accounts)
        assert [r.email for r in results] == [a.email for a in accounts]
        assert all(r.state is State.CONNECTED for r in results), {r.imap.cause for r in results} | {
            r.smtp.cause for r in results
        }
        assert imap.logins_accepted == 300 and smtp.logins_accepted == 300
        assert imap.max_concurrent == 4
        assert smtp.max_concurrent == 4


async def test_the_global_limit_bounds_connections_in_flight() -> None:
    async with Lab(record=False) as lab:
        smtp = await lab.start(SmtpScenario(password_of=derived_password, delay_ms=5))
        accounts, secrets = fleet(300, smtp, None, str(lab.ca.ca_file))
        runner = Runner(Settings(concurrency=6, per_host=100, timeout=10), secrets=secrets)
        results = await runner.check_accounts(accounts)
        assert all(r.state is State.CONNECTED for r in results)
        assert all(r.imap.status is Status.NA for r in results)
        assert smtp.connections_total == 300
        assert smtp.max_concurrent == 6


async def test_cancelling_mid_run_leaves_nothing_behind() -> None:
    threads_before = {t.ident for t in threading.enumerate()}
    async with Lab(record=False) as lab:
        imap, smtp = await lab.start_all(
            [
                ImapScenario(password_of=derived_password, hostile=Hostile(action=Action.SILENT)),
                SmtpScenario(password_of=derived_password, hostile=Hostile(action=Action.SILENT)),
            ]
        )
        accounts, secrets = fleet(300, smtp, imap, str(lab.ca.ca_file))
        runner = Runner(Settings(concurrency=200, per_host=100, timeout=30), secrets=secrets)
        task = asyncio.create_task(runner.check_accounts(accounts))
        await imap.wait_until(lambda s: s.connections_current >= 50, timeout=20)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == [] or all(t.get_coro().__qualname__.startswith("Lab") for t in others)
        await imap.wait_until(lambda s: s.connections_current == 0, timeout=5)
        await smtp.wait_until(lambda s: s.connections_current == 0, timeout=5)
    # The loop's own executor (DNS lookups) keeps its idle workers until the loop closes.
    new = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    assert [n for n in new if not n.startswith("asyncio_")] == []


async def test_events_follow_the_ladder() -> None:
    async with Lab() as lab:
        imap, smtp = await lab.start_all(
            [ImapScenario(password_of=derived_password), SmtpScenario(password_of=derived_password)]
        )
        accounts, secrets = fleet(1, smtp, imap, str(lab.ca.ca_file))
        events: list[RunnerEvent] = []
        result = await Runner(Settings(), secrets=secrets, on_event=events.append).check_account(
            accounts[0]
        )
    assert result.state is State.CONNECTED
    imap_events = [e for e in events if getattr(e, "protocol", None) is Protocol.IMAP]
    assert isinstance(imap_events[0], CheckStarted)
    assert isinstance(imap_events[-1], CheckFinished) and imap_events[-1].result == result.imap
    stages = [e.stage for e in imap_events if isinstance(e, StageReached)]
    assert stages[:4] == [Stage.CONFIG, Stage.SECRET, Stage.DNS, Stage.CONNECT]
    assert Stage.AUTH in stages and Stage.MAILBOX in stages
    assert isinstance(events[-1], AccountFinished) and events[-1].result == result
    assert [s.stage for s in result.imap.steps][:2] == [Stage.CONFIG, Stage.SECRET]


async def test_secret_and_config_failures_stop_before_the_network() -> None:
    async with Lab() as lab:
        imap, smtp = await lab.start_all([ImapScenario(), SmtpScenario()])
        ca = str(lab.ca.ca_file)
        no_secret = Account(
            email="a@x.example",
            smtp=server(Protocol.SMTP, smtp, "a@x.example", ca, "127.0.0.1"),
            imap=server(Protocol.IMAP, imap, "a@x.example", ca, "127.0.0.1"),
        )
        bad_port = Account(
            email="b@x.example",
            smtp=server(Protocol.SMTP, smtp, "b@x.example", ca, "127.0.0.1"),
            imap=None,
            issues=(ConfigIssue("port 99999 is out of range", "b@x.example", "imap.port"),),
        )
        runner = Runner(Settings(timeout=5), secrets=MemorySecrets())
        first, second = await runner.check_accounts([no_secret, bad_port])
        assert imap.connections_total == 0 and smtp.connections_total == 0
    assert (first.imap.cause, first.imap.stage) == (Cause.SECRET_UNAVAILABLE, Stage.SECRET)
    assert first.state is State.DISCONNECTED
    assert (second.imap.cause, second.imap.stage) == (Cause.SETTINGS_INVALID, Stage.CONFIG)
    assert "imap.port" in (second.imap.message or "")
    assert second.smtp.cause is Cause.SECRET_UNAVAILABLE


async def test_missing_imap_is_conditional_and_allowed_hosts_are_enforced() -> None:
    outside = ServerSettings(Protocol.SMTP, "smtp.gmail.com", 465, Security.TLS, "c@x.example")
    account = Account(email="c@x.example", smtp=outside)
    runner = Runner(Settings(), secrets=MemorySecrets(), allowed_hosts=frozenset({"127.0.0.1"}))
    result = await runner.check_account(account)
    assert (result.smtp.cause, result.smtp.stage) == (Cause.SETTINGS_INVALID, Stage.CONFIG)
    assert "smtp.gmail.com was not contacted" in (result.smtp.message or "")
    assert result.smtp.facts == {SESSION_HOSTS_ONLY: "127.0.0.1"}
    assert (result.imap.status, result.imap.cause) == (Status.MISSING, Cause.SETTINGS_MISSING)
    # the console names it for what it is, not "Settings invalid" with a port to fix
    entry = Entry(account, result)
    assert cause_title(result.smtp) == "Not contacted (demo)"
    shown = detail_content(entry, datetime.now(UTC), width=100).plain
    assert "these settings were not tried" in shown and "Settings invalid" not in shown


def _result(imap_cause: Cause | None) -> AccountResult:
    ok = CheckResult(Protocol.SMTP, Status.OK)
    imap = CheckResult(Protocol.IMAP, Status.FAILED if imap_cause else Status.OK, imap_cause)
    return AccountResult("a@x.example", ok, imap, datetime.now(UTC))


@pytest.mark.parametrize(
    ("cause", "allowed"),
    [
        (None, True),
        (Cause.TIMEOUT, True),
        (Cause.SERVER_UNAVAILABLE, True),
        (Cause.AUTH_FAILED, False),
        (Cause.APP_PASSWORD_REQUIRED, False),
        (Cause.ACCOUNT_UNAVAILABLE, False),
    ],
)
def test_credential_and_policy_failures_are_not_retried_automatically(
    cause: Cause | None, allowed: bool
) -> None:
    assert auto_recheck_allowed(_result(cause)) is allowed
    assert auto_recheck_allowed(None) is True


async def test_aliases_of_one_server_share_its_per_host_limit() -> None:
    """`localhost` and `127.0.0.1` name one server: together they get `per_host`, not twice it."""
    async with Lab(record=False) as lab:
        smtp = await lab.start(SmtpScenario(password_of=derived_password, delay_ms=20))
        ca = str(lab.ca.ca_file)
        secrets = MemorySecrets()
        accounts = []
        for i in range(40):
            user = f"alias{i}@fleet.example"
            host = ("localhost", "127.0.0.1", "LOCALHOST")[i % 3]
            s = server(Protocol.SMTP, smtp, user, ca, host)
            secrets.set(s, derived_password(user))
            accounts.append(Account(email=user, smtp=s, send_only=True))
        runner = Runner(Settings(concurrency=100, per_host=3, timeout=10), secrets=secrets)
        results = await runner.check_accounts(accounts)
        assert all(r.state is State.CONNECTED for r in results), {r.smtp.cause for r in results}
        assert smtp.connections_total == 40
        assert smtp.max_concurrent == 3


async def test_names_of_one_provider_share_its_limit_per_protocol() -> None:
    from console.core.host_limits import HostLimits

    limits = HostLimits(8, resolve_timeout=1)

    def at(host: str, protocol: Protocol = Protocol.SMTP) -> ServerSettings:
        port = 587 if protocol is Protocol.SMTP else 993
        return ServerSettings(
            protocol=protocol, host=host, port=port, security=Security.TLS, username="u"
        )

    office = await limits.key(at("outlook.office365.com"))
    assert office == await limits.key(at("smtp.office365.com"))
    assert office == await limits.key(at("SMTP.Office365.com."))
    assert office != await limits.key(at("outlook.office365.com", Protocol.IMAP))
    assert limits.slot(office) is limits.slot(await limits.key(at("smtp.office365.com")))
