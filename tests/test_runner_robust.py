"""One account's surprise never sinks a run, and one slow host cannot hold a slot for long.

The errors come through real code paths: the keyring (a backend that raises what a corrupt store
raises) and a lab server that answers every stage a little slower than usual.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

import keyring.core
import pytest
from broken_keyring import PASSWORD
from broken_keyring import Keyring as BrokenKeyring

from console.core.config import load_config
from console.core.model import (
    Account,
    Cause,
    Protocol,
    Security,
    ServerSettings,
    Settings,
    Stage,
    State,
    Status,
)
from console.core.runner import Runner
from console.lab import ImapScenario, Lab, LabServer, SmtpScenario

TESTS = Path(__file__).parent


def _server(protocol: Protocol, srv: LabServer, user: str, ca: str) -> ServerSettings:
    return ServerSettings(protocol, "127.0.0.1", srv.port, Security.TLS, user, tls_ca_file=ca)


async def test_an_unexpected_error_in_one_check_leaves_every_other_result(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", BrokenKeyring())
    users = {"broken-imap@x.example": PASSWORD, "fine@x.example": PASSWORD}
    async with Lab() as lab:
        imap, smtp = await lab.start_all([ImapScenario(users=users), SmtpScenario(users=users)])
        ca = str(lab.ca.ca_file)
        # the IMAP login of the first account is read from a keyring entry that raises
        first = Account(
            email="first@x.example",
            smtp=_server(Protocol.SMTP, smtp, "fine@x.example", ca),
            imap=_server(Protocol.IMAP, imap, "broken-imap@x.example", ca),
        )
        second = Account(
            email="second@x.example",
            smtp=_server(Protocol.SMTP, smtp, "fine@x.example", ca),
            imap=_server(Protocol.IMAP, imap, "fine@x.example", ca),
        )
        with caplog.at_level(logging.ERROR, logger="console.core.runner"):
            results = await Runner(Settings(timeout=5)).check_accounts([first, second])
    one, two = results
    assert one.smtp.status is Status.OK  # the other protocol still completed
    assert (one.imap.status, one.imap.cause) == (Status.FAILED, Cause.UNKNOWN)
    assert one.imap.stage is Stage.SECRET
    assert one.imap.message is not None and "ValueError: corrupt keyring entry" in one.imap.message
    assert one.state is State.CONDITIONAL  # SMTP works, IMAP is unknown
    assert two.state is State.CONNECTED
    assert "ValueError" in caplog.text and "first@x.example" in caplog.text
    assert PASSWORD not in caplog.text


async def test_a_host_that_answers_every_stage_slowly_hits_the_check_deadline() -> None:
    async with Lab() as lab:
        slow = await lab.start(SmtpScenario(delay_ms=600))
        ca = str(lab.ca.ca_file)
        account = Account(
            email="slow@x.example",
            smtp=_server(Protocol.SMTP, slow, "lab@lab.test", ca),
            send_only=True,
        )
        from console.core.secrets import MemorySecrets

        secrets = MemorySecrets({account.smtp.keyring_key: "pw"})  # type: ignore[union-attr]
        runner = Runner(Settings(timeout=2, check_deadline=1.5), secrets=secrets)
        started = time.monotonic()
        result = await runner.check_account(account)
        elapsed = time.monotonic() - started
        # every stage alone is within `timeout`: only the overall deadline stops it
        assert slow.connections_total == 1
    assert elapsed < 2.5
    assert (result.smtp.status, result.smtp.cause) == (Status.FAILED, Cause.TIMEOUT)
    assert result.smtp.stage in (Stage.EHLO, Stage.GREETING)
    assert "check_deadline" in (result.smtp.message or "")


def test_the_default_deadline_is_four_stage_timeouts_and_the_file_can_set_it(
    tmp_path: Path,
) -> None:
    assert Runner(Settings(timeout=10)).check_deadline == 40
    path = tmp_path / "accounts.toml"
    path.write_text("[settings]\ntimeout = 5\ncheck_deadline = 12.5\n")
    assert load_config(path).settings.check_deadline == 12.5
    path.write_text("[settings]\ncheck_deadline = -1\n")
    config = load_config(path)
    assert config.settings.check_deadline is None
    assert any("check_deadline" in str(issue) for issue in config.issues)


async def test_headless_run_reports_every_account_with_the_documented_exit_status(
    tmp_path: Path,
) -> None:
    users = {"broken-smtp@x.example": PASSWORD, "fine@x.example": PASSWORD}
    async with Lab() as lab:
        imap, smtp = await lab.start_all([ImapScenario(users=users), SmtpScenario(users=users)])
        ca = lab.ca.ca_file

        def server(srv: LabServer, user: str) -> str:
            return (
                f'host = "127.0.0.1"\nport = {srv.port}\nsecurity = "tls"\n'
                f'username = "{user}"\ntls_ca_file = "{ca}"\n'
            )

        config = tmp_path / "accounts.toml"
        config.write_text(
            "[settings]\ntimeout = 5\n"
            '[[account]]\nemail = "first@x.example"\n'
            f"[account.smtp]\n{server(smtp, 'broken-smtp@x.example')}"
            f"[account.imap]\n{server(imap, 'fine@x.example')}"
            '[[account]]\nemail = "second@x.example"\n'
            f"[account.smtp]\n{server(smtp, 'fine@x.example')}"
            f"[account.imap]\n{server(imap, 'fine@x.example')}"
        )
        env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
        env["PYTHON_KEYRING_BACKEND"] = "broken_keyring.Keyring"
        env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "console",
            "check",
            "--config",
            str(config),
            "--format",
            "json",
            "--no-record",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, err.decode()  # a disconnected account, not "could not run"
    report = json.loads(out)
    by_email = {a["email"]: a for a in report["accounts"]}
    assert by_email["first@x.example"]["smtp"]["cause"] == "unknown"
    assert "ValueError" in by_email["first@x.example"]["smtp"]["message"]
    assert by_email["first@x.example"]["imap"]["status"] == "ok"
    assert by_email["second@x.example"]["state"] == "connected"
    assert PASSWORD not in out.decode() + err.decode()


async def test_a_close_before_the_greeting_beside_our_other_connections_is_a_per_ip_limit() -> None:
    from console.core.secrets import MemorySecrets
    from console.lab import Action, Hostile

    async with Lab() as lab:
        slow_imap, closing_smtp = await lab.start_all(
            [
                ImapScenario(users={"u@x.example": "pw"}, delay_ms=700),
                SmtpScenario(hostile=Hostile(action=Action.CLOSE, at="connect")),
            ]
        )
        ca = str(lab.ca.ca_file)
        holder = Account(  # holds an IMAP connection to 127.0.0.1 open (its server is slow)
            email="u@x.example",
            imap=_server(Protocol.IMAP, slow_imap, "u@x.example", ca),
        )
        alone = Account(
            email="v@x.example",
            smtp=_server(Protocol.SMTP, closing_smtp, "v@x.example", ca),
            send_only=True,
        )
        secrets = MemorySecrets({"u@x.example@127.0.0.1": "pw", "v@x.example@127.0.0.1": "pw"})
        runner = Runner(Settings(timeout=5, per_host=8), secrets=secrets)
        holding = asyncio.create_task(runner.check_account(holder))
        await slow_imap.wait_until(lambda s: s.connections_current >= 1)
        beside = await runner.check_account(alone)
        held = await holding
        by_itself = await runner.check_account(alone)
    # the IMAP connection to the same host was open when the SMTP one was closed unanswered
    assert held.imap.status is Status.OK
    assert beside.smtp.cause is Cause.RATE_LIMITED
    assert "per-IP connection limit" in (beside.smtp.message or "")
    assert "Lower per_host" in (beside.smtp.message or "")
    # the same close with no other connection open says only what happened
    assert by_itself.smtp.cause is Cause.TLS_FAILED
