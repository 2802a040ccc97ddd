"""Import end to end against lab servers: pre-flight, commit, keyring and account file afterwards,
the CLI's options and exit codes, export, and a search of every output for the CSV's passwords."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.core.config import load_config
from console.core.fleet import (
    Action,
    CommitError,
    commit,
    export_csv,
    failed_rows_csv,
    plan_import,
    preflight,
    to_json,
    to_table,
)
from console.core.model import Cause, Settings, State
from console.core.secrets import SecretError, delete_password, store_password
from console.lab import ImapScenario, Lab, LabServer, SmtpScenario
from console.lab.server import HOST

GOOD = {
    "ana@fern.example": 'Ana,"quoted";pw',
    "bob@fern.example": "bob pw with spaces ü",
    "cid@fern.example": "cid-pw",
}
WRONG = "not-the-right-one"
ALL_PASSWORDS = [*GOOD.values(), WRONG]


@dataclass
class Servers:
    lab: Lab
    imap: LabServer
    smtp: LabServer


@pytest.fixture
async def servers(lab: Lab) -> Servers:
    users = dict(GOOD) | {"dan@fern.example": "dan-real-pw"}
    imap, smtp = await lab.start_all([ImapScenario(users=users), SmtpScenario(users=users)])
    return Servers(lab, imap, smtp)


def csv_text(s: Servers) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(
        [
            "from_email",
            "from_name",
            "smtp_host",
            "smtp_port",
            "smtp_username",
            "smtp_password",
            "imap_host",
            "imap_port",
            "imap_username",
            "imap_password",
            "owner notes",
            "SMTP SSL",
        ]
    )
    for email, password in GOOD.items():
        writer.writerow(
            [
                email,
                email.split("@")[0].title(),
                HOST,
                f"{s.smtp.port}.0",
                email,
                password,
                HOST,
                s.imap.port,
                email,
                password,
                "fine",
                "SSL",
            ]
        )
    # a wrong password: tested, fails at auth
    writer.writerow(
        [
            "dan@fern.example",
            "Dan",
            HOST,
            s.smtp.port,
            "",
            WRONG,
            HOST,
            s.imap.port,
            "",
            WRONG,
            "",
            "ssl",
        ]
    )
    # a bad port: never tested
    writer.writerow(
        [
            "eve@fern.example",
            "Eve",
            HOST,
            "not a port",
            "",
            "eve-pw",
            HOST,
            s.imap.port,
            "",
            "x",
            "",
            "ssl",
        ]
    )
    return buf.getvalue()


def empty_config(path: Path) -> Path:
    path.write_text("# my accounts\n[settings]\ntimeout = 5\n", encoding="utf-8")
    return path


def new_plan(s: Servers, config: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    loaded = load_config(config)
    plan = plan_import(
        csv_text(s).encode(),
        existing=loaded.accounts,
        source=Path("fern.csv"),
        server_defaults={"tls_ca_file": str(s.lab.ca.ca_file)},
        **kwargs,  # type: ignore[arg-type]
    )
    return loaded, plan


async def test_preflight_then_commit_saves_accounts_and_keyring(
    servers: Servers, tmp_path: Path, memory_keyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = empty_config(tmp_path / "accounts.toml")
    loaded, plan = new_plan(servers, config)
    assert [r.action for r in plan.rows] == [Action.ADD] * 4 + [Action.ERROR]
    logins_before = servers.imap.logins_accepted + servers.smtp.logins_accepted
    await preflight(plan, Settings(timeout=5))
    assert servers.imap.logins_accepted + servers.smtp.logins_accepted == logins_before + 6
    states = [(r.state, r.cause) for r in plan.rows]
    assert states[:3] == [(State.CONNECTED, None)] * 3
    assert states[3] == (State.DISCONNECTED, Cause.AUTH_FAILED)
    assert states[4] == (None, None)
    assert config.read_text() == "# my accounts\n[settings]\ntimeout = 5\n"  # nothing saved yet
    assert memory_keyring.store == {}

    result = commit(plan, loaded, store_password, delete_password)
    assert (result.added, result.updated, result.passwords_stored) == (4, 0, 8)
    text = config.read_text()
    assert text.startswith("# my accounts\n")  # the user's bytes are kept
    saved = load_config(config)
    assert [a.email for a in saved.accounts] == [*GOOD, "dan@fern.example"]
    ana = saved.account("ana@fern.example")
    assert ana is not None and ana.tags == ("fern",) and ana.smtp is not None
    assert ana.smtp.port == servers.smtp.port
    for email, password in GOOD.items():
        assert memory_keyring.store[("mailconsole", f"{email}@{HOST}")] == password
    assert (tmp_path / "accounts.toml.bak").exists()

    outputs = [to_json(plan), to_table(plan), failed_rows_csv(plan), text, caplog.text]
    outputs += [(tmp_path / "accounts.toml.bak").read_text()]
    for password in ALL_PASSWORDS:
        for output in outputs:
            assert password not in output
    failed = list(csv.reader(io.StringIO(failed_rows_csv(plan))))
    assert failed[0][-3:] == ["line", "cause", "fix"]
    assert [row[0] for row in failed[1:]] == ["dan@fern.example", "eve@fern.example"]
    assert failed[1][-3] == "5" and failed[1][-2].startswith("SMTP: ") and failed[1][5] == ""


async def test_update_and_skip_existing(servers: Servers, tmp_path: Path, memory_keyring) -> None:
    config = tmp_path / "accounts.toml"
    config.write_text(
        '[[account]]\nemail = "ana@fern.example"  # keep me\ntags = ["old"]\n'
        '[account.smtp]\nhost = "smtp.old.example"\npassword_command = "pass x"\n',
        encoding="utf-8",
    )
    loaded, plan = new_plan(servers, config, on_duplicate="update")
    assert plan.rows[0].action is Action.UPDATE
    commit(plan, loaded, store_password)
    ana = load_config(config).account("ana@fern.example")
    assert ana is not None and ana.smtp is not None
    assert ana.smtp.host == HOST and ana.smtp.password_command is None
    assert ana.tags == ("old", "fern")
    assert "# keep me" in config.read_text()
    loaded, plan = new_plan(servers, config, on_duplicate="skip")
    assert plan.rows[0].action is Action.SKIP


async def test_nothing_partial_when_the_keyring_fails(servers: Servers, tmp_path: Path) -> None:
    config = empty_config(tmp_path / "accounts.toml")
    before = config.read_bytes()
    loaded, plan = new_plan(servers, config)
    with pytest.raises(CommitError) as caught:
        commit(plan, loaded, store_password, delete_password)  # the `fail` keyring backend
    assert config.read_bytes() == before
    assert not (tmp_path / "accounts.toml.bak").exists()
    for password in ALL_PASSWORDS:
        assert password not in str(caught.value)


async def test_a_failing_store_removes_what_it_stored(servers: Servers, tmp_path: Path) -> None:
    config = empty_config(tmp_path / "accounts.toml")
    loaded, plan = new_plan(servers, config)
    stored: dict[str, str] = {}

    def store(settings, password: str) -> None:  # type: ignore[no-untyped-def]
        if len(stored) == 3:
            raise SecretError("the keyring is locked")
        stored[settings.keyring_key] = password

    with pytest.raises(CommitError):
        commit(plan, loaded, store, lambda settings: stored.pop(settings.keyring_key, None))
    assert stored == {}
    assert load_config(config).accounts == ()


# --- the CLI ------------------------------------------------------------------------------------


async def run_cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    env["MAILCONSOLE_MAPPINGS_DIR"] = str(cwd / "mappings")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def cli_csv(s: Servers, folder: Path) -> Path:
    path = folder / "fern.csv"
    # the demo CA must be trusted: a column the generic words do not know is given by --mapping
    path.write_bytes(csv_text(s).encode("cp1252", "replace"))
    return path


async def test_cli_import_dry_run_json_and_failed_rows(servers: Servers, tmp_path: Path) -> None:
    config = empty_config(tmp_path / "accounts.toml")
    source = cli_csv(servers, tmp_path)
    source_bytes = source.read_bytes()
    failed = tmp_path / "failed.csv"
    code, out, err = await run_cli(
        "import",
        str(source),
        "--config",
        str(config),
        "--dry-run",
        "--no-test",
        "--failed-rows",
        str(failed),
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert code == 2, err
    doc = json.loads(out)
    assert set(doc) == {"mapping", "rows", "summary"}
    assert doc["mapping"]["smtp_host"] == "smtp.host"
    assert doc["summary"] == {"add": 4, "update": 0, "skip": 0, "error": 1}
    row = doc["rows"][0]
    assert set(row) == {"line", "email", "action", "smtp", "imap", "problems", "state", "cause"}
    assert row["line"] == 2 and row["state"] is None and row["cause"] is None
    assert row["smtp"] == {
        "host": HOST,
        "port": servers.smtp.port,
        "security": "tls",
        "username": "ana@fern.example",
    }
    assert doc["rows"][4]["problems"] == [
        {"column": "smtp_port", "message": "must be a whole number from 1 to 65535"}
    ]
    assert "column(s) not used: 11 (owner notes)" in err
    assert config.read_text() == "# my accounts\n[settings]\ntimeout = 5\n"
    assert source.read_bytes() == source_bytes
    texts = [out, err, failed.read_text(encoding="utf-8")]
    for password in ALL_PASSWORDS:
        for text in texts:
            assert password not in text


async def test_cli_import_needs_yes_off_a_terminal(servers: Servers, tmp_path: Path) -> None:
    config = empty_config(tmp_path / "accounts.toml")
    source = cli_csv(servers, tmp_path)
    code, out, err = await run_cli("import", str(source), "--config", str(config), cwd=tmp_path)
    assert code == 3 and "--yes" in err and out == ""
    code, out, err = await run_cli(
        "import", str(source), "--config", str(config), "--yes", "--no-test", cwd=tmp_path
    )
    # the headless test machine has no keyring: nothing is saved, and it says why
    assert code == 3 and "nothing was saved" in err
    assert config.read_text() == "# my accounts\n[settings]\ntimeout = 5\n"
    for password in ALL_PASSWORDS:
        assert password not in out + err


async def test_cli_import_with_password_command_commits(tmp_path: Path) -> None:
    config = empty_config(tmp_path / "accounts.toml")
    source = tmp_path / "reseller.csv"
    source.write_text(
        "Email;App Password;SMTP;IMAP\r\nana@gmail.com;;;\r\n"
        "bob@fern.example;;smtp.fern.example:2525;imap.fern.example\r\n",
        encoding="utf-8",
    )
    code, out, err = await run_cli(
        "import",
        str(source),
        "--config",
        str(config),
        "--yes",
        "--no-test",
        "--tag",
        "q3",
        "--password-command",
        "pass show mail/{email}",
        "--format",
        "table",
        "--save-mapping",
        "resellers",
        cwd=tmp_path,
    )
    assert code == 0, err
    assert "2 add" in out
    raw = tomllib.loads(config.read_text())
    ana, bob = raw["account"]
    assert ana["smtp"]["host"] == "smtp.gmail.com" and ana["tags"] == ["q3"]
    assert ana["imap"]["password_command"] == "pass show mail/ana@gmail.com"
    assert bob["smtp"]["port"] == 2525 and bob["smtp"]["security"] == "starttls"
    assert (tmp_path / "mappings" / "resellers.toml").exists()
    code, out, err = await run_cli(
        "export", "--config", str(config), "--layout", "woodpecker", cwd=tmp_path
    )
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:3] == ["SMTP email", "SMTP login", "SMTP password"]
    assert rows[1][:5] == ["ana@gmail.com", "ana@gmail.com", "", "smtp.gmail.com", "465"]
    code, out, _err = await run_cli(
        "export", "--config", str(config), "--layout", "reseller", "-o", "out.csv", cwd=tmp_path
    )
    assert code == 0
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[2] == "bob@fern.example,,smtp.fern.example:2525,imap.fern.example:993"
    code, _out, err = await run_cli(
        "import", "missing.csv", "--dry-run", "--config", str(config), cwd=tmp_path
    )
    assert code == 3 and "cannot read" in err


def test_export_cells_cannot_start_formulas() -> None:
    from console.core.model import Account

    text = export_csv([Account(email="ana@fern.example", name="=HYPERLINK(1)")], "mailconsole")
    assert "'=HYPERLINK" in text or "=HYPERLINK" not in text.split(",")[1]
