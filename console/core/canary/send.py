"""Send the canary over the account's own SMTP settings: the SMTP ladder, then one message.

Everything up to a successful login is the check's ladder (console/core/probe/smtp.py), so a
send that fails there has the same cause as `check` would find. After login: MAIL FROM, RCPT TO
the reply address, DATA. A refused recipient (RCPT or DATA) is `recipient_refused`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiosmtplib.errors import SMTPDataError, SMTPResponseException

from console.core.canary.message import build_message
from console.core.model import Account, CheckResult, Stage, Status
from console.core.probe.smtp import probe_smtp, render
from console.core.probe.steps import Ladder, StageFailure


@dataclass
class Sent:
    """What the send did: the ladder's result and, past login, the envelope's fate."""

    result: CheckResult
    accepted: bool = False
    refused: str | None = None  # the server's text when RCPT or DATA was refused
    sent_at: float | None = None  # loop time when DATA was accepted


def recipient(account: Account) -> str:
    return account.reply_address or account.email


async def send_canary(
    account: Account,
    secret: str,
    token: str,
    *,
    now: datetime,
    timeout: float,
    provider: str | None,
    local_addr: str | None = None,
) -> Sent:
    assert account.smtp is not None
    to = recipient(account)
    data = build_message(account.email, account.name, to, token, now)
    outcome = Sent(result=CheckResult(account.smtp.protocol, status=Status.FAILED))

    async def deliver(ladder: Ladder, session: Any) -> None:
        proto, command = session.protocol, session.command
        async with asyncio.timeout(timeout):
            reply = await command(b"MAIL", f"FROM:<{account.email}>".encode())
        if reply.code != 250:
            failure = StageFailure(render(reply), smtp_code=reply.code)
            failure.stage = Stage.AUTH  # the server decides there whether this login may send
            raise failure
        async with asyncio.timeout(timeout):
            reply = await command(b"RCPT", f"TO:<{to}>".encode())
        if reply.code not in (250, 251):
            outcome.refused = render(reply)
            await _reset(command, timeout)
            return
        ladder.transcript.client("DATA (the canary message)")
        try:
            async with asyncio.timeout(timeout * 4):
                reply = await proto.execute_data_command(data, timeout=None)
        except SMTPDataError as exc:
            outcome.refused = f"{exc.code} {exc.message}"
            return
        except SMTPResponseException as exc:
            raise StageFailure(exc.message, exc=exc) from None
        ladder.transcript.server(render(reply))
        outcome.accepted = True
        outcome.sent_at = asyncio.get_running_loop().time()

    outcome.result = await probe_smtp(
        account.smtp,
        secret,
        timeout=timeout,
        provider=provider,
        local_addr=local_addr,
        after_auth=deliver,
    )
    return outcome


async def _reset(command: Any, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await command(b"RSET")
    except (TimeoutError, ConnectionError, StageFailure):
        pass
