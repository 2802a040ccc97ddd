"""No token leaves the sign-in: every artefact of a real session is searched for every token.

`mailconsole login`, then `check` (which refreshes), `history` and `report` run as the user runs
them (subprocesses, a keyring backend in a file), against lab IMAP and SMTP servers that check
tokens at the lab authorization server. Afterwards stdout, stderr, the account file, the results
store and the report are searched for every access token, refresh token and device code the
server issued; the keyring file holds exactly one secret: the newest refresh token.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from oauth_lab import keyring_env, token_checking

from console.lab import (
    LabCA,
    LabImapServer,
    LabSmtpServer,
)
from console.lab.oauth_server import LabAuthServer

EMAIL = "ana@contoso.onmicrosoft.com"


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[tuple[LabAuthServer, Path]]:
    with LabCA() as ca:
        async with LabAuthServer(ca=ca, users={EMAIL}, access_lifetime=2) as auth:
            imap, smtp = token_checking(auth)
            async with LabImapServer(imap, ca=ca) as i, LabSmtpServer(smtp, ca=ca) as s:
                config = tmp_path / "accounts.toml"
                config.write_text(
                    "# an agency's file\n[settings]\ntimeout = 5\n"
                    f'oauth2_client_id = "{auth.client_id}"\n'
                    f'oauth2_tenant = "{auth.tenant}"\n'
                    f'oauth2_authority = "{auth.base}"\n'
                    f'oauth2_ca_file = "{ca.ca_file}"\n\n'
                    f'[[account]]\nemail = "{EMAIL}"\n'
                    f'[account.smtp]\nhost = "localhost"\nport = {s.port}\nsecurity = "tls"\n'
                    f'auth = "oauth2"\ntls_ca_file = "{ca.ca_file}"\n'
                    f'[account.imap]\nhost = "localhost"\nport = {i.port}\nsecurity = "tls"\n'
                    f'auth = "oauth2"\ntls_ca_file = "{ca.ca_file}"\n'
                )
                yield auth, config


async def mailconsole(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = keyring_env(tmp_path)
    env["MAILCONSOLE_STATE_DIR"] = str(tmp_path / "state")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:  # a failing test must not leave the command waiting for a sign-in
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_no_token_reaches_any_output_file_store_or_report(
    lab: tuple[LabAuthServer, Path], tmp_path: Path
) -> None:
    auth, config = lab
    login = asyncio.ensure_future(
        mailconsole(tmp_path, "login", EMAIL, "--config", str(config), "--format", "json")
    )
    auth.approve(await auth.next_user_code(timeout=30), EMAIL)
    code, login_out, login_err = await login
    assert code == 0, login_err
    assert json.loads(login_out)["accounts"][0]["state"] == "connected"
    assert "Signed in" in login_err and "kept in the keyring" in login_err

    await asyncio.sleep(1.1)  # past half the 2 s lifetime: `check` must refresh
    outputs = [login_out, login_err]
    for args in (
        ("check", "--config", str(config), "--format", "json"),
        ("check", "--config", str(config), "--format", "csv"),
        ("check", "--config", str(config), "--format", "table"),
        ("history", "--config", str(config), "--format", "json"),
        ("report", "--config", str(config), "--format", "html", "-o", str(tmp_path / "r.html")),
    ):
        code, out, err = await mailconsole(tmp_path, *args)
        assert code == 0, (args, err)
        outputs += [out, err]
    assert '"state": "connected"' in outputs[2]
    assert len(auth.issued) >= 2  # signed in, then refreshed by a later command

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "keyring.json"]
    assert any(p.suffix == ".sqlite3" for p in files) and (tmp_path / "r.html") in files
    artefacts = outputs + [p.read_bytes().decode("latin-1") for p in files]
    for secret in auth.every_secret():
        for text in artefacts:
            assert secret not in text
    keyring = json.loads((tmp_path / "keyring.json").read_text())
    newest = auth.issued[-1].refresh_token
    assert keyring == {f"mailconsole\toauth2:microsoft:{EMAIL}": newest}
