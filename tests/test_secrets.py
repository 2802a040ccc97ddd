"""Secrets come from a command, a token command or the keyring; failures say what to do."""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from pathlib import Path

import keyring
import pytest
from conftest import MemoryKeyring
from servers import BOB

from console.core.model import AuthMethod, Protocol, Security, ServerSettings
from console.core.secrets import (
    KEYRING_SERVICE,
    MemorySecrets,
    SecretError,
    delete_password,
    fetch_secret,
    store_password,
)


def settings(**overrides: object) -> ServerSettings:
    base: dict[str, object] = {
        "protocol": Protocol.IMAP,
        "host": "imap.example.test",
        "port": 993,
        "security": Security.TLS,
        "username": "alice@example.test",
    }
    base.update(overrides)
    return ServerSettings(**base)  # type: ignore[arg-type,unused-ignore]


def printing(text: str) -> str:
    """A shell command that prints `text` exactly."""
    return f"printf '%s' {shlex.quote(text)}"


def process_gone(pid: int) -> bool:
    """Gone, or a zombie waiting for an init that does not reap (it holds no resources)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


# --- password_command -------------------------------------------------------------------------


async def test_password_command_returns_first_line_only() -> None:
    command = printing(f"{BOB.password}\nsecond line\n")
    assert await fetch_secret(settings(password_command=command)) == BOB.password


async def test_password_command_keeps_spaces_and_strips_only_the_newline() -> None:
    command = printing("  spaced out  \r\n")
    assert await fetch_secret(settings(password_command=command)) == "  spaced out  "


async def test_password_command_without_trailing_newline() -> None:
    assert await fetch_secret(settings(password_command="printf hunter2")) == "hunter2"


async def test_failing_command_reports_exit_status_and_stderr_but_not_stdout() -> None:
    command = "echo TOP-SECRET-OUTPUT; echo 'gpg: decryption failed: No secret key' >&2; exit 2"
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings(password_command=command))
    message = str(caught.value)
    assert "exit status 2" in message
    assert "gpg: decryption failed: No secret key" in message
    assert "password_command for imap login alice@example.test@imap.example.test" in message
    assert "TOP-SECRET-OUTPUT" not in message
    assert "echo" not in message  # the command text may hold a secret: never shown


async def test_failing_command_keeps_only_the_first_stderr_lines() -> None:
    command = "for i in 1 2 3 4 5 6; do echo line$i >&2; done; exit 1"
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings(password_command=command))
    assert "line1 | line2 | line3" in str(caught.value)
    assert "line4" not in str(caught.value)


async def test_empty_output_is_an_error() -> None:
    with pytest.raises(SecretError, match="printed nothing on its first line"):
        await fetch_secret(settings(password_command="echo; echo later"))


async def test_command_killed_by_a_signal_is_named() -> None:
    with pytest.raises(SecretError, match="killed by SIGTERM"):
        await fetch_secret(settings(password_command="kill -TERM $$"))


async def test_hanging_command_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    # The shell starts a background child and waits: both must go when the timeout hits.
    command = f"sleep 60 & echo $$ $! > {pid_file}; wait"
    started = time.monotonic()
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings(password_command=command), timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 3.0
    assert "did not finish within 0.5 s" in str(caught.value)
    shell, child = (int(pid) for pid in pid_file.read_text().split())
    assert process_gone(shell)
    assert process_gone(child)


async def test_cancelling_a_fetch_stops_the_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    task = asyncio.create_task(
        fetch_secret(settings(password_command=f"echo $$ > {pid_file}; exec sleep 60"))
    )
    while not pid_file.exists() or not pid_file.read_text().strip():
        await asyncio.sleep(0.01)  # the file appearing is not an awaitable event
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert process_gone(int(pid_file.read_text()))


async def test_commands_run_concurrently() -> None:
    started = time.monotonic()
    results = await asyncio.gather(
        *(fetch_secret(settings(password_command=f"sleep 0.3; echo s{i}")) for i in range(5))
    )
    assert results == [f"s{i}" for i in range(5)]
    assert time.monotonic() - started < 1.2


async def test_oauth2_token_command_wins_over_password_command() -> None:
    oauth = settings(
        auth=AuthMethod.OAUTH2,
        oauth2_token_command="echo ya29.token-value",
        password_command="echo not-this",
    )
    assert await fetch_secret(oauth) == "ya29.token-value"


async def test_oauth2_without_token_command_says_what_to_add() -> None:
    with pytest.raises(SecretError, match="oauth2_token_command"):
        await fetch_secret(settings(auth=AuthMethod.OAUTH2))


async def test_oauth2_token_command_failure_is_named() -> None:
    oauth = settings(auth=AuthMethod.OAUTH2, oauth2_token_command="echo expired >&2; exit 1")
    with pytest.raises(SecretError, match=r"oauth2_token_command .*exit status 1.*expired"):
        await fetch_secret(oauth)


# --- keyring ----------------------------------------------------------------------------------


async def test_keyring_password_is_read_under_service_and_user_at_host(
    memory_keyring: MemoryKeyring,
) -> None:
    login = settings()
    memory_keyring.set_password("mailconsole", "alice@example.test@imap.example.test", "kr-pw")
    assert await fetch_secret(login) == "kr-pw"


async def test_store_then_fetch_then_delete(memory_keyring: MemoryKeyring) -> None:
    login = settings(username=BOB.name)
    await asyncio.to_thread(store_password, login, BOB.password)
    assert memory_keyring.store == {(KEYRING_SERVICE, login.keyring_key): BOB.password}
    assert await fetch_secret(login) == BOB.password
    delete_password(login)
    delete_password(login)  # deleting what is not there is fine
    assert memory_keyring.store == {}


async def test_missing_keyring_entry_says_how_to_store_it(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings())
    message = str(caught.value)
    assert "No password is stored for alice@example.test@imap.example.test" in message
    assert "keyring set mailconsole alice@example.test@imap.example.test" in message
    assert "password_command" in message


async def test_no_keyring_backend_gives_the_headless_advice() -> None:
    # The autouse `no_keyring` fixture is in place: this is a headless box.
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings())
    message = str(caught.value)
    assert "No keyring backend is available" in message
    assert "gnome-keyring" in message
    assert "password_command" in message
    assert "PYTHON_KEYRING_BACKEND" in message
    assert "keyrings.alt" in message


def test_store_without_backend_raises_secret_error_without_the_password() -> None:
    with pytest.raises(SecretError) as caught:
        store_password(settings(), BOB.password)
    assert BOB.password not in str(caught.value)
    assert "No keyring backend" in str(caught.value)


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


async def test_locked_keyring_says_unlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", LockedKeyring())
    with pytest.raises(SecretError, match=r"the keyring is locked\. Unlock it"):
        await fetch_secret(settings())


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"cannot save {password}")


def test_store_failure_never_echoes_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", BrokenKeyring())
    with pytest.raises(SecretError) as caught:
        store_password(settings(), "hunter2-secret")
    assert "hunter2-secret" not in str(caught.value)
    assert "Cannot store the password" in str(caught.value)


def test_store_refuses_an_empty_password(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(SecretError, match="empty password"):
        store_password(settings(), "")
    assert memory_keyring.store == {}


def test_subprocesses_are_kept_away_from_the_real_keyring() -> None:
    assert os.environ["PYTHON_KEYRING_BACKEND"] == "keyring.backends.fail.Keyring"


# --- MemorySecrets ----------------------------------------------------------------------------


async def test_memory_secrets_by_settings_or_key() -> None:
    secrets = MemorySecrets({"x@h": "one"})
    login = settings()
    secrets.set(login, BOB.password)
    assert await secrets(login) == BOB.password
    assert await secrets(settings(username="x", host="h")) == "one"
    assert login in secrets
    assert BOB.password not in repr(secrets)
    secrets.delete(login)
    with pytest.raises(SecretError, match=r"No password is stored for alice@example\.test@"):
        await secrets(login)


async def test_memory_secrets_never_touch_the_keyring(memory_keyring: MemoryKeyring) -> None:
    secrets = MemorySecrets()
    secrets.set("k@h", "v")
    assert await secrets(settings(username="k", host="h")) == "v"
    assert memory_keyring.store == {}
