"""`mailconsole check` end to end: a real subprocess against lab servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.core.diagnosis import advise
from console.core.model import Cause, Protocol
from console.lab import ImapScenario, Lab, LabServer, SmtpScenario
from console.lab.server import HOST

PASSWORD = "S3cr3t-sentinel-PW"
HOSTILE_TEXT = "NO [AUTHENTICATIONFAILED] \x1b[31mred\x1b[0m \x9b2J [/] [@click=app.quit] bell\x07"


@dataclass
class Servers:
    lab: Lab
    imap_ok: LabServer
    imap_bad: LabServer
    smtp_ok: LabServer
    smtp_bad: LabServer


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    users = {f"{n}@acme.example": PASSWORD for n in ("ok", "cond", "disc", "relay")}
    async with Lab() as lab:
        imap_ok, imap_bad, smtp_ok, smtp_bad = await lab.start_all(
            [
                ImapScenario(users=users),
                ImapScenario(users=users, auth_reply=HOSTILE_TEXT),
                SmtpScenario(users=users),
                SmtpScenario(
                    users=users, auth_reply="535 5.7.8 Authentication credentials invalid"
                ),
            ]
        )
        yield Servers(lab, imap_ok, imap_bad, smtp_ok, smtp_bad)


def _server(srv: LabServer, ca: Path) -> str:
    return (
        f'host = "{HOST}"\nport = {srv.port}\nsecurity = "tls"\ntls_ca_file = "{ca}"\n'
        f"password_command = \"printf '%s' '{PASSWORD}'\"\n"
    )


def write_config(
    path: Path, s: Servers, accounts: list[tuple[str, LabServer, LabServer | None]]
) -> Path:
    ca = s.lab.ca.ca_file
    parts = ["[settings]\ntimeout = 5\n"]
    for email, smtp, imap in accounts:
        parts.append(f'[[account]]\nemail = "{email}"\ntags = ["{email.split("@")[0]}"]\n')
        if imap is None:
            parts.append("send_only = true\n")
        parts.append(f"[account.smtp]\n{_server(smtp, ca)}")
        if imap is not None:
            parts.append(f"[account.imap]\n{_server(imap, ca)}")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


async def run_check(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "check",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text


@pytest.mark.parametrize(
    ("mix", "expected_exit"),
    [
        (["ok"], 0),
        (["ok", "relay"], 0),
        (["ok", "cond"], 1),
        (["ok", "cond", "disc"], 2),
    ],
)
async def test_exit_status_follows_the_worst_state(
    servers: Servers, tmp_path: Path, mix: list[str], expected_exit: int
) -> None:
    table = {
        "ok": (servers.smtp_ok, servers.imap_ok),
        "cond": (servers.smtp_ok, servers.imap_bad),
        "disc": (servers.smtp_bad, servers.imap_ok),
        "relay": (servers.smtp_ok, None),
    }
    accounts = [(f"{name}@acme.example", *table[name]) for name in mix]
    config = write_config(tmp_path / "accounts.toml", servers, accounts)
    code, out, err = await run_check("--config", str(config), "--format", "json")
    assert code == expected_exit, err
    doc = json.loads(out)
    states = {a["email"].split("@")[0]: a["state"] for a in doc["accounts"]}
    expected = {
        "ok": "connected",
        "relay": "connected",
        "cond": "conditional",
        "disc": "disconnected",
    }
    assert states == {name: expected[name] for name in mix}
    assert_clean(out, err)


async def test_json_matches_the_contract(servers: Servers, tmp_path: Path) -> None:
    accounts = [
        ("ok@acme.example", servers.smtp_ok, servers.imap_ok),
        ("cond@acme.example", servers.smtp_ok, servers.imap_bad),
        ("relay@acme.example", servers.smtp_ok, None),
    ]
    config = write_config(tmp_path / "accounts.toml", servers, accounts)
    code, out, err = await run_check("--config", str(config), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"checked_at", "accounts", "summary"}
    assert doc["checked_at"].endswith("Z")
    assert doc["summary"] == {"connected": 2, "conditional": 1, "disconnected": 0}
    for account in doc["accounts"]:
        assert {
            "email",
            "name",
            "tags",
            "provider",
            "state",
            "warmup_ready",
            "smtp",
            "imap",
        } <= set(account)
        for proto in ("smtp", "imap"):
            p = account[proto]
            assert {
                "status",
                "cause",
                "stage",
                "message",
                "elapsed_ms",
                "steps",
                "warnings",
            } <= set(p)
            assert p["status"] in {"ok", "failed", "missing", "n/a"}
            assert isinstance(p["elapsed_ms"], int)
            for step in p["steps"]:
                assert set(step) == {"stage", "ok", "elapsed_ms", "detail"}
    by_email = {a["email"]: a for a in doc["accounts"]}
    ok = by_email["ok@acme.example"]
    assert ok["state"] == "connected" and ok["warmup_ready"] is True
    assert ok["imap"]["cause"] is None and "title" not in ok["imap"]
    assert [s["stage"] for s in ok["imap"]["steps"]][:3] == ["config", "secret", "dns"]
    cond = by_email["cond@acme.example"]
    assert cond["state"] == "conditional" and cond["warmup_ready"] is False
    imap = cond["imap"]
    assert (imap["status"], imap["cause"], imap["stage"]) == ("failed", "auth_failed", "auth")
    assert isinstance(imap["title"], str) and imap["title"]
    assert isinstance(imap["explanation"], str) and imap["explanation"]
    assert isinstance(imap["fix"], list) and all(isinstance(f, str) for f in imap["fix"])
    # The server's text arrives verbatim, its control characters escaped by JSON itself.
    assert "[AUTHENTICATIONFAILED]" in imap["message"] and "[@click=app.quit]" in imap["message"]
    relay = by_email["relay@acme.example"]
    assert relay["imap"]["status"] == "n/a" and relay["warmup_ready"] is True
    assert_clean(out, err)


async def test_csv_and_table_formats(servers: Servers, tmp_path: Path) -> None:
    accounts = [
        ("ok@acme.example", servers.smtp_ok, servers.imap_ok),
        ("cond@acme.example", servers.smtp_ok, servers.imap_bad),
    ]
    config = write_config(tmp_path / "accounts.toml", servers, accounts)
    code, out, err = await run_check("--config", str(config), "--format", "csv")
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["email"] for r in rows] == ["ok@acme.example", "cond@acme.example"]
    assert rows[1]["imap_cause"] == "auth_failed" and rows[1]["state"] == "conditional"
    assert "\\x1b[31mred" in rows[1]["imap_message"]
    assert_clean(out, err)

    code, out, err = await run_check("--config", str(config), "--format", "table", "--tag", "cond")
    assert code == 1
    assert "cond@acme.example" in out and "ok@acme.example" not in out
    assert f"IMAP: {advise(Cause.AUTH_FAILED, Protocol.IMAP).title}" in out
    assert "1 conditional" in out
    assert_clean(out, err)


async def test_malformed_file_exits_3_with_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "accounts.toml"
    config.write_text(
        '[[account]]\nemail = "a@b.example"\nname = "unterminated\n', encoding="utf-8"
    )
    before = config.read_bytes()
    code, out, err = await run_check("--config", str(config))
    assert code == 3
    assert f"{config}:3:" in err
    assert out == ""
    assert config.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["--account", "nobody@nowhere.example"],
        ["--concurrency", "0"],
        ["--format", "yaml"],
    ],
)
async def test_bad_arguments_exit_3(servers: Servers, tmp_path: Path, args: list[str]) -> None:
    config = write_config(
        tmp_path / "accounts.toml", servers, [("ok@acme.example", servers.smtp_ok, servers.imap_ok)]
    )
    code, out, err = await run_check("--config", str(config), *args)
    assert code == 3
    assert out == ""
    assert err.strip()


async def test_missing_file_exits_3(tmp_path: Path) -> None:
    code, _, err = await run_check("--config", str(tmp_path / "nope.toml"))
    assert code == 3
    assert "nope.toml" in err


async def test_demo_runs_headless() -> None:
    code, out, err = await run_check("--demo", "--format", "json")
    assert code == 2, err
    doc = json.loads(out)
    states = {a["state"] for a in doc["accounts"]}
    assert states == {"connected", "conditional", "disconnected"}
    causes = {a[p]["cause"] for a in doc["accounts"] for p in ("smtp", "imap")}
    assert {
        "app_password_required",
        "protocol_disabled",
        "basic_auth_disabled",
        "settings_missing",
        "tls_mismatch",
        "mailbox_unavailable",
        "auth_failed",
        "certificate_invalid",
        "timeout",
        "rate_limited",
    } <= causes
    statuses = {a["imap"]["status"] for a in doc["accounts"]}
    assert "n/a" in statuses
    assert len(doc["accounts"]) >= 40
