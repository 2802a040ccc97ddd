"""The reply canary against the lab: every outcome, shared connections, no IDLE, no UIDPLUS."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from canary_lab import start_canary_lab

from console.core.canary import CanaryEngine, CanaryProgress, CanaryStatus, MemoryHolds, Progress
from console.core.model import Cause, Settings
from console.core.store.holds import StoredHolds
from console.lab import Hostile, Lab
from console.lab.mailstore import Delivery

FAST = Settings(timeout=5)


async def test_every_outcome_in_the_lab(lab: Lab) -> None:
    users = {
        "stays@lab.test": Delivery("inbox"),
        "spam@lab.test": Delivery("junk"),
        "moved@lab.test": Delivery("folder", folder="Entwürfe"),
        "lost@lab.test": Delivery("drop"),
        "later@lab.test": Delivery("remove_later", folder="Archive", after=0.3),
        "refused@lab.test": Delivery("refuse"),
    }
    canary = await start_canary_lab(lab, users)
    accounts = [canary.account(u, hold=1 / 60) for u in users]
    holds = MemoryHolds()
    engine = CanaryEngine(FAST, secrets=canary.secrets, holds=holds, arrival_timeout=1.5, hold=1.0)
    started = time.monotonic()
    results = {r.email: r for r in await engine.run(accounts)}
    assert time.monotonic() - started < 15

    ok = results["stays@lab.test"]
    assert ok.status is CanaryStatus.OK and ok.cleaned and ok.folder == "INBOX"
    assert ok.latency_ms is not None and ok.latency_ms < 1000
    assert results["spam@lab.test"].cause is Cause.REPLY_IN_SPAM
    assert results["spam@lab.test"].folder == "Junk"
    moved = results["moved@lab.test"]
    assert moved.cause is Cause.REPLY_MOVED and moved.folder == "Entwürfe"
    assert "Entwürfe" in (moved.message or "")
    lost = results["lost@lab.test"]
    assert lost.cause is Cause.REPLY_NOT_RECEIVED and lost.evidence
    assert results["later@lab.test"].cause is Cause.REPLY_REMOVED_LATER
    assert "Archive" in (results["later@lab.test"].message or "")
    assert results["refused@lab.test"].cause is Cause.RECIPIENT_REFUSED
    assert not holds.pending()
    # every canary that arrived somewhere is gone again
    for user, boxes in canary.store.users.items():
        for folder in boxes.values():
            assert not folder.messages, (user, folder.wire)


async def test_a_hundred_accounts_share_one_mailbox_connection(lab: Lab) -> None:
    canary = await start_canary_lab(lab, {"replies@lab.test": Delivery("inbox")})
    accounts = [canary.account(f"s{i:03}@lab.test", reply="replies@lab.test") for i in range(100)]
    for account in accounts:
        canary.store.add_user(account.email)  # they may send; replies go to one mailbox
    engine = CanaryEngine(
        Settings(timeout=10, concurrency=32, per_host=32),
        secrets=canary.secrets,
        arrival_timeout=10,
        hold=0.2,
    )
    imap = next(
        s
        for s in lab.servers
        if s.scenario.mailstore is not None
        and "IDLE" in str(getattr(s.scenario, "capabilities", ""))
    )
    results = await engine.run(accounts)
    assert {r.status for r in results} == {CanaryStatus.OK}
    assert engine.connections_max == 1
    assert imap.max_concurrent == 1
    assert imap.connections_total == 2  # arrival, then the look after the hold
    assert not canary.store.users["replies@lab.test"]["INBOX"].messages
    latencies = sorted(r.latency_ms or 0 for r in results)
    print(f"100 canaries, one mailbox: latency p50 {latencies[50]} ms, max {latencies[-1]} ms")


async def test_without_idle_it_polls_and_without_uidplus_it_leaves_the_message(lab: Lab) -> None:
    caps = ("IMAP4rev1", "SASL-IR", "LITERAL+", "SPECIAL-USE", "AUTH=PLAIN")  # no IDLE, UIDPLUS
    canary = await start_canary_lab(lab, {"plain@lab.test": Delivery("inbox")}, capabilities=caps)
    engine = CanaryEngine(FAST, secrets=canary.secrets, arrival_timeout=5, hold=0.2)
    (result,) = await engine.run([canary.account("plain@lab.test")])
    assert result.status is CanaryStatus.OK
    assert not result.cleaned
    assert any("no UIDPLUS" in line for line in result.evidence)
    (message,) = canary.store.users["plain@lab.test"]["INBOX"].messages
    assert message.flags == {"\\Seen", "\\Deleted"}
    imap = [s for s in lab.servers if s.scenario.mailstore is not None][-1]
    assert not any(b"IDLE" in line for line in imap.lines())
    assert not any(b"EXPUNGE" in line for line in imap.lines())


async def test_a_dropped_idle_connection_is_opened_again(lab: Lab) -> None:
    canary = await start_canary_lab(
        lab,
        {"drop@lab.test": Delivery("inbox", delay=0.5)},
        hostile=Hostile(action="close", at="IDLE"),
    )
    engine = CanaryEngine(FAST, secrets=canary.secrets, arrival_timeout=5, hold=0.2)
    (result,) = await engine.run([canary.account("drop@lab.test")])
    assert result.status is CanaryStatus.OK, result
    assert any("connection lost" in line for line in result.evidence)


async def test_a_utf7_tracked_mailbox(lab: Lab) -> None:
    canary = await start_canary_lab(
        lab, {"de@lab.test": Delivery("folder", folder="Eingang/Antworten für uns")}
    )
    account = canary.account("de@lab.test", mailbox="Eingang/Antworten für uns")
    engine = CanaryEngine(FAST, secrets=canary.secrets, arrival_timeout=5, hold=0.2)
    (result,) = await engine.run([account])
    assert result.status is CanaryStatus.OK, result
    assert result.folder == "Eingang/Antworten für uns" and result.cleaned


async def test_only_its_own_message_is_ever_deleted(lab: Lab) -> None:
    canary = await start_canary_lab(lab, {"mixed@lab.test": Delivery("inbox")})
    inbox = canary.store.users["mixed@lab.test"]["INBOX"]
    lookalikes = [
        b"Subject: mailconsole reply canary mc-canary-00000000000000000000\r\n"
        b"X-Mailconsole-Canary: mc-canary-00000000000000000000\r\n\r\nold canary, not ours\r\n",
        b"Subject: Re: mailconsole reply canary\r\nX-Mailconsole-Canary: mc-canary-\r\n\r\nx\r\n",
        b"Subject: a real reply\r\nX-Other: mc-canary-\r\n\r\nkeep me\r\n",
    ]
    for data in lookalikes:
        inbox.add(data, {"\\Deleted"} if b"real reply" in data else set())
    engine = CanaryEngine(FAST, secrets=canary.secrets, arrival_timeout=5, hold=0.2)
    (result,) = await engine.run([canary.account("mixed@lab.test")])
    assert result.status is CanaryStatus.OK and result.cleaned
    assert [m.data for m in inbox.messages] == lookalikes  # a \Deleted reply survives UID EXPUNGE


async def test_no_canary_without_a_reply_mailbox(lab: Lab) -> None:
    from dataclasses import replace

    canary = await start_canary_lab(lab, {"x@lab.test": Delivery("inbox")})
    base = canary.account("x@lab.test")
    send_only = replace(base, email="relay@lab.test", imap=None, send_only=True)
    no_imap = replace(base, email="noimap@lab.test", imap=None)
    engine = CanaryEngine(FAST, secrets=canary.secrets, arrival_timeout=2, hold=0.2)
    results = await engine.run([send_only, no_imap])
    assert [r.status for r in results] == [CanaryStatus.SKIPPED, CanaryStatus.SKIPPED]
    assert "send-only" in (results[0].message or "")
    assert "no IMAP settings" in (results[1].message or "")
    assert canary.store.delivered == []


async def test_a_stopped_hold_is_kept_and_finished_later(lab: Lab, tmp_path: Path) -> None:
    """Quit during the hold: the hold is in the results store; the next run finishes it."""
    import asyncio

    canary = await start_canary_lab(lab, {"hold@lab.test": Delivery("inbox")})
    account = canary.account("hold@lab.test")
    holds = StoredHolds(tmp_path / "results.sqlite3")
    events: list[object] = []
    engine = CanaryEngine(
        FAST,
        secrets=canary.secrets,
        holds=holds,
        arrival_timeout=5,
        hold=60,
        on_event=events.append,
    )
    task = asyncio.ensure_future(engine.run([account]))
    while not holds.pending():
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    holds.close()
    holds = StoredHolds(tmp_path / "results.sqlite3")  # a restart
    (pending,) = holds.pending()
    assert pending.email == "hold@lab.test"
    assert len(canary.store.users["hold@lab.test"]["INBOX"].messages) == 1
    assert not any(task for task in asyncio.all_tasks() if task is not asyncio.current_task())
    # the next run finishes it without sending another message
    held = replace_hold(pending)
    holds.save(held)
    again = CanaryEngine(FAST, secrets=canary.secrets, holds=holds, arrival_timeout=5, hold=60)
    (result,) = await again.run([account])
    assert result.status is CanaryStatus.OK and result.cleaned
    assert len(canary.store.delivered) == 1
    assert not holds.pending()
    holds.close()


def replace_hold(hold: object) -> object:
    from dataclasses import replace
    from datetime import UTC, datetime

    return replace(hold, hold_until=datetime.now(UTC))  # type: ignore[type-var]


@pytest.mark.parametrize(
    "phase",
    [Progress.SENDING, Progress.WAITING, Progress.SEARCHING, Progress.HOLDING, Progress.CLEANING],
)
async def test_stopping_in_any_phase_leaves_nothing_running(
    lab: Lab, tmp_path: Path, phase: Progress
) -> None:
    """Quit at every phase: no task, no connection left; a hold already saved stays saved."""
    import asyncio

    canary = await start_canary_lab(lab, {"stop@lab.test": Delivery("inbox", delay=2.5)})
    holds = StoredHolds(tmp_path / "results.sqlite3")
    reached = asyncio.Event()

    def on_event(event: object) -> None:
        if isinstance(event, CanaryProgress) and event.progress is phase:
            reached.set()

    engine = CanaryEngine(
        FAST, secrets=canary.secrets, holds=holds, arrival_timeout=6, hold=0.5, on_event=on_event
    )
    task = asyncio.ensure_future(engine.run([canary.account("stop@lab.test")]))
    async with asyncio.timeout(15):
        await reached.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} <= {
        t for t in asyncio.all_tasks() if "lab" in repr(t.get_coro()).lower()
    }
    for server in lab.servers:
        await server.wait_until(lambda s: s.connections_current == 0)
    if phase is Progress.HOLDING:
        assert [h.email for h in holds.pending()] == ["stop@lab.test"]
    holds.close()
