"""No secret in any output format, whatever a server or a secret helper does with it.

Servers here echo the client's SASL response (AUTHENTICATE PLAIN, XOAUTH2; every base64
alignment), the password upper-cased and in hex; password helpers fail after printing the secret on
stderr or stdout. `mailconsole check` runs as a real subprocess in every format and each output is
searched for every form of every secret: raw, upper- and lower-cased, hex, base64.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import pytest

from console.core.redact import REDACTED, Redactor, untrusted_excerpt
from console.lab import ImapScenario, Lab, SmtpScenario
from console.lab.server import HOST

PASSWORD = "Tr0ub4dor&3-horse"
TOKEN = "eyJhbGciOiJub25lIn0.eyJzY3AiOiJJTUFQIn0.c2lnbmF0dXJlLXNlY3JldA"
# three usernames whose length puts the password at each base64 alignment of "\0user\0password"
USERS = ("ab@x.example", "abc@x.example", "abcd@x.example")


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        secret.upper(),
        secret.lower(),
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
    ]


def plain_payload(user: str) -> str:
    return base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()


def xoauth2_payload(user: str) -> str:
    return base64.b64encode(f"user={user}\x01auth=Bearer {TOKEN}\x01\x01".encode()).decode()


@pytest.mark.parametrize("user", USERS)
def test_an_echoed_sasl_response_is_hidden_at_every_alignment(user: str) -> None:
    redactor = Redactor([PASSWORD, TOKEN])
    for payload in (plain_payload(user), xoauth2_payload(user)):
        shown = redactor(f"NO [AUTHENTICATIONFAILED] you sent {payload}")
        assert REDACTED in shown
        # what is left of the payload decodes to no 4 consecutive bytes of either secret
        leftover = shown.split("you sent ", 1)[1]
        for part in leftover.split(REDACTED):
            for start in range(4):
                chunk = part[start:]
                chunk = chunk[: len(chunk) // 4 * 4]
                decoded = base64.b64decode(chunk) if chunk else b""
                for secret in (PASSWORD.encode(), TOKEN.encode()):
                    assert not any(secret[i : i + 4] in decoded for i in range(len(secret) - 3))


def test_case_changed_and_hex_echoes_are_hidden() -> None:
    redactor = Redactor([PASSWORD])
    for form in forms(PASSWORD):
        assert redactor(f"said: {form}!") == f"said: {REDACTED}!"


def test_short_secrets_are_not_blanked_in_free_text() -> None:
    assert Redactor(["ab"])("a cab and a crab") == "a cab and a crab"


def test_an_untrusted_excerpt_hides_token_like_runs_and_quoted_words() -> None:
    text = f"error: token {TOKEN} rejected; password 'hunter22' wrong\n" + "x" * 500
    shown = untrusted_excerpt(text)
    assert TOKEN not in shown and "hunter22" not in shown
    assert "\n" not in shown and len(shown) <= 200


async def _run(config: Path, fmt: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCONSOLE")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "check",
        "--config",
        str(config),
        "--format",
        fmt,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode in (1, 2), err.decode()
    return out.decode() + err.decode()


def _server(port: int, ca: Path, command: str, *, oauth2: bool = False) -> str:
    auth = 'auth = "oauth2"\noauth2_token_command' if oauth2 else "password_command"
    return (
        f'host = "{HOST}"\nport = {port}\nsecurity = "tls"\ntls_ca_file = "{ca}"\n'
        f"{auth} = {json.dumps(command)}\n"
    )


async def test_no_output_format_shows_a_secret(tmp_path: Path) -> None:
    good = f"printf '%s' '{PASSWORD}'"
    token = f"printf '%s' '{TOKEN}'"
    helpers = {
        "stderr-then-fail": f"printf '%s\\n' '{TOKEN}' >&2; exit 1",
        "stdout-then-fail": f"printf '%s\\n' '{PASSWORD}'; exit 1",
        "quoted-on-stderr": f"echo \"bad password '{PASSWORD}' for you\" >&2; exit 2",
        "hex-on-stderr": f"echo {PASSWORD.encode().hex()} >&2; exit 3",
    }
    users = {u: PASSWORD for u in USERS} | {f"{h}@x.example": PASSWORD for h in helpers}
    tok_users = tuple(f"t{u}" for u in USERS)
    tokens = dict.fromkeys(tok_users, "not-this-one")
    echo = [(u, plain_payload(u)) for u in USERS] + [(u, xoauth2_payload(u)) for u in tok_users]
    imaps = [
        ImapScenario(
            users=users,
            tokens=tokens,
            auth_reply=(
                f"NO [AUTHENTICATIONFAILED] you sent {payload}"
                f" / {PASSWORD.upper()} / {PASSWORD.encode().hex()}"
            ),
            auth_reply_user=user,
        )
        for user, payload in echo
    ]
    smtp_echo = SmtpScenario(
        users=users,
        auth_reply=f"535 5.7.8 you sent {plain_payload(USERS[0])} {PASSWORD.lower()}",
    )
    async with Lab() as lab:
        servers = await lab.start_all([*imaps, smtp_echo, SmtpScenario(users=users)])
        *imap_servers, smtp_bad, smtp_ok = servers
        ca = lab.ca.ca_file
        parts = ["[settings]\ntimeout = 5\n"]
        for (user, _payload), imap in zip(echo, imap_servers, strict=True):
            oauth2 = user in tok_users
            imap_server = _server(imap.port, ca, token if oauth2 else good, oauth2=oauth2)
            parts.append(
                f'[[account]]\nemail = "{user}"\n'
                f'[account.smtp]\n{_server(smtp_bad.port, ca, good)}username = "{USERS[0]}"\n'
                f'[account.imap]\n{imap_server}username = "{user}"\n'
            )
        for name, command in helpers.items():
            parts.append(
                f'[[account]]\nemail = "{name}@x.example"\n'
                f"[account.smtp]\n{_server(smtp_ok.port, ca, command)}"
                f"[account.imap]\n{_server(imap_servers[0].port, ca, command)}"
            )
        config = tmp_path / "accounts.toml"
        config.write_text("\n".join(parts), encoding="utf-8")
        outputs = {fmt: await _run(config, fmt) for fmt in ("json", "csv", "table")}
    for fmt, text in outputs.items():
        for secret in (PASSWORD, TOKEN):
            for form in forms(secret):
                assert form not in text, f"{fmt} shows {form!r}"
        for _user, payload in echo:
            assert payload not in text
    assert "exit status 1" in outputs["json"]  # the failures are still explained


async def test_a_failed_commands_stdout_is_hidden_in_its_stderr() -> None:
    """A human password (not token-like, not quoted) printed on stdout by a command that then
    fails, and repeated on stderr in another case: the stdout is known, so it is hidden."""
    from console.core.model import Protocol, Security, ServerSettings
    from console.core.secrets import SecretError, fetch_secret

    command = "echo 'Pa55 word'; echo 'vault: PA55 WORD is expired' >&2; exit 1"
    settings = ServerSettings(
        protocol=Protocol.IMAP,
        host="imap.example.test",
        port=993,
        security=Security.TLS,
        username="alice@example.test",
        password_command=command,
    )
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings)
    message = str(caught.value)
    assert "exit status 1" in message and "is expired" in message
    assert "pa55 word" not in message.lower()
