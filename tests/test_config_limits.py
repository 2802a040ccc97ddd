"""The account file's limits: only regular files, a size cap, deep nesting as a syntax error,
host names validated, and bounded field lengths (issue: hostile or broken account files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.config import (
    MAX_CONFIG_BYTES,
    ConfigSyntaxError,
    ConfigUnreadableError,
    load_config,
)
from console.core.config_validate import MAX_EMAIL, MAX_NAME, MAX_TAG
from console.core.model import Cause, Protocol


def _account(host: str = "imap.acme.example", **extra: str) -> str:
    fields = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return (
        f'[[account]]\nemail = "ana@acme.example"\n{fields}'
        f'[account.smtp]\nhost = "smtp.acme.example"\nport = 465\n'
        f'[account.imap]\nhost = "{host}"\nport = 993\n'
    )


def _check(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCONSOLE")}
    return subprocess.run(
        [sys.executable, "-m", "console", "check", "--config", str(config), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_deep_nesting_is_a_syntax_error_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 500 + "1" + "]" * 500 + "\n")
    with pytest.raises(ConfigSyntaxError) as caught:
        load_config(path)
    assert caught.value.line == 1 and caught.value.column == 4 + 65
    result = _check(path)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "nested too deeply" in result.stderr


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "accounts.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigUnreadableError, match="not a regular file"):
        load_config(fifo)
    result = _check(fifo)  # would block forever if the FIFO were opened for reading plainly
    assert result.returncode == 3
    assert "not a regular file" in result.stderr


def test_devices_are_refused() -> None:
    with pytest.raises(ConfigUnreadableError, match="not a regular file"):
        load_config("/dev/zero")


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    with open(path, "wb") as f:
        f.truncate(MAX_CONFIG_BYTES + 1)  # sparse: nothing to write
    with pytest.raises(ConfigUnreadableError, match="MiB"):
        load_config(path)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1\\u0000evil",
        "imap.acme.example\\u001b[2J",
        "imap.acme\\u202e.example",
        "imap.acme\\u200b.example",
        "imap!.acme.example",
    ],
)
def test_hosts_must_be_names_or_ip_literals(tmp_path: Path, host: str) -> None:
    path = tmp_path / "a.toml"
    path.write_text(_account(host))
    loaded = load_config(path)
    (account,) = loaded.accounts
    issues = [i for i in account.issues if i.field == "imap.host"]
    assert issues and issues[0].cause is Cause.SETTINGS_INVALID  # IMAP fails at stage config
    messages = [i.message for i in issues]
    assert "server name or IP address" in messages[0]
    assert "\x00" not in messages[0] and "\x1b" not in messages[0]


@pytest.mark.parametrize(
    "host",
    ["imap.acme.example", "127.0.0.1", "::1", "fe80::1%eth0", "mail.bücher.example", "a_b.x"],
)
def test_good_hosts_pass(tmp_path: Path, host: str) -> None:
    path = tmp_path / "a.toml"
    path.write_text(_account(host))
    loaded = load_config(path)
    assert loaded.accounts[0].imap is not None
    assert not [i for i in loaded.issues if i.field == "imap.host"]


def test_field_lengths_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    long_tag = "t" * (MAX_TAG + 1)
    path.write_text(
        _account(
            "h" * 300 + ".example",
            name=f'"{"n" * (MAX_NAME + 10)}"',
            tags=f'["ok", "{long_tag}"]',
        )
        + f'[[account]]\nemail = "{"e" * MAX_EMAIL}@x.example"\n'
    )
    loaded = load_config(path)
    (account,) = loaded.accounts  # the over-long email is refused
    assert account.name is not None and len(account.name) == MAX_NAME
    assert account.tags == ("ok",)
    fields = {i.field for i in loaded.issues}
    assert {"name", "tags", "imap.host", "email"} <= fields


def test_emails_with_control_or_bidi_characters_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(
        '[[account]]\nemail = "ana\\u202e@acme.example"\n'
        '[[account]]\nemail = "bob\\u001b]0;x@acme.example"\n'
    )
    loaded = load_config(path)
    assert loaded.accounts == ()
    assert len([i for i in loaded.issues if i.field == "email"]) == 2


def test_unknown_keys_are_named_with_a_suggestion_and_fail_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(
        "[settings]\ntimout = 5\n"
        '[[account]]\nemail = "ana@acme.example"\nnote = "client: Fern"\n'
        '[account.smtp]\nhost = "smtp.acme.example"\nport = 465\n'
        '[account.imap]\nhost = "imap.acme.example"\nport = 993\n'
        'pasword_command = "pass show ana"\n'
    )
    loaded = load_config(path)
    messages = [i.message for i in loaded.issues]
    assert any("[settings]" in m and "did you mean timeout?" in m for m in messages)
    assert any('"note"' in m and "kept, not used" in m for m in messages)
    assert any("[account.imap]" in m and "did you mean password_command?" in m for m in messages)
    (account,) = loaded.accounts
    assert account.issues_for(Protocol.IMAP) == ()  # a warning: the check still runs
    assert load_config(Path(__file__).parents[1] / "accounts.example.toml").issues == ()
