"""Error text from secret sources is untrusted: real helper processes that print their secret on
stderr, on stdout and fail, upper-cased or hex, and keyring backends that echo the password."""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors
import pytest

from console.core.model import AuthMethod, Protocol, Security, ServerSettings
from console.core.secrets import SecretError, fetch_secret, store_password

TOKEN = "ya29.A0ARrdaM-leaky-token-Zq81xKp2mW"
PASSWORD = "Correct-Horse-Battery"


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


def forms(secret: str) -> list[str]:
    return [secret, secret.upper(), secret.lower(), secret.encode().hex()]


HELPERS = {
    "token on stderr, exit 1": f"echo 'error: refreshing {TOKEN} failed' >&2; exit 1",
    "token alone on stderr": f"echo '{TOKEN}' >&2; exit 1",
    "token on stdout, then fails": f"echo '{TOKEN}'; echo 'gpg: agent gone' >&2; exit 3",
    "stdout and stderr both": f"echo '{TOKEN}'; echo 'got {TOKEN}' >&2; exit 1",
    "upper-cased on stderr": f"echo 'got {TOKEN.upper()}' >&2; exit 1",
    "hex on stderr": f"echo 'dump {TOKEN.encode().hex()}' >&2; exit 1",
    "token split in a long line": f"printf 'x%.0s' $(seq 300) >&2; echo ' {TOKEN}' >&2; exit 1",
    "killed after printing": f"echo '{TOKEN}' >&2; kill -9 $$",
}


@pytest.mark.parametrize("oauth", [False, True], ids=["password_command", "oauth2_token_command"])
@pytest.mark.parametrize("command", list(HELPERS.values()), ids=list(HELPERS))
async def test_a_failing_helper_never_puts_its_secret_in_the_message(
    command: str, oauth: bool
) -> None:
    if oauth:
        config = settings(auth=AuthMethod.OAUTH2, oauth2_token_command=command)
    else:
        config = settings(password_command=command)
    with pytest.raises(SecretError) as caught:
        await fetch_secret(config)
    message = str(caught.value)
    assert "exit status" in message or "killed by" in message, message
    for form in forms(TOKEN):
        assert form not in message, (form, message)
    assert len(message) < 1200


async def test_harmless_stderr_is_still_shown() -> None:
    command = "echo 'gpg: decryption failed: No secret key' >&2; exit 2"
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings(password_command=command))
    assert "exit status 2" in str(caught.value)
    assert "gpg: decryption failed: No secret key" in str(caught.value)


async def test_short_stdout_of_a_failing_command_is_hidden_in_its_stderr() -> None:
    # a human password (not token-like) printed on stdout, echoed in stderr: known, so hidden
    command = "echo 'Pa55 word'; echo 'vault: Pa55 word is expired' >&2; exit 1"
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings(password_command=command))
    assert "Pa55 word" not in str(caught.value)
    assert "is expired" in str(caught.value)


class EchoingKeyring(keyring.backend.KeyringBackend):
    """A backend whose errors repeat the password in several forms."""

    priority = -10  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringError(f"backend failed reading, cached value {TOKEN}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(
            f"cannot save {password} ({password.upper()}, {password.encode().hex()})"
        )

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("no")


def test_keyring_store_error_repeating_the_password_is_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", EchoingKeyring())
    with pytest.raises(SecretError) as caught:
        store_password(settings(), PASSWORD)
    message = str(caught.value)
    assert "Cannot store the password" in message
    for form in forms(PASSWORD):
        assert form not in message


async def test_keyring_read_error_with_a_token_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", EchoingKeyring())
    with pytest.raises(SecretError) as caught:
        await fetch_secret(settings())
    assert "backend failed reading" in str(caught.value)
    assert TOKEN not in str(caught.value)
