"""Write the account file back (DESIGN section 3): atomically, with one `.bak`, never over a change
made on disk since it was read, and never with a password or token in it.

An edit changes only the edited values: every other byte of the file (comments, blank lines, key
order, quoting, inline comments) stays; config_text.py says how. Files the program writes from
scratch (a new file, the demo's) are written with tomli-w.

A save holds an advisory lock (`fcntl.flock` on `.<name>.lock` beside the file) from reading the
file to renaming the new one into place, so two programs saving at once cannot lose each other's
change: the second one sees the first one's bytes and is refused with "changed on disk". Under
the lock, temp files left by an interrupted save are removed. The new content is written and
synced before the `.bak` is replaced, so a save that fails (a full disk) leaves the `.bak` as it
was.

The edit helpers (update_account, add_account, remove_account) return a new raw dict and copy only
the account they change, so they stay cheap on a 10,000-account file.
"""

from __future__ import annotations

import copy
import datetime as dt
import errno
import fcntl
import os
import stat as st
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from enum import Enum
from importlib import resources
from pathlib import Path, PurePath
from typing import Any

import tomli_w

from console.core.config import (
    ConfigError,
    LoadedConfig,
    parse_config,
    parse_toml,
    secret_locations,
)
from console.core.config_text import rewrite
from console.core.model import Account, AuthMethod, Protocol, ServerSettings

RawConfig = dict[str, Any]
NEW_FILE_MODE = 0o600
LOCK_TIMEOUT = 10.0
"""Seconds a save waits for another program's save of the same file before giving up."""


class ConfigChangedError(ConfigError):
    """The file changed on disk after it was read; writing would silently lose that change."""

    def __init__(self, path: Path, what: str = "changed on disk") -> None:
        super().__init__(
            path,
            f"the file {what} since it was read; nothing was written. Reload it and make the "
            "change again.",
        )


class ConfigWriteError(ConfigError):
    """A save failed (a value TOML cannot hold, a full disk, no permission); the file is intact."""


class ConfigSecretError(ConfigError, ValueError):
    """A password or token was about to be written to the file; secrets belong in the keyring."""


class ConfigEditError(ConfigError, ValueError):
    """An edit of the raw data does not apply (unknown account, duplicate email)."""


class ConfigExistsError(ConfigError):
    """new_config_file found a file already there; load it instead of replacing it."""


# ---------------------------------------------------------------------------------------------
# Saving

Change = Callable[[RawConfig], RawConfig]
"""Takes the file's data as now on disk, returns what it should become (not changing its input)."""


def save_config(loaded: LoadedConfig, raw: Mapping[str, Any]) -> LoadedConfig:
    """Make the file `loaded` came from hold `raw`; returns the file as now written.

    Refuses (ConfigChangedError) when the file's bytes differ from those read at load time.
    On any failure the file is left as it was and no temp file remains (ConfigWriteError).
    """
    wanted = dict(raw)
    return change_config(loaded, lambda _current: wanted)


def change_config(loaded: LoadedConfig, change: Change) -> LoadedConfig:
    """One locked save: `change` gets the file's data (parsed from the bytes on disk, which are
    the ones `loaded` was read from) and returns the new data, usually built with
    update_account / add_account / remove_account. Raises what save_config raises, and whatever
    `change` raises (ConfigEditError, ConfigSecretError) before anything is written."""
    path = loaded.path
    target = Path(os.path.realpath(path))  # a symlinked config stays a symlink
    try:
        with _locked(target):
            try:
                with open(target, "rb") as f:
                    current = f.read()
                    info = os.fstat(f.fileno())
            except FileNotFoundError:
                raise ConfigChangedError(path, "was removed or renamed") from None
            if not loaded.fingerprint.matches(current):
                raise ConfigChangedError(path)
            _remove_orphans(target)
            old = parse_toml(path, current)
            new = change(old)
            payload, parsed = _serialise(new, path, current, old)
            mode = st.S_IMODE(info.st_mode)
            owner = (info.st_uid, info.st_gid)
            _replace(target, payload, current, mode, owner)
            written = os.stat(target)
    except OSError as exc:
        raise _write_error(path, exc) from None
    return parse_config(path, payload, written, parsed)


def add_accounts(
    target: LoadedConfig | Path | str, tables: Iterable[Mapping[str, Any]]
) -> LoadedConfig:
    """Append several [[account]] tables (see account_table) in one save, for imports.

    `target` is the loaded file, or the path of one that does not exist yet (it is created,
    mode 0600). Every email must be new, also among `tables`; on any problem nothing is written.
    """
    entries = list(tables)
    if isinstance(target, LoadedConfig):

        def append(raw: RawConfig) -> RawConfig:
            for table in entries:
                raw = add_account(raw, table)
            return raw

        return change_config(target, append)
    raw: RawConfig = {}
    for table in entries:
        raw = add_account(raw, table)
    return new_config_file(target, raw)


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold the advisory lock that every save of `target` takes (see the module docstring)."""
    lock = target.with_name(f".{target.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, NEW_FILE_MODE)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigWriteError(
                        target,
                        f"another program has been saving this file for {LOCK_TIMEOUT:.0f} s "
                        f"(lock {lock.name}); nothing was written. Try again.",
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _remove_orphans(target: Path) -> None:
    """Temp files of saves that were killed before renaming (only called under the lock, so no
    save of this file is running)."""
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        with suppress(OSError):
            leftover.unlink()


def _replace(
    target: Path, payload: bytes, current: bytes, mode: int, owner: tuple[int, int]
) -> None:
    """The new content is written and synced first; only then is the `.bak` replaced and the new
    file renamed into place. A failure while writing (a full disk) leaves both untouched."""
    fresh = _write_temp(target, payload, mode, owner)
    try:
        _atomic_write(backup_path(target), current, mode, owner)
        os.replace(fresh, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(fresh)
        raise
    _fsync_dir(target.parent)


def new_config_file(path: Path | str, raw: Mapping[str, Any] | None = None) -> LoadedConfig:
    """Create an account file that does not exist yet (mode 0600, folders made as needed)."""
    path = Path(path).expanduser()
    payload, parsed = _serialise(raw or {}, path)
    return parse_config(path, payload, _create(path, payload), parsed)


def copy_example(path: Path | str) -> LoadedConfig:
    """First run: put the documented example file in place, comments and all; never over a file."""
    path = Path(path).expanduser()
    payload = resources.files("console").joinpath("accounts.example.toml").read_bytes()
    return parse_config(path, payload, _create(path, payload))


def _create(path: Path, payload: bytes) -> os.stat_result:
    if path.exists() or path.is_symlink():
        raise ConfigExistsError(path, "already exists; load it instead of creating it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _locked(path):
            _remove_orphans(path)
            _atomic_write(path, payload, NEW_FILE_MODE, None, exclusive=True)
        return os.stat(path)
    except FileExistsError:
        raise ConfigExistsError(path, "already exists; load it instead of creating it") from None
    except OSError as exc:
        raise _write_error(path, exc) from None


def backup_path(path: Path) -> Path:
    """The one backup kept next to the file: `accounts.toml.bak`, the content before the save."""
    return path.with_name(path.name + ".bak")


def serialise(raw: Mapping[str, Any], path: Path | None = None) -> bytes:
    """TOML bytes for `raw`, written from scratch, checked to read back; None values dropped,
    secrets refused."""
    return _serialise(raw, path)[0]


def _serialise(
    raw: Mapping[str, Any],
    path: Path | None,
    original: bytes | None = None,
    old: Mapping[str, Any] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """The bytes to write and what they read back as (so a save need not parse them again).
    With the `original` bytes (and what they parse to, `old`), only the changed values differ."""
    secrets = list(secret_locations(raw))
    if secrets:
        raise ConfigSecretError(
            path,
            f"refusing to write {', '.join(secrets)}: passwords and tokens never go in this "
            "file. Remove them; the keyring or password_command provides them.",
        )
    try:
        clean = _plain(raw, "")
    except _Unwritable as exc:
        raise ConfigWriteError(path, f"{exc}; nothing was written") from None
    if original is not None and old is not None:
        bom = "\ufeff" if original.startswith(b"\xef\xbb\xbf") else ""
        kept = rewrite(original.decode("utf-8-sig"), old, clean, _dumps)
        if kept is not None:
            return (bom + kept[0]).encode("utf-8"), kept[1]
    try:
        text = _dumps(clean)
        again = tomllib.loads(text)
        if again != clean and _dumps(again) != text:  # the second test tolerates nan
            raise ValueError("the written text does not read back the same")
    except (TypeError, ValueError) as exc:
        raise ConfigWriteError(
            path, f"cannot write this as TOML ({exc}); nothing was written"
        ) from None
    return text.encode("utf-8"), again


def _dumps(doc: dict[str, Any]) -> str:
    """tomli-w, but accounts always as [[account]] blocks (tomli-w inlines short arrays of tables,
    which would turn a hand-written file into one long `account = [...]`)."""
    accounts = doc.get("account")
    if not (isinstance(accounts, list) and all(isinstance(a, dict) for a in accounts)):
        return tomli_w.dumps(doc)
    rest = tomli_w.dumps({k: v for k, v in doc.items() if k != "account"}).strip("\n")
    blocks = [rest] if rest else []
    for entry in accounts:
        body = tomli_w.dumps({"account": entry}).removeprefix("[account]\n")
        blocks.append(("[[account]]\n" + body).strip("\n"))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _write_error(path: Path, exc: OSError) -> ConfigWriteError:
    reason = exc.strerror or type(exc).__name__
    return ConfigWriteError(path, f"could not save ({reason}); the file was not changed")


def _write_temp(target: Path, payload: bytes, mode: int, owner: tuple[int, int] | None) -> str:
    """A synced temp file beside `target` holding `payload`; removed again if writing fails."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
            if owner is not None and os.fstat(f.fileno()).st_uid != owner[0]:
                with suppress(PermissionError):  # root saving a user's file: keep it theirs
                    os.fchown(f.fileno(), *owner)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _atomic_write(
    target: Path,
    payload: bytes,
    mode: int,
    owner: tuple[int, int] | None,
    *,
    exclusive: bool = False,
) -> None:
    """Temp file in the same folder, fsync, chmod, rename over the target, fsync the folder."""
    tmp = _write_temp(target, payload, mode, owner)
    try:
        if exclusive:
            _link_new(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _link_new(tmp: str, target: Path) -> None:
    """Put tmp in place only if target does not exist: link() fails if it appeared meanwhile."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (some network or FUSE mounts)
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
        os.replace(tmp, target)
    else:
        os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Unwritable(Exception):
    """A value TOML cannot hold, with its dotted location in the raw data."""


_SCALARS = (str, int, float, bool, dt.datetime, dt.date, dt.time)


def _plain(value: Any, where: str) -> Any:
    """A copy TOML can hold: None dropped, str-enums and paths as strings, tuples as lists."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Unwritable(f"{where or 'top level'}: key {key!r} is not a string")
            if item is not None:
                out[key] = _plain(item, f"{where}.{key}" if where else key)
        return out
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value) if v is not None]
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, _SCALARS):
        return value
    raise _Unwritable(f"{where}: a {type(value).__name__} cannot be written in TOML")


# ---------------------------------------------------------------------------------------------
# Editing the raw data (each returns a new dict; the one passed in is not touched)


def update_account(
    raw: Mapping[str, Any],
    email: str,
    protocol: Protocol | None,
    changes: Mapping[str, Any],
) -> RawConfig:
    """Change only `changes` keys of one account: in [account.<protocol>], or in the account
    itself when protocol is None. A None value removes the key; other keys stay as they were."""
    where = f"{email} {protocol.value}" if protocol else email
    _refuse_secrets(changes, where)
    index = _index(raw, email)
    if index is None:
        raise ConfigEditError(None, f"{email}: no such account in the file")
    renamed = changes.get("email") if protocol is None else None
    clash = isinstance(renamed, str) and renamed.casefold() != email.casefold()
    if clash and _index(raw, str(renamed)) is not None:
        raise ConfigEditError(None, f"{renamed}: another account already has this email")
    new, entries = _with_accounts(raw)
    entry = entries[index] = copy.deepcopy(entries[index])
    table: RawConfig = entry
    if protocol is not None:
        sub = entry.get(protocol.value)
        if not isinstance(sub, dict):  # absent, or malformed and now being fixed
            sub = entry[protocol.value] = {}
        table = sub
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = _plain_or_edit_error(value, f"{where}: {key}")
    return new


def add_account(raw: Mapping[str, Any], table: Mapping[str, Any]) -> RawConfig:
    """Append one [[account]] table (see account_table); its email must be new."""
    email = table.get("email")
    if not isinstance(email, str) or not email:
        raise ConfigEditError(None, "a new account needs an email")
    _refuse_secrets(table, email)
    if _index(raw, email) is not None:
        raise ConfigEditError(None, f"{email}: an account with this email already exists")
    if not isinstance(raw.get("account", []), list):
        raise ConfigEditError(None, "`account` in the file is not a list of [[account]] tables")
    new, entries = _with_accounts(raw)
    entries.append(_plain_or_edit_error(table, email))
    return new


def remove_account(raw: Mapping[str, Any], email: str) -> RawConfig:
    """Drop the account with this email (the first one, as load_config uses the first)."""
    index = _index(raw, email)
    if index is None:
        raise ConfigEditError(None, f"{email}: no such account in the file")
    new, entries = _with_accounts(raw)
    del entries[index]
    return new


def _with_accounts(raw: Mapping[str, Any]) -> tuple[RawConfig, list[Any]]:
    """A copy of `raw` with its own list of accounts (the accounts themselves are shared: an
    edit copies the one it changes)."""
    new = dict(raw)
    entries = new["account"] = list(raw.get("account", []))
    return new, entries


def account_table(account: Account) -> RawConfig:
    """The [[account]] table for a model Account (defaults left out), for add_account."""
    table: RawConfig = {"email": account.email}
    optional = {
        "name": account.name,
        "tags": list(account.tags) or None,
        "provider": account.provider,
        "reply_address": account.reply_address,
        "send_only": account.send_only or None,
    }
    table.update({k: v for k, v in optional.items() if v is not None})
    for server in (account.smtp, account.imap):
        if server is not None:
            table[server.protocol.value] = server_table(server)
    return table


def server_table(server: ServerSettings) -> RawConfig:
    """[account.smtp] / [account.imap] for ServerSettings; host, port, security, username always."""
    table: RawConfig = {
        "host": server.host,
        "port": server.port,
        "security": server.security.value,
        "username": server.username,
    }
    if server.auth is not AuthMethod.PASSWORD:
        table["auth"] = server.auth.value
    for key in ("password_command", "oauth2_token_command", "tls_ca_file"):
        if (value := getattr(server, key)) is not None:
            table[key] = value
    if server.protocol is Protocol.IMAP and server.mailbox != "INBOX":
        table["mailbox"] = server.mailbox
    return table


def _refuse_secrets(changes: Mapping[str, Any], where: str) -> None:
    found = list(secret_locations(changes))
    if found:
        raise ConfigSecretError(
            None,
            f"{where}: refusing to put {', '.join(found)} in the file; passwords and tokens go "
            "to the keyring (store_password) or come from password_command",
        )


def _plain_or_edit_error(value: Any, where: str) -> Any:
    try:
        return _plain(value, where)
    except _Unwritable as exc:
        raise ConfigEditError(None, str(exc)) from None


def _index(raw: Mapping[str, Any], email: str) -> int | None:
    entries = raw.get("account")
    if not isinstance(entries, list):
        return None
    key = email.casefold()
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and str(entry.get("email", "")).casefold() == key:
            return i
    return None


def _find(raw: RawConfig, email: str) -> RawConfig:
    index = _index(raw, email)
    if index is None:
        raise ConfigEditError(None, f"{email}: no such account in the file")
    entry: RawConfig = raw["account"][index]
    return entry
