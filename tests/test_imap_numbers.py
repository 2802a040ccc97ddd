"""Numbers and floods from servers: a 5,000-digit EXISTS, SIZE or QUOTA is an oddity that is left
out (the check still passes), and ~950 lines in one read parse without recursion."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.core.model import Protocol, Security, ServerSettings, Status
from console.core.probe import probe_imap, probe_smtp
from console.core.probe.numbers import MAX_DIGITS, server_count
from console.lab import (
    LAB_PASSWORD,
    LAB_USER,
    ImapScenario,
    LabCA,
    LabImapServer,
    LabSmtpServer,
    SmtpScenario,
)

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py

HUGE = "9" * 5000


@pytest.fixture(scope="module")
def ca() -> Iterator[LabCA]:
    with LabCA() as lab_ca:
        yield lab_ca


def _settings(protocol: Protocol, port: int, ca: LabCA) -> ServerSettings:
    return ServerSettings(
        protocol=protocol,
        host="localhost",
        port=port,
        security=Security.TLS,
        username=LAB_USER,
        tls_ca_file=str(ca.ca_file),
    )


def test_server_count_is_length_bounded() -> None:
    assert server_count("172") == 172
    assert server_count("9" * MAX_DIGITS) == int("9" * MAX_DIGITS)
    assert server_count(HUGE) is None
    assert server_count("١٢") is None  # non-ASCII digits are not a count
    assert server_count("") is None and server_count("12a") is None


async def test_a_5000_digit_exists_is_left_out(ca: LabCA) -> None:
    scenario = ImapScenario(examine_reply=f"* {HUGE} EXISTS\nOK [READ-ONLY] Examine completed.")
    async with LabImapServer(scenario, ca=ca) as server:
        result = await probe_imap(
            _settings(Protocol.IMAP, server.port, ca), LAB_PASSWORD, timeout=5
        )
    assert result.status is Status.OK, result
    assert "messages" not in result.facts
    assert any("EXISTS with 5000 digits ignored" in step.detail for step in result.steps)


async def test_a_5000_digit_quota_is_left_out(ca: LabCA) -> None:
    reply = f'* QUOTAROOT INBOX ""\n* QUOTA "" (STORAGE {HUGE} {HUGE})\nOK Getquotaroot completed.'
    scenario = ImapScenario(replies={"GETQUOTAROOT": reply})
    async with LabImapServer(scenario, ca=ca) as server:
        result = await probe_imap(
            _settings(Protocol.IMAP, server.port, ca), LAB_PASSWORD, timeout=5
        )
    assert result.status is Status.OK, result
    assert "quota_used_kb" not in result.facts and "quota_limit_kb" not in result.facts


@pytest.mark.parametrize("lines", [950, 3000])
async def test_many_lines_in_one_read_do_not_recurse(ca: LabCA, lines: int) -> None:
    flood = "\n".join(f"* OK [x-note] line {n}" for n in range(lines))
    reply = f"{flood}\n* 12 EXISTS\nOK [READ-ONLY] Examine completed."
    scenario = ImapScenario(examine_reply=reply)
    async with LabImapServer(scenario, ca=ca) as server:
        result = await probe_imap(
            _settings(Protocol.IMAP, server.port, ca), LAB_PASSWORD, timeout=5
        )
    assert result.status is Status.OK, result
    assert result.facts["messages"] == 12


async def test_a_5000_digit_smtp_size_is_left_out(ca: LabCA) -> None:
    extensions = (f"SIZE {HUGE}", "AUTH PLAIN LOGIN", "8BITMIME")
    async with LabSmtpServer(SmtpScenario(extensions=extensions), ca=ca) as server:
        result = await probe_smtp(
            _settings(Protocol.SMTP, server.port, ca), LAB_PASSWORD, timeout=5
        )
    assert result.status is Status.OK, result
    assert "size_limit" not in result.facts
