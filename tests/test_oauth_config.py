"""`auth = "oauth2"` in the account file: the built-in sign-in, its keys, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.config import load_config
from console.core.model import GOOGLE_AUTHORITY, SignIn
from console.core.oauth.session import refresh
from console.core.oauth.store import SignIns
from console.core.secrets import SecretError, signed_in_token

MICROSOFT = """
[[account]]
email = "ana@contoso.onmicrosoft.com"
{account}
[account.smtp]
host = "smtp.office365.com"
port = 587
security = "starttls"
auth = "oauth2"
{server}
"""


def _load(tmp_path: Path, settings: str = "", account: str = "", server: str = "") -> object:
    path = tmp_path / "accounts.toml"
    path.write_text(f"[settings]\n{settings}\n" + MICROSOFT.format(account=account, server=server))
    return load_config(path)


def test_settings_keys_reach_the_sign_in_and_an_account_overrides_them(tmp_path: Path) -> None:
    ca = tmp_path / "proxy-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    loaded = _load(
        tmp_path,
        settings='oauth2_client_id = "app-1"\noauth2_tenant = "contoso.onmicrosoft.com"\n'
        'oauth2_authority = "https://login.microsoftonline.us"\noauth2_ca_file = "proxy-ca.pem"',
        account='oauth2_client_id = "app-2"',
    )
    (account,) = loaded.accounts
    assert loaded.issues == ()
    assert account.sign_in == SignIn(
        platform="microsoft",
        email="ana@contoso.onmicrosoft.com",
        client_id="app-2",
        tenant="contoso.onmicrosoft.com",
        authority="https://login.microsoftonline.us",
        ca_file=str(ca),
    )
    assert (
        account.sign_in.authority_url == "https://login.microsoftonline.us/contoso.onmicrosoft.com"
    )


def test_without_keys_the_defaults_are_microsofts_common_endpoint(tmp_path: Path) -> None:
    (account,) = _load(tmp_path).accounts
    assert account.sign_in is not None
    assert account.sign_in.authority_url == "https://login.microsoftonline.com/common"
    assert account.sign_in.client_id is None  # the check says what to register


def test_a_token_command_wins_over_the_sign_in(tmp_path: Path) -> None:
    loaded = _load(tmp_path, server='oauth2_token_command = "oama access ana"')
    (account,) = loaded.accounts
    assert account.sign_in is None and loaded.issues == ()


def test_bad_sign_in_keys_are_named(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        settings='oauth2_authority = "http://login.example"\noauth2_ca_file = "missing.pem"',
        account="oauth2_tenant = 7",
    )
    fields = {issue.field: issue.message for issue in loaded.issues}
    assert fields["settings.oauth2_authority"].startswith("must be an https:// address")
    assert fields["settings.oauth2_ca_file"].startswith("no such file")
    assert fields["oauth2_tenant"] == "must be a non-empty string, not 7"


def test_oauth2_on_a_server_without_a_built_in_sign_in_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[[account]]\nemail = "bo@example.com"\n[account.smtp]\nhost = "smtp.example.com"\n'
        'port = 587\nsecurity = "starttls"\nauth = "oauth2"\n'
        '[[account]]\nemail = "gi@gmail.com"\n[account.smtp]\nhost = "smtp.gmail.com"\n'
        'port = 465\nsecurity = "tls"\nauth = "oauth2"\n'
    )
    loaded = load_config(path)
    issues = {i.account: i for i in loaded.issues}
    assert list(issues) == ["bo@example.com"]
    assert issues["bo@example.com"].field == "smtp.oauth2_token_command"
    assert 'set provider = "microsoft365"' in issues["bo@example.com"].message
    gmail = next(a for a in loaded.accounts if a.email == "gi@gmail.com")
    assert gmail.sign_in is not None and gmail.sign_in.platform == "google"
    assert gmail.sign_in.authority == GOOGLE_AUTHORITY


def test_googles_client_secret_may_be_in_the_file_other_secrets_may_not(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[settings]\noauth2_client_id = "x.apps.googleusercontent.com"\n'
        'oauth2_client_secret = "GOCSPX-not-confidential"\nsmtp_password = "hunter2"\n'
        '[[account]]\nemail = "gi@gmail.com"\n[account.smtp]\nhost = "smtp.gmail.com"\n'
        'port = 465\nsecurity = "tls"\nauth = "oauth2"\n'
    )
    loaded = load_config(path)
    assert [i.field for i in loaded.issues] == ["settings.smtp_password"]
    (account,) = loaded.accounts
    assert account.sign_in is not None
    assert account.sign_in.client_secret == "GOCSPX-not-confidential"
    assert "GOCSPX" not in repr(account.sign_in)


@pytest.mark.parametrize(
    ("sign_in", "words"),
    [
        (SignIn("microsoft", "a@contoso.example", None), "register an app in Microsoft Entra"),
        (
            SignIn("google", "g@gmail.com", "id.apps", authority=GOOGLE_AUTHORITY),
            "oauth2_client_id and oauth2_client_secret",
        ),
    ],
)
async def test_no_registered_app_says_what_to_register(sign_in: SignIn, words: str) -> None:
    with pytest.raises(SecretError) as caught:
        await signed_in_token(sign_in, SignIns(refresh, keep=False))
    assert words in str(caught.value)
    assert str(caught.value).endswith(f"or run mailconsole login {sign_in.email}.")
