"""The account file: load, validate, write back (DESIGN section 3)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from console.core.config import (
    ConfigError,
    ConfigNotFoundError,
    ConfigSyntaxError,
    ConfigUnreadableError,
    LoadedConfig,
    default_config_path,
    load_config,
)
from console.core.config_write import (
    ConfigChangedError,
    ConfigEditError,
    ConfigExistsError,
    ConfigSecretError,
    ConfigWriteError,
    account_table,
    add_account,
    backup_path,
    new_config_file,
    remove_account,
    save_config,
    update_account,
)
from console.core.model import (
    Account,
    AuthMethod,
    Cause,
    Protocol,
    Security,
    ServerSettings,
    Settings,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "accounts.example.toml"
MISSING, INVALID = Cause.SETTINGS_MISSING, Cause.SETTINGS_INVALID


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def leftovers(folder: Path) -> list[str]:
    """Temp files a save might leave behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLE, tmp_path / "accounts.toml"))


# --- the example file ------------------------------------------------------------------------


def test_example_file_loads_with_no_issues_and_documents_each_case() -> None:
    loaded = load_config(EXAMPLE)
    assert loaded.issues == ()
    assert loaded.settings == Settings()
    by_email = {a.email: a for a in loaded.accounts}
    assert list(by_email) == [
        "alice@acme.example",
        "dave@fabrikam.example",
        "bob@northwind.example",
        "carol@initech.example",
        "news@globex.example",
        "dave@hooli.example",
    ]
    alice = by_email["alice@acme.example"]
    assert alice.provider == "gmail" and alice.tags == ("acme", "warm")
    assert alice.smtp == ServerSettings(
        Protocol.SMTP, "smtp.gmail.com", 465, Security.TLS, "alice@acme.example"
    )
    assert alice.smtp.password_command is None  # the keyring provides it
    signed_in = by_email["dave@fabrikam.example"]
    assert signed_in.sign_in is not None and signed_in.sign_in.platform == "microsoft"
    assert signed_in.sign_in.client_id is None  # the commented [settings] key is not set
    assert signed_in.smtp is not None and signed_in.smtp.sign_in == signed_in.sign_in
    bob = by_email["bob@northwind.example"]
    assert bob.sign_in is None  # its own token command wins
    assert bob.imap is not None and bob.imap.auth is AuthMethod.OAUTH2
    assert bob.imap.oauth2_token_command == "oama access bob@northwind.example"
    carol = by_email["carol@initech.example"]
    assert carol.imap is not None and carol.imap.username == "replies@initech.example"
    assert carol.smtp is not None and carol.smtp.username == "carol@initech.example"
    news = by_email["news@globex.example"]
    assert news.send_only and news.imap is None and news.provider == "amazon_ses"
    dave = by_email["dave@hooli.example"]
    assert dave.imap is not None and (dave.imap.port, dave.imap.security) == (143, "starttls")
    assert dave.imap.tls_ca_file is None


def test_example_round_trip_through_save(example_copy: Path) -> None:
    loaded = load_config(example_copy)
    saved = save_config(loaded, loaded.raw)
    again = load_config(example_copy)
    assert again.accounts == loaded.accounts == saved.accounts
    assert again.settings == loaded.settings
    assert again.raw == loaded.raw
    assert again.issues == ()
    text = example_copy.read_text()
    assert text.count("[[account]]") == 6  # never collapsed into one inline `account = [...]`
    assert "[account.imap]" in text


# --- defaults --------------------------------------------------------------------------------


def test_defaults_fill_ports_usernames_mailbox_and_auth(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.toml",
        """
[[account]]
email = "a@one.example"
reply_address = "r@one.example"
[account.smtp]
host = "smtp.one.example"
[account.imap]
host = "imap.one.example"

[[account]]
email = "b@two.example"
[account.smtp]
host = "smtp.two.example"
security = "starttls"
[account.imap]
host = "imap.two.example"
security = "starttls"

[[account]]
email = "c@three.example"
""",
    )
    loaded = load_config(path)
    assert loaded.issues == ()
    assert loaded.settings == Settings(concurrency=32, per_host=8, timeout=15.0, recheck_minutes=0)
    a, b, c = loaded.accounts
    assert a.smtp == ServerSettings(
        Protocol.SMTP, "smtp.one.example", 465, Security.TLS, "a@one.example"
    )
    assert a.imap == ServerSettings(
        Protocol.IMAP, "imap.one.example", 993, Security.TLS, "r@one.example", mailbox="INBOX"
    )
    assert a.imap.auth is AuthMethod.PASSWORD
    assert b.smtp is not None and b.smtp.port == 587
    assert b.imap is not None and (b.imap.port, b.imap.username) == (143, "b@two.example")
    # no tables at all: simply not configured, which is not an error
    assert (c.smtp, c.imap, c.issues) == (None, None, ())


# --- validation ------------------------------------------------------------------------------

MANY_ERRORS = """
[settings]
concurrency = 0
per_host = "eight"
timeout = -1
recheck_minutes = -5

[[account]]                         # 1: fine
email = "good1@ok.example"
[account.smtp]
host = "smtp.ok.example"
[account.imap]
host = "imap.ok.example"

[[account]]                         # 2: no email -> dropped
name = "nobody"
[account.smtp]
host = "smtp.ok.example"

[[account]]                         # 3: email without @ -> dropped
email = "not-an-address"

[[account]]                         # 4: duplicate of 1 -> dropped
email = "GOOD1@ok.example"

[[account]]                         # 5: broken IMAP table, SMTP fine -> kept
email = "imapbad@ok.example"
tags = "acme"
[account.smtp]
host = "smtp.ok.example"
[account.imap]
host = "imaps://imap.ok.example"
port = 70000
security = "ssl"

[[account]]                         # 6: IMAP table without host -> imap None, kept
email = "nohost@ok.example"
[account.smtp]
host = "smtp.ok.example"
port = "587"
[account.imap]
port = 993

[[account]]                         # 7: oauth2 without token command, host with port
email = "oauth@ok.example"
send_only = "yes"
[account.smtp]
host = "smtp.ok.example:465"
auth = "oauth2"
[account.imap]
host = "imap ok.example"
auth = "kerberos"
mailbox = ""

[[account]]                         # 8: invalid reply address taints the IMAP username
email = "reply@ok.example"
reply_address = "replies at ok.example"
[account.imap]
host = "imap.ok.example"
port = true

[[account]]                         # 9: fine, after all the broken ones
email = "good2@ok.example"
[account.smtp]
host = "smtp.ok.example"
"""

EXPECTED_ISSUES = {
    (None, "settings.concurrency", INVALID),
    (None, "settings.per_host", INVALID),
    (None, "settings.timeout", INVALID),
    (None, "settings.recheck_minutes", INVALID),
    ("account #2", "email", MISSING),
    ("account #3", "email", INVALID),
    ("GOOD1@ok.example", "email", INVALID),
    ("imapbad@ok.example", "tags", INVALID),
    ("imapbad@ok.example", "imap.host", INVALID),
    ("imapbad@ok.example", "imap.port", INVALID),
    ("imapbad@ok.example", "imap.security", INVALID),
    ("nohost@ok.example", "smtp.port", INVALID),
    ("nohost@ok.example", "imap.host", MISSING),
    ("oauth@ok.example", "send_only", INVALID),
    ("oauth@ok.example", "smtp.host", INVALID),
    ("oauth@ok.example", "smtp.oauth2_token_command", MISSING),
    ("oauth@ok.example", "imap.host", INVALID),
    ("oauth@ok.example", "imap.auth", INVALID),
    ("oauth@ok.example", "imap.mailbox", INVALID),
    ("reply@ok.example", "reply_address", INVALID),
    ("reply@ok.example", "imap.username", INVALID),
    ("reply@ok.example", "imap.port", INVALID),
}


def test_every_problem_is_reported_with_account_and_field(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "a.toml", MANY_ERRORS))
    found = [(i.account, i.field, i.cause) for i in loaded.issues]
    assert len(found) == len(set(found))
    assert set(found) == EXPECTED_ISSUES
    for issue in loaded.issues:
        assert issue.message
        where = ", ".join(p for p in (issue.account, issue.field) if p)
        assert str(issue) == f"{where}: {issue.message}"


def test_messages_say_what_is_wrong(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "a.toml", MANY_ERRORS))
    text = {(i.account, i.field): i.message for i in loaded.issues}
    assert "70000" in text[("imapbad@ok.example", "imap.port")]
    assert '"imaps://"' in text[("imapbad@ok.example", "imap.host")]
    assert '"imap.ok.example"' in text[("imapbad@ok.example", "imap.host")]
    assert 'did you mean "tls"' in text[("imapbad@ok.example", "imap.security")]
    assert "port = 587" in text[("nohost@ok.example", "smtp.port")]  # a quoted number
    assert 'host = "smtp.ok.example" and port = 465' in text[("oauth@ok.example", "smtp.host")]
    assert "oauth2_token_command" in text[("oauth@ok.example", "smtp.oauth2_token_command")]
    assert '"not-an-address"' in text[("account #3", "email")]
    assert "account #4" in text[("GOOD1@ok.example", "email")]


def test_valid_accounts_stay_usable_and_broken_tables_fail_their_protocol(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "a.toml", MANY_ERRORS))
    emails = [a.email for a in loaded.accounts]
    assert emails == [
        "good1@ok.example",
        "imapbad@ok.example",
        "nohost@ok.example",
        "oauth@ok.example",
        "reply@ok.example",
        "good2@ok.example",
    ]
    good1, imapbad, nohost, oauth, reply, good2 = loaded.accounts
    assert good1.issues == good2.issues == ()
    # a broken [account.imap]: settings still built, the issues fail IMAP, not SMTP
    assert imapbad.imap is not None and imapbad.imap.host == "imaps://imap.ok.example"
    assert imapbad.imap.port == 993  # the default stands in for the bad value
    assert {i.field for i in imapbad.issues_for(Protocol.IMAP)} == {
        "imap.host",
        "imap.port",
        "imap.security",
    }
    assert imapbad.issues_for(Protocol.SMTP) == ()
    assert imapbad.smtp is not None
    # a table without host: no settings, and a settings_missing issue to fail at `config`
    assert nohost.imap is None
    assert [(i.field, i.cause) for i in nohost.issues_for(Protocol.IMAP)] == [
        ("imap.host", MISSING)
    ]
    assert nohost.smtp is not None and nohost.smtp.port == 465
    assert oauth.send_only is False
    assert reply.reply_address is None
    assert reply.imap is not None and reply.imap.username == "reply@ok.example"
    # every account issue is also in the file's list, in the same order
    assert [i for i in loaded.issues if i.account == "oauth@ok.example"] == list(oauth.issues)
    # invalid settings fall back to the defaults
    assert loaded.settings == Settings()


def test_one_bad_account_among_three_hundred(tmp_path: Path) -> None:
    blocks = [
        f'[[account]]\nemail = "u{n}@bulk.example"\n[account.imap]\nhost = "imap.bulk.example"\n'
        for n in range(300)
    ]
    blocks[150] = '[[account]]\nemail = "u150@bulk.example"\n[account.imap]\nport = 0\n'
    loaded = load_config(write(tmp_path / "a.toml", "\n".join(blocks)))
    assert len(loaded.accounts) == 300
    assert [(i.account, i.field) for i in loaded.issues] == [
        ("u150@bulk.example", "imap.host"),
        ("u150@bulk.example", "imap.port"),
    ]


def test_wrong_table_shapes_are_explained(tmp_path: Path) -> None:
    single = load_config(write(tmp_path / "a.toml", '[account]\nemail = "a@x.example"\n'))
    assert [(i.field, "[[account]]" in i.message) for i in single.issues] == [("account", True)]
    plural = load_config(write(tmp_path / "b.toml", '[[accounts]]\nemail = "a@x.example"\n'))
    assert [i.field for i in plural.issues] == ["accounts"] and plural.accounts == ()
    not_table = load_config(
        write(tmp_path / "c.toml", '[[account]]\nemail = "a@x.example"\nimap = "imap.x.example"\n')
    )
    (account,) = not_table.accounts
    assert account.imap is None
    assert [i.field for i in account.issues_for(Protocol.IMAP)] == ["imap.host"]


def test_a_secret_in_the_file_is_flagged_without_echoing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.toml",
        '[[account]]\nemail = "a@x.example"\n'
        '[account.imap]\nhost = "imap.x.example"\npassword = "hunter2-secret"\n',
    )
    loaded = load_config(path)
    (issue,) = loaded.issues
    assert (issue.account, issue.field, issue.cause) == ("a@x.example", "imap.password", INVALID)
    assert "keyring" in issue.message
    assert "hunter2" not in str(issue)


def test_unknown_provider_is_reported_and_left_to_detection(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.toml",
        '[[account]]\nemail = "a@x.example"\nprovider = "gmial"\n'
        '[[account]]\nemail = "b@x.example"\nprovider = " Gmail "\n',
    )
    loaded = load_config(path)
    a, b = loaded.accounts
    assert a.provider is None  # detection from the domain takes over
    (issue,) = loaded.issues
    assert (issue.account, issue.field) == ("a@x.example", "provider")
    assert '"gmial"' in issue.message and "gmail" in issue.message
    assert b.provider == "gmail"


def test_secrets_outside_accounts_are_flagged_too(tmp_path: Path) -> None:
    path = write(tmp_path / "a.toml", 'api_key = "k"\n[settings]\ntoken = "t"\n')
    loaded = load_config(path)
    assert [(i.account, i.field) for i in loaded.issues] == [
        (None, "api_key"),
        (None, "settings.token"),
    ]


def test_control_characters_in_values_are_escaped_in_messages(tmp_path: Path) -> None:
    path = write(tmp_path / "a.toml", '[[account]]\nemail = "evil\\u001b[2J"\n')
    (issue,) = load_config(path).issues
    assert "\x1b" not in issue.message and "\\u001b" in issue.message


# --- errors that stop the load ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('[[account]]\nemail = "a@x.example"\nname = \n', 3, 8, "Invalid value"),
        ('[[account]]\nemail = "a@x.example"\nemail = "b@x.example"\n', 3, 22, "Cannot overwrite"),
        (
            '[settings]\ntimeout = 5\n[[account]]\nemail = "a@x.example',
            4,
            21,
            "Unterminated string",
        ),
    ],
)
def test_syntax_error_gives_path_line_column_and_leaves_file_alone(
    tmp_path: Path, text: str, line: int, column: int, message: str
) -> None:
    path = write(tmp_path / "accounts.toml", text)
    before = path.read_bytes()
    with pytest.raises(ConfigSyntaxError) as caught:
        load_config(path)
    err = caught.value
    assert (err.line, err.column) == (line, column)
    assert str(err).startswith(f"{path}:{line}:{column}: {message}")
    assert isinstance(err, ConfigError)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.toml"]


def test_invalid_utf8_is_a_syntax_error_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_bytes(b'[[account]]\nname = "J\xf6rg"\n')
    with pytest.raises(ConfigSyntaxError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:2:10: not valid UTF-8 text"


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "accounts.toml"
    with pytest.raises(ConfigNotFoundError) as caught:
        load_config(missing)
    assert str(caught.value).startswith(f"{missing}: no account file here")
    assert "--config" in str(caught.value)
    with pytest.raises(ConfigUnreadableError) as folder:
        load_config(tmp_path)
    assert str(folder.value) == f"{tmp_path}: is a folder, not an account file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_by_permissions(tmp_path: Path) -> None:
    path = write(tmp_path / "a.toml", "")
    path.chmod(0)
    with pytest.raises(ConfigUnreadableError, match="Permission denied"):
        load_config(path)


# --- default location --------------------------------------------------------------------------


def test_default_config_path_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILCONSOLE_CONFIG", str(tmp_path / "mine.toml"))
    assert default_config_path() == tmp_path / "mine.toml"
    monkeypatch.delenv("MAILCONSOLE_CONFIG")
    default = default_config_path()
    assert default.parts[-2:] == ("mailconsole", "accounts.toml")
    assert default.is_absolute()
    monkeypatch.setenv("MAILCONSOLE_CONFIG", "")
    assert default_config_path() == default  # empty counts as unset


# --- write-back --------------------------------------------------------------------------------

WITH_UNKNOWN_KEYS = """
theme = "dark"                       # unknown top-level key

[settings]
timeout = 20
colour = "blue"                      # unknown in [settings]

[team]                               # unknown table
owner = "ops@acme.example"

[[account]]
email = "alice@acme.example"
crm_id = 4711                        # unknown in an account
[account.imap]
host = "imap.acme.example"
idle = true                          # unknown in account.imap
[account.smtp]
host = "smtp.acme.example"
"""


def test_unknown_keys_survive_an_edit_and_save(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    loaded = load_config(path)
    # kept, and only named as unknown (config_validate: never an error)
    assert loaded.issues and all("unknown key" in i.message for i in loaded.issues)
    raw = update_account(loaded.raw, "alice@acme.example", Protocol.IMAP, {"port": 143})
    raw = update_account(raw, "alice@acme.example", Protocol.IMAP, {"security": Security.STARTTLS})
    saved = save_config(loaded, raw)
    again = load_config(path)
    assert again.raw["theme"] == "dark"
    assert again.raw["settings"]["colour"] == "blue"
    assert again.raw["team"] == {"owner": "ops@acme.example"}
    entry = again.raw["account"][0]
    assert entry["crm_id"] == 4711
    assert entry["imap"] == {
        "host": "imap.acme.example",
        "idle": True,
        "port": 143,
        "security": "starttls",
    }
    assert again.settings.timeout == 20.0
    assert again.accounts == saved.accounts
    assert saved.accounts[0].imap is not None and saved.accounts[0].imap.port == 143


def test_save_keeps_exactly_one_backup_with_the_previous_content(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    original = path.read_bytes()
    loaded = load_config(path)
    first = save_config(
        loaded, update_account(loaded.raw, "alice@acme.example", None, {"name": "A"})
    )
    bak = backup_path(path)
    assert bak == tmp_path / "accounts.toml.bak"
    assert bak.read_bytes() == original  # comments and all
    after_first = path.read_bytes()
    save_config(first, update_account(first.raw, "alice@acme.example", None, {"name": "B"}))
    assert bak.read_bytes() == after_first
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".accounts.toml.lock",  # the advisory lock every save takes
        "accounts.toml",
        "accounts.toml.bak",
    ]


def test_save_keeps_the_file_mode_and_returns_a_fresh_fingerprint(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    path.chmod(0o640)
    loaded = load_config(path)
    saved = save_config(loaded, loaded.raw)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(backup_path(path).stat().st_mode) == 0o640
    assert saved.fingerprint.matches(path.read_bytes())
    assert saved.fingerprint.size == path.stat().st_size
    # a second save from the returned config works: it is the file as now on disk
    save_config(saved, update_account(saved.raw, "alice@acme.example", None, {"name": "x"}))
    assert load_config(path).accounts[0].name == "x"


def test_external_change_is_detected_and_not_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    loaded = load_config(path)
    external = WITH_UNKNOWN_KEYS.replace("dark", "light")
    write(path, external)
    raw = update_account(loaded.raw, "alice@acme.example", Protocol.IMAP, {"port": 143})
    with pytest.raises(ConfigChangedError) as caught:
        save_config(loaded, raw)
    assert "changed on disk since it was read" in str(caught.value)
    assert "Reload" in str(caught.value)
    assert path.read_text() == external
    assert not backup_path(path).exists()
    path.unlink()
    with pytest.raises(ConfigChangedError, match="removed"):
        save_config(loaded, raw)
    assert not path.exists()


def test_touching_the_file_without_changing_it_is_not_a_conflict(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    loaded = load_config(path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    saved = save_config(
        loaded, update_account(loaded.raw, "alice@acme.example", None, {"name": "n"})
    )
    assert saved.accounts[0].name == "n"


def test_unwritable_value_fails_before_touching_anything(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    before = path.read_bytes()
    loaded = load_config(path)
    raw = dict(loaded.raw)
    raw["team"] = {"members": {"a", "b"}}
    with pytest.raises(ConfigWriteError, match=r"team\.members: a set cannot be written"):
        save_config(loaded, raw)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".accounts.toml.lock", "accounts.toml"]


def test_failed_rename_leaves_the_original_and_no_temp_file(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    before = path.read_bytes()
    loaded = load_config(path)
    backup_path(path).mkdir()  # a real OS error when the backup is put in place
    with pytest.raises(ConfigWriteError, match="the file was not changed"):
        save_config(loaded, update_account(loaded.raw, "alice@acme.example", None, {"name": "x"}))
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_full_disk_during_save_leaves_the_original_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    before = path.read_bytes()
    loaded = load_config(path)
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync_then_disk_full(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] >= 3:  # backup written and synced (2 fsyncs), then the new file fails
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_then_disk_full)
    with pytest.raises(ConfigWriteError, match="No space left on device"):
        save_config(loaded, update_account(loaded.raw, "alice@acme.example", None, {"name": "x"}))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert backup_path(path).read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = write(folder / "accounts.toml", WITH_UNKNOWN_KEYS)
    loaded = load_config(path)
    folder.chmod(0o500)
    try:
        with pytest.raises(ConfigWriteError, match="Permission denied"):
            save_config(loaded, loaded.raw)
        assert path.read_text() == WITH_UNKNOWN_KEYS
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o700)


def test_secrets_are_refused_and_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    before = path.read_bytes()
    loaded = load_config(path)
    with pytest.raises(ConfigSecretError) as caught:
        update_account(loaded.raw, "alice@acme.example", Protocol.IMAP, {"password": "s3cr3t!"})
    assert "imap" in str(caught.value) and "password" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    raw = dict(loaded.raw)
    raw["account"] = [dict(loaded.raw["account"][0], imap={"host": "h", "access_token": "tok"})]
    with pytest.raises(ConfigSecretError, match=r"account\[0\]\.imap\.access_token") as saving:
        save_config(loaded, raw)
    assert "tok" not in str(saving.value).replace("token", "")
    assert path.read_bytes() == before
    # commands that *produce* secrets are settings, not secrets
    fine = update_account(
        loaded.raw, "alice@acme.example", Protocol.IMAP, {"password_command": "pass show x"}
    )
    assert fine["account"][0]["imap"]["password_command"] == "pass show x"


def test_update_account_changes_only_what_it_is_given(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS))
    snapshot = repr(loaded.raw)
    raw = update_account(
        loaded.raw, "ALICE@acme.example", Protocol.IMAP, {"port": 993, "idle": None}
    )
    assert raw["account"][0]["imap"] == {"host": "imap.acme.example", "port": 993}
    assert raw["account"][0]["smtp"] == loaded.raw["account"][0]["smtp"]
    assert repr(loaded.raw) == snapshot  # the loaded raw is not touched
    top = update_account(raw, "alice@acme.example", None, {"reply_address": "r@acme.example"})
    assert top["account"][0]["reply_address"] == "r@acme.example"
    fresh = update_account(top, "alice@acme.example", Protocol.IMAP, {"host": "h.example"})
    assert fresh["account"][0]["imap"]["host"] == "h.example"
    with pytest.raises(ConfigEditError, match="no such account"):
        update_account(raw, "bob@acme.example", Protocol.IMAP, {"port": 1})


def test_update_creates_a_missing_protocol_table(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "a.toml", '[[account]]\nemail = "a@x.example"\n'))
    raw = update_account(loaded.raw, "a@x.example", Protocol.IMAP, {"host": "imap.x.example"})
    saved = save_config(loaded, raw)
    assert saved.accounts[0].imap is not None
    assert saved.accounts[0].imap.address == "imap.x.example:993"


def test_none_values_are_dropped_when_writing(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    loaded = load_config(path)
    raw = dict(loaded.raw)
    raw["team"] = {"owner": None, "tags": ["a", None, "b"]}
    save_config(loaded, raw)
    assert load_config(path).raw["team"] == {"tags": ["a", "b"]}


def test_add_and_remove_accounts(tmp_path: Path) -> None:
    path = write(tmp_path / "accounts.toml", WITH_UNKNOWN_KEYS)
    loaded = load_config(path)
    account = Account(
        email="new@acme.example",
        name="New",
        tags=("acme",),
        reply_address="replies@acme.example",
        smtp=ServerSettings(Protocol.SMTP, "smtp.acme.example", 587, Security.STARTTLS, "n"),
        imap=ServerSettings(
            Protocol.IMAP,
            "imap.acme.example",
            993,
            Security.TLS,
            "replies@acme.example",
            auth=AuthMethod.OAUTH2,
            oauth2_token_command="oama access replies@acme.example",
            mailbox="Replies",
        ),
    )
    saved = save_config(loaded, add_account(loaded.raw, account_table(account)))
    assert all("unknown key" in i.message for i in saved.issues)
    assert saved.account("NEW@acme.example") == account
    with pytest.raises(ConfigEditError, match="already exists"):
        add_account(saved.raw, {"email": "new@acme.example"})
    with pytest.raises(ConfigSecretError):
        add_account(saved.raw, {"email": "x@acme.example", "smtp": {"password": "p"}})
    removed = save_config(saved, remove_account(saved.raw, "alice@acme.example"))
    assert [a.email for a in removed.accounts] == ["new@acme.example"]
    with pytest.raises(ConfigEditError):
        remove_account(removed.raw, "alice@acme.example")


def test_renaming_onto_another_account_is_refused(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "a.toml", WITH_UNKNOWN_KEYS))
    raw = add_account(loaded.raw, {"email": "b@acme.example"})
    with pytest.raises(ConfigEditError, match="already has this email"):
        update_account(raw, "b@acme.example", None, {"email": "Alice@acme.example"})


def test_new_file_is_private_and_never_clobbers(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "mailconsole" / "accounts.toml"
    created = new_config_file(path, {"account": [{"email": "a@x.example"}]})
    assert isinstance(created, LoadedConfig)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [a.email for a in created.accounts] == ["a@x.example"]
    assert created.fingerprint.matches(path.read_bytes())
    with pytest.raises(ConfigExistsError):
        new_config_file(path, {})
    assert [a.email for a in load_config(path).accounts] == ["a@x.example"]
    assert leftovers(path.parent) == []
    empty = new_config_file(tmp_path / "empty.toml")
    assert (empty.accounts, empty.issues) == ((), ())


def test_new_file_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_links)  # as on some network and FUSE file systems
    path = tmp_path / "accounts.toml"
    created = new_config_file(path, {"account": [{"email": "a@x.example"}]})
    assert [a.email for a in created.accounts] == ["a@x.example"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigExistsError):
        new_config_file(path, {})
    assert leftovers(tmp_path) == []


def test_a_symlinked_file_stays_a_symlink(tmp_path: Path) -> None:
    real = write(tmp_path / "real.toml", WITH_UNKNOWN_KEYS)
    link = tmp_path / "accounts.toml"
    link.symlink_to(real)
    loaded = load_config(link)
    save_config(loaded, update_account(loaded.raw, "alice@acme.example", None, {"name": "L"}))
    assert link.is_symlink()
    assert load_config(real).accounts[0].name == "L"
    assert (tmp_path / "real.toml.bak").read_text() == WITH_UNKNOWN_KEYS
