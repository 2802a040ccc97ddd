"""`check` records into the results store; `history` and `check --changed` read it back.

Real subprocesses against lab servers on 127.0.0.1, each test with its own state directory.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path

from test_check_cli import PASSWORD, Servers, assert_clean, servers, write_config

__all__ = ["servers"]  # the fixture, shared with test_check_cli


async def run(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _config(tmp_path: Path, s: Servers, cond_imap_ok: bool = False) -> Path:
    return write_config(
        tmp_path / "accounts.toml",
        s,
        [
            ("ok@acme.example", s.smtp_ok, s.imap_ok),
            ("cond@acme.example", s.smtp_ok, s.imap_ok if cond_imap_ok else s.imap_bad),
        ],
    )


async def test_check_records_and_history_reads_back(
    servers: Servers, tmp_path: Path, state_dir: Path
) -> None:
    config = _config(tmp_path, servers)
    for _ in range(2):
        code, _out, err = await run("check", "--config", str(config), "--format", "json")
        assert code == 1, err
    code, out, err = await run("history", "--config", str(config), "--format", "json")
    assert code == 1, err  # the worst last state: conditional
    checks = json.loads(out)["checks"]
    assert len(checks) == 4
    assert [c["checked_at"] for c in checks] == sorted(c["checked_at"] for c in checks)
    cond = [c for c in checks if c["email"] == "cond@acme.example"]
    assert [c["changed"] for c in cond] == [True, False]
    assert cond[0]["state"] == "conditional"
    assert cond[0]["imap"]["status"] == "failed" and cond[0]["imap"]["cause"] == "auth_failed"
    assert cond[0]["smtp"] == {
        "status": "ok",
        "cause": None,
        "stage": None,
        "elapsed_ms": cond[0]["smtp"]["elapsed_ms"],
    }
    assert cond[0]["canary"] is None
    stored = b"".join(f.read_bytes() for f in state_dir.iterdir())
    assert (state_dir / "results.sqlite3").exists()
    assert PASSWORD.encode() not in stored and b"AUTHENTICATIONFAILED" not in stored
    assert_clean(out, err)

    code, out, _ = await run(
        "history", "--config", str(config), "--tag", "ok", "--format", "csv", "--since", "1h"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["email"] for r in rows} == {"ok@acme.example"} and len(rows) == 2
    code, out, _ = await run("history", "--account", "COND@acme.example", "--format", "table")
    assert code == 1 and out.count("cond@acme.example") == 2 and "auth_failed" in out
    code, out, _ = await run("history", "--since", "2099-01-01", "--format", "json")
    assert json.loads(out) == {"checks": []}
    code, _, err = await run("history", "--since", "soon")
    assert code == 3 and "--since" in err


async def test_check_changed_prints_only_the_news(servers: Servers, tmp_path: Path) -> None:
    config = _config(tmp_path, servers)
    code, out, _ = await run("check", "--config", str(config), "--changed", "--format", "json")
    assert code == 1 and len(json.loads(out)["accounts"]) == 2  # first run: all is news
    code, out, _ = await run("check", "--config", str(config), "--changed", "--format", "json")
    assert code == 1 and json.loads(out)["accounts"] == []  # same states: nothing to mail
    code, out, _ = await run("check", "--config", str(config), "--changed", "--format", "table")
    assert code == 1 and out == "no account changed state since its last recorded check\n"
    config = _config(tmp_path, servers, cond_imap_ok=True)
    code, out, _ = await run("check", "--config", str(config), "--changed", "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert [(a["email"], a["state"]) for a in doc["accounts"]] == [
        ("cond@acme.example", "connected")
    ]


async def test_no_record_leaves_no_trace(servers: Servers, tmp_path: Path, state_dir: Path) -> None:
    config = _config(tmp_path, servers)
    code, _, err = await run("check", "--config", str(config), "--no-record", "--format", "json")
    assert code == 1, err
    assert not (state_dir / "results.sqlite3").exists()
    other = tmp_path / "elsewhere"
    code, _, _ = await run(
        "check", "--config", str(config), "--state-dir", str(other), "--format", "json"
    )
    assert (other / "results.sqlite3").exists() and not (state_dir / "results.sqlite3").exists()


async def test_a_damaged_store_does_not_stop_the_check(
    servers: Servers, tmp_path: Path, state_dir: Path
) -> None:
    state_dir.mkdir(parents=True)
    store = state_dir / "results.sqlite3"
    store.write_bytes(b"not a database at all\n" * 100)
    config = _config(tmp_path, servers)
    code, out, err = await run("check", "--config", str(config), "--format", "json")
    assert code == 1 and len(json.loads(out)["accounts"]) == 2
    assert err.count("not an SQLite database") == 1 and str(store) in err  # said once
    assert store.read_bytes() == b"not a database at all\n" * 100
    code, _, err = await run("history")
    assert code == 3 and str(store) in err


async def test_prune_forgets_deleted_accounts(servers: Servers, tmp_path: Path) -> None:
    config = _config(tmp_path, servers)
    await run("check", "--config", str(config), "--format", "json")
    write_config(config, servers, [("ok@acme.example", servers.smtp_ok, servers.imap_ok)])
    code, out, err = await run("history", "--config", str(config), "--prune", "--format", "json")
    assert code == 0, err
    assert "1 account(s) no longer in the account file" in err
    assert {c["email"] for c in json.loads(out)["checks"]} == {"ok@acme.example"}
