"""Find working settings: real probes against lab servers on 127.0.0.1, no credential ever sent."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from console.core.model import Account, AuthMethod, Cause, Protocol, Security, ServerSettings
from console.core.providers.discovery import (
    Candidate,
    Discovery,
    Login,
    PortPairs,
    Source,
    check_host,
    discover,
    discover_account,
    fix_summary,
    plan,
    suggest_fix,
)
from console.core.providers.presets import STANDARD_PAIRS
from console.lab import Action, CertKind, Hostile, ImapScenario, Lab, LabServer, SmtpScenario
from console.lab.server import HOST

EMAIL = "alice@acme.example"
SENTINEL = "S3ntinel-never-sent"
TLS, STARTTLS, NONE = Security.TLS, Security.STARTTLS, Security.NONE
IMAP, SMTP = Protocol.IMAP, Protocol.SMTP
HOSTILE_GREETING = "* OK lab \x1b[31mred\x1b[0m \x9b2J [/] ready\x07"
SILENT = ImapScenario(security=STARTTLS, hostile=Hostile(action=Action.SILENT))


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def only(protocol: Protocol, *pairs: tuple[int, Security]) -> PortPairs:
    """Exactly these pairs for `protocol`, none for the other: no standard port is touched."""
    return {protocol: pairs, (SMTP if protocol is IMAP else IMAP): ()}


def settings(
    protocol: Protocol, port: int, security: Security, ca: Path, host: str = HOST
) -> ServerSettings:
    return ServerSettings(
        protocol, host, port, security, EMAIL, tls_ca_file=str(ca),
        password_command=f"printf '%s' '{SENTINEL}'",
    )  # fmt: skip


def assert_nothing_sent(*servers: LabServer[Any]) -> None:
    for server in servers:
        assert server.credentials_seen() == []
        assert not server.saw_auth_before_tls()
        sent = b"\n".join(server.lines()).upper()
        for word in (b"LOGIN", b"AUTHENTICATE", b"AUTH ", SENTINEL.upper().encode()):
            assert word not in sent
        assert server.errors == []


# -- the engine against the lab ------------------------------------------------------------------


async def test_port_security_mismatch_names_the_pair_that_works() -> None:
    async with Lab() as lab:
        imap = await lab.start(ImapScenario(security=STARTTLS))
        smtp = await lab.start(SmtpScenario(security=TLS))
        ca = lab.ca.ca_file
        account = Account(
            EMAIL,
            imap=settings(IMAP, imap.port, TLS, ca),  # the server wants STARTTLS
            smtp=settings(SMTP, smtp.port, TLS, ca),  # right
        )
        found = await discover_account(account, timeout=2.0, ports=only(IMAP))

        best = found.best(IMAP)
        assert best is not None
        assert (best.host, best.port, best.security, best.login) == (
            HOST, imap.port, STARTTLS, Login.PASSWORD,
        )  # fmt: skip
        assert best.tls_version and best.tls_version.startswith("TLS")
        assert best.source is Source.ACCOUNT
        own = next(c for c in found.for_protocol(IMAP) if c.matches(account.imap))  # type: ignore[arg-type]
        assert own.cause is Cause.TLS_MISMATCH and not own.ok
        assert suggest_fix(account, IMAP, found) == {"security": "starttls"}
        assert fix_summary(IMAP, found, account.imap) == (
            f"IMAP: use {HOST}:{imap.port} with security starttls "
            "(your account says tls: that is a port/security mismatch)"
        )
        # SMTP already answers as configured: no fix to offer
        assert suggest_fix(account, SMTP, found) is None
        assert "answer properly" in fix_summary(SMTP, found, account.smtp)
        assert_nothing_sent(imap, smtp)


async def test_implicit_tls_is_found_as_tls_without_waiting_for_the_plain_try() -> None:
    async with Lab() as lab:
        imap = await lab.start(ImapScenario(security=TLS))
        timeout = 3.0
        started = time.monotonic()
        found = await discover(
            EMAIL, IMAP, host=HOST, timeout=timeout, ca_file=str(lab.ca.ca_file),
            ports=only(IMAP, (imap.port, STARTTLS), (imap.port, TLS)),
        )  # fmt: skip
        elapsed = time.monotonic() - started
        best = found.best(IMAP)
        assert best is not None and (best.port, best.security) == (imap.port, TLS)
        plain_try = next(c for c in found.candidates if c.security is STARTTLS)
        # A STARTTLS client and a TLS server wait for each other; the TLS success settles it.
        assert plain_try.cause is Cause.TLS_MISMATCH
        assert "speaks implicit TLS" in (plain_try.message or "")
        assert elapsed < timeout
        assert found.ranked(IMAP)[0] is best
        assert_nothing_sent(imap)


async def test_wrong_service_and_closed_port_are_reported_not_recommended() -> None:
    async with Lab() as lab:
        smtp = await lab.start(SmtpScenario(security=STARTTLS))
        imap = await lab.start(ImapScenario(security=STARTTLS))
        closed = closed_port()
        found = await discover(
            EMAIL, IMAP, host=HOST, timeout=2.0, ca_file=str(lab.ca.ca_file),
            ports=only(IMAP, (smtp.port, STARTTLS), (closed, TLS), (imap.port, STARTTLS)),
        )  # fmt: skip
        by_port = {c.port: c for c in found.candidates}
        assert by_port[smtp.port].cause is Cause.WRONG_SERVICE
        assert "220 lab.test ESMTP" in (by_port[smtp.port].message or "")
        assert by_port[closed].cause is Cause.CONNECTION_REFUSED
        best = found.best(IMAP)
        assert best is not None and best.port == imap.port
        assert found.ranked(IMAP)[0].port == imap.port
        assert_nothing_sent(smtp, imap)


async def test_smtp_pairs_and_implicit_tls_ranked_before_starttls() -> None:
    async with Lab() as lab:
        starttls = await lab.start(SmtpScenario(security=STARTTLS))
        tls = await lab.start(SmtpScenario(security=TLS))
        found = await discover(
            EMAIL, SMTP, host="localhost", timeout=2.0, ca_file=str(lab.ca.ca_file),
            ports=only(SMTP, (starttls.port, STARTTLS), (tls.port, TLS)),
        )  # fmt: skip
        assert all(c.ok for c in found.candidates)
        assert [(c.port, c.security) for c in found.ranked(SMTP)] == [
            (tls.port, TLS), (starttls.port, STARTTLS),
        ]  # fmt: skip
        assert found.best(SMTP) is found.ranked(SMTP)[0]
        assert found.best(SMTP).auth_mechanisms == ("PLAIN", "LOGIN")  # type: ignore[union-attr]
        assert_nothing_sent(starttls, tls)


async def test_plain_is_reported_but_never_recommended() -> None:
    async with Lab() as lab:
        plain = await lab.start(ImapScenario(security=NONE))
        found = await discover(
            EMAIL, IMAP, host=HOST, timeout=2.0, ports=only(IMAP, (plain.port, NONE))
        )
        (only_try,) = found.candidates
        assert only_try.ok and not only_try.usable
        assert found.best(IMAP) is None
        assert fix_summary(IMAP, found, None) == "IMAP: none of the 1 candidates works"
        assert_nothing_sent(plain)


async def test_oauth2_only_servers_say_so() -> None:
    async with Lab() as lab:
        imap = await lab.start(
            ImapScenario(capabilities=("IMAP4rev1", "SASL-IR", "AUTH=XOAUTH2", "LOGINDISABLED"))
        )
        smtp = await lab.start(SmtpScenario(extensions=("PIPELINING", "AUTH XOAUTH2")))
        ca = str(lab.ca.ca_file)
        both: PortPairs = {IMAP: ((imap.port, TLS),), SMTP: ((smtp.port, TLS),)}
        found = await discover(EMAIL, host=HOST, timeout=2.0, ca_file=ca, ports=both)
        assert found.protocols == (IMAP, SMTP)
        for protocol in (IMAP, SMTP):
            best = found.best(protocol)
            assert best is not None and best.login is Login.OAUTH2_ONLY
            assert "XOAUTH2" in best.auth_mechanisms
            assert "only OAuth2" in fix_summary(protocol, found, None)
        assert found.best(IMAP).login_disabled  # type: ignore[union-attr]
        assert_nothing_sent(imap, smtp)


async def test_untrusted_certificate_is_not_recommended() -> None:
    async with Lab() as lab:
        imap = await lab.start(ImapScenario(cert=CertKind.WRONG_HOST))
        found = await discover(
            EMAIL, IMAP, host=HOST, timeout=2.0, ca_file=str(lab.ca.ca_file),
            ports=only(IMAP, (imap.port, TLS)),
        )  # fmt: skip
        assert found.candidates[0].cause is Cause.CERTIFICATE_INVALID
        assert found.best(IMAP) is None


# -- bounded in time, clean on cancellation --------------------------------------------------------


async def test_a_silent_server_ends_the_run_within_the_timeout() -> None:
    async with Lab() as lab:
        silent = await lab.start(SILENT)
        timeout = 0.5
        started = time.monotonic()
        found = await discover(
            EMAIL, IMAP, host=HOST, timeout=timeout, ports=only(IMAP, (silent.port, STARTTLS))
        )
        assert time.monotonic() - started < timeout + 0.5
        assert found.candidates[0].cause is Cause.TIMEOUT
        assert found.best(IMAP) is None


async def test_a_slow_server_is_cut_off_by_the_candidate_budget() -> None:
    """Every answer arrives just inside the stage timeout; the whole try still ends in 2x it."""
    async with Lab() as lab:
        # no [CAPABILITY] in the greeting: CAPABILITY before and after STARTTLS, five answers
        quiet = "* OK lab IMAP ready."
        slow = await lab.start(ImapScenario(security=STARTTLS, delay_ms=300, greeting=quiet))
        timeout = 0.5
        started = time.monotonic()
        found = await discover(
            EMAIL, IMAP, host=HOST, timeout=timeout, ca_file=str(lab.ca.ca_file),
            ports=only(IMAP, (slow.port, STARTTLS)),
        )  # fmt: skip
        assert time.monotonic() - started < 2 * timeout + 0.5
        (candidate,) = found.candidates
        assert candidate.cause is Cause.TIMEOUT
        assert candidate.message == "no complete answer within 1 s"


async def test_cancelling_a_discovery_closes_every_connection() -> None:
    async with Lab() as lab:
        silent = await lab.start(SILENT)
        pairs = only(IMAP, (silent.port, STARTTLS), (silent.port, NONE))
        task = asyncio.create_task(discover(EMAIL, IMAP, host=HOST, timeout=30.0, ports=pairs))
        await silent.wait_until(lambda s: s.connections_current == 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await silent.wait_until(lambda s: s.connections_current == 0, timeout=2.0)
        assert silent.connections_total == 2


async def test_hosts_outside_the_session_are_not_contacted() -> None:
    found = await discover(EMAIL, host="mail.acme.example", allowed_hosts={"127.0.0.1"})
    assert found.candidates == ()
    assert found.not_contacted == ("mail.acme.example",)
    assert fix_summary(IMAP, found, None) == "IMAP: no server to try"


async def test_a_dead_configured_host_falls_back_to_the_provider_servers() -> None:
    closed = closed_port()
    imap = ServerSettings(IMAP, HOST, closed, TLS, EMAIL)
    account = Account(EMAIL, provider="gmail", imap=imap)
    found = await discover_account(
        account, IMAP, timeout=2.0, ports=only(IMAP), allowed_hosts={HOST}
    )
    assert [(c.port, c.cause) for c in found.candidates] == [
        (closed, Cause.CONNECTION_REFUSED), (closed, Cause.CONNECTION_REFUSED),
    ]  # fmt: skip
    # the provider's published server is the next candidate; this session may not reach it
    assert found.not_contacted == ("imap.gmail.com",)
    assert found.protocols == (IMAP,) and found.providers == {IMAP: "gmail"}


# -- candidates and fixes without the network -------------------------------------------------


def test_unknown_domains_get_guessed_hosts_with_the_standard_pairs() -> None:
    imap = plan(EMAIL, IMAP)
    assert [(t.host, t.port, t.security) for t in imap] == [
        (h, p, s)
        for h in ("imap.acme.example", "mail.acme.example", "acme.example")
        for p, s in STANDARD_PAIRS[IMAP]
    ]
    smtp_hosts = list(dict.fromkeys(t.host for t in plan(EMAIL, SMTP)))
    assert smtp_hosts == ["smtp.acme.example", "mail.acme.example"]


def test_known_providers_use_their_published_servers() -> None:
    from console.core.providers import get_provider

    gmail = get_provider("gmail")
    targets = plan("bob@gmail.com", IMAP, provider=gmail)
    assert targets[0] == type(targets[0])(IMAP, "imap.gmail.com", 993, TLS, Source.PRESET)
    assert {t.host for t in targets} == {"imap.gmail.com"}
    assert (143, STARTTLS) in {(t.port, t.security) for t in targets}


def test_a_given_host_gets_its_own_port_first_then_the_standard_pairs() -> None:
    extra: PortPairs = {IMAP: ((1143, TLS), (1143, STARTTLS))}
    targets = plan(EMAIL, IMAP, host=" Mail.Acme.Example. ", extra_ports=extra)
    assert [(t.host, t.port, t.security, t.source) for t in targets] == [
        ("mail.acme.example", 1143, TLS, Source.ACCOUNT),
        ("mail.acme.example", 1143, STARTTLS, Source.ACCOUNT),
        ("mail.acme.example", 993, TLS, Source.STANDARD),
        ("mail.acme.example", 143, STARTTLS, Source.STANDARD),
    ]


@pytest.mark.parametrize("host", ["imap://mail.acme.example", "mail.acme.example:993", "a b", ""])
def test_what_is_not_a_host_is_refused_before_anything_is_contacted(host: str) -> None:
    with pytest.raises(ValueError, match="not a host name"):
        check_host(host)


async def test_bad_arguments_raise_before_anything_is_contacted() -> None:
    with pytest.raises(ValueError, match="not an email address"):
        await discover("no-at-sign", host=HOST)
    with pytest.raises(ValueError, match="unknown provider"):
        await discover(EMAIL, host=HOST, provider="no-such-provider")


def _found(*candidates: Candidate) -> Discovery:
    return Discovery(EMAIL, (IMAP,), candidates)


def _ok(port: int, security: Security, host: str = "imap.acme.example") -> Candidate:
    return Candidate(IMAP, host, port, security, Source.STANDARD, ok=True, login=Login.PASSWORD)


def test_suggest_fix_changes_only_what_differs() -> None:
    current = ServerSettings(IMAP, "IMAP.acme.example", 993, STARTTLS, EMAIL)
    account = Account(EMAIL, imap=current)
    found = _found(_ok(993, TLS))
    assert suggest_fix(account, IMAP, found) == {"security": "tls"}
    moved = _found(_ok(993, TLS, host="mail.acme.example"))
    assert suggest_fix(account, IMAP, moved) == {"host": "mail.acme.example", "security": "tls"}
    assert suggest_fix(Account(EMAIL), IMAP, found) == {
        "host": "imap.acme.example", "port": 993, "security": "tls",
    }  # fmt: skip
    assert suggest_fix(account, IMAP, _found()) is None
    # the account's own pair works: nothing to fix, even though TLS would rank higher
    ok_as_is = _found(_ok(993, TLS), _ok(993, STARTTLS, host="imap.acme.example"))
    assert suggest_fix(account, IMAP, ok_as_is) is None


def test_summary_names_a_changed_port() -> None:
    current = ServerSettings(IMAP, "imap.acme.example", 143, TLS, EMAIL, auth=AuthMethod.PASSWORD)
    text = fix_summary(IMAP, _found(_ok(993, TLS)), current)
    assert text == (
        "IMAP: use imap.acme.example:993 with security tls "
        "(your account says port 143 with tls: that is a port/security mismatch)"
    )


# -- mailconsole discover, end to end ----------------------------------------------------------


async def run_cli(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    env["MAILCONSOLE_CONFIG"] = "/nonexistent/accounts.toml"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console", "discover", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_account(path: Path, ca: Path, imap: tuple[int, str], smtp: tuple[int, str]) -> Path:
    def server(port: int, security: str) -> str:
        return (
            f'host = "{HOST}"\nport = {port}\nsecurity = "{security}"\ntls_ca_file = "{ca}"\n'
            f"password_command = \"printf '%s' '{SENTINEL}'\"\n"
        )

    path.write_text(
        f'[[account]]\nemail = "{EMAIL}"\n[account.imap]\n{server(*imap)}'
        f"[account.smtp]\n{server(*smtp)}",
        encoding="utf-8",
    )
    return path


async def test_cli_names_the_working_pair_for_a_configured_account(tmp_path: Path) -> None:
    async with Lab() as lab:
        imap = await lab.start(ImapScenario(security=STARTTLS, greeting=HOSTILE_GREETING))
        smtp = await lab.start(SmtpScenario(security=STARTTLS))
        config = write_account(
            tmp_path / "accounts.toml", lab.ca.ca_file, (imap.port, "tls"), (smtp.port, "starttls")
        )
        code, out, err = await run_cli(EMAIL, "--config", str(config), "--format", "table")
        assert code == 0, err
        assert (
            f"IMAP: use {HOST}:{imap.port} with security starttls "
            "(your account says tls: that is a port/security mismatch)"
        ) in out
        assert f"* {HOST}:{imap.port}" in out
        assert "lab \\x1b[31mred" in out  # the server's text, shown plain
        assert not {"\x1b", "\x9b", "\x07"} & set(out + err)
        assert "SMTP: your account's settings" in out

        code, out, err = await run_cli(
            "--config", str(config), EMAIL, "--protocol", "imap", "--format", "json"
        )
        assert code == 0, err
        doc = json.loads(out)
        assert set(doc) == {"email", "elapsed_ms", "imap"}
        section = doc["imap"]
        assert section["recommended"] == {
            "host": HOST, "port": imap.port, "security": "starttls", "login": "password",
        }  # fmt: skip
        assert section["account"] == {"host": HOST, "port": imap.port, "security": "tls"}
        assert section["fix"] == {"security": "starttls"}
        assert "port/security mismatch" in section["advice"]
        first = section["candidates"][0]
        assert first["ok"] is True and first["security"] == "starttls"
        assert {"cause", "stage", "message", "tls_version", "login", "elapsed_ms"} <= set(first)
        assert SENTINEL not in out + err
        assert "\x1b[31m" in first["greeting"]  # verbatim in JSON (escaped by the encoder)
        assert "\x1b" not in out
        assert_nothing_sent(imap, smtp)


async def test_cli_exit_status_two_when_nothing_works_and_three_on_bad_arguments() -> None:
    code, out, err = await run_cli(EMAIL, "--host", HOST, "--timeout", "1", "--format", "json")
    assert code == 2, err
    doc = json.loads(out)
    assert doc["imap"]["recommended"] is None and doc["smtp"]["recommended"] is None
    hosts = {c["host"] for p in ("imap", "smtp") for c in doc[p]["candidates"]}
    assert hosts == {HOST}
    for args in (("not-an-email",), (EMAIL, "--host", "imap://x"), (EMAIL, "--protocol", "pop")):
        code, out, err = await run_cli(*args)
        assert code == 3, (args, out, err)
        assert out == ""


def test_cli_demo_finds_the_fix_for_the_demo_account_with_the_wrong_security() -> None:
    from console.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["discover", "ivan@tyrell.example", "--demo", "--protocol", "imap"])
    assert code == 0
    doc = json.loads(out.getvalue())
    assert doc["imap"]["fix"] == {"security": "starttls"}
    assert doc["imap"]["account"]["security"] == "tls"
    assert {c["host"] for c in doc["imap"]["candidates"]} == {HOST}
