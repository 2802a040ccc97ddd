"""Saving the account file: only edited values change, saves from two programs never lose each
other's work, and a failed save leaves the file, its `.bak` and its folder as they were."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from console.core import config_write
from console.core.config import load_config
from console.core.config_write import (
    ConfigChangedError,
    ConfigEditError,
    ConfigWriteError,
    add_account,
    add_accounts,
    backup_path,
    change_config,
    remove_account,
    save_config,
    update_account,
)
from console.core.model import Protocol

EXAMPLE = Path(__file__).resolve().parent.parent / "accounts.example.toml"


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if "#" in line]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLE, tmp_path / "accounts.toml"))


def test_an_edit_changes_only_the_edited_values(example: Path) -> None:
    before = example.read_text()
    loaded = load_config(example)
    raw = update_account(
        loaded.raw, "carol@initech.example", Protocol.IMAP, {"port": 143, "security": "starttls"}
    )
    save_config(loaded, update_account(raw, "carol@initech.example", None, {"name": "Carol B"}))
    after = example.read_text()
    expected = before.replace('name = "Carol (Initech)"', 'name = "Carol B"').replace(
        'host = "mail.initech.example"\nport = 993\nsecurity = "tls"',
        'host = "mail.initech.example"\nport = 143\nsecurity = "starttls"',
    )
    assert expected != before
    assert after == expected
    assert backup_path(example).read_text() == before


def test_new_keys_and_removed_keys_keep_the_rest(example: Path) -> None:
    before = example.read_text()
    loaded = load_config(example)
    raw = update_account(loaded.raw, "alice@acme.example", Protocol.IMAP, {"mailbox": None})
    raw = update_account(raw, "alice@acme.example", None, {"reply_address": "r@acme.example"})
    raw = update_account(raw, "news@globex.example", Protocol.IMAP, {"host": "imap.globex.example"})
    saved = save_config(loaded, raw)
    after = example.read_text()
    assert comments(after) == [
        c for c in comments(before) if "replies must arrive and stay here" not in c
    ]
    assert 'reply_address = "r@acme.example"' in after
    assert saved.account("news@globex.example").imap.host == "imap.globex.example"  # type: ignore[union-attr]
    # everything up to the new key is byte for byte the same
    head = before.index("send_only = false")
    assert after[:head] == before[:head]


def test_adding_and_deleting_accounts_keep_every_other_comment(example: Path) -> None:
    before = example.read_text()
    loaded = load_config(example)
    added = add_accounts(
        loaded,
        [
            {"email": "a@new.example", "smtp": {"host": "smtp.new.example", "port": 587}},
            {"email": "b@new.example", "tags": ["new"]},
        ],
    )
    after_add = example.read_text()
    assert after_add.startswith(before)
    assert [a.email for a in added.accounts][-2:] == ["a@new.example", "b@new.example"]
    removed = save_config(added, remove_account(added.raw, "news@globex.example"))
    after_delete = example.read_text()
    assert "news@globex.example" not in after_delete
    # the deleted account's own lead comment goes with it; every other comment stays
    lost = set(comments(after_add)) - set(comments(after_delete))
    assert all("Amazon SES" in c or "send_only = true" in c or "SES SMTP" in c for c in lost)
    assert len(lost) == 3
    assert "news@globex.example" not in [a.email for a in removed.accounts]
    # deleting the last account leaves no trailing blank lines
    save_config(removed, remove_account(removed.raw, "b@new.example"))
    assert example.read_text().endswith("port = 587\n")


def test_several_accounts_in_one_save_all_or_nothing(example: Path) -> None:
    before = example.read_bytes()
    loaded = load_config(example)
    with pytest.raises(ConfigEditError, match="already exists"):
        add_accounts(loaded, [{"email": "n@x.example"}, {"email": "N@x.example"}])
    assert example.read_bytes() == before
    new_file = example.parent / "fresh" / "accounts.toml"
    created = add_accounts(new_file, [{"email": "n@x.example"}, {"email": "m@x.example"}])
    assert [a.email for a in created.accounts] == ["n@x.example", "m@x.example"]


@pytest.mark.parametrize(
    "text",
    [
        # accounts as an inline array: the whole document is edited instead
        'account = [{email = "a@x.example", name = "A"}]  # keep me\n',
        # a multi-line string holding a line that looks like a header
        '[[account]]\nemail = "a@x.example"\nname = "A"\nnote = """\n[[account]]\n"""\n# keep me\n',
        # a sub-table of the last account written after another table
        '[[account]]\nemail = "a@x.example"\nname = "A"\n[settings]\ntimeout = 5 # keep me\n'
        '[account.imap]\nhost = "h"\n',
    ],
)
def test_unusual_shapes_are_edited_correctly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    loaded = load_config(path)
    saved = save_config(loaded, update_account(loaded.raw, "a@x.example", None, {"name": "B"}))
    assert saved.accounts[0].name == "B"
    assert "# keep me" in path.read_text()
    assert load_config(path).raw == saved.raw


def test_a_file_with_a_byte_order_mark_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_bytes(b'\xef\xbb\xbf[[account]]\nemail = "a@x.example" # hi\n')
    loaded = load_config(path)
    save_config(loaded, update_account(loaded.raw, "a@x.example", None, {"name": "B"}))
    assert path.read_bytes() == b'\xef\xbb\xbf[[account]]\nemail = "a@x.example" # hi\nname = "B"\n'


def test_orphaned_temp_files_are_removed_by_the_next_save(example: Path) -> None:
    folder = example.parent
    for name in (".accounts.toml.k3j_2x.tmp", ".accounts.toml.bak.9f8e7d.tmp"):
        (folder / name).write_text("half a save")
    other = folder / ".other.toml.abc.tmp"
    other.write_text("not ours")
    loaded = load_config(example)
    save_config(loaded, update_account(loaded.raw, "alice@acme.example", None, {"name": "x"}))
    assert {p.name for p in folder.iterdir() if p.name.endswith(".tmp")} == {other.name}


SAVER = textwrap.dedent(
    """
    import json, sys
    from console.core.config import load_config
    from console.core.config_write import ConfigChangedError, add_account, change_config
    path, me, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    saved = []
    for i in range(rounds):
        email = f"{me}-{i}@race.example"
        loaded = load_config(path)
        try:
            change_config(loaded, lambda raw: add_account(raw, {"email": email}))
        except ConfigChangedError:
            continue
        saved.append(email)
    print(json.dumps(saved))
    """
)


def test_two_programs_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text("# the race\n")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path), name, "120"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("one", "two")
    ]
    reported: list[str] = []
    for writer in writers:
        out, _ = writer.communicate(timeout=110)
        assert writer.returncode == 0
        reported += json.loads(out)
    in_file = {a.email for a in load_config(path).accounts}
    assert reported, "no save succeeded"
    assert set(reported) <= in_file
    assert len(in_file) == len(reported)
    assert path.read_text().startswith("# the race\n")


def test_a_killed_save_leaves_no_temp_file_behind_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text("")
    writer = subprocess.Popen([sys.executable, "-c", SAVER, str(path), "k", "100000"])
    try:
        deadline = time.monotonic() + 30
        while len(load_config(path).accounts) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    loaded = load_config(path)
    change_config(loaded, lambda raw: add_account(raw, {"email": "after@race.example"}))
    assert list(tmp_path.glob(".*.tmp")) == []


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from console.core.config import load_config
    from console.core.config_write import ConfigWriteError, save_config, update_account
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    loaded = load_config(sys.argv[1])
    raw = update_account(loaded.raw, "a@x.example", None, {"name": "n" * 4000})
    try:
        save_config(loaded, raw)
    except ConfigWriteError as exc:
        print(exc)
        sys.exit(7)
    """
)


def test_a_save_that_runs_out_of_space_does_not_rotate_the_backup(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\nemail = "a@x.example"\nname = "first"\n')
    loaded = load_config(path)
    save_config(loaded, update_account(loaded.raw, "a@x.example", None, {"name": "second"}))
    before, backup = path.read_bytes(), backup_path(path).read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path), str(len(before) + 100)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 7, done.stderr
    assert "could not save (File too large); the file was not changed" in done.stdout
    assert path.read_bytes() == before
    assert backup_path(path).read_bytes() == backup
    assert [p.name for p in tmp_path.glob(".*.tmp")] == []


def test_a_save_gives_up_on_a_lock_held_too_long(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_write, "LOCK_TIMEOUT", 0.2)
    fd = os.open(example.with_name(".accounts.toml.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as another program's save would
    loaded = load_config(example)
    raw = update_account(loaded.raw, "alice@acme.example", None, {"name": "x"})
    try:
        with pytest.raises(ConfigWriteError, match="another program"):
            save_config(loaded, raw)
    finally:
        os.close(fd)
    assert save_config(loaded, raw).accounts[0].name == "x"


def test_the_loaded_data_is_not_changed_by_edits(example: Path) -> None:
    loaded = load_config(example)
    raw = loaded.raw
    snapshot = repr(raw)
    update_account(raw, "alice@acme.example", Protocol.SMTP, {"port": 1})
    add_account(raw, {"email": "q@x.example"})
    remove_account(raw, "alice@acme.example")
    assert repr(raw) == snapshot
    with pytest.raises(ConfigChangedError):
        example.write_text(example.read_text() + "\n")
        save_config(loaded, raw)
